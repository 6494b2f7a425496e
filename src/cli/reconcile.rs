//! `borgbox reconcile`: makes borg's timer units match the schedules and alerts files,
//! as the API does after every change. The packages run it after an upgrade; an operator
//! runs it after editing a file by hand.

use clap::Args;

use crate::config::{ConfigArgs, Settings};

#[derive(Debug, Args)]
pub struct ReconcileCmd {
    #[command(flatten)]
    config: ConfigArgs,
}

impl ReconcileCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let settings = Settings::resolve_without_token(self.config)?;
        super::oneshot_runtime()?.block_on(async {
            let domain = super::oneshot_domain(settings).await?;
            if domain.backend_name() != "systemd" {
                println!("no user manager in reach: serve fires schedules and scans alerts itself");
                return anyhow::Ok(());
            }
            domain.settle_schedules()?;
            domain.try_reconcile(true).await?;
            println!("borg's timers match the schedules and alerts files");
            Ok(())
        })
    }
}
