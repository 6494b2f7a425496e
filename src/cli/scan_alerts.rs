//! `borgbox scan-alerts`: exactly one alert monitor tick (API.md 12.3, 13.4), what
//! `borgbox-alerts.service` runs. Exit 0 when the tick completed, even if deliveries
//! failed (they stay pending); non-zero only for configuration or file errors.

use clap::Args;

use crate::config::{ConfigArgs, Settings};

#[derive(Debug, Args)]
pub struct ScanAlertsCmd {
    #[command(flatten)]
    config: ConfigArgs,
}

impl ScanAlertsCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let settings = Settings::resolve_without_token(self.config)?;
        let report = super::oneshot_runtime()?.block_on(async {
            let domain = super::oneshot_domain(settings).await?;
            anyhow::Ok(domain.scan_alerts().await?)
        })?;
        println!(
            "checked {} alerts: {} events delivered, {} failed (retried at the next scan)",
            report.checked, report.delivered, report.failed
        );
        Ok(())
    }
}
