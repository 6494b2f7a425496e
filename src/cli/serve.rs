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
use crate::config::{ConfigArgs, ConfigError, Settings};
use crate::domain::ticker;
use crate::domain::Domain;
use crate::jobs::backend::Backend;
use crate::serve::{self, listener, Limits, Security};
use crate::tls::{self as tls, Choice, Tls, TlsArgs};

#[derive(Debug, Args)]
pub struct ServeCmd {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    tls: TlsArgs,
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
        let dev_dir = self
            .dev
            .then(|| self.dev_dir.clone().unwrap_or_else(default_dev_dir));
        let (settings, dev) = match &dev_dir {
            Some(dir) => (dev_settings(self.config, dir)?, true),
            None => (Settings::resolve(self.config)?, false),
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
            refuse_unsupported_borg(&settings).await?;
            // After every other refusal, so that a refusal stays the only thing said.
            let security = Security {
                tls: load_tls(&self.tls, dev_dir.as_deref())?.map(Arc::new),
                plaintext: self.tls.plaintext.unwrap_or_default(),
            };
            if let (Some(tls), true) = (&security.tls, dev) {
                println!(
                    "borgbox dev mode: https://{}/ too (certificate's public key sha256//{})",
                    settings.addr,
                    tls.summary().pubkey_sha256
                );
            }
            let listener = listener::from_systemd_or_bind(&settings.addr, dev).await?;
            // Only a socket-activated borgbox may exit when idle: systemd starts it again.
            let idle_timeout = settings.idle_timeout.filter(|_| listener.activated);
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let activity = Activity::default();
            let (backend, timers) = super::choose_backend(&settings, &activity, &clock).await?;
            let domain =
                Arc::new(Domain::new(settings, clock, backend.clone()).with_timers(timers));
            let background = start_background(&domain, &backend, &activity, idle_timeout);
            let tls = security.tls.clone();
            if let Some(tls) = &tls {
                tls.warn_if_expiring(
                    crate::clock::Clock::now(&crate::clock::SystemClock).unix_timestamp(),
                );
            }
            // Before READY=1, so a reload never meets SIGHUP's default action (exit).
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                Ok(hup) => drop(tokio::spawn(reload_on_sighup(hup, tls.clone()))),
                Err(e) => log::warn!("cannot listen for SIGHUP ({e}); reloading needs a restart"),
            }
            let app = api::router(AppState::with_tls(domain, activity.clone(), tls));
            serve::run_secure(
                listener,
                app,
                idle_timeout,
                activity,
                Limits::for_this_process(),
                security,
                serve::shutdown_signal(),
            )
            .await;
            background.abort();
            backend.shutdown().await;
            Ok(())
        })
    }
}

/// borg 2 is not supported yet (another repository format and command line): refuse to
/// start with one line rather than misbehave on every request. Before taking the socket,
/// like every other setting refused. borg runs only when its binary changed (cached).
async fn refuse_unsupported_borg(settings: &Settings) -> anyhow::Result<()> {
    let borg = crate::borg::Borg::new(settings.borg.clone(), &settings.state());
    match borg.unsupported_version().await {
        None => Ok(()),
        Some(version) => Err(ConfigError::new(
            "BORGBOX_BORG (--borg)",
            format!(
                "{} is {version}; borgbox supports borg {}.x only (borg 2 is not supported yet)",
                settings.borg.display(),
                crate::borg::SUPPORTED_MAJOR
            ),
        )
        .into()),
    }
}

/// The pair to serve, read and checked before listening so that a bad one is the only
/// thing said. `serve --dev` makes one in its tree on first start.
fn load_tls(args: &TlsArgs, dev_dir: Option<&Path>) -> anyhow::Result<Option<Tls>> {
    let defaults = match dev_dir {
        Some(dir) => (dir.join("tls/cert.pem"), dir.join("tls/key.pem")),
        None => (tls::DEFAULT_CERT.into(), tls::DEFAULT_KEY.into()),
    };
    let (cert, key) = match args.choice((&defaults.0, &defaults.1)) {
        Choice::Off => {
            log::info!("TLS is off (BORGBOX_TLS=off): serving plain HTTP only");
            return Ok(None);
        }
        Choice::Pair { cert, key } => (cert, key),
        Choice::DefaultIfPresent { cert, key } if cert.symlink_metadata().is_err() => {
            if dev_dir.is_none() {
                log::info!(
                    "no TLS certificate at {}: serving plain HTTP only (`borgbox tls init` makes one)",
                    cert.display()
                );
                return Ok(None);
            }
            tls::make::make(
                &cert,
                &key,
                false,
                crate::clock::Clock::now(&crate::clock::SystemClock),
            )?;
            println!(
                "borgbox dev mode: made a TLS certificate, {}",
                cert.display()
            );
            (cert, key)
        }
        Choice::DefaultIfPresent { cert, key } => (cert, key),
    };
    Tls::load(&cert, &key)
        .map(Some)
        .context("cannot serve TLS (BORGBOX_TLS_CERT, BORGBOX_TLS_KEY; BORGBOX_TLS=off serves plain HTTP only)")
}

/// `systemctl reload borgbox` (SIGHUP): new connections get the pair now on disk; a bad
/// or half-written one is logged and the pair in force stays.
async fn reload_on_sighup(mut hup: tokio::signal::unix::Signal, tls: Option<Arc<Tls>>) {
    while hup.recv().await.is_some() {
        let Some(tls) = &tls else {
            log::info!("SIGHUP: TLS is off, nothing to reload");
            continue;
        };
        match tls.reload() {
            Ok(summary) => {
                log::info!(
                    "SIGHUP: serving TLS certificate {} (expires {}, public key sha256//{})",
                    summary.subject,
                    tls::rfc3339(summary.not_after),
                    summary.pubkey_sha256
                );
                tls.warn_if_expiring(
                    crate::clock::Clock::now(&crate::clock::SystemClock).unix_timestamp(),
                );
            }
            Err(e) => log::error!("SIGHUP: kept the TLS certificate in use: {e:#}"),
        }
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
