//! `iphttps probe`: a one-shot diagnosis of any IP-HTTPS endpoint (a Windows
//! DirectAccess server, a load balancer in front of one, or `iphttps serve`), stage by
//! stage: name resolution, TCP, TLS (version, suite, the chain, trust, revocation
//! reachability), the POST exchange, then one Router Solicitation and the Router
//! Advertisement that answers it. It ends with the verdict a Windows client would show
//! (Last Error Code, Interface Status) and the diagnosis and fix steps of
//! [`crate::diag`].

pub mod chain;
mod report;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use x509_parser::prelude::FromDer;

use crate::client_state::{
    ClientState, ClientStatus, ConnectError, STATUS_ACTIVE, STATUS_FAILED, STATUS_INVALID_URL,
};
use crate::diag::{self, Diagnosis};
use crate::dial::{Dialer, IphttpsUrl, ProxyUrl, Via};
use crate::net::{Reads, Stream, Transport, read_head};
use crate::tls::{self, NullCipher, Tls, TlsError};
use crate::winerr::LastErrorCode;
use crate::wire::deframe::Deframer;
use crate::wire::head;
use crate::wire::icmpv6::{self, Message, RouterAdvert};
use crate::wire::ipv6::{self, Ipv6Packet, MIN_MTU, PROTO_ICMPV6};
use chain::{CertInfo, Recorder, Seen};

/// What to probe and how.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// The IP-HTTPS URL.
    pub url: IphttpsUrl,
    /// PEM roots to trust; `None`: the operating system's store.
    pub ca_pem: Option<String>,
    /// Names resolved without DNS.
    pub resolve: Vec<(String, IpAddr)>,
    /// A web proxy to go through.
    pub proxy: Option<ProxyUrl>,
    /// Deadline of each stage.
    pub stage_timeout: Duration,
    /// CRL distribution points to check besides the certificate's own.
    pub crl_urls: Vec<String>,
    /// Whether revocation counts in the verdict (Windows 7 enforces it for IP-HTTPS;
    /// Windows 8 and later do not check it).
    pub check_revocation: bool,
    /// Offer the NULL-encryption suites as a Windows 8+ client (`Prefer`) or only them
    /// (`Only`); needs the `null-cipher` feature.
    pub null_cipher: NullCipher,
    /// A client certificate chain and key (PEM) to present, for servers in AuthMode
    /// Certificates.
    pub client_cert: Option<(String, String)>,
    /// What the probe dials over (the real network by default).
    pub transport: std::sync::Arc<dyn Transport>,
}

impl ProbeConfig {
    /// Probes `url` with 5 s per stage, trusting the system store.
    pub fn new(url: IphttpsUrl) -> Self {
        Self {
            url,
            ca_pem: None,
            resolve: Vec::new(),
            proxy: None,
            stage_timeout: Duration::from_secs(5),
            crl_urls: Vec::new(),
            check_revocation: false,
            null_cipher: NullCipher::Off,
            client_cert: None,
            transport: crate::net::tcp(),
        }
    }
}

/// One stage's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    /// Its name.
    pub name: &'static str,
    /// Whether it succeeded.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub millis: f64,
    /// What was found, or why it failed.
    pub detail: String,
}

/// A CRL distribution point's check.
#[derive(Debug, Clone, Serialize)]
pub struct CdpCheck {
    /// Its URL.
    pub url: String,
    /// Whether a CRL could be fetched.
    pub reachable: bool,
    /// What happened.
    pub detail: String,
    /// Whether the fetched CRLs list the server's certificate.
    pub leaf_revoked: Option<bool>,
}

/// The TLS stage's findings.
#[derive(Debug, Clone, Serialize)]
pub struct TlsReport {
    /// `TLSv1_3`, `TLSv1_2`.
    pub protocol: String,
    /// The negotiated cipher suite.
    pub cipher_suite: String,
    /// The chain the server sent, leaf first.
    pub chain: Vec<CertInfo>,
    /// What the chain was checked against.
    pub trust_anchors: String,
    /// Whether the chain is trusted for the URL's name now.
    pub trusted: bool,
    /// The trust check's result in words.
    pub trust: String,
    /// Each CRL distribution point.
    pub revocation: Vec<CdpCheck>,
}

/// The HTTP exchange's findings.
#[derive(Debug, Clone, Serialize)]
pub struct HttpReport {
    /// The response's status line.
    pub status_line: String,
    /// Its Server header.
    pub server: Option<String>,
    /// Its Date header.
    pub date: Option<String>,
}

/// One Prefix Information option.
#[derive(Debug, Clone, Serialize)]
pub struct PrefixReport {
    /// `PREFIX/LEN`.
    pub prefix: String,
    /// The L flag.
    pub on_link: bool,
    /// The A flag.
    pub autonomous: bool,
    /// Valid lifetime, seconds.
    pub valid_lifetime: u32,
    /// Preferred lifetime, seconds.
    pub preferred_lifetime: u32,
}

/// The Router Advertisement that answered the probe's solicitation.
#[derive(Debug, Clone, Serialize)]
pub struct RaReport {
    /// The router's link-local address.
    pub router: Ipv6Addr,
    /// Router Lifetime, seconds (0: not a default router).
    pub router_lifetime: u16,
    /// Cur Hop Limit.
    pub cur_hop_limit: u8,
    /// The MTU option.
    pub mtu: Option<u32>,
    /// The prefixes.
    pub prefixes: Vec<PrefixReport>,
}

/// What a Windows client would show.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Last Error Code, as netsh prints it.
    pub last_error_code: String,
    /// Its Windows symbol.
    pub symbol: Option<&'static str>,
    /// Interface Status.
    pub interface_status: String,
    /// What a Windows 7 client (which enforces revocation) would show differently.
    pub windows7: Option<String>,
}

/// The whole probe.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The URL probed.
    pub url: String,
    /// The web proxy used, if any (password hidden).
    pub proxy: Option<String>,
    /// The stages in order; the probe stops at the first that cannot go on.
    pub stages: Vec<Stage>,
    /// TLS findings.
    pub tls: Option<TlsReport>,
    /// HTTP findings.
    pub http: Option<HttpReport>,
    /// The Router Advertisement.
    pub router_advertisement: Option<RaReport>,
    /// What Windows would show.
    pub verdict: Verdict,
    /// Diagnosis and fix steps.
    pub diagnosis: Diagnosis,
    /// Every stage succeeded and the RA carries a prefix.
    pub ok: bool,
}

/// The probe's progress: stages done and the first failure, in the client's terms.
struct Run {
    stages: Vec<Stage>,
    failure: Option<(LastErrorCode, String)>,
    started: Instant,
}

impl Run {
    fn begin(&mut self) {
        self.started = Instant::now();
    }

    fn stage(&mut self, name: &'static str, ok: bool, detail: impl Into<String>) {
        self.stages.push(Stage {
            name,
            ok,
            millis: self.started.elapsed().as_secs_f64() * 1e3,
            detail: detail.into(),
        });
    }

    /// Records a failure the client would report (the first one wins).
    fn fail(&mut self, code: LastErrorCode, detail: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some((code, detail.into()));
        }
    }

    /// A stage that stops the probe.
    fn stop(&mut self, name: &'static str, e: &ConnectError) {
        self.stage(name, false, e.to_string());
        self.fail(e.code(), e.to_string());
    }
}

async fn within<T>(
    d: Duration,
    what: &'static str,
    f: impl std::future::Future<Output = Result<T, ConnectError>>,
) -> Result<T, ConnectError> {
    tokio::time::timeout(d, f)
        .await
        .map_err(|_| ConnectError::Timeout(what))?
}

/// The trust anchors: `--ca`, or the operating system's store.
fn anchors(config: &ProbeConfig) -> Result<(rustls::RootCertStore, String), TlsError> {
    match &config.ca_pem {
        Some(pem) => {
            let roots = tls::root_store(pem)?;
            let n = roots.len();
            Ok((roots, format!("the given CA file ({n} certificates)")))
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            Ok((roots, format!("the system store ({added} roots)")))
        }
    }
}

/// Runs the probe.
pub async fn probe(config: &ProbeConfig) -> ProbeReport {
    let mut run = Run {
        stages: Vec::new(),
        failure: None,
        started: Instant::now(),
    };
    let found = stages(config, &mut run).await;
    finish(config, run, found)
}

/// What the stages found, for the report.
#[derive(Default)]
struct Findings {
    tls: Option<TlsReport>,
    http: Option<HttpReport>,
    ra: Option<RaReport>,
    /// Why a Windows 7 client (which enforces revocation) would fail, if it would.
    windows7: Option<String>,
}

/// The stages in the order a client goes through them; each records itself in `run`
/// and what it found in the findings, and the first that cannot go on ends the probe.
async fn stages(config: &ProbeConfig, run: &mut Run) -> Findings {
    let mut found = Findings::default();
    let dialer = Dialer {
        url: config.url.clone(),
        resolve: config.resolve.clone(),
        system_dns: true,
        proxy: config.proxy.clone(),
        timeout: config.stage_timeout,
        transport: config.transport.clone(),
    };
    let Some(via) = name_resolution(config, &dialer, run).await else {
        return found;
    };
    let Some(tcp) = tcp_connect(&dialer, &via, run).await else {
        return found;
    };
    let Some(mut stream) = tls_handshake(config, tcp, run, &mut found).await else {
        return found;
    };
    let Some(rest) = http_exchange(config, &mut stream, run, &mut found).await else {
        return found;
    };
    router_discovery(config, &mut stream, &rest, run, &mut found).await;
    let _ = stream.shutdown().await;
    found
}

/// The server's name, resolved here or left to the web proxy.
async fn name_resolution<'a>(
    config: &'a ProbeConfig,
    dialer: &Dialer,
    run: &mut Run,
) -> Option<Via<'a>> {
    let t = config.stage_timeout;
    let url = &config.url;
    run.begin();
    let literal = url
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    if let Some(p) = &config.proxy {
        run.stage(
            "name resolution",
            true,
            format!(
                "left to the web proxy {p} (CONNECT {})",
                dialer.proxy_target()
            ),
        );
        Some(Via::Proxy(p))
    } else if let Some(ip) = literal {
        let e = ConnectError::IpAddressUrl(url.host.clone());
        run.stage(
            "name resolution",
            false,
            format!("{e}; probing the address anyway"),
        );
        run.fail(e.code(), e.to_string());
        Some(Via::Direct(SocketAddr::new(ip, url.port)))
    } else {
        match within(t, "name resolution", dialer.resolve()).await {
            Ok(a) => {
                run.stage(
                    "name resolution",
                    true,
                    format!("{} -> {}", url.host, a.ip()),
                );
                Some(Via::Direct(a))
            }
            Err(e) => {
                run.stop("name resolution", &e);
                None
            }
        }
    }
}

/// TCP to the server, or the proxy's `CONNECT` tunnel.
async fn tcp_connect(dialer: &Dialer, via: &Via<'_>, run: &mut Run) -> Option<Stream> {
    run.begin();
    match dialer.open(via).await {
        Ok(s) => {
            let detail = match via {
                Via::Direct(addr) => format!("connected to {addr}"),
                Via::Proxy(p) => format!("the web proxy {p} opened a tunnel"),
            };
            run.stage("TCP connect", true, detail);
            Some(s)
        }
        Err(e) => {
            run.stop("TCP connect", &e);
            None
        }
    }
}

/// The TLS handshake and the chain's trust, then revocation.
async fn tls_handshake(
    config: &ProbeConfig,
    tcp: Stream,
    run: &mut Run,
    found: &mut Findings,
) -> Option<Tls<Stream>> {
    let t = config.stage_timeout;
    let url = &config.url;
    run.begin();
    let (roots, anchor_text) = match anchors(config) {
        Ok(a) => a,
        Err(e) => {
            let e = ConnectError::Stores(e.to_string());
            run.stop("TLS handshake", &e);
            return None;
        }
    };
    let verifier = match rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        tls::provider(),
    )
    .build()
    {
        Ok(v) => v,
        Err(e) => {
            let e = ConnectError::Stores(format!("no usable trust anchors in {anchor_text}: {e}"));
            run.stop("TLS handshake", &e);
            return None;
        }
    };
    let host = url.host.trim_start_matches('[').trim_end_matches(']');
    let (handshake, seen) =
        match tokio::time::timeout(t, handshake(config, verifier, host, tcp)).await {
            Ok(r) => r,
            Err(_) => (Err(ConnectError::Timeout("TLS handshake")), Seen::default()),
        };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let chain: Vec<CertInfo> = seen.chain.iter().map(|c| chain::describe(c, now)).collect();
    let stream = match handshake {
        Ok(s) => s,
        Err(e) => {
            run.stop("TLS handshake", &e);
            let tls = (!chain.is_empty()).then(|| TlsReport {
                protocol: String::new(),
                cipher_suite: String::new(),
                chain,
                trust_anchors: anchor_text,
                trusted: false,
                trust: "the handshake did not finish".into(),
                revocation: Vec::new(),
            });
            found.tls = tls;
            return None;
        }
    };
    let protocol = stream.protocol();
    let cipher_suite = stream.cipher_suite();
    let (trusted, trust) = match &seen.verdict {
        Some(Ok(())) => (true, format!("trusted for {} by {anchor_text}", url.host)),
        Some(Err(e)) => {
            let code = LastErrorCode::from_tls(e);
            run.fail(code, format!("certificate not trusted: {e}"));
            (false, format!("NOT trusted by {anchor_text}: {e} ({code})"))
        }
        None => (false, "no certificate was checked".into()),
    };
    run.stage(
        "TLS handshake",
        trusted,
        format!(
            "{protocol}, {cipher_suite}; {} certificate(s); {trust}",
            chain.len()
        ),
    );
    let (revocation, windows7) = revocation_check(config, &seen.chain, &chain, run).await;
    found.windows7 = windows7;
    found.tls = Some(TlsReport {
        protocol,
        cipher_suite,
        chain,
        trust_anchors: anchor_text,
        trusted,
        trust,
        revocation,
    });
    Some(stream)
}

/// The CRLs of the chain's distribution points (and `--crl-url`): reachable, the leaf
/// listed or not; returns them and why a Windows 7 client would fail, if it would.
async fn revocation_check(
    config: &ProbeConfig,
    der: &[rustls::pki_types::CertificateDer<'static>],
    chain: &[CertInfo],
    run: &mut Run,
) -> (Vec<CdpCheck>, Option<String>) {
    let t = config.stage_timeout;
    run.begin();
    let (revocation, windows7) = fetch_crls(config, der, chain, t).await;
    if !revocation.is_empty() || config.check_revocation {
        // a revoked certificate fails the stage always; the rest only when enforced
        let revoked = revocation.iter().any(|c| c.leaf_revoked == Some(true));
        let enforced = revoked || (config.check_revocation && windows7.is_some());
        let detail = match &windows7 {
            Some(w7) => w7.clone(),
            None => format!(
                "{} distribution point(s) reachable; the certificate is not revoked",
                revocation.iter().filter(|c| c.reachable).count()
            ),
        };
        run.stage("revocation check", !enforced, detail);
    }
    if config.check_revocation
        && let Some(w7) = &windows7
    {
        let code = if revocation.iter().any(|c| c.leaf_revoked == Some(true)) {
            LastErrorCode::REVOKED
        } else {
            LastErrorCode::REVOCATION_OFFLINE
        };
        run.fail(code, w7.clone());
    }
    (revocation, windows7)
}

/// The POST and the server's response head; returns the bytes after it.
async fn http_exchange(
    config: &ProbeConfig,
    stream: &mut Tls<Stream>,
    run: &mut Run,
    found: &mut Findings,
) -> Option<Vec<u8>> {
    let t = config.stage_timeout;
    let url = &config.url;
    run.begin();
    let exchange = within(t, "HTTP response", async {
        stream
            .write_all(&head::request(&url.path, &url.host))
            .await
            .map_err(ConnectError::Io)?;
        stream.flush().await.map_err(ConnectError::Io)?;
        let (raw, rest) = read_head(stream, Reads::Chunks, head::unparsed).await?;
        Ok::<_, ConnectError>((raw, rest))
    })
    .await;
    let (buf, rest) = match exchange {
        Ok(x) => x,
        Err(e) => {
            run.stop("HTTP exchange", &e);
            return None;
        }
    };
    let status_line = String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let parsed = head::parse_response(&buf);
    let (server, date) = match &parsed {
        Ok(head::Parsed::Complete { head, .. }) => (head.server.clone(), head.date.clone()),
        _ => (None, None),
    };
    let http = Some(HttpReport {
        status_line: status_line.clone(),
        server: server.clone(),
        date,
    });
    if let Err(e) = parsed {
        let e = ConnectError::Head(e);
        run.stop("HTTP exchange", &e);
        found.http = http;
        return None;
    }
    run.stage(
        "HTTP exchange",
        true,
        format!(
            "POST {} -> {status_line}{}",
            url.path,
            server
                .map(|s| format!(" (Server: {s})"))
                .unwrap_or_default()
        ),
    );
    found.http = http;
    Some(rest)
}

/// A Router Solicitation and the Advertisement that answers it.
async fn router_discovery(
    config: &ProbeConfig,
    stream: &mut Tls<Stream>,
    rest: &[u8],
    run: &mut Run,
    found: &mut Findings,
) {
    let t = config.stage_timeout;
    run.begin();
    let src = ipv6::with_interface_id(
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        rand::random::<u64>() | 1,
    );
    let rs = icmpv6::router_solicitation(src);
    let mut deframer = Deframer::with_initial(MIN_MTU, rest);
    let discovery = within(t, "Router Advertisement", async {
        stream.write_all(&rs).await.map_err(ConnectError::Io)?;
        stream.flush().await.map_err(ConnectError::Io)?;
        loop {
            while let Some(p) = deframer.next_packet().map_err(|e| {
                ConnectError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    e.to_string(),
                ))
            })? {
                if let Some(ra) = router_advert(&p) {
                    return Ok(ra);
                }
            }
            let n = stream
                .read_buf(deframer.buffer_mut())
                .await
                .map_err(ConnectError::Io)?;
            if n == 0 {
                return Err(ConnectError::Closed);
            }
        }
    })
    .await;
    let ra = match discovery {
        Ok((router, ra)) => ra_report(router, &ra),
        Err(ConnectError::Timeout(_)) => {
            run.stage(
                "router discovery",
                false,
                format!("no Router Advertisement answered the Router Solicitation within {t:?}"),
            );
            return;
        }
        Err(e) => {
            run.stop("router discovery", &e);
            return;
        }
    };
    let with_prefix = ra.prefixes.iter().any(|p| p.autonomous);
    run.stage(
        "router discovery",
        with_prefix,
        if with_prefix {
            format!(
                "Router Advertisement from {}: prefix {}, router lifetime {} s, MTU {}",
                ra.router,
                ra.prefixes
                    .iter()
                    .map(|p| p.prefix.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                ra.router_lifetime,
                ra.mtu.map_or("none".into(), |m| m.to_string())
            )
        } else {
            format!(
                "the Router Advertisement from {} carries no prefix: clients get only a link-local address",
                ra.router
            )
        },
    );
    found.ra = Some(ra);
}

/// The TLS handshake, over rustls or (NULL suites asked for) OpenSSL; the chain is
/// recorded and judged by webpki either way, and the handshake goes on behind an
/// untrusted certificate.
async fn handshake(
    config: &ProbeConfig,
    verifier: Arc<rustls::client::WebPkiServerVerifier>,
    host: &str,
    tcp: Stream,
) -> (Result<Tls<Stream>, ConnectError>, Seen) {
    let client_cert = config
        .client_cert
        .as_ref()
        .map(|(c, k)| (c.as_str(), k.as_str()));
    if config.null_cipher != NullCipher::Off {
        #[cfg(feature = "null-cipher")]
        {
            use rustls::client::danger::ServerCertVerifier as _;
            let connector = match tls::openssl::Connector::new(
                config.null_cipher,
                verifier.clone(),
                client_cert,
            ) {
                Ok(c) => c,
                Err(e) => return (Err(ConnectError::Stores(e.to_string())), Seen::default()),
            };
            return match connector.connect_unverified(host, tcp).await {
                Ok((s, chain)) => {
                    let verdict = match chain.split_first() {
                        Some((leaf, rest)) => ServerName::try_from(host.to_string())
                            .map_err(|e| rustls::Error::General(e.to_string()))
                            .and_then(|name| {
                                verifier
                                    .verify_server_cert(
                                        leaf,
                                        rest,
                                        &name,
                                        &[],
                                        rustls::pki_types::UnixTime::now(),
                                    )
                                    .map(|_| ())
                            }),
                        None => Err(rustls::Error::NoCertificatesPresented),
                    };
                    (
                        Ok(Tls::OpenSsl(Box::new(s))),
                        Seen {
                            chain,
                            verdict: Some(verdict),
                        },
                    )
                }
                Err(e) => (Err(ConnectError::Handshake(e.0)), Seen::default()),
            };
        }
        #[cfg(not(feature = "null-cipher"))]
        return (
            Err(ConnectError::Stores(TlsError::NoOpenSsl.to_string())),
            Seen::default(),
        );
    }
    let recorder = Arc::new(Recorder::new(verifier));
    let cfg = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::from)
        .and_then(|b| {
            let b = b
                .dangerous()
                .with_custom_certificate_verifier(recorder.clone());
            match client_cert {
                Some((chain, k)) => Ok(b.with_client_auth_cert(
                    tls::certs(chain, "client certificate")?,
                    tls::key(k, "client key")?,
                )?),
                None => Ok(b.with_no_client_auth()),
            }
        });
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => return (Err(ConnectError::Stores(e.to_string())), Seen::default()),
    };
    let Ok(name) = ServerName::try_from(host.to_string()) else {
        return (
            Err(ConnectError::IpAddressUrl(host.to_string())),
            Seen::default(),
        );
    };
    let r = TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map(|s| Tls::Rustls(Box::new(tokio_rustls::TlsStream::Client(s))))
        .map_err(ConnectError::Tls);
    (r, recorder.seen())
}

/// The first RA in a packet from a link-local router.
fn router_advert(p: &[u8]) -> Option<(Ipv6Addr, RouterAdvert)> {
    let pkt = Ipv6Packet::new(p)?;
    if pkt.next_header() != PROTO_ICMPV6 || !ipv6::is_link_local(pkt.src()) {
        return None;
    }
    match icmpv6::parse(&pkt) {
        Ok(Message::RouterAdvertisement(ra)) => Some((pkt.src(), ra)),
        _ => None,
    }
}

fn ra_report(router: Ipv6Addr, ra: &RouterAdvert) -> RaReport {
    RaReport {
        router,
        router_lifetime: ra.router_lifetime,
        cur_hop_limit: ra.cur_hop_limit,
        mtu: ra.mtu,
        prefixes: ra
            .prefixes
            .iter()
            .map(|p| PrefixReport {
                prefix: format!("{}/{}", p.prefix, p.len),
                on_link: p.on_link,
                autonomous: p.autonomous,
                valid_lifetime: p.valid_lifetime,
                preferred_lifetime: p.preferred_lifetime,
            })
            .collect(),
    }
}

/// Fetches every CRL distribution point (the leaf's and the configured ones) and looks
/// for the leaf in the CRLs; returns the checks and what a Windows 7 client, which
/// enforces revocation, would report instead of success.
async fn fetch_crls(
    config: &ProbeConfig,
    ders: &[rustls::pki_types::CertificateDer<'static>],
    chain: &[CertInfo],
    t: Duration,
) -> (Vec<CdpCheck>, Option<String>) {
    let mut urls: Vec<String> = chain
        .first()
        .map(|c| c.crl_distribution_points.clone())
        .unwrap_or_default();
    urls.extend(config.crl_urls.iter().cloned());
    let leaf_serial = ders
        .first()
        .and_then(|d| x509_parser::certificate::X509Certificate::from_der(d).ok())
        .map(|(_, c)| c.raw_serial().to_vec());
    let mut checks = Vec::new();
    for url in urls {
        match crate::tls::revocation::fetch(&url, t, |a| config.transport.connect(a)).await {
            Ok(pem) => {
                let listed = leaf_serial.as_deref().map(|s| crl_lists(&pem, s));
                checks.push(CdpCheck {
                    detail: match listed {
                        Some(true) => {
                            "reachable; the CRL LISTS the server's certificate (revoked)".into()
                        }
                        Some(false) => "reachable; the server's certificate is not listed".into(),
                        None => "reachable".into(),
                    },
                    url,
                    reachable: true,
                    leaf_revoked: listed,
                });
            }
            Err(e) => checks.push(CdpCheck {
                url,
                reachable: false,
                detail: e.to_string(),
                leaf_revoked: None,
            }),
        }
    }
    let windows7 = if checks.iter().any(|c| c.leaf_revoked == Some(true)) {
        Some("Windows 7 clients check revocation and would report 0x80092010 (CRYPT_E_REVOKED): the certificate is revoked".to_string())
    } else if checks.is_empty() {
        Some("the certificate names no CRL distribution point: Windows 7 clients, which enforce revocation checking, cannot check it".to_string())
    } else if !checks.iter().any(|c| c.reachable) {
        Some("no CRL distribution point is reachable: Windows 7 clients would report 0x80092013 (CRYPT_E_REVOCATION_OFFLINE)".to_string())
    } else {
        None
    };
    (checks, windows7)
}

/// Whether any CRL in `pem` lists `serial`.
fn crl_lists(pem: &str, serial: &[u8]) -> bool {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateRevocationListDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .any(|der| {
            x509_parser::revocation_list::CertificateRevocationList::from_der(&der).is_ok_and(
                |(_, crl)| {
                    crl.iter_revoked_certificates()
                        .any(|r| r.raw_serial() == serial)
                },
            )
        })
}

fn finish(config: &ProbeConfig, run: Run, found: Findings) -> ProbeReport {
    let Findings {
        tls,
        http,
        ra,
        windows7,
    } = found;
    let mut status = ClientStatus::new(config.url.to_string());
    let (code, interface_status) = match &run.failure {
        Some((code, detail)) => {
            status.state = ClientState::LinkDown;
            status.last_error_detail = Some(detail.clone());
            let text = if *code == LastErrorCode::INVALID_NETNAME {
                STATUS_INVALID_URL
            } else {
                STATUS_FAILED
            };
            (*code, text)
        }
        None => {
            status.state = if http.is_some() {
                ClientState::LinkUp
            } else {
                ClientState::LinkDown
            };
            (LastErrorCode::SUCCESS, STATUS_ACTIVE)
        }
    };
    status.last_error = code;
    status.interface_status = interface_status.into();
    let with_prefix = ra
        .as_ref()
        .is_some_and(|r| r.prefixes.iter().any(|p| p.autonomous));
    if let Some(r) = &ra {
        status.router_advert = Some(RouterAdvert {
            router_lifetime: r.router_lifetime,
            ..RouterAdvert::default()
        });
        if with_prefix {
            // what a client would configure; only its presence matters to the diagnosis
            status.global = Some(Ipv6Addr::UNSPECIFIED);
        }
    }
    let diagnosis = diag::diagnose(&status, None);
    let ok = run.failure.is_none() && run.stages.iter().all(|s| s.ok) && with_prefix;
    ProbeReport {
        url: config.url.to_string(),
        proxy: config.proxy.as_ref().map(|p| p.to_string()),
        stages: run.stages,
        tls,
        http,
        router_advertisement: ra,
        verdict: Verdict {
            last_error_code: code.to_string(),
            symbol: code.symbol(),
            interface_status: interface_status.to_string(),
            windows7,
        },
        diagnosis,
        ok,
    }
}
