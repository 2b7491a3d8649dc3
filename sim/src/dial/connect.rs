//! Reaching the server through a web proxy: `CONNECT HOST:PORT` with optional Basic
//! proxy authentication, then TLS and the IP-HTTPS exchange inside the tunnel
//! ([MS-IPHTTPS] 1.3, 3.1.5.1).

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;

use super::{Dialer, ProxyUrl};
use crate::client_state::ConnectError;
use crate::net::Stream;
use crate::net::{Reads, read_head};
use crate::wire::head;

/// Resolves the proxy's own address (pinned names first, then the system resolver when
/// the client may use it).
async fn proxy_addr(dialer: &Dialer, proxy: &ProxyUrl) -> Result<SocketAddr, ConnectError> {
    let bare = proxy.host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse() {
        return Ok(SocketAddr::new(ip, proxy.port));
    }
    dialer.lookup(bare, proxy.port).await
}

/// Opens a TCP tunnel through `proxy` to the server; returns the stream, ready for TLS.
pub(super) async fn through(dialer: &Dialer, proxy: &ProxyUrl) -> Result<Stream, ConnectError> {
    let addr = proxy_addr(dialer, proxy).await?;
    let mut tcp = dialer.connect_to(addr).await?;
    let target = dialer.proxy_target();
    let credentials = proxy
        .credentials
        .as_ref()
        .map(|(u, p)| (u.as_str(), p.as_str()));
    let exchange = async {
        tcp.write_all(&head::connect_request(&target, credentials))
            .await
            .map_err(ConnectError::Io)?;
        // one byte at a time: nothing after the proxy's head may be consumed here
        let (reply, _) = read_head(&mut tcp, Reads::ByteByByte, head::parse_connect_reply).await?;
        Ok::<_, ConnectError>(reply)
    };
    let reply = match tokio::time::timeout(dialer.timeout, exchange).await {
        Ok(r) => r?,
        Err(_) => return Err(ConnectError::Timeout("web proxy CONNECT")),
    };
    match reply.code {
        200..=299 => Ok(tcp),
        // 407 is the standard answer; some proxies (tinyproxy) send 401 for wrong credentials
        401 | 407 => Err(ConnectError::ProxyAuth {
            proxy: proxy.to_string(),
            code: reply.code,
            reason: reply.reason,
            sent_credentials: credentials.is_some(),
            challenge: reply.authenticate.unwrap_or_default(),
        }),
        code => Err(ConnectError::ProxyRefused {
            proxy: proxy.to_string(),
            code,
            reason: reply.reason,
        }),
    }
}
