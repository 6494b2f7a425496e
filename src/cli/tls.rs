//! `borgbox tls init` and `borgbox tls show`: the certificate HTTPS is served with.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::tls::{self, make, x509};

#[derive(Debug, Args)]
pub struct TlsCmd {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Make a key (ECDSA P-256) and a self-signed certificate for this machine's names and
    /// addresses, valid 825 days
    Init {
        /// Certificate to write [default: BORGBOX_TLS_CERT, else /etc/borgbox/tls/cert.pem]
        #[arg(long, env = "BORGBOX_TLS_CERT")]
        cert: Option<PathBuf>,
        /// Key to write [default: BORGBOX_TLS_KEY, else /etc/borgbox/tls/key.pem]
        #[arg(long, env = "BORGBOX_TLS_KEY")]
        key: Option<PathBuf>,
        /// Replace an existing certificate or key
        #[arg(long)]
        force: bool,
    },
    /// Print a certificate's subject, names, expiry and SHA-256 fingerprints
    Show {
        /// [default: BORGBOX_TLS_CERT, else /etc/borgbox/tls/cert.pem]
        #[arg(long, env = "BORGBOX_TLS_CERT")]
        cert: Option<PathBuf>,
    },
}

impl TlsCmd {
    pub fn run(self) -> anyhow::Result<()> {
        match self.action {
            Action::Init { cert, key, force } => {
                let cert = cert.unwrap_or_else(|| tls::DEFAULT_CERT.into());
                let key = key.unwrap_or_else(|| tls::DEFAULT_KEY.into());
                make::make(
                    &cert,
                    &key,
                    force,
                    crate::clock::Clock::now(&crate::clock::SystemClock),
                )?;
                println!("made {} and {}", cert.display(), key.display());
                show(&cert)
            }
            Action::Show { cert } => show(&cert.unwrap_or_else(|| tls::DEFAULT_CERT.into())),
        }
    }
}

fn show(path: &Path) -> anyhow::Result<()> {
    let certs = tls::read_certs(path)?;
    let s = x509::summarize(&certs[0]).with_context(|| path.display().to_string())?;
    let now = crate::clock::Clock::now(&crate::clock::SystemClock).unix_timestamp();
    let left = (s.not_after - now).div_euclid(86_400);
    let state = if left < 0 {
        "EXPIRED".to_owned()
    } else {
        format!("{left} days left")
    };
    println!("certificate:   {}", path.display());
    println!("subject:       {}", s.subject);
    println!("names:         {}", s.names.join(", "));
    println!("valid from:    {}", tls::rfc3339(s.not_before));
    println!("expires:       {} ({state})", tls::rfc3339(s.not_after));
    println!("SHA-256 fingerprint (compare with the browser's):");
    println!("  {}", s.cert_sha256);
    println!("SHA-256 of the public key (base64):");
    println!("  {}", s.pubkey_sha256);
    println!(
        "  curl --pinnedpubkey 'sha256//{}' https://HOST:9999/api/v1/health",
        s.pubkey_sha256
    );
    println!(
        "  chromium --ignore-certificate-errors-spki-list={}",
        s.pubkey_sha256
    );
    Ok(())
}
