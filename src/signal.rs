//! Waiting for the operator to stop a long-running command.

use anyhow::Result;

/// Ctrl-C, or SIGTERM where there is one.
pub async fn shutdown_signal() -> Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok(())
    }
}

/// Runs `work` until it ends or the operator stops it; stopped, the network namespaces
/// of this process's IPsec labs (and what runs in them: charons) are removed before the
/// command ends with an error.
pub async fn unless_interrupted<T>(work: impl std::future::Future<Output = T>) -> Result<T> {
    tokio::select! {
        r = work => Ok(r),
        r = shutdown_signal() => {
            r?;
            iphttps_harness::system::remove_left_over(
                iphttps_harness::ipsec::PREFIX,
                Some(std::process::id()),
            );
            anyhow::bail!("interrupted; the IPsec labs' namespaces and charons are removed");
        }
    }
}
