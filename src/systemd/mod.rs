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
    pub sandbox: Sandbox,
}

/// What a transient service may reach, as plain data (systemd.exec(5)); every service also
/// gets the fixed hardening of `properties`. Paths must exist when the unit starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// The only writable paths: everything else is read-only.
    pub read_write: Vec<String>,
    /// Directories replaced by an empty read-only tmpfs (TemporaryFileSystem=)...
    pub emptied: Vec<String>,
    /// ...into which these paths are mounted back, writable (BindPaths=).
    pub bound: Vec<String>,
    /// Paths it cannot reach at all (InaccessiblePaths=; a leading `-`: if they exist).
    pub hidden: Vec<String>,
    /// MemoryMax= as a percentage of the machine's memory.
    pub memory_max_percent: u32,
    pub tasks_max: u64,
}

/// MS_REC: BindPaths= mounts recursively, as in a unit file.
const MS_REC: u64 = 16384;
/// CLONE_NEWCGROUP, the one namespace type allowed. Not none: systemd 252 writes
/// RestrictNamespaces=yes into a transient unit's file as an empty assignment, which a
/// manager Reload reads back as "no restriction" (seen in the nspawn harness). A cgroup
/// namespace needs CAP_SYS_ADMIN, which the job never has, so this allows nothing more.
const NAMESPACES_ALLOWED: u64 = 0x0200_0000;

/// The properties of `service` as StartTransientUnit takes them (stdin aside).
///
/// The sandbox works in borg's user manager only as proven in tests/system
/// (sandbox_cases.py): there, namespacing needs a user namespace, and systemd 252 silently
/// skips ProtectSystem=, PrivateTmp=, InaccessiblePaths= and the like unless PrivateUsers=
/// is set (systemd 257 implies it). Left out: ProtectKernelLogs= (in the nspawn harness
/// /proc/kmsg is a FIFO the user manager cannot mask: the unit fails with 226/NAMESPACE;
/// the kernel log stays root-only anyway), and DevicePolicy=/IPAddressDeny= (BPF, which a
/// user manager may not load; PrivateDevices= and PrivateNetwork= do the work).
pub fn properties(service: &TransientService<'_>) -> Vec<(&'static str, Value<'static>)> {
    let command = |argv: &[String]| -> Vec<(String, Vec<String>, bool)> {
        vec![(argv[0].clone(), argv.to_vec(), false)]
    };
    let sandbox = &service.sandbox;
    let strings = |v: &[&str]| -> Vec<String> { v.iter().map(|s| (*s).to_owned()).collect() };
    let emptied: Vec<(String, String)> = sandbox
        .emptied
        .iter()
        .map(|p| (p.clone(), "ro".to_owned()))
        .collect();
    let bound: Vec<(String, String, bool, u64)> = sandbox
        .bound
        .iter()
        .map(|p| (p.clone(), p.clone(), false, MS_REC))
        .collect();
    // Percent of UINT32_MAX, as systemd-run sends MemoryMax=N%.
    let memory_scale =
        (u64::from(u32::MAX) * u64::from(sandbox.memory_max_percent.min(100)) / 100) as u32;
    vec![
        ("Description", Value::from(service.description.clone())),
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
        // The sandbox: see above for why each namespacing option needs PrivateUsers.
        ("PrivateUsers", Value::from(true)),
        ("NoNewPrivileges", Value::from(true)),
        ("CapabilityBoundingSet", Value::from(0u64)),
        ("UMask", Value::from(0o077u32)),
        ("ProtectSystem", Value::from("strict")),
        // borg's home may be under /home, which ProtectSystem=strict leaves writable.
        ("ProtectHome", Value::from("read-only")),
        ("ReadWritePaths", Value::from(sandbox.read_write.clone())),
        ("TemporaryFileSystem", Value::from(emptied)),
        ("BindPaths", Value::from(bound)),
        ("InaccessiblePaths", Value::from(sandbox.hidden.clone())),
        ("PrivateTmp", Value::from(true)),
        ("PrivateDevices", Value::from(true)),
        ("PrivateIPC", Value::from(true)),
        ("KeyringMode", Value::from("private")),
        // No network: an empty network namespace, and no socket but AF_UNIX (the journal,
        // serve's live datagram socket).
        ("PrivateNetwork", Value::from(true)),
        (
            "RestrictAddressFamilies",
            Value::from((true, strings(&["AF_UNIX"]))),
        ),
        ("RestrictNamespaces", Value::from(NAMESPACES_ALLOWED)),
        ("ProtectKernelTunables", Value::from(true)),
        ("ProtectKernelModules", Value::from(true)),
        ("ProtectControlGroups", Value::from(true)),
        ("ProtectClock", Value::from(true)),
        ("ProtectHostname", Value::from(true)),
        ("ProtectProc", Value::from("invisible")),
        ("ProcSubset", Value::from("pid")),
        ("LockPersonality", Value::from(true)),
        ("RestrictRealtime", Value::from(true)),
        ("RestrictSUIDSGID", Value::from(true)),
        ("MemoryDenyWriteExecute", Value::from(true)),
        ("SystemCallArchitectures", Value::from(strings(&["native"]))),
        (
            "SystemCallFilter",
            Value::from((true, strings(&["@system-service"]))),
        ),
        (
            "SystemCallFilter",
            Value::from((false, strings(&["@privileged", "@resources"]))),
        ),
        ("SystemCallErrorNumber", Value::from(libc::EPERM)),
        ("MemoryMaxScale", Value::from(memory_scale)),
        ("TasksMax", Value::from(sandbox.tasks_max)),
    ]
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
        let mut properties: Vec<(&str, Value<'_>)> = properties(&service);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> TransientService<'static> {
        TransientService {
            name: "borgbox-job-x.service",
            description: "borgbox check job x on repo mac".into(),
            exec_start: vec!["/usr/bin/borgbox".into(), "exec-job".into()],
            exec_stop_post: vec!["/usr/bin/borgbox".into(), "job-finished".into()],
            environment: vec!["BORGBOX_STATE_DIR=/s".into()],
            stdin: None,
            sandbox: Sandbox {
                read_write: vec!["/s/jobs".into()],
                emptied: vec!["/r".into()],
                bound: vec!["/r/mac".into()],
                hidden: vec!["-/h/.ssh".into(), "/run/user/999".into()],
                memory_max_percent: 75,
                tasks_max: 64,
            },
        }
    }

    /// The job unit's properties carry the whole sandbox, with the types systemd's D-Bus
    /// API takes (a wrong type is refused by StartTransientUnit).
    #[test]
    fn a_transient_service_carries_its_sandbox() {
        let service = service();
        let props = properties(&service);
        let all = |name: &str| -> Vec<&Value<'_>> {
            props
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v)
                .collect()
        };
        let one = |name: &str| -> Value<'static> {
            let found = all(name);
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            found[0].try_clone().unwrap()
        };
        let strings = |v: &[&str]| Value::from(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        for flag in [
            "PrivateUsers",
            "NoNewPrivileges",
            "PrivateTmp",
            "PrivateDevices",
            "PrivateIPC",
            "PrivateNetwork",
            "ProtectKernelTunables",
            "ProtectKernelModules",
            "ProtectControlGroups",
            "ProtectClock",
            "ProtectHostname",
            "LockPersonality",
            "RestrictRealtime",
            "RestrictSUIDSGID",
            "MemoryDenyWriteExecute",
        ] {
            assert_eq!(one(flag), Value::from(true), "{flag}");
        }
        assert_eq!(one("ProtectSystem"), Value::from("strict"));
        assert_eq!(one("ProtectHome"), Value::from("read-only"));
        assert_eq!(one("ProtectProc"), Value::from("invisible"));
        assert_eq!(one("CapabilityBoundingSet"), Value::from(0u64));
        assert_eq!(one("RestrictNamespaces"), Value::from(0x0200_0000u64));
        assert_eq!(one("ReadWritePaths"), strings(&["/s/jobs"]));
        assert_eq!(
            one("TemporaryFileSystem"),
            Value::from(vec![("/r".to_string(), "ro".to_string())])
        );
        assert_eq!(
            one("BindPaths"),
            Value::from(vec![(
                "/r/mac".to_string(),
                "/r/mac".to_string(),
                false,
                16384u64
            )])
        );
        assert_eq!(
            one("InaccessiblePaths"),
            strings(&["-/h/.ssh", "/run/user/999"])
        );
        assert_eq!(
            one("RestrictAddressFamilies"),
            Value::from((true, vec!["AF_UNIX".to_string()]))
        );
        assert_eq!(
            all("SystemCallFilter"),
            [
                &Value::from((true, vec!["@system-service".to_string()])),
                &Value::from((
                    false,
                    vec!["@privileged".to_string(), "@resources".to_string()]
                )),
            ]
        );
        assert_eq!(one("SystemCallErrorNumber"), Value::from(libc::EPERM));
        assert_eq!(one("SystemCallArchitectures"), strings(&["native"]));
        // 75 % as systemd-run sends MemoryMax=75% (the unit file then says 75.00%).
        assert_eq!(one("MemoryMaxScale"), Value::from(3_221_225_471u32));
        assert_eq!(one("TasksMax"), Value::from(64u64));
        assert_eq!(one("Nice"), Value::from(10i32));
    }
}
