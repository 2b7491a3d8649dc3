//! The admin endpoint: an HTTP endpoint on loopback (hyper) through which `iphttps ctl`,
//! `iphttps diagnose` and users' own tools read the views, run commands and inject and
//! clear faults in a running deployment (`serve`) or lab.
//!
//! - `POST /run` with `{"client": null | N, "lines": ["..."]}` runs the lines as one
//!   session (variables carry from line to line) and stops at the first failure:
//!   `{"ok": bool, "results": [{"line", "ok", "text", "value"} | {"line", "ok", "error"}]}`.
//! - `GET /operations-status`: `{"status": {...}, "text": "..."}`.
//! - `GET /faults`: the faults in force.
//! - `GET /metrics`: the server's counters in the Prometheus text format.
//! - `GET /status`: the client table (addresses, bytes), uptime and the Operations Status.
//! - `GET /`: the web console (a page like the Remote Access Management console's
//!   Dashboard, Operations Status with its details pane, and Remote Client Status), which
//!   reads the routes above and injects and clears faults through `POST /run`.
//!
//! Every route answers only as the endpoint's rules say: bound to loopback, or every
//! request carrying the bearer token. The console page itself holds no data and is served
//! without the token; what it shows it fetches with the token a person types into it.
//! Against pages of other sites in the same browser: a request whose `Host` is not a
//! loopback name is refused when there is no token (DNS rebinding), `POST /run` takes only
//! `Content-Type: application/json` (which another site's page cannot send without a
//! preflight this endpoint never answers), and a request whose `Origin` is not this
//! endpoint's is refused.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::deployment::{Deployment, Fleet, NoClients};
use crate::windows::command::Session;
use crate::windows::views;

/// What the endpoint drives: a deployment and the clients its commands may reach.
pub trait Managed: Send + Sync + 'static {
    /// The deployment.
    fn deployment(&self) -> &Deployment;
    /// Its clients (none for `serve`).
    fn fleet(&self) -> &dyn Fleet;
}

impl Managed for Deployment {
    fn deployment(&self) -> &Deployment {
        self
    }

    fn fleet(&self) -> &dyn Fleet {
        &NoClients
    }
}

/// Default admin address.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:8474";
/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Errors starting the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A non-loopback address without a token.
    #[error(
        "the admin endpoint binds to loopback (127.0.0.0/8 or ::1) unless a token is configured (--admin-token); refusing {0}"
    )]
    NotLoopback(SocketAddr),
    /// The socket could not be bound.
    #[error(
        "cannot listen on {addr} for the admin endpoint: {source} (choose another with --admin)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A running admin endpoint.
pub struct AdminEndpoint {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl AdminEndpoint {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for AdminEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the admin endpoint for `target` on `addr`: loopback only, unless `token` is
/// set, in which case every request must carry `Authorization: Bearer TOKEN`.
pub async fn serve<M: Managed>(
    target: Arc<M>,
    addr: SocketAddr,
    token: Option<String>,
) -> Result<AdminEndpoint, ApiError> {
    let handler: Handler = Arc::new(move |req, token| {
        let target = target.clone();
        Box::pin(handle(target, token, req))
    });
    serve_with(addr, token, handler, false).await
}

/// What answers an endpoint's requests, given the endpoint's token.
pub type Handler = Arc<
    dyn Fn(
            Request<Incoming>,
            Option<Arc<str>>,
        ) -> crate::net::BoxFuture<'static, Response<Full<Bytes>>>
        + Send
        + Sync,
>;

/// Serves `handler` on `addr` under the admin endpoint's rules: loopback only unless a
/// `token` is set, or the handler only reads (`read_only`: figures a monitoring system
/// scrapes, which change nothing); the handler checks each request ([`refused`]).
pub async fn serve_with(
    addr: SocketAddr,
    token: Option<String>,
    handler: Handler,
    read_only: bool,
) -> Result<AdminEndpoint, ApiError> {
    if !addr.ip().is_loopback() && token.is_none() && !read_only {
        return Err(ApiError::NotLoopback(addr));
    }
    let token: Option<Arc<str>> = token.map(Arc::from);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ApiError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ApiError::Bind { addr, source })?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (handler, token) = (handler.clone(), token.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let fut = handler(req, token.clone());
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await
                {
                    tracing::debug!(error = %e, "admin connection ended");
                }
            });
        }
    });
    Ok(AdminEndpoint { addr, task })
}

/// The answer refusing `req`, if the endpoint's rules refuse it: another site's page
/// ([`cross_site`]), or a missing or wrong token on a route that is not `public`.
pub fn refused<B>(
    req: &Request<B>,
    token: Option<&str>,
    public: bool,
) -> Option<Response<Full<Bytes>>> {
    if let Some(refusal) = cross_site(req, token.is_some()) {
        return Some(reply(
            StatusCode::FORBIDDEN,
            json!({ "ok": false, "error": refusal }),
        ));
    }
    let t = token.filter(|_| !public)?;
    let given = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    (given != Some(t)).then(|| {
        reply(
            StatusCode::UNAUTHORIZED,
            json!({ "ok": false, "error": "a valid admin token is required (Authorization: Bearer TOKEN)" }),
        )
    })
}

/// A text answer (`/metrics`) of media type `content_type`.
pub fn text_reply(text: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

/// A JSON answer with `status`.
pub fn reply(status: StatusCode, v: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn handle<M: Managed>(
    target: Arc<M>,
    token: Option<Arc<str>>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let bad = |msg: String| {
        reply(
            StatusCode::BAD_REQUEST,
            json!({ "ok": false, "error": msg }),
        )
    };
    if let Some(r) = refused(&req, token.as_deref(), is_console(&req)) {
        return r;
    }
    if is_console(&req) {
        return text_reply(CONSOLE.to_string(), "text/html; charset=utf-8");
    }
    let lab = target.deployment();
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/operations-status") => {
            let st = lab.operations_status().await;
            reply(
                StatusCode::OK,
                json!({ "status": st, "text": views::operations_status(&st) }),
            )
        }
        (&Method::GET, "/metrics") => {
            let ops = lab.operations_status().await;
            let text = crate::metrics::prometheus(&lab.server.snapshot(), &ops);
            text_reply(text, crate::metrics::CONTENT_TYPE)
        }
        (&Method::GET, "/status") => {
            let ops = lab.operations_status().await;
            let snap = lab.server.snapshot();
            reply(
                StatusCode::OK,
                json!({
                    "url": lab.server.url(),
                    "uptime_seconds": snap.uptime.as_secs_f64(),
                    "clients_connected": snap.clients.len(),
                    "clients": snap.clients,
                    "bytes_from_clients": snap.server.bytes_in,
                    "bytes_to_clients": snap.server.bytes_out,
                    "tunnels_established": snap.server.tunnels,
                    "router": snap.router,
                    "to_clients": snap.server.to_clients,
                    "intranet_discarded_packets": snap.intranet.discarded_packets,
                    "intranet": snap.intranet,
                    "intranet_path_mtus": lab.server.intranet_path_mtus(),
                    "heap_in_use_bytes": crate::metrics::heap_in_use(),
                    "core_lock": snap.core_lock,
                    "faults": lab.faults().iter().map(|f| f.name()).collect::<Vec<_>>(),
                    "operations_status": ops,
                    "operations_status_text": views::operations_status(&ops),
                }),
            )
        }
        (&Method::GET, "/faults") => {
            let f: Vec<&str> = lab.faults().iter().map(|f| f.name()).collect();
            let all: Vec<&str> = crate::fault::Fault::ALL.iter().map(|f| f.name()).collect();
            reply(StatusCode::OK, json!({ "faults": f, "catalogue": all }))
        }
        (&Method::POST, "/run") => {
            let json_body = req
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.split(';')
                        .next()
                        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
                });
            if !json_body {
                return reply(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    json!({ "ok": false, "error": "POST /run takes Content-Type: application/json" }),
                );
            }
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return bad(format!(
                        "request body refused: {e} (limit {MAX_BODY} bytes)"
                    ));
                }
            };
            let v: Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return bad(format!("the body is not JSON: {e}")),
            };
            let client = match &v["client"] {
                Value::Null => None,
                Value::Number(n) => match n.as_u64() {
                    Some(n) => Some(n as usize),
                    None => return bad("\"client\" must be a client number".into()),
                },
                _ => return bad("\"client\" must be null or a client number".into()),
            };
            let Some(lines) = v["lines"].as_array() else {
                return bad("\"lines\" must be an array of command lines".into());
            };
            let mut session = Session::default();
            let mut results = Vec::new();
            let mut ok = true;
            for line in lines {
                let Some(line) = line.as_str() else {
                    return bad("every line must be a string".into());
                };
                match lab.run(client, line, &mut session, target.fleet()).await {
                    Ok(out) => results.push(json!({ "line": line, "ok": true, "text": out.to_text(), "value": out.value })),
                    Err(e) => {
                        results.push(json!({ "line": line, "ok": false, "error": e.to_string() }));
                        ok = false;
                        break;
                    }
                }
            }
            reply(StatusCode::OK, json!({ "ok": ok, "results": results }))
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({ "ok": false, "error": "not found: use GET / (the console), POST /run, GET /operations-status, /faults, /metrics or /status" }),
        ),
    }
}

/// The web console's page.
const CONSOLE: &str = include_str!("console.html");

fn is_console<B>(req: &Request<B>) -> bool {
    req.method() == Method::GET && matches!(req.uri().path(), "/" | "/index.html")
}

/// Why a request looks like another site's, if it does: a `Host` that is not a loopback
/// name on an endpoint without a token (DNS rebinding), or an `Origin` that is not the
/// `Host` it was sent to.
fn cross_site<B>(req: &Request<B>, has_token: bool) -> Option<&'static str> {
    let header = |h| req.headers().get(h).and_then(|v| v.to_str().ok());
    let host = header(hyper::header::HOST);
    if !has_token
        && let Some(h) = host
        && !is_loopback_host(h)
    {
        return Some("this endpoint answers only requests addressed to a loopback name");
    }
    if let Some(origin) = header(hyper::header::ORIGIN) {
        let same = host.is_some_and(|h| {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                == Some(h)
        });
        if !same {
            return Some("requests from another site's page are refused");
        }
    }
    None
}

/// Whether an HTTP `Host` (`name[:port]`) names this machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// A client of the endpoint, for `iphttps ctl` and `iphttps diagnose`.
pub mod client {
    use super::*;

    /// Why a request to the endpoint failed.
    #[derive(Debug, thiserror::Error)]
    pub enum RequestError {
        /// No connection.
        #[error(
            "cannot reach the admin endpoint at {addr}: {detail} (is `iphttps serve` or `iphttps lab` running? --admin ADDR)"
        )]
        Connect {
            /// Where.
            addr: SocketAddr,
            /// What failed.
            detail: String,
        },
        /// The answer was not JSON.
        #[error("bad answer from the admin endpoint: {0}")]
        Answer(String),
    }

    fn token() -> Option<String> {
        std::env::var("IPHTTPS_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
    }

    async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<Value, RequestError> {
        let body = send_raw(addr, req).await?;
        serde_json::from_slice(&body).map_err(|e| RequestError::Answer(e.to_string()))
    }

    async fn send_raw(
        addr: SocketAddr,
        mut req: Request<Full<Bytes>>,
    ) -> Result<Bytes, RequestError> {
        if let Some(t) = token()
            && let Ok(v) = hyper::header::HeaderValue::from_str(&format!("Bearer {t}"))
        {
            req.headers_mut().insert(hyper::header::AUTHORIZATION, v);
        }
        let conn_err = |e: &dyn std::fmt::Display| RequestError::Connect {
            addr,
            detail: e.to_string(),
        };
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| conn_err(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| conn_err(&e))?;
        tokio::spawn(conn);
        let resp = sender.send_request(req).await.map_err(|e| conn_err(&e))?;
        Ok(resp
            .into_body()
            .collect()
            .await
            .map_err(|e| RequestError::Answer(e.to_string()))?
            .to_bytes())
    }

    /// `POST /run`.
    pub async fn run(
        addr: SocketAddr,
        client: Option<usize>,
        lines: &[String],
    ) -> Result<Value, RequestError> {
        let body = json!({ "client": client, "lines": lines }).to_string();
        let req = Request::post("/run")
            .header(hyper::header::HOST, addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| RequestError::Answer(e.to_string()))?;
        send(addr, req).await
    }

    fn get_request(addr: SocketAddr, path: &str) -> Result<Request<Full<Bytes>>, RequestError> {
        Request::get(path)
            .header(hyper::header::HOST, addr.to_string())
            .body(Full::new(Bytes::new()))
            .map_err(|e| RequestError::Answer(e.to_string()))
    }

    /// `GET path`, answered with JSON.
    pub async fn get(addr: SocketAddr, path: &str) -> Result<Value, RequestError> {
        send(addr, get_request(addr, path)?).await
    }

    /// `GET path`, answered with text (`/metrics`).
    pub async fn get_text(addr: SocketAddr, path: &str) -> Result<String, RequestError> {
        let body = send_raw(addr, get_request(addr, path)?).await?;
        String::from_utf8(body.to_vec()).map_err(|e| RequestError::Answer(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: Option<&str>, origin: Option<&str>) -> Request<()> {
        let mut b = Request::post("/run");
        if let Some(h) = host {
            b = b.header(hyper::header::HOST, h);
        }
        if let Some(o) = origin {
            b = b.header(hyper::header::ORIGIN, o);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn loopback_names_are_recognised() {
        for h in [
            "127.0.0.1:8474",
            "127.0.0.2",
            "[::1]:8474",
            "localhost:80",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.com:8474",
            "10.0.0.1:8474",
            "[2001:db8::1]:80",
            "localhost.evil.com",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn other_sites_pages_are_refused() {
        // a rebound name, without a token
        assert!(cross_site(&req(Some("evil.com:8474"), None), false).is_some());
        // with a token the name is the operator's business
        assert!(cross_site(&req(Some("admin.example:8474"), None), true).is_none());
        // a page of another origin
        let other = req(Some("127.0.0.1:8474"), Some("http://evil.com"));
        assert!(cross_site(&other, false).is_some());
        // the console's own page, and tools that send no Origin
        let own = req(Some("127.0.0.1:8474"), Some("http://127.0.0.1:8474"));
        assert!(cross_site(&own, false).is_none());
        assert!(cross_site(&req(Some("127.0.0.1:8474"), None), false).is_none());
    }
}
