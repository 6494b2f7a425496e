//! `borgbox serve`: the API daemon, socket-activated or on BORGBOX_ADDR, or `--dev`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rand::Rng;

use crate::activity::Activity;
use crate::api::{self, state::AppState};
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigArgs, Settings};
use crate::domain::ticker;
use crate::domain::Domain;
use crate::jobs::backend::Backend;
use crate::serve::{self, listener, Limits};

#[derive(Debug, Args)]
pub struct ServeCmd {
    #[command(flatten)]
    config: ConfigArgs,
    /// Development mode: no root, no systemd; everything under --dev-dir, 127.0.0.1:9999
    #[arg(long)]
    dev: bool,
    /// Where --dev keeps its repos, authorized_keys, state and token
    /// [default: $XDG_DATA_HOME/borgbox-dev or ~/.local/share/borgbox-dev]
    #[arg(long, requires = "dev")]
    dev_dir: Option<PathBuf>,
}

impl ServeCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let (settings, dev) = if self.dev {
            let dir = self.dev_dir.clone().unwrap_or_else(default_dev_dir);
            (dev_settings(self.config, &dir)?, true)
        } else {
            (Settings::resolve(self.config)?, false)
        };
        settings.check_writable()?;
        // Refuse to start on a schedules or alerts file borgbox cannot read, rather than
        // overwrite it later; before listening, so a refusal is the only thing said.
        crate::schedules::store::schedule_store(settings.schedules.clone()).load()?;
        crate::alerts::alert_store(settings.alerts.clone()).load()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("failed to start the async runtime")?;
        runtime.block_on(async move {
            let listener = listener::from_systemd_or_bind(&settings.addr, dev).await?;
            // Only a socket-activated borgbox may exit when idle: systemd starts it again.
            let idle_timeout = settings.idle_timeout.filter(|_| listener.activated);
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let activity = Activity::default();
            let (backend, timers) = super::choose_backend(&settings, &activity, &clock).await?;
            let domain =
                Arc::new(Domain::new(settings, clock, backend.clone()).with_timers(timers));
            let background = start_background(&domain, &backend, &activity, idle_timeout);
            let app = api::router(AppState::new(domain, activity.clone()));
            serve::run(
                listener,
                app,
                idle_timeout,
                activity,
                Limits::for_this_process(),
                serve::shutdown_signal(),
            )
            .await;
            background.abort();
            backend.shutdown().await;
            Ok(())
        })
    }
}

/// How long after start serve looks for operations a kill interrupted, at most.
const RECOVER_AFTER: Duration = Duration::from_secs(3);

/// The process backend drives schedules and alerts itself; with the systemd backend the
/// timers do, and serve only settles schedules whose job ended while nobody watched.
fn start_background(
    domain: &Arc<Domain>,
    backend: &Arc<dyn Backend>,
    activity: &Activity,
    idle_timeout: Option<Duration>,
) -> tokio::task::JoinHandle<()> {
    let recovering = domain.clone();
    // Not in the way of the request that activated serve (it reads the whole repo root),
    // but well before an idle exit could come; the exit then waits for it to finish.
    let delay = idle_timeout.map_or(RECOVER_AFTER, |idle| RECOVER_AFTER.min(idle / 2));
    let hold = activity.hold();
    tokio::spawn(async move {
        let _hold = hold;
        tokio::time::sleep(delay).await;
        match recovering.recover_all().await {
            Ok(0) => {}
            Ok(n) => log::info!("finished or undid {n} interrupted repo operations"),
            Err(e) => log::warn!("failed to recover interrupted repo operations: {e:#}"),
        }
        // A serve killed between writing the schedules or alerts file and updating the
        // timers left them apart; a reconcile that finds nothing to do costs one D-Bus call.
        recovering.reconcile().await;
    });
    let domain = domain.clone();
    if backend.name() == "process" {
        let activity = activity.clone();
        tokio::spawn(ticker::run(domain, activity, ticker::Cadence::default()))
    } else {
        tokio::task::spawn_blocking(move || {
            if let Err(e) = domain.settle_schedules() {
                log::warn!("failed to settle schedules: {e}");
            }
        })
    }
}

fn default_dev_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("borgbox-dev")
}

/// Everything under `dir`, a token made on first use, 127.0.0.1:9999, jobs as child
/// processes and no idle exit.
fn dev_settings(mut config: ConfigArgs, dir: &Path) -> anyhow::Result<Settings> {
    crate::files::ensure_dir(dir, 0o700)
        .with_context(|| format!("failed to create {}", dir.display()))?;
    let token_file = dir.join("token");
    if !token_file.exists() {
        let token: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        crate::files::replace(&token_file, token.as_bytes(), 0o600)
            .with_context(|| format!("failed to write {}", token_file.display()))?;
        println!(
            "borgbox dev token (kept in {}): {token}",
            token_file.display()
        );
    } else {
        println!("borgbox dev token: in {}", token_file.display());
    }
    config
        .token
        .get_or_insert_with(|| format!("@{}", token_file.display()));
    config
        .addr
        .get_or_insert_with(|| "127.0.0.1:9999".to_owned());
    config.idle_timeout.get_or_insert_with(|| "0".to_owned());
    config
        .backend
        .get_or_insert(crate::config::BackendChoice::Process);
    let settings = Settings::resolve(config.rooted_at(dir))?;
    println!(
        "borgbox dev mode: repos in {}, API on http://{addr}/api/v1, web console on http://{addr}/",
        settings.repo_root.display(),
        addr = settings.addr
    );
    Ok(settings)
}
