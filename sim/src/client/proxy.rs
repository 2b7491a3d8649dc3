//! Reaching the server through a web proxy: `CONNECT HOST:PORT` with optional Basic
//! proxy authentication, then TLS and the IP-HTTPS exchange inside the tunnel
//! ([MS-IPHTTPS] 1.3, 3.1.5.1).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ClientConfig, ConnectError, ProxyUrl};
use crate::wire::head::{self, Parsed};

/// Where the `CONNECT` asks to go: the server's name, as Windows leaves resolving it to
/// the proxy, unless the client has the name pinned (`--resolve`, a hosts entry), in
/// which case the address.
pub(crate) fn target(config: &ClientConfig) -> String {
    let url = &config.url;
    match config
        .resolve
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&url.host))
    {
        Some((_, ip)) => SocketAddr::new(*ip, url.port).to_string(),
        None => format!("{}:{}", url.host, url.port),
    }
}

/// Resolves the proxy's own address (pinned names first, then the system resolver when
/// the client may use it).
async fn proxy_addr(config: &ClientConfig, proxy: &ProxyUrl) -> Result<SocketAddr, ConnectError> {
    let bare = proxy.host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse() {
        return Ok(SocketAddr::new(ip, proxy.port));
    }
    if let Some((_, ip)) = config
        .resolve
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(bare))
    {
        return Ok(SocketAddr::new(*ip, proxy.port));
    }
    let fail = |detail: String| ConnectError::Resolve {
        host: bare.to_string(),
        detail,
    };
    if !config.system_dns {
        return Err(fail("not in the client's pinned names".into()));
    }
    tokio::net::lookup_host((bare, proxy.port))
        .await
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail("no addresses".into()))
}

/// Opens a TCP tunnel through `proxy` to the server; returns the stream, ready for TLS.
pub(crate) async fn connect(
    config: &ClientConfig,
    proxy: &ProxyUrl,
) -> Result<TcpStream, ConnectError> {
    let addr = proxy_addr(config, proxy).await?;
    let mut tcp = super::tcp_to(addr, config.connect_timeout).await?;
    let target = target(config);
    let credentials = proxy
        .credentials
        .as_ref()
        .map(|(u, p)| (u.as_str(), p.as_str()));
    let exchange = async {
        tcp.write_all(&head::connect_request(&target, credentials))
            .await
            .map_err(ConnectError::Io)?;
        // one byte at a time: nothing after the proxy's head may be consumed here
        let mut buf = Vec::with_capacity(256);
        loop {
            let b = tcp.read_u8().await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    ConnectError::Closed
                } else {
                    ConnectError::Io(e)
                }
            })?;
            buf.push(b);
            if !buf.ends_with(b"\r\n\r\n") {
                if buf.len() > head::MAX_HEAD {
                    return Err(ConnectError::Head(head::HeadError::TooLarge));
                }
                continue;
            }
            if let Parsed::Complete { head, .. } = head::parse_connect_reply(&buf)? {
                return Ok(head);
            }
        }
    };
    let reply = match tokio::time::timeout(config.connect_timeout, exchange).await {
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
