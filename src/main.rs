use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = borgbox::cli::Cli::parse();
    borgbox::logging::init(cli.verbosity());
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => borgbox::logging::report(&err),
    }
}
