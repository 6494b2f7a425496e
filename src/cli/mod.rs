//! The command line: one file per subcommand, each `run(self) -> anyhow::Result<()>`.

mod exec_job;
mod job_finished;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "borgbox",
    version,
    about = "Host Borg backup repositories, managed over a REST API"
)]
pub struct Cli {
    /// More log output (-v debug, -vv trace)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (socket-activated under systemd, or on BORGBOX_ADDR)
    Serve(serve::ServeCmd),
    /// Run one job's borg (started by borgbox itself, not by people)
    #[command(hide = true)]
    ExecJob(exec_job::ExecJobCmd),
    /// Record how a job's unit ended (its ExecStopPost)
    #[command(hide = true)]
    JobFinished(job_finished::JobFinishedCmd),
}

impl Cli {
    pub fn verbosity(&self) -> u8 {
        self.verbose
    }

    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(cmd) => cmd.run(),
            Command::ExecJob(cmd) => cmd.run(),
            Command::JobFinished(cmd) => cmd.run(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
