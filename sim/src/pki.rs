//! Certificates: a PKI factory (rcgen, ECDSA P-256 with the ring backend) that makes a
//! root CA, an intermediate CA, the IP-HTTPS server certificate (Subject CN and SAN = the
//! server's name, serverAuth EKU, chained root -> intermediate -> leaf) and a client
//! machine certificate (clientAuth EKU), in memory and on disk as PEM.
//!
//! Every validity date is set explicitly from `now`: rcgen's defaults run to year 4096.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// File names of a PKI set on disk.
pub mod files {
    /// The root CA certificate a client must trust.
    pub const ROOT_CA: &str = "root-ca.pem";
    /// The root CA's private key.
    pub const ROOT_CA_KEY: &str = "root-ca-key.pem";
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
}

/// The name the troubleshooting documents use for the IP-HTTPS server.
pub const DEFAULT_NAME: &str = "da.contoso.com";

/// Errors of the PKI layer.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused the parameters.
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
    /// Client certificate validity.
    pub client: Validity,
}

impl PkiOptions {
    /// Healthy dates around `now`: root 10 years, intermediate 5, leaf and client 1.
    pub fn new(name: impl Into<String>, now: OffsetDateTime) -> Self {
        Self {
            name: name.into(),
            root: Validity::around(now, 3650),
            intermediate: Validity::around(now, 1825),
            server: Validity::around(now, 365),
            client: Validity::around(now, 365),
        }
    }
}

/// A PKI set as PEM text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pki {
    /// Root CA certificate.
    pub root_ca: String,
    /// Root CA key.
    pub root_ca_key: String,
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
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Contoso (iphttps simulator)");
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str, v: Validity, serial: u64) -> CertificateParams {
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
    p.serial_number = Some(SerialNumber::from(serial));
    p
}

fn leaf_params(
    name: &str,
    v: Validity,
    eku: ExtendedKeyUsagePurpose,
    serial: u64,
) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(vec![name.to_string()])?;
    p.distinguished_name = dn(name);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![eku];
    p.not_before = v.not_before;
    p.not_after = v.not_after;
    p.serial_number = Some(SerialNumber::from(serial));
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

impl Pki {
    /// Generates a set.
    pub fn generate(opts: &PkiOptions) -> Result<Self, PkiError> {
        let root_key = KeyPair::generate()?;
        let root_key_pem = root_key.serialize_pem();
        let root = CertifiedIssuer::self_signed(
            ca_params("Contoso IP-HTTPS Root CA", opts.root, 1),
            root_key,
        )?;
        let inter_key = KeyPair::generate()?;
        let inter_key_pem = inter_key.serialize_pem();
        let mut inter_params = ca_params("Contoso IP-HTTPS Issuing CA", opts.intermediate, 2);
        inter_params.use_authority_key_identifier_extension = true;
        let inter = CertifiedIssuer::signed_by(inter_params, inter_key, &*root)?;

        let server_key = KeyPair::generate()?;
        let server = leaf_params(
            &opts.name,
            opts.server,
            ExtendedKeyUsagePurpose::ServerAuth,
            100,
        )?
        .signed_by(&server_key, &*inter)?;
        let client_key = KeyPair::generate()?;
        let client = leaf_params(
            "DA-CLIENT-01.contoso.com",
            opts.client,
            ExtendedKeyUsagePurpose::ClientAuth,
            200,
        )?
        .signed_by(&client_key, &*inter)?;
        Ok(Self {
            root_ca: root.pem(),
            root_ca_key: root_key_pem,
            intermediate_ca: inter.pem(),
            intermediate_ca_key: inter_key_pem,
            server: server.pem(),
            server_key: server_key.serialize_pem(),
            client: client.pem(),
            client_key: client_key.serialize_pem(),
        })
    }

    /// The chain the server presents: leaf then intermediate.
    pub fn server_chain(&self) -> String {
        format!("{}{}", self.server, self.intermediate_ca)
    }

    /// The chain a client presents: its certificate then the intermediate.
    pub fn client_chain(&self) -> String {
        format!("{}{}", self.client, self.intermediate_ca)
    }

    fn entries(&self) -> [(&'static str, String); 9] {
        [
            (files::ROOT_CA, self.root_ca.clone()),
            (files::ROOT_CA_KEY, self.root_ca_key.clone()),
            (files::INTERMEDIATE_CA, self.intermediate_ca.clone()),
            (files::INTERMEDIATE_CA_KEY, self.intermediate_ca_key.clone()),
            (files::SERVER, self.server.clone()),
            (files::SERVER_CHAIN, self.server_chain()),
            (files::SERVER_KEY, self.server_key.clone()),
            (files::CLIENT, self.client.clone()),
            (files::CLIENT_KEY, self.client_key.clone()),
        ]
    }

    /// Writes the set into `dir` (created if missing).
    pub fn write(&self, dir: &Path) -> Result<(), PkiError> {
        std::fs::create_dir_all(dir).map_err(|source| PkiError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        for (name, text) in self.entries() {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| PkiError::Io { path, source })?;
        }
        Ok(())
    }

    /// Reads a set written by [`Pki::write`].
    pub fn read(dir: &Path) -> Result<Self, PkiError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|source| PkiError::Io { path, source })
        };
        Ok(Self {
            root_ca: read(files::ROOT_CA)?,
            root_ca_key: read(files::ROOT_CA_KEY)?,
            intermediate_ca: read(files::INTERMEDIATE_CA)?,
            intermediate_ca_key: read(files::INTERMEDIATE_CA_KEY)?,
            server: read(files::SERVER)?,
            server_key: read(files::SERVER_KEY)?,
            client: read(files::CLIENT)?,
            client_key: read(files::CLIENT_KEY)?,
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
