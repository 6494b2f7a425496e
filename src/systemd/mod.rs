//! The only D-Bus speaker: borg's own user manager at `unix:path=/run/user/<uid>/bus`
//! (DESIGN.md "Why borg's user manager"). Everything else sees `UnitState` and plain
//! errors.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use zbus::zvariant::{Fd, OwnedObjectPath, Value};

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Value<'_>)],
        aux: &[(&str, &[(&str, Value<'_>)])],
    ) -> zbus::Result<OwnedObjectPath>;

    fn kill_unit(&self, name: &str, whom: &str, signal: i32) -> zbus::Result<()>;

    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;

    fn reload(&self) -> zbus::Result<()>;

    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn enable_unit_files(
        &self,
        files: &[&str],
        runtime: bool,
        force: bool,
    ) -> zbus::Result<(bool, Vec<(String, String, String)>)>;

    fn disable_unit_files(
        &self,
        files: &[&str],
        runtime: bool,
    ) -> zbus::Result<Vec<(String, String, String)>>;

    #[allow(clippy::type_complexity)]
    fn list_units_by_patterns(
        &self,
        states: &[&str],
        patterns: &[&str],
    ) -> zbus::Result<
        Vec<(
            String,
            String,
            String,
            String,
            String,
            String,
            OwnedObjectPath,
            u32,
            String,
            OwnedObjectPath,
        )>,
    >;

    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1"
)]
trait Unit {
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;
}

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("no such unit")]
    NoSuchUnit,
    #[error("borg's user manager is not reachable at {address}: {source}")]
    Unreachable {
        address: String,
        source: zbus::Error,
    },
    #[error("systemd refused: {0}")]
    Call(#[from] zbus::Error),
}

/// Maps systemd's D-Bus error names to the cases callers act on, in one place.
fn classify(err: zbus::Error) -> SystemdError {
    match &err {
        zbus::Error::MethodError(name, _, _)
            if name.as_str() == "org.freedesktop.systemd1.NoSuchUnit" =>
        {
            SystemdError::NoSuchUnit
        }
        _ => SystemdError::Call(err),
    }
}

/// Whether a unit still has processes that may write to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitState {
    Running,
    Gone,
}

/// A transient service as borgbox starts it: a fixed, plain command (DESIGN.md "Jobs").
pub struct TransientService<'a> {
    pub name: &'a str,
    pub description: String,
    pub exec_start: Vec<String>,
    pub exec_stop_post: Vec<String>,
    pub environment: Vec<String>,
    /// Becomes the service's stdin (the passphrase pipe).
    pub stdin: Option<OwnedFd>,
}

#[derive(Clone)]
pub struct UserManager {
    connection: zbus::Connection,
}

impl UserManager {
    pub fn address(uid: u32) -> String {
        format!("unix:path=/run/user/{uid}/bus")
    }

    /// Connects to borg's user manager; the user bus restarts with the manager, so a
    /// refused connection is retried for `patience`.
    pub async fn connect(uid: u32, patience: Duration) -> Result<UserManager, SystemdError> {
        let address = UserManager::address(uid);
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let attempt = async {
                let connection = zbus::connection::Builder::address(address.as_str())?
                    .build()
                    .await?;
                ManagerProxy::new(&connection).await?.version().await?;
                Ok::<_, zbus::Error>(connection)
            };
            match tokio::time::timeout(Duration::from_secs(2), attempt).await {
                Ok(Ok(connection)) => return Ok(UserManager { connection }),
                Ok(Err(source)) if tokio::time::Instant::now() >= deadline => {
                    return Err(SystemdError::Unreachable { address, source })
                }
                Err(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(SystemdError::Unreachable {
                        address,
                        source: zbus::Error::Failure("timed out".into()),
                    })
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    async fn manager(&self) -> Result<ManagerProxy<'_>, SystemdError> {
        Ok(ManagerProxy::new(&self.connection).await?)
    }

    pub async fn start_service(&self, service: TransientService<'_>) -> Result<(), SystemdError> {
        let command = |argv: &[String]| -> Vec<(String, Vec<String>, bool)> {
            vec![(argv[0].clone(), argv.to_vec(), false)]
        };
        let mut properties: Vec<(&str, Value<'_>)> = vec![
            ("Description", Value::from(service.description.as_str())),
            ("ExecStart", Value::from(command(&service.exec_start))),
            (
                "ExecStopPost",
                Value::from(command(&service.exec_stop_post)),
            ),
            ("Environment", Value::from(service.environment.clone())),
            // Records are the truth about jobs; finished units need not linger.
            ("CollectMode", Value::from("inactive-or-failed")),
            // Maintenance yields to backups and everything else on the machine.
            ("Nice", Value::from(10i32)),
            ("IOSchedulingClass", Value::from(3i32)),
        ];
        if let Some(fd) = &service.stdin {
            properties.push((
                "StandardInputFileDescriptor",
                Value::from(Fd::from(fd.as_fd())),
            ));
        }
        self.manager()
            .await?
            .start_transient_unit(service.name, "fail", &properties, &[])
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn kill(&self, unit: &str, whom: &str, signal: i32) -> Result<(), SystemdError> {
        self.manager()
            .await?
            .kill_unit(unit, whom, signal)
            .await
            .map_err(classify)
    }

    /// Makes the manager read unit files again (only borg's units: a user manager).
    pub async fn reload(&self) -> Result<(), SystemdError> {
        self.manager().await?.reload().await.map_err(classify)
    }

    /// Starts, stops or restarts a unit; waits only for the job to be queued.
    pub async fn start(&self, unit: &str) -> Result<(), SystemdError> {
        self.manager()
            .await?
            .start_unit(unit, "replace")
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn stop(&self, unit: &str) -> Result<(), SystemdError> {
        match self
            .manager()
            .await?
            .stop_unit(unit, "replace")
            .await
            .map_err(classify)
        {
            Ok(_) | Err(SystemdError::NoSuchUnit) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn restart(&self, unit: &str) -> Result<(), SystemdError> {
        self.manager()
            .await?
            .restart_unit(unit, "replace")
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Enables unit files found in the manager's search path (their [Install] section).
    pub async fn enable(&self, units: &[&str]) -> Result<(), SystemdError> {
        if units.is_empty() {
            return Ok(());
        }
        self.manager()
            .await?
            .enable_unit_files(units, false, true)
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub async fn disable(&self, units: &[&str]) -> Result<(), SystemdError> {
        if units.is_empty() {
            return Ok(());
        }
        self.manager()
            .await?
            .disable_unit_files(units, false)
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// The loaded units matching `pattern` and whether each is active.
    pub async fn units_matching(&self, pattern: &str) -> Result<Vec<(String, bool)>, SystemdError> {
        let units = self
            .manager()
            .await?
            .list_units_by_patterns(&[], &[pattern])
            .await
            .map_err(classify)?;
        Ok(units
            .into_iter()
            .map(|u| {
                (
                    u.0,
                    matches!(u.3.as_str(), "active" | "activating" | "reloading"),
                )
            })
            .collect())
    }

    pub async fn unit_state(&self, unit: &str) -> Result<UnitState, SystemdError> {
        let path = match self.manager().await?.get_unit(unit).await.map_err(classify) {
            Ok(path) => path,
            Err(SystemdError::NoSuchUnit) => return Ok(UnitState::Gone),
            Err(e) => return Err(e),
        };
        let state = UnitProxy::builder(&self.connection)
            .path(path)?
            .build()
            .await?
            .active_state()
            .await?;
        Ok(match state.as_str() {
            "active" | "activating" | "deactivating" | "reloading" | "refreshing" => {
                UnitState::Running
            }
            _ => UnitState::Gone,
        })
    }
}
