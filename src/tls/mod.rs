//! HTTPS on the API port: the certificate and key borgbox serves (loaded at start,
//! reloaded on SIGHUP without dropping the pair in use when the new one is bad), the
//! settings that choose them, and what `/info`, `/metrics` and `tls show` say about them.

pub mod make;
pub mod x509;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

pub use x509::Summary;

/// Where the package keeps the certificate `borgbox tls init` made.
pub const DEFAULT_CERT: &str = "/etc/borgbox/tls/cert.pem";
pub const DEFAULT_KEY: &str = "/etc/borgbox/tls/key.pem";
/// A certificate this close to its expiry is a warning at each start.
pub const WARN_BEFORE_EXPIRY: i64 = 30 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Where plain HTTP is answered (TLS always is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Plaintext {
    /// From anywhere: clients configured with http:// keep working.
    #[default]
    Any,
    /// Only from this machine (loopback, a unix socket).
    Loopback,
    /// Nowhere but loopback either way: plain HTTP from elsewhere gets a 403.
    Off,
}

/// The TLS settings of `serve` (API.md 13.1 grows these four).
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// TLS on the API port (same port as plain HTTP), on or off [default: on]
    #[arg(long = "tls", env = "BORGBOX_TLS", value_enum)]
    pub tls: Option<Switch>,
    /// Certificate (PEM, chain allowed) [default: /etc/borgbox/tls/cert.pem]
    #[arg(long, env = "BORGBOX_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM) [default: /etc/borgbox/tls/key.pem]
    #[arg(long, env = "BORGBOX_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Where plain HTTP is answered: any, loopback or off [default: any]
    #[arg(long, env = "BORGBOX_PLAINTEXT", value_enum)]
    pub plaintext: Option<Plaintext>,
}

/// What `serve` should do about TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Off,
    /// Serve this pair; a missing one is an error.
    Pair {
        cert: PathBuf,
        key: PathBuf,
    },
    /// The default pair if it exists, else plain HTTP only.
    DefaultIfPresent {
        cert: PathBuf,
        key: PathBuf,
    },
}

impl TlsArgs {
    /// `defaults`: where the pair is when nobody said (the package's paths, or --dev's).
    pub fn choice(&self, defaults: (&Path, &Path)) -> Choice {
        if self.tls == Some(Switch::Off) {
            return Choice::Off;
        }
        let explicit = self.tls_cert.is_some() || self.tls_key.is_some();
        let cert = self.tls_cert.clone().unwrap_or_else(|| defaults.0.into());
        let key = self.tls_key.clone().unwrap_or_else(|| defaults.1.into());
        if explicit {
            Choice::Pair { cert, key }
        } else {
            Choice::DefaultIfPresent { cert, key }
        }
    }
}

/// A pair read from disk and checked.
struct Loaded {
    key: Arc<CertifiedKey>,
    summary: Summary,
}

/// Hands every handshake the pair in force, whatever name the client asked for (a name
/// that matches nothing still gets the certificate; the client decides).
#[derive(Debug)]
struct Resolver(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// The TLS side of serving: the acceptor for new connections and the pair behind it.
pub struct Tls {
    cert_path: PathBuf,
    key_path: PathBuf,
    resolver: Arc<Resolver>,
    summary: RwLock<Summary>,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads and checks the pair and builds the server configuration: TLS 1.2 and 1.3,
    /// ALPN h2 and http/1.1.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Tls> {
        let loaded = load_pair(cert, key)?;
        let resolver = Arc::new(Resolver(RwLock::new(loaded.key)));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .context("TLS configuration")?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            cert_path: cert.into(),
            key_path: key.into(),
            resolver,
            summary: RwLock::new(loaded.summary),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    pub fn summary(&self) -> Summary {
        self.summary
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the pair again for new connections; on any error the pair in force stays and
    /// the error is returned (a certificate replaced by a half-written file, a new
    /// certificate whose key is not there yet).
    pub fn reload(&self) -> anyhow::Result<Summary> {
        let loaded = load_pair(&self.cert_path, &self.key_path)?;
        *self.resolver.0.write().unwrap_or_else(|e| e.into_inner()) = loaded.key;
        *self.summary.write().unwrap_or_else(|e| e.into_inner()) = loaded.summary.clone();
        Ok(loaded.summary)
    }

    /// Logs a warning when the certificate expires within 30 days (or has expired).
    pub fn warn_if_expiring(&self, now: i64) {
        let summary = self.summary();
        let left = summary.not_after - now;
        if left < 0 {
            log::warn!(
                "the TLS certificate {} expired on {}; clients will refuse it",
                self.cert_path.display(),
                rfc3339(summary.not_after)
            );
        } else if left < WARN_BEFORE_EXPIRY {
            log::warn!(
                "the TLS certificate {} expires on {} ({} days left)",
                self.cert_path.display(),
                rfc3339(summary.not_after),
                left / 86_400
            );
        }
    }
}

/// Reads a PEM certificate file, leaf first.
pub fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read certificate {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("certificate {} is not valid PEM", path.display()))?;
    if certs.is_empty() {
        bail!("certificate {} holds no certificate", path.display());
    }
    Ok(certs)
}

fn load_pair(cert: &Path, key: &Path) -> anyhow::Result<Loaded> {
    let certs = read_certs(cert)?;
    let summary =
        x509::summarize(&certs[0]).with_context(|| format!("certificate {}", cert.display()))?;
    let key_bytes =
        std::fs::read(key).with_context(|| format!("cannot read TLS key {}", key.display()))?;
    let private = PrivateKeyDer::from_pem_slice(&key_bytes)
        .map_err(|e| anyhow::anyhow!("TLS key {} is not a PEM private key: {e}", key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&private)
        .map_err(|e| anyhow::anyhow!("TLS key {}: {e}", key.display()))?;
    let certified = CertifiedKey::new(certs, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => bail!(
            "TLS key {} does not belong to certificate {}",
            key.display(),
            cert.display()
        ),
    }
    Ok(Loaded {
        key: Arc::new(certified),
        summary,
    })
}

/// Unix seconds as `2026-12-07T23:08:16Z`.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}
