//! `iphttps`: the command line. Each subcommand is a `clap::Args` struct with a `run`
//! method in a file of its own; the work is in `iphttps-sim` and `iphttps-harness`.

mod bench;
mod connect;
mod ctl;
mod diagnose;
mod faults;
mod lab;
mod parse;
mod pki;
mod probe;
mod progress;
mod run;
mod serve;
mod signal;
mod soak;
mod swarm;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// A simulator and test harness for Microsoft's IP-HTTPS tunnel (IPv6 over HTTPS).
#[derive(Parser)]
#[command(name = "iphttps", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a PKI set (root CA, intermediate CA, server, client and machine certificates) as PEM.
    Pki(pki::PkiArgs),
    /// Run an IP-HTTPS server with a built-in intranet host behind it.
    Serve(serve::ServeArgs),
    /// Connect to an IP-HTTPS server as a client.
    Connect(connect::ConnectArgs),
    /// Start a server, N clients and the intranet host on loopback, and ping across them.
    Lab(lab::LabArgs),
    /// Diagnose any IP-HTTPS endpoint once: DNS, TCP, TLS (chain, trust, revocation),
    /// the POST exchange, a Router Solicitation and its Advertisement; exit 0 only when
    /// every stage succeeded and the RA carries a prefix.
    Probe(probe::ProbeArgs),
    /// List the fault catalogue.
    Faults(faults::FaultsArgs),
    /// Run Windows-style admin commands against a running serve or lab.
    Ctl(ctl::CtlArgs),
    /// Run scenario files (default: scenarios/); exit 0 when all pass, 1 when any fail,
    /// 2 on bad input.
    Run(run::RunArgs),
    /// Measure tunnel packet handling beside baselines from the same run.
    Bench(bench::BenchArgs),
    /// Soak: N clients with mixed traffic while faults come and go and the server
    /// restarts; checks memory, recovery, delivery and the counters at the end.
    Soak(soak::SoakArgs),
    /// Print the server's Operations Status; exit non-zero when any component is in Error.
    Diagnose(diagnose::DiagnoseArgs),
    /// Load-test any IP-HTTPS server with many full clients; exit 0 when every client
    /// reached LinkUp (and ping loss stayed under --max-loss), 1 otherwise, 2 on bad input.
    Swarm(swarm::SwarmArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_fd_limit();
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        // a scenario run reports through its results; the simulator's warnings are expected
        Command::Run(_)
        | Command::Lab(_)
        | Command::Bench(_)
        | Command::Soak(_)
        | Command::Swarm(_) => "error",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Pki(a) => a.run().await,
        Command::Serve(a) => a.run().await,
        Command::Connect(a) => a.run().await,
        Command::Lab(a) => a.run().await,
        Command::Probe(a) => a.run().await,
        Command::Faults(a) => a.run().await,
        Command::Ctl(a) => a.run().await,
        Command::Run(a) => a.run().await,
        Command::Bench(a) => a.run().await,
        Command::Soak(a) => a.run().await,
        Command::Diagnose(a) => a.run().await,
        Command::Swarm(a) => a.run().await,
    }
}

/// Many clients need many sockets: raise the soft limit on open files to the hard limit.
fn raise_fd_limit() {
    #[cfg(unix)]
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::debug!(error = %e, "cannot raise the open-file limit");
    }
}
