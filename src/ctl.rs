//! `iphttps ctl`: runs Windows-style commands against a running serve or lab.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Result, bail};
use iphttps_sim::api::{self, DEFAULT_ADMIN};

/// The arguments of `iphttps ctl`.
#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// The admin endpoint.
    #[arg(long, default_value = DEFAULT_ADMIN)]
    admin: SocketAddr,
    /// Run on lab client N (from 1) instead of the server.
    #[arg(long, value_name = "N")]
    client: Option<usize>,
    /// Print the JSON twin of every view.
    #[arg(long)]
    json: bool,
    /// The command line; without it, lines are read from standard input as one session.
    #[arg(last = true)]
    line: Vec<String>,
}

impl CtlArgs {
    /// Runs the command; the exit code is the command's verdict.
    pub async fn run(self) -> Result<ExitCode> {
        let Self {
            admin,
            client,
            json,
            line,
        } = self;
        let lines: Vec<String> = if line.is_empty() {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("reading command lines from standard input; end with Ctrl-D");
            }
            stdin.lock().lines().collect::<std::io::Result<_>>()?
        } else {
            vec![line.join(" ")]
        };
        let v = api::client::run(admin, client, &lines).await?;
        if let Some(e) = v["error"].as_str() {
            bail!("{e}");
        }
        for r in v["results"].as_array().into_iter().flatten() {
            if r["ok"] == true {
                if json {
                    println!("{}", serde_json::to_string_pretty(&r["value"])?);
                } else {
                    print!("{}", r["text"].as_str().unwrap_or_default());
                }
            } else {
                eprintln!("{}", r["line"].as_str().unwrap_or_default());
                eprintln!("error: {}", r["error"].as_str().unwrap_or_default());
            }
        }
        Ok(if v["ok"] == true {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
