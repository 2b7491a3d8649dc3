//! Certificates: a PKI factory (rcgen, ECDSA P-256 with the ring backend) that makes a
//! root CA, an intermediate CA, the IP-HTTPS server certificate (Subject CN and SAN = the
//! server's name, serverAuth EKU, chained root -> intermediate -> leaf), a client machine
//! certificate (clientAuth EKU) and the server's own machine certificate that IPsec uses,
//! in memory and on disk as PEM; certificate revocation lists; and re-issuing a leaf
//! from the intermediate's key, which is how the certificate faults are made and fixed.
//!
//! Every validity date is set explicitly: rcgen's defaults run to year 4096.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevocationReason, RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// File names of a PKI set on disk.
pub mod files {
    /// The root CA certificate a client must trust.
    pub const ROOT_CA: &str = "root-ca.pem";
    /// The root CA's private key.
    pub const ROOT_CA_KEY: &str = "root-ca-key.pem";
    /// The root that really issued the server's chain, when it is not `root-ca.pem`
    /// (the `untrusted-root` fault).
    pub const ISSUING_ROOT_CA: &str = "issuing-root-ca.pem";
    /// Its private key.
    pub const ISSUING_ROOT_CA_KEY: &str = "issuing-root-ca-key.pem";
    /// The intermediate CA certificate.
    pub const INTERMEDIATE_CA: &str = "intermediate-ca.pem";
    /// The intermediate CA's private key.
    pub const INTERMEDIATE_CA_KEY: &str = "intermediate-ca-key.pem";
    /// The IP-HTTPS server certificate (leaf only).
    pub const SERVER: &str = "server.pem";
    /// The leaf followed by the intermediate, as the server presents it.
    pub const SERVER_CHAIN: &str = "server-chain.pem";
    /// The server's private key.
    pub const SERVER_KEY: &str = "server-key.pem";
    /// The client machine certificate.
    pub const CLIENT: &str = "client.pem";
    /// The client's private key.
    pub const CLIENT_KEY: &str = "client-key.pem";
    /// The machine certificate IPsec uses (the IPsec lab's clients present it).
    pub const MACHINE: &str = "machine.pem";
    /// Its private key (absent when the certificate has none).
    pub const MACHINE_KEY: &str = "machine-key.pem";
}

/// The name the troubleshooting documents use for the IP-HTTPS server.
pub const DEFAULT_NAME: &str = "da.contoso.com";
const ROOT_CN: &str = "Contoso IP-HTTPS Root CA";
const OTHER_ROOT_CN: &str = "Contoso Standalone Root CA";
const UNRELATED_ROOT_CN: &str = "Fabrikam Root CA";
const INTERMEDIATE_CN: &str = "Contoso IP-HTTPS Issuing CA";
const CLIENT_CN: &str = "DA-CLIENT-01.contoso.com";
const MACHINE_CN: &str = "DA-SERVER-01.contoso.com";

/// Errors of the PKI layer.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused the parameters or a key.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Validity of one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From `now - 1 day` to `now + days`.
    pub fn around(now: OffsetDateTime, days: i64) -> Self {
        Self {
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(days),
        }
    }

    /// Ended a day before `now` (an expired certificate).
    pub fn expired(now: OffsetDateTime) -> Self {
        Self {
            not_before: now - Duration::days(366),
            not_after: now - Duration::days(1),
        }
    }

    /// Starting a day after `now` (a certificate not yet valid).
    pub fn future(now: OffsetDateTime) -> Self {
        Self {
            not_before: now + Duration::days(1),
            not_after: now + Duration::days(366),
        }
    }
}

/// The machine certificate IPsec uses, as the options describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineOptions {
    /// Its validity.
    pub validity: Validity,
    /// Whether it carries the Client Authentication EKU (else Server Authentication only).
    pub client_auth: bool,
    /// Whether its private key is present.
    pub private_key: bool,
    /// Whether it chains to the configured root (else to an unrelated root).
    pub chains_to_root: bool,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct PkiOptions {
    /// The server's name (Subject CN and DNS SAN of the leaf).
    pub name: String,
    /// Root CA validity.
    pub root: Validity,
    /// Intermediate CA validity.
    pub intermediate: Validity,
    /// Server (leaf) validity.
    pub server: Validity,
    /// The name on the server certificate when it differs from `name` (`name-mismatch`).
    pub server_cert_name: Option<String>,
    /// Whether the chain is issued by a root other than the one clients are given
    /// (`untrusted-root`).
    pub foreign_issuer: bool,
    /// Client certificate validity.
    pub client: Validity,
    /// The machine certificate IPsec uses.
    pub machine: MachineOptions,
}

impl PkiOptions {
    /// Healthy dates around `now`: root 10 years, intermediate 5, leaves 1.
    pub fn new(name: impl Into<String>, now: OffsetDateTime) -> Self {
        Self {
            name: name.into(),
            root: Validity::around(now, 3650),
            intermediate: Validity::around(now, 1825),
            server: Validity::around(now, 365),
            server_cert_name: None,
            foreign_issuer: false,
            client: Validity::around(now, 365),
            machine: MachineOptions {
                validity: Validity::around(now, 365),
                client_auth: true,
                private_key: true,
                chains_to_root: true,
            },
        }
    }
}

/// A PKI set as PEM text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pki {
    /// The root CA clients are given to trust.
    pub root_ca: String,
    /// Its key.
    pub root_ca_key: String,
    /// The root that issued the chain when it is not `root_ca` (certificate, key).
    pub issuing_root_ca: Option<(String, String)>,
    /// Intermediate CA certificate.
    pub intermediate_ca: String,
    /// Intermediate CA key.
    pub intermediate_ca_key: String,
    /// Server leaf certificate.
    pub server: String,
    /// Server key.
    pub server_key: String,
    /// Client machine certificate.
    pub client: String,
    /// Client key.
    pub client_key: String,
    /// The machine certificate IPsec uses.(IPsec).
    pub machine: String,
    /// Its key, if it has one.
    pub machine_key: Option<String>,
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Contoso (iphttps simulator)");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str, v: Validity) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = v.not_before;
    p.not_after = v.not_after;
    p.serial_number = Some(new_serial());
    p.use_authority_key_identifier_extension = true;
    p
}

fn new_serial() -> SerialNumber {
    SerialNumber::from(rand::random::<u64>() >> 1 | 1 << 40)
}

/// Re-creates a CA's issuer from its name and PEM key (the issuer's DN, key usages and
/// key are what signing needs).
fn issuer(cn: &str, key_pem: &str) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let key = KeyPair::from_pem(key_pem)?;
    let now = OffsetDateTime::now_utc();
    Ok(Issuer::new(ca_params(cn, Validity::around(now, 1)), key))
}

/// Issues a leaf for `key_pem`'s key, or a new ECDSA P-256 key when it is `None`:
/// returns (certificate PEM, key PEM).
fn leaf(
    name: &str,
    v: Validity,
    eku: ExtendedKeyUsagePurpose,
    by: &Issuer<'_, KeyPair>,
    key_pem: Option<&str>,
) -> Result<(String, String), PkiError> {
    leaf_for(name, v, eku, KeyUsagePurpose::DigitalSignature, by, key_pem)
}

/// [`leaf`] with another key usage than digitalSignature.
fn leaf_for(
    name: &str,
    v: Validity,
    eku: ExtendedKeyUsagePurpose,
    key_usage: KeyUsagePurpose,
    by: &Issuer<'_, KeyPair>,
    key_pem: Option<&str>,
) -> Result<(String, String), PkiError> {
    let mut p = CertificateParams::new(vec![name.to_string()])?;
    p.distinguished_name = dn(name);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![key_usage];
    p.extended_key_usages = vec![eku];
    p.not_before = v.not_before;
    p.not_after = v.not_after;
    p.serial_number = Some(new_serial());
    p.use_authority_key_identifier_extension = true;
    let key = match key_pem {
        Some(pem) => KeyPair::from_pem(pem)?,
        None => KeyPair::generate()?,
    };
    let cert = p.signed_by(&key, by)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A root CA of another organisation (certificate PEM): what the store of a client that
/// does not trust the deployment's root holds instead, so its handshake fails on the
/// chain (0x800b0109) rather than on an empty store.
pub fn unrelated_root(now: OffsetDateTime) -> Result<String, PkiError> {
    let key = KeyPair::generate()?;
    let root = CertifiedIssuer::self_signed(
        ca_params(UNRELATED_ROOT_CN, Validity::around(now, 3650)),
        key,
    )?;
    Ok(root.pem())
}

impl Pki {
    /// Generates a set.
    pub fn generate(opts: &PkiOptions) -> Result<Self, PkiError> {
        let root_key = KeyPair::generate()?;
        let root_key_pem = root_key.serialize_pem();
        let root = CertifiedIssuer::self_signed(ca_params(ROOT_CN, opts.root), root_key)?;
        let issuing = if opts.foreign_issuer {
            let k = KeyPair::generate()?;
            let k_pem = k.serialize_pem();
            Some((
                CertifiedIssuer::self_signed(ca_params(OTHER_ROOT_CN, opts.root), k)?,
                k_pem,
            ))
        } else {
            None
        };
        let chain_root: &Issuer<'_, KeyPair> = match &issuing {
            Some((r, _)) => r,
            None => &root,
        };
        let inter_key = KeyPair::generate()?;
        let inter_key_pem = inter_key.serialize_pem();
        let inter = CertifiedIssuer::signed_by(
            ca_params(INTERMEDIATE_CN, opts.intermediate),
            inter_key,
            chain_root,
        )?;
        let server_name = opts.server_cert_name.as_deref().unwrap_or(&opts.name);
        let (server, server_key) = leaf(
            server_name,
            opts.server,
            ExtendedKeyUsagePurpose::ServerAuth,
            &inter,
            None,
        )?;
        let (client, client_key) = leaf(
            CLIENT_CN,
            opts.client,
            ExtendedKeyUsagePurpose::ClientAuth,
            &inter,
            None,
        )?;
        let mut pki = Self {
            root_ca: root.pem(),
            root_ca_key: root_key_pem,
            issuing_root_ca: issuing.map(|(r, k)| (r.pem(), k)),
            intermediate_ca: inter.pem(),
            intermediate_ca_key: inter_key_pem,
            server,
            server_key,
            client,
            client_key,
            machine: String::new(),
            machine_key: None,
        };
        pki.reissue_machine(&opts.machine)?;
        Ok(pki)
    }

    /// The root that issued the chain (the trusted root unless `untrusted-root` made another).
    pub fn chain_root(&self) -> &str {
        self.issuing_root_ca
            .as_ref()
            .map_or(&self.root_ca, |(c, _)| c)
    }

    fn chain_root_key(&self) -> (&'static str, &str) {
        match &self.issuing_root_ca {
            Some((_, k)) => (OTHER_ROOT_CN, k),
            None => (ROOT_CN, &self.root_ca_key),
        }
    }

    /// Issues a new server certificate for `name` with `validity` from the intermediate,
    /// for the server's current key (a renewal keeps the key, and with it an RSA key the
    /// NULL-encryption suites need).
    pub fn reissue_server(&mut self, name: &str, validity: Validity) -> Result<(), PkiError> {
        let inter = issuer(INTERMEDIATE_CN, &self.intermediate_ca_key)?;
        let (c, k) = leaf(
            name,
            validity,
            ExtendedKeyUsagePurpose::ServerAuth,
            &inter,
            Some(&self.server_key),
        )?;
        self.server = c;
        self.server_key = k;
        Ok(())
    }

    /// Issues a new machine certificate (the one IPsec uses).
    pub fn reissue_machine(&mut self, m: &MachineOptions) -> Result<(), PkiError> {
        // Without client authentication the certificate is what a key-exchange template
        // issues: Server Authentication only, and a key usage without digitalSignature,
        // so it can sign no authentication (IKE responders refuse it for that).
        let (eku, usage) = if m.client_auth {
            (
                ExtendedKeyUsagePurpose::ClientAuth,
                KeyUsagePurpose::DigitalSignature,
            )
        } else {
            (
                ExtendedKeyUsagePurpose::ServerAuth,
                KeyUsagePurpose::KeyAgreement,
            )
        };
        let (c, k) = if m.chains_to_root {
            leaf_for(
                MACHINE_CN,
                m.validity,
                eku,
                usage,
                &issuer(INTERMEDIATE_CN, &self.intermediate_ca_key)?,
                None,
            )?
        } else {
            let other = KeyPair::generate()?;
            let now = OffsetDateTime::now_utc();
            let other = Issuer::new(
                ca_params("Fabrikam Root CA", Validity::around(now, 365)),
                other,
            );
            leaf_for(MACHINE_CN, m.validity, eku, usage, &other, None)?
        };
        self.machine = c;
        self.machine_key = m.private_key.then_some(k);
        Ok(())
    }

    /// The certificate revocation lists a CRL distribution point publishes: the chain
    /// root's (listing nothing) and the intermediate's (listing `revoked` serials), as PEM.
    pub fn crls(&self, revoked: &[Vec<u8>], now: OffsetDateTime) -> Result<Vec<String>, PkiError> {
        let (root_cn, root_key) = self.chain_root_key();
        let make = |cn: &str, key: &str, serials: &[Vec<u8>]| -> Result<String, PkiError> {
            let params = CertificateRevocationListParams {
                this_update: now - Duration::hours(1),
                next_update: now + Duration::days(7),
                crl_number: new_serial(),
                issuing_distribution_point: None,
                revoked_certs: serials
                    .iter()
                    .map(|s| RevokedCertParams {
                        serial_number: SerialNumber::from_slice(s),
                        revocation_time: now - Duration::hours(1),
                        reason_code: Some(RevocationReason::KeyCompromise),
                        invalidity_date: None,
                    })
                    .collect(),
                key_identifier_method: KeyIdMethod::Sha256,
            };
            Ok(params.signed_by(&issuer(cn, key)?)?.pem()?)
        };
        Ok(vec![
            make(root_cn, root_key, &[])?,
            make(INTERMEDIATE_CN, &self.intermediate_ca_key, revoked)?,
        ])
    }

    /// The chain the server presents: leaf then intermediate.
    pub fn server_chain(&self) -> String {
        format!("{}{}", self.server, self.intermediate_ca)
    }

    /// The chain a client presents: its certificate then the intermediate.
    pub fn client_chain(&self) -> String {
        format!("{}{}", self.client, self.intermediate_ca)
    }

    fn entries(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            (files::ROOT_CA, self.root_ca.clone()),
            (files::ROOT_CA_KEY, self.root_ca_key.clone()),
            (files::INTERMEDIATE_CA, self.intermediate_ca.clone()),
            (files::INTERMEDIATE_CA_KEY, self.intermediate_ca_key.clone()),
            (files::SERVER, self.server.clone()),
            (files::SERVER_CHAIN, self.server_chain()),
            (files::SERVER_KEY, self.server_key.clone()),
            (files::CLIENT, self.client.clone()),
            (files::CLIENT_KEY, self.client_key.clone()),
            (files::MACHINE, self.machine.clone()),
        ];
        if let Some(k) = &self.machine_key {
            v.push((files::MACHINE_KEY, k.clone()));
        }
        if let Some((c, k)) = &self.issuing_root_ca {
            v.push((files::ISSUING_ROOT_CA, c.clone()));
            v.push((files::ISSUING_ROOT_CA_KEY, k.clone()));
        }
        v
    }

    /// Writes the set into `dir` (created if missing), removing optional files this set
    /// does not have.
    pub fn write(&self, dir: &Path) -> Result<(), PkiError> {
        let io = |path: PathBuf| move |source| PkiError::Io { path, source };
        std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
        for (name, text) in self.entries() {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io(path.clone()))?;
        }
        for optional in [
            files::MACHINE_KEY,
            files::ISSUING_ROOT_CA,
            files::ISSUING_ROOT_CA_KEY,
        ] {
            if !self.entries().iter().any(|(n, _)| *n == optional) {
                let _ = std::fs::remove_file(dir.join(optional));
            }
        }
        Ok(())
    }

    /// Reads a set written by [`Pki::write`].
    pub fn read(dir: &Path) -> Result<Self, PkiError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| PkiError::Io { path, source })
        };
        let optional = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
        Ok(Self {
            root_ca: read(files::ROOT_CA)?,
            root_ca_key: read(files::ROOT_CA_KEY)?,
            issuing_root_ca: optional(files::ISSUING_ROOT_CA)
                .zip(optional(files::ISSUING_ROOT_CA_KEY)),
            intermediate_ca: read(files::INTERMEDIATE_CA)?,
            intermediate_ca_key: read(files::INTERMEDIATE_CA_KEY)?,
            server: read(files::SERVER)?,
            server_key: read(files::SERVER_KEY)?,
            client: read(files::CLIENT)?,
            client_key: read(files::CLIENT_KEY)?,
            machine: read(files::MACHINE)?,
            machine_key: optional(files::MACHINE_KEY),
        })
    }

    /// Uses the set in `dir`, or generates one there when `dir` is empty or missing.
    pub fn load_or_generate(dir: &Path, opts: &PkiOptions) -> Result<Self, PkiError> {
        let empty = std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
        if empty {
            let pki = Self::generate(opts)?;
            pki.write(dir)?;
            Ok(pki)
        } else {
            Self::read(dir)
        }
    }
}

/// The serial number of the first certificate in `pem` (big-endian bytes, as in the DER).
pub fn serial_of(pem: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber INTEGER, ...
    let (_, cert) = der_item(&der)?;
    let (_, tbs) = der_item(cert)?;
    let mut rest = tbs;
    let (tag, body) = der_item(rest)?;
    if tag == 0xa0 {
        rest = &rest[der_len_total(rest)?..];
        let (tag, body) = der_item(rest)?;
        return (tag == 0x02).then(|| body.to_vec());
    }
    (tag == 0x02).then(|| body.to_vec())
}

/// (tag, contents) of the DER item at the start of `b`.
fn der_item(b: &[u8]) -> Option<(u8, &[u8])> {
    let total = der_len_total(b)?;
    let hdr = total - der_content_len(b)?;
    Some((b[0], &b[hdr..total]))
}

fn der_content_len(b: &[u8]) -> Option<usize> {
    let first = *b.get(1)?;
    if first < 0x80 {
        return Some(usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = len << 8 | usize::from(*b.get(2 + i)?);
    }
    Some(len)
}

fn der_len_total(b: &[u8]) -> Option<usize> {
    let first = *b.get(1)?;
    let hdr = if first < 0x80 {
        2
    } else {
        2 + usize::from(first & 0x7f)
    };
    let total = hdr + der_content_len(b)?;
    (total <= b.len()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_is_read_back_from_the_certificate() {
        let pki = Pki::generate(&PkiOptions::new(DEFAULT_NAME, OffsetDateTime::now_utc())).unwrap();
        let s = serial_of(&pki.server).unwrap();
        assert!(!s.is_empty());
        assert_ne!(serial_of(&pki.client).unwrap(), s);
    }

    #[test]
    fn write_read_round_trip_keeps_optional_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = PkiOptions::new(DEFAULT_NAME, OffsetDateTime::now_utc());
        opts.foreign_issuer = true;
        opts.machine.private_key = false;
        let pki = Pki::generate(&opts).unwrap();
        pki.write(dir.path()).unwrap();
        assert!(dir.path().join(files::ISSUING_ROOT_CA).exists());
        assert!(!dir.path().join(files::MACHINE_KEY).exists());
        assert_eq!(Pki::read(dir.path()).unwrap(), pki);
    }
}
