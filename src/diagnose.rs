//! `iphttps diagnose`: prints the server's Operations Status.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Result;
use iphttps_sim::api::{self, DEFAULT_ADMIN};

/// The arguments of `iphttps diagnose`.
#[derive(Debug, clap::Args)]
pub struct DiagnoseArgs {
    /// The admin endpoint.
    #[arg(long, default_value = DEFAULT_ADMIN)]
    admin: SocketAddr,
    /// As JSON.
    #[arg(long)]
    json: bool,
}

impl DiagnoseArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self { admin, json } = self;
        let v = api::client::get(admin, "/operations-status").await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&v["status"])?);
        } else {
            print!("{}", v["text"].as_str().unwrap_or_default());
        }
        let error = v["status"]["Components"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["HealthState"] == "Error"));
        Ok(if error {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
}
