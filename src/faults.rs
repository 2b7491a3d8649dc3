//! `iphttps faults`: lists the fault catalogue.

use std::process::ExitCode;

use anyhow::Result;
use iphttps_sim::fault;

/// The arguments of `iphttps faults`.
#[derive(Debug, clap::Args)]
pub struct FaultsArgs {
    /// As JSON.
    #[arg(long)]
    json: bool,
}

impl FaultsArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self { json } = self;
        let cat = fault::catalogue();
        if json {
            println!("{}", serde_json::to_string_pretty(&cat)?);
        } else {
            for f in cat {
                println!(
                    "{}\n  {}\n  mechanism:    {}\n  client shows: {}\n  server shows: {}\n  fix:          {}",
                    f.name, f.description, f.mechanism, f.client_shows, f.server_shows, f.fix
                );
                for c in f.fix_commands {
                    println!("                {c}");
                }
                println!();
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
