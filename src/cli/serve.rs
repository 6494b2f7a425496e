//! `borgbox serve`: the API daemon, socket-activated or on BORGBOX_ADDR, or `--dev`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use rand::Rng;

use crate::api::{self, state::AppState};
use crate::clock::{Clock, SystemClock};
use crate::config::{BackendChoice, ConfigArgs, Settings};
use crate::jobs::backend::Backend;
use crate::jobs::process::ProcessBackend;
use crate::jobs::record::JobStore;
use crate::jobs::systemd::SystemdBackend;
use crate::serve::idle::Activity;
use crate::serve::{self, listener};
use crate::systemd::UserManager;

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
            let backend = choose_backend(&settings, &activity, &clock).await?;
            let app = api::router(AppState::new(
                settings,
                clock,
                backend.clone(),
                activity.clone(),
            ));
            let served = serve::run(listener, app, idle_timeout, activity).await;
            backend.shutdown().await;
            served
        })
    }
}

/// `auto` takes borg's user manager when its bus answers, else child processes.
async fn choose_backend(
    settings: &Settings,
    activity: &Activity,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<Arc<dyn Backend>> {
    let exe = std::env::current_exe().context("cannot find the borgbox binary for exec-job")?;
    let store = JobStore::new(&settings.state_dir);
    let bus = format!("/run/user/{}/bus", settings.uid);
    let systemd = match settings.backend {
        BackendChoice::Process => None,
        // The user bus restarts with the manager: give it a few seconds when asked for.
        BackendChoice::Systemd => Some(
            UserManager::connect(settings.uid, Duration::from_secs(10))
                .await
                .context("BORGBOX_BACKEND=systemd")?,
        ),
        BackendChoice::Auto if std::path::Path::new(&bus).exists() => {
            match UserManager::connect(settings.uid, Duration::from_secs(3)).await {
                Ok(manager) => Some(manager),
                Err(e) => {
                    log::warn!("{e}; running jobs as child processes");
                    None
                }
            }
        }
        BackendChoice::Auto => None,
    };
    let backend: Arc<dyn Backend> = match systemd {
        Some(manager) => Arc::new(SystemdBackend::new(
            manager,
            exe,
            settings.child_env(),
            settings.uid,
            store,
            clock.clone(),
        )),
        None => Arc::new(ProcessBackend::new(
            exe,
            settings.child_env(),
            store,
            activity.clone(),
            clock.clone(),
        )),
    };
    log::debug!("jobs run with the {} backend", backend.name());
    Ok(backend)
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
        crate::files::write_atomic(&token_file, token.as_bytes(), 0o600)
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
        "borgbox dev mode: repos in {}, listening on http://{}/api/v1",
        settings.repo_root.display(),
        settings.addr
    );
    Ok(settings)
}
