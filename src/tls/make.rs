//! `borgbox tls init`: an ECDSA P-256 key and a self-signed certificate for this machine's
//! names and addresses, valid 825 days (the longest macOS accepts for a server
//! certificate, even one trusted by hand).

use std::net::IpAddr;
use std::path::Path;

use anyhow::{bail, Context};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};

pub const VALID_DAYS: i64 = 825;

/// The names a client may use for this machine: host name, FQDN, `localhost`, 127.0.0.1,
/// ::1, and every other address except IPv6 link-local (which no URL can name without a
/// zone).
pub fn machine_names() -> (Vec<String>, Vec<IpAddr>) {
    let mut names = Vec::new();
    if let Ok(host) = nix::unistd::gethostname() {
        names.extend(host.into_string().ok().filter(|h| !h.is_empty()));
    }
    if let Ok(out) = std::process::Command::new("hostname")
        .arg("--fqdn")
        .stderr(std::process::Stdio::null())
        .output()
    {
        let fqdn = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && fqdn.contains('.') && !fqdn.contains(char::is_whitespace) {
            names.push(fqdn);
        }
    }
    names.push("localhost".into());
    names.dedup();
    let mut addresses: Vec<IpAddr> = vec![
        std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::Ipv6Addr::LOCALHOST.into(),
    ];
    if let Ok(ifaddrs) = nix::ifaddrs::getifaddrs() {
        for entry in ifaddrs {
            let Some(address) = entry.address else {
                continue;
            };
            let ip = if let Some(v4) = address.as_sockaddr_in() {
                IpAddr::V4(v4.ip())
            } else if let Some(v6) = address.as_sockaddr_in6() {
                IpAddr::V6(v6.ip())
            } else {
                continue;
            };
            let link_local = matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            if !ip.is_loopback() && !link_local && !addresses.contains(&ip) {
                addresses.push(ip);
            }
        }
    }
    (names, addresses)
}

/// Makes the pair and writes it (key 0600, then certificate 0644), refusing to replace an
/// existing file without `force`. Returns the certificate's PEM.
pub fn make(
    cert: &Path,
    key: &Path,
    force: bool,
    now: time::OffsetDateTime,
) -> anyhow::Result<String> {
    for path in [cert, key] {
        if !force && path.symlink_metadata().is_ok() {
            bail!("{} exists; --force replaces it", path.display());
        }
    }
    let (names, addresses) = machine_names();
    let (cert_pem, key_pem) = self_signed(&names, &addresses, now)?;
    for path in [cert, key] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                crate::files::ensure_dir(dir, 0o755)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
        }
    }
    // The key first: a server reloading in between sees the old pair or the new one.
    write_new(key, key_pem.as_bytes(), 0o600)
        .with_context(|| format!("cannot write {}", key.display()))?;
    write_new(cert, cert_pem.as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", cert.display()))?;
    Ok(cert_pem)
}

/// Writes a temporary file with `mode` from the start, then renames it over `path`: a
/// reader sees the old file or the new one, never half of it.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// (certificate PEM, key PEM) valid from an hour before `now` (clocks differ) for 825 days.
pub fn self_signed(
    names: &[String],
    addresses: &[IpAddr],
    now: time::OffsetDateTime,
) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("generating a key")?;
    let mut params = CertificateParams::new(names.to_vec()).context("certificate names")?;
    params
        .subject_alt_names
        .extend(addresses.iter().map(|ip| SanType::IpAddress(*ip)));
    let mut subject = DistinguishedName::new();
    let host = names.first().map_or("localhost", String::as_str);
    subject.push(DnType::CommonName, format!("borgbox on {host}"));
    params.distinguished_name = subject;
    params.not_before = now - time::Duration::hours(1);
    params.not_after = params.not_before + time::Duration::days(VALID_DAYS);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = params
        .self_signed(&key)
        .context("signing the certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::x509::summarize;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn a_made_certificate_reads_back_with_its_names_and_825_days() {
        let now = time::macros::datetime!(2026-12-07 23:00 UTC);
        let names = vec![
            "box".to_owned(),
            "box.example.org".into(),
            "localhost".into(),
        ];
        let addresses = vec!["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()];
        let (pem, _) = self_signed(&names, &addresses, now).unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let summary = summarize(&der).unwrap();
        assert_eq!(summary.subject, "CN=borgbox on box");
        assert_eq!(
            summary.names,
            [
                "box",
                "box.example.org",
                "localhost",
                "192.0.2.7",
                "2001:db8::7"
            ]
        );
        assert_eq!(summary.not_before, now.unix_timestamp() - 3600);
        assert_eq!(summary.not_after - summary.not_before, 825 * 86_400);
        assert_eq!(summary.cert_sha256.len(), 32 * 3 - 1);
        assert_eq!(summary.pubkey_sha256.len(), 44);
    }
}
