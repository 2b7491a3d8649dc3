//! `iphttps pki`: writes a PKI set (healthy, or a certificate fault's) as PEM.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use iphttps_sim::fault::{self, Fault};
use iphttps_sim::pki::{self, Pki, PkiOptions};
use std::path::PathBuf;

/// The arguments of `iphttps pki`.
#[derive(Debug, clap::Args)]
pub struct PkiArgs {
    /// Folder to write into (created if missing).
    dir: PathBuf,
    /// The IP-HTTPS server's name (certificate Subject CN and SAN).
    #[arg(long, default_value = pki::DEFAULT_NAME)]
    name: String,
    /// Write the set of a certificate fault instead of a healthy one.
    #[arg(long, value_name = "NAME")]
    fault: Option<Fault>,
}

impl PkiArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self { dir, name, fault } = self;
        write_pki(&dir, &name, fault)
    }
}

fn write_pki(dir: &Path, name: &str, fault: Option<Fault>) -> Result<ExitCode> {
    let now = iphttps_sim::time::OffsetDateTime::now_utc();
    let opts = match fault {
        None => PkiOptions::new(name, now),
        Some(f) => match f.pki_options(name, now) {
            Some(o) => o,
            None => {
                let certs: Vec<&str> = fault::catalogue()
                    .iter()
                    .filter(|i| i.certificate)
                    .map(|i| i.name)
                    .collect();
                bail!(
                    "{f} is not a certificate fault; certificate faults: {}",
                    certs.join(", ")
                );
            }
        },
    };
    let pki = Pki::generate(&opts)?;
    pki.write(dir)?;
    let mut files = vec![
        pki::files::ROOT_CA,
        pki::files::INTERMEDIATE_CA,
        pki::files::SERVER,
        pki::files::SERVER_CHAIN,
        pki::files::SERVER_KEY,
        pki::files::CLIENT,
        pki::files::CLIENT_KEY,
        pki::files::MACHINE,
    ];
    if pki.machine_key.is_some() {
        files.push(pki::files::MACHINE_KEY);
    }
    if pki.issuing_root_ca.is_some() {
        files.push(pki::files::ISSUING_ROOT_CA);
    }
    if fault
        .and_then(Fault::certificate_set)
        .is_some_and(|set| set.revoke_server)
    {
        let serial = pki::serial_of(&pki.server).context("server certificate serial")?;
        std::fs::write(dir.join("crl.pem"), pki.crls(&[serial], now)?.concat())?;
        files.push("crl.pem");
    }
    match fault {
        Some(f) => println!(
            "wrote the {f} certificate set for {name} in {}",
            dir.display()
        ),
        None => println!("wrote a PKI set for {name} in {}", dir.display()),
    }
    for f in files {
        println!("  {}", dir.join(f).display());
    }
    Ok(ExitCode::SUCCESS)
}
