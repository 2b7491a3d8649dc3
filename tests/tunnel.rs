//! The tunnel end to end over real loopback TLS: head bytes, ND, SLAAC, forwarding,
//! ICMPv6 errors, anti-spoofing, session isolation, reconnection, scale.

mod common;

use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use common::{WAIT, closed_by_peer, raw_tunnel, read_head, tls_connect};
use iphttps_harness::lab::{Lab, LabConfig};
use iphttps_sim::client::{self, ClientConfig, ClientState, STATUS_ACTIVE, STATUS_FAILED};
use iphttps_sim::deployment::DeploymentConfig;
use iphttps_sim::link::router::DropReason;
use iphttps_sim::server::{self, ServerConfig};
use iphttps_sim::winerr::LastErrorCode;
use iphttps_sim::wire::{icmpv6, ipv6};
use tokio::io::AsyncWriteExt;

fn lab(clients: usize) -> LabConfig {
    LabConfig {
        clients,
        ..LabConfig::default()
    }
}

#[tokio::test]
async fn server_answers_the_exact_head_and_keeps_bytes_after_the_request() {
    let lab = Lab::start(lab(0)).await.unwrap();
    let mut s = tls_connect(lab.server.local_addr(), "da.contoso.com", &lab.pki().await).await;
    // the request and a first tunnelled packet (RS) in one write
    let mut req = iphttps_sim::wire::head::request("/IPHTTPS", "da.contoso.com");
    req.extend(icmpv6::router_solicitation(Ipv6Addr::UNSPECIFIED));
    s.write_all(&req).await.unwrap();
    let (head, rest) = read_head(&mut s).await;
    let text = String::from_utf8(head).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\nServer: Microsoft-HTTPAPI/2.0\r\nDate: "),
        "{text}"
    );
    assert!(text.ends_with(" GMT\r\n\r\n"), "{text}");
    assert_eq!(
        text.lines().count(),
        4,
        "status, Server, Date, blank: {text}"
    );
    assert!(!text.to_ascii_lowercase().contains("content-length"));
    assert!(!text.to_ascii_lowercase().contains("transfer-encoding"));
    // the RS that came with the head was answered by an RA
    let mut rest = rest;
    while rest.len() < 40 {
        let mut more = vec![0u8; 2048];
        let n = tokio::io::AsyncReadExt::read(&mut s, &mut more)
            .await
            .unwrap();
        rest.extend_from_slice(&more[..n]);
    }
    let pkt = ipv6::Ipv6Packet::new(&rest).unwrap();
    assert!(matches!(
        icmpv6::parse(&pkt),
        Ok(icmpv6::Message::RouterAdvertisement(_))
    ));
    lab.shutdown().await;
}

#[tokio::test]
async fn client_sends_the_exact_request_head() {
    let pki = common::test_pki();
    let (acceptor, listener) = common::tls_listener(&pki).await;
    let addr = listener.local_addr().unwrap();
    let mut cfg = ClientConfig::new(
        format!("https://da.contoso.com:{}/IPHTTPS", addr.port())
            .parse()
            .unwrap(),
        pki.root_ca.clone(),
    );
    cfg.resolve = vec![("da.contoso.com".into(), addr.ip())];
    let client = client::start(cfg).unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let mut tls = acceptor.accept(tcp).await.unwrap();
    let (head, _) = read_head(&mut tls).await;
    assert_eq!(
        head,
        b"POST /IPHTTPS HTTP/1.1\r\nHost: da.contoso.com\r\nContent-Length: 18446744073709551615\r\n\r\n"
    );
    client.shutdown().await;
}

#[tokio::test]
async fn clients_get_the_published_prefix_and_ping_the_intranet_and_each_other() {
    let lab = Lab::start(lab(2)).await.unwrap();
    let st = lab.wait_all_active(WAIT).await.expect("all clients active");
    let prefix = lab.server.with_router(|r| r.config().client_prefix);
    for s in &st {
        assert_eq!(s.state, ClientState::LinkUp);
        assert_eq!(s.last_error, LastErrorCode::SUCCESS);
        assert_eq!(s.interface_status, STATUS_ACTIVE);
        let ra = s.router_advert.as_ref().expect("an RA");
        assert_eq!(ra.mtu, Some(1280));
        assert_eq!(ra.prefixes.len(), 1);
        assert_eq!(ra.prefixes[0].prefix, prefix.network());
        assert_eq!(ra.prefixes[0].len, 64);
        assert!(ra.prefixes[0].autonomous);
        assert!(
            prefix.contains(&s.global.unwrap()),
            "SLAAC address inside the prefix"
        );
    }
    let intranet = lab.server.intranet_address();
    lab.client(0)
        .ping(intranet, 56, WAIT)
        .await
        .expect("client -> intranet");
    lab.client(0)
        .ping(st[1].global.unwrap(), 56, WAIT)
        .await
        .expect("client -> client");
    lab.client(1)
        .ping(st[0].global.unwrap(), 1000, WAIT)
        .await
        .expect("client -> client, large");
    assert!(lab.server.intranet_stats().echo_replies_sent >= 1);
    lab.shutdown().await;
}

#[tokio::test]
async fn oversized_forwarded_packet_gets_packet_too_big_with_mtu_1280() {
    let lab = Lab::start(lab(1)).await.unwrap();
    let st = lab.wait_all_active(WAIT).await.unwrap();
    // the intranet's MTU is 1500; a 1400-byte packet cannot go onto the 1280 tunnel
    lab.server
        .intranet_ping(st[0].global.unwrap(), 1, 1400 - 48);
    assert_eq!(lab.server.intranet_stats().packet_too_big, vec![1280]);
    assert_eq!(
        lab.server
            .with_router(|r| r.stats().dropped(DropReason::TooBig)),
        1
    );
    // one that fits crosses
    lab.server.intranet_ping(st[0].global.unwrap(), 2, 1000);
    let deadline = tokio::time::Instant::now() + WAIT;
    while lab.server.intranet_stats().echo_replies.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no echo reply from the client"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn spoofed_source_is_dropped_and_counted() {
    let lab = Lab::start(lab(1)).await.unwrap();
    let st = lab.wait_all_active(WAIT).await.unwrap();
    let victim = st[0].global.unwrap();
    let mut raw = raw_tunnel(lab.server.local_addr(), "da.contoso.com", &lab.pki().await).await;
    let intranet = lab.server.intranet_address();
    let before = lab.server.intranet_stats().echo_replies_sent;
    let spoof = icmpv6::echo_request(victim, intranet, 7, 7, b"spoof");
    raw.write_all(&spoof).await.unwrap();
    raw.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while lab
        .server
        .with_router(|r| r.stats().dropped(DropReason::Spoofed))
        == 0
    {
        assert!(tokio::time::Instant::now() < deadline, "spoof not counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(lab.server.intranet_stats().echo_replies_sent, before);
    lab.shutdown().await;
}

#[tokio::test]
async fn non_ipv6_bytes_end_only_that_session() {
    let lab = Lab::start(lab(1)).await.unwrap();
    lab.wait_all_active(WAIT).await.unwrap();
    let mut raw = raw_tunnel(lab.server.local_addr(), "da.contoso.com", &lab.pki().await).await;
    raw.write_all(b"this is not IPv6 at all").await.unwrap();
    raw.flush().await.unwrap();
    assert!(
        closed_by_peer(&mut raw).await,
        "server must end the session"
    );
    assert_eq!(lab.server.stats().framing_errors, 1);
    let intranet = lab.server.intranet_address();
    for _ in 0..3 {
        lab.client(0)
            .ping(intranet, 56, WAIT)
            .await
            .expect("other client keeps pinging");
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn wrong_path_or_method_gets_the_connection_closed() {
    let lab = Lab::start(lab(0)).await.unwrap();
    for req in [
        &b"POST /wrong HTTP/1.1\r\nHost: da.contoso.com\r\nContent-Length: 18446744073709551615\r\n\r\n"[..],
        b"GET /IPHTTPS HTTP/1.1\r\nHost: da.contoso.com\r\n\r\n",
    ] {
        let mut s = tls_connect(lab.server.local_addr(), "da.contoso.com", &lab.pki().await).await;
        s.write_all(req).await.unwrap();
        assert!(closed_by_peer(&mut s).await);
    }
    assert_eq!(lab.server.stats().head_refused, 2);
    assert_eq!(lab.server.stats().tunnels, 0);
    lab.shutdown().await;
}

#[tokio::test]
async fn client_reconnects_by_itself_after_the_server_restarts() {
    let pki = common::test_pki();
    let srv = server::start(ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        "da.contoso.com",
        pki.clone(),
    ))
    .await
    .unwrap();
    let addr: SocketAddr = srv.local_addr();
    let mut cfg = ClientConfig::new(srv.url().parse().unwrap(), pki.root_ca.clone());
    cfg.resolve = vec![("da.contoso.com".into(), addr.ip())];
    cfg.host = iphttps_sim::link::host::HostConfig::fast(3);
    cfg.reconnect_initial = Duration::from_millis(300);
    cfg.reconnect_cap = Duration::from_secs(3);
    let client = client::start(cfg).unwrap();
    client.wait_active(WAIT).await.unwrap();
    srv.shutdown().await;
    let down = client
        .wait_until(WAIT, |s| {
            s.state == ClientState::LinkDown && s.failures >= 1
        })
        .await
        .unwrap();
    assert_eq!(down.interface_status, STATUS_FAILED);
    assert_ne!(down.last_error, LastErrorCode::SUCCESS);
    // while the server is away attempts fail with connection refused
    let refused = client
        .wait_until(WAIT, |s| s.last_error == LastErrorCode::CONNECTION_REFUSED)
        .await;
    assert!(refused.is_ok(), "{:?}", refused);
    let srv = server::start(ServerConfig::new(addr, "da.contoso.com", pki))
        .await
        .unwrap();
    let up = client.wait_active(WAIT).await.expect("reconnected");
    assert_eq!(up.connects, 2);
    assert_eq!(up.last_error, LastErrorCode::SUCCESS);
    client.shutdown().await;
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_reach_linkup_and_ping() {
    let lab = Lab::start(lab(200)).await.unwrap();
    let st = lab
        .wait_all_active(Duration::from_secs(120))
        .await
        .expect("all 200 active");
    let mut addrs: Vec<_> = st.iter().map(|s| s.global.unwrap()).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 200, "distinct addresses");
    let intranet = lab.server.intranet_address();
    for (i, c) in lab.clients().iter().enumerate() {
        c.ping(intranet, 32, WAIT)
            .await
            .unwrap_or_else(|e| panic!("client {i}: {e}"));
    }
    assert_eq!(lab.server.with_router(|r| r.client_count()), 200);
    lab.shutdown().await;
}

#[tokio::test]
async fn authmode_certificates_admits_clients_with_a_machine_certificate_only() {
    let lab = Lab::start(LabConfig {
        clients: 2,
        deployment: DeploymentConfig {
            server: |c| c.router.auth_mode = iphttps_sim::link::router::AuthMode::Certificates,
            ..DeploymentConfig::default()
        },
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let st = lab
        .wait_all_active(WAIT)
        .await
        .expect("clients with certificates connect");
    lab.client(0)
        .ping(st[1].global.unwrap(), 56, WAIT)
        .await
        .unwrap();
    let i = lab.add_client(|c| c.client_cert = None).unwrap();
    let failed = lab
        .client(i)
        .wait_until(WAIT, |s| s.failures > 0)
        .await
        .unwrap();
    assert_eq!(failed.last_error, LastErrorCode::INCOMPLETE_CREDENTIALS);
    assert_eq!(failed.interface_status, STATUS_FAILED);
    lab.shutdown().await;
}
