//! Hostile input and resource limits: each case proves the server keeps serving a
//! well-behaved client and counts (and logs) a clear reason; and the client survives a
//! hostile server.

mod common;

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::Duration;

use common::{WAIT, closed_by_peer, eventually, raw_tunnel, read_head, tls_connect};
use iphttps_harness::lab::{Lab, LabConfig};
use iphttps_sim::client::{self, ClientConfig, ClientState, STATUS_FAILED};
use iphttps_sim::deployment::DeploymentConfig;
use iphttps_sim::link::router::DropReason;
use iphttps_sim::server::ListenerMode;
use iphttps_sim::winerr::LastErrorCode;
use iphttps_sim::wire::{frag, icmpv6, ipv6, udp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn lab(server: fn(&mut iphttps_sim::server::ServerConfig)) -> Lab {
    let lab = Lab::start(LabConfig {
        clients: 1,
        deployment: DeploymentConfig {
            server,
            ..DeploymentConfig::default()
        },
        ..LabConfig::default()
    })
    .await
    .unwrap();
    lab.wait_all_active(WAIT).await.unwrap();
    lab
}

/// The well-behaved client still pings the intranet.
async fn others_fine(lab: &Lab) {
    let intranet = lab.server.intranet_address();
    lab.client(0)
        .ping(intranet, 56, WAIT)
        .await
        .expect("the well-behaved client keeps pinging");
}

fn dropped(lab: &Lab, r: DropReason) -> u64 {
    lab.server.with_router(|x| x.stats().dropped(r))
}

#[tokio::test]
async fn garbage_before_the_client_hello() {
    let lab = lab(|_| {}).await;
    let mut s = TcpStream::connect(lab.server.local_addr()).await.unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n\x00\x01garbage")
        .await
        .unwrap();
    assert!(closed_by_peer(&mut s).await);
    eventually("TLS failure counted", || {
        lab.server.stats().tls_failures >= 1
    })
    .await;
    others_fine(&lab).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn slowloris_handshake_and_head_are_cut_at_the_deadline() {
    let lab = lab(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    // a TCP client that never sends a ClientHello
    let mut silent = TcpStream::connect(lab.server.local_addr()).await.unwrap();
    // a TLS client that never sends the HTTP head
    let pki = lab.pki().await;
    let mut no_head = tls_connect(lab.server.local_addr(), "da.contoso.com", &pki).await;
    // and one that sends it a byte at a time, too slowly
    let mut slow = tls_connect(lab.server.local_addr(), "da.contoso.com", &pki).await;
    slow.write_all(b"PO").await.unwrap();
    assert!(closed_by_peer(&mut silent).await);
    assert!(closed_by_peer(&mut no_head).await);
    assert!(closed_by_peer(&mut slow).await);
    assert!(
        lab.server.stats().handshake_timeouts >= 3,
        "{:?}",
        lab.server.stats()
    );
    others_fine(&lab).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn bad_heads_are_refused_and_a_head_in_tiny_pieces_is_not() {
    let lab = lab(|_| {}).await;
    let pki = lab.pki().await;
    let mut big = b"POST /IPHTTPS HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    big.resize(9000, b'a');
    for head in [
        b"POST /IPHTTPS HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"POST /IPHTTPS HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n".to_vec(),
        b"POST /IPHTTPS HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".to_vec(),
        b"PUT /IPHTTPS HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n".to_vec(),
        big,
    ] {
        let mut s = tls_connect(lab.server.local_addr(), "da.contoso.com", &pki).await;
        let _ = s.write_all(&head).await;
        assert!(
            closed_by_peer(&mut s).await,
            "{}",
            String::from_utf8_lossy(&head[..40])
        );
    }
    assert_eq!(lab.server.stats().head_refused, 5);
    let mut s = tls_connect(lab.server.local_addr(), "da.contoso.com", &pki).await;
    for b in iphttps_sim::wire::head::request("/IPHTTPS", "da.contoso.com") {
        s.write_all(&[b]).await.unwrap();
        s.flush().await.unwrap();
    }
    let (head, _) = read_head(&mut s).await;
    assert!(head.starts_with(b"HTTP/1.1 200 OK"));
    others_fine(&lab).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn payload_length_far_beyond_the_mtu_ends_only_that_session() {
    let lab = lab(|_| {}).await;
    let pki = lab.pki().await;
    let mut raw = raw_tunnel(lab.server.local_addr(), "da.contoso.com", &pki).await;
    let mut p = udp::build(
        "fe80::99".parse().unwrap(),
        lab.server.intranet_address(),
        1,
        9,
        b"x",
    );
    p[4..6].copy_from_slice(&60000u16.to_be_bytes());
    raw.write_all(&p).await.unwrap();
    raw.flush().await.unwrap();
    assert!(closed_by_peer(&mut raw).await);
    // a stream cut inside a packet: the session ends and is logged, nothing else happens
    let mut cut = raw_tunnel(lab.server.local_addr(), "da.contoso.com", &pki).await;
    cut.write_all(&p[..20]).await.unwrap();
    cut.shutdown().await.unwrap();
    drop(cut);
    eventually("framing error counted", || {
        lab.server.stats().framing_errors >= 1
    })
    .await;
    others_fine(&lab).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn truncated_icmpv6_router_messages_and_spoofs_are_dropped_and_counted() {
    let lab = lab(|_| {}).await;
    let pki = lab.pki().await;
    let victim = lab.client(0).status().global.unwrap();
    let intranet = lab.server.intranet_address();
    let mut raw = raw_tunnel(lab.server.local_addr(), "da.contoso.com", &pki).await;
    let me: Ipv6Addr = "2001:db8:1:1000::bad".parse().unwrap();
    let mut truncated = icmpv6::echo_request(me, intranet, 1, 1, b"");
    truncated.truncate(42);
    truncated[4..6].copy_from_slice(&2u16.to_be_bytes());
    let ll: Ipv6Addr = "fe80::bad".parse().unwrap();
    let ra = icmpv6::router_advertisement(ll, ipv6::ALL_NODES, &Default::default());
    let mut redirect_body = vec![137u8, 0, 0, 0, 0, 0, 0, 0];
    redirect_body.extend_from_slice(&victim.octets());
    redirect_body.extend_from_slice(&intranet.octets());
    let redirect = ipv6::build(ipv6::PROTO_ICMPV6, 255, ll, victim, &redirect_body, Some(2));
    let mut stream = Vec::new();
    stream.extend(truncated);
    stream.extend(ra);
    stream.extend(redirect);
    for spoof in [victim, intranet, "2001:db8:9999::1".parse().unwrap()] {
        stream.extend(icmpv6::echo_request(spoof, intranet, 2, 2, b"spoof"));
    }
    raw.write_all(&stream).await.unwrap();
    raw.flush().await.unwrap();
    eventually("drops counted", || dropped(&lab, DropReason::Spoofed) >= 3).await;
    assert_eq!(dropped(&lab, DropReason::BadIcmpv6), 1);
    assert_eq!(dropped(&lab, DropReason::NotARouter), 2);
    assert_eq!(lab.server.intranet_stats().echo_replies_sent, 0);
    others_fine(&lab).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn a_dad_probe_for_an_owned_address_gets_a_forged_na_and_changes_no_ownership() {
    let lab = lab(|_| {}).await;
    let pki = lab.pki().await;
    let owned = lab.client(0).status().global.unwrap();
    let mut raw = raw_tunnel(lab.server.local_addr(), "da.contoso.com", &pki).await;
    raw.write_all(&icmpv6::neighbor_solicitation(
        Ipv6Addr::UNSPECIFIED,
        ipv6::solicited_node(owned),
        owned,
    ))
    .await
    .unwrap();
    raw.flush().await.unwrap();
    let mut buf = vec![0u8; 2048];
    let n = tokio::time::timeout(WAIT, raw.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let pkt = ipv6::Ipv6Packet::new(&buf[..n]).unwrap();
    assert_eq!(pkt.src(), owned, "the NA is forged as the owner");
    assert!(
        matches!(icmpv6::parse(&pkt), Ok(icmpv6::Message::NeighborAdvertisement { target, router: false, .. }) if target == owned)
    );
    others_fine(&lab).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_router_solicitations_is_rate_limited() {
    let lab = lab(|_| {}).await;
    let pki = lab.pki().await;
    let mut raw = raw_tunnel(lab.server.local_addr(), "da.contoso.com", &pki).await;
    let rs = icmpv6::router_solicitation(Ipv6Addr::UNSPECIFIED);
    raw.write_all(&rs.repeat(500)).await.unwrap();
    raw.flush().await.unwrap();
    eventually("RS drops counted", || {
        dropped(&lab, DropReason::RsRateLimited) >= 490
    })
    .await;
    assert!(lab.server.with_router(|r| r.stats().ras_sent) < 20);
    others_fine(&lab).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn thousands_of_connections_hit_the_client_limit_not_the_other_clients() {
    let lab = lab(|c| c.router.max_clients = 20).await;
    let pki = lab.pki().await;
    let addr = lab.server.local_addr();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let pki = pki.clone();
        tasks.spawn(async move {
            let mut s = tls_connect(addr, "da.contoso.com", &pki).await;
            s.write_all(&iphttps_sim::wire::head::request(
                "/IPHTTPS",
                "da.contoso.com",
            ))
            .await
            .unwrap();
            // hold the connection until the test ends
            tokio::time::sleep(Duration::from_secs(300)).await;
            drop(s);
        });
    }
    eventually("the table limit counted", || {
        lab.server.stats().table_full >= 41
    })
    .await;
    assert!(lab.server.with_router(|r| r.client_count()) <= 20);
    others_fine(&lab).await;
    tasks.shutdown().await;
    lab.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_only_its_own_packets() {
    let lab = lab(|c| c.client_queue = 256).await;
    let pki = lab.pki().await;
    let (mut raw, _) = (
        raw_tunnel(lab.server.local_addr(), "da.contoso.com", &pki).await,
        (),
    );
    let me: Ipv6Addr = "2001:db8:1:1000::5107".parse().unwrap();
    let intranet = lab.server.intranet_address();
    raw.write_all(&udp::build(me, intranet, 1, 9, b"claim"))
        .await
        .unwrap();
    raw.flush().await.unwrap();
    eventually("address claimed", || {
        lab.server.intranet_stats().discarded_packets >= 1
    })
    .await;
    // 20,000 packets toward a client that never reads
    let big = bytes::Bytes::from(udp::build(intranet, me, 9, 1, &[0u8; 1200]));
    for _ in 0..20 {
        lab.server.intranet_send((0..1000).map(|_| big.clone()));
        tokio::task::yield_now().await;
    }
    assert!(
        lab.server.stats().to_clients.queue_full > 10_000,
        "{:?}",
        lab.server.stats()
    );
    others_fine(&lab).await;
    // every packet toward a client is accounted for once: queued, lost to the full queue
    // or addressed to an ended session; and every packet from clients has one disposition
    let router = lab.server.with_router(|r| r.stats().clone());
    assert_eq!(lab.server.stats().to_clients.reconcile(&router), Ok(()));
    assert_eq!(router.reconcile(), Ok(()));
    drop(raw);
    lab.shutdown().await;
}

#[tokio::test]
async fn idle_tunnels_close_and_the_hosts_own_nd_keeps_them_alive() {
    let lab = Lab::start(LabConfig {
        clients: 0,
        deployment: DeploymentConfig {
            idle_timeout: Some(Duration::from_millis(400)),
            ..DeploymentConfig::default()
        },
        ..LabConfig::default()
    })
    .await
    .unwrap();
    lab.add_client(|c| c.host.keepalive = Some(Duration::from_millis(100)))
        .unwrap();
    lab.wait_all_active(WAIT).await.unwrap();
    let pki = lab.pki().await;
    let mut idle = raw_tunnel(lab.server.local_addr(), "da.contoso.com", &pki).await;
    assert!(closed_by_peer(&mut idle).await, "an idle tunnel is closed");
    assert!(lab.server.stats().idle_closed >= 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let s = lab.client(0).status();
    assert_eq!(
        (s.state, s.connects),
        (ClientState::LinkUp, 1),
        "keep-alive ND kept the client tunnel: {s:?} {:?}",
        lab.server.stats()
    );
    others_fine(&lab).await;
    lab.shutdown().await;
}

/// A hostile server: TLS with a real certificate, then `script` decides what to send.
async fn hostile_server(
    script: &'static [u8],
    answer: bool,
) -> (std::net::SocketAddr, iphttps_sim::pki::Pki) {
    let pki = common::test_pki();
    let (acceptor, l) = common::tls_listener(&pki).await;
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                let (_head, _) = read_head(&mut s).await;
                if answer {
                    let _ = s.write_all(script).await;
                    let _ = s.flush().await;
                }
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    (addr, pki)
}

fn client_for(
    addr: std::net::SocketAddr,
    pki: &iphttps_sim::pki::Pki,
) -> Arc<client::ClientHandle> {
    let mut c = ClientConfig::new(
        format!("https://da.contoso.com:{}/IPHTTPS", addr.port())
            .parse()
            .unwrap(),
        pki.root_ca.clone(),
    );
    c.resolve = vec![("da.contoso.com".into(), addr.ip())];
    c.system_dns = false;
    c.connect_timeout = Duration::from_millis(500);
    c.reconnect_initial = Duration::from_millis(200);
    c.host = iphttps_sim::link::host::HostConfig::fast(5);
    Arc::new(client::start(c).unwrap())
}

#[tokio::test]
async fn the_client_survives_hostile_servers() {
    // a non-200 answer
    let (addr, pki) =
        hostile_server(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", true).await;
    let c = client_for(addr, &pki);
    let s = c.wait_until(WAIT, |s| s.failures > 0).await.unwrap();
    assert_eq!(
        (s.last_error, s.interface_status.as_str()),
        (LastErrorCode::NOT_SUPPORTED, STATUS_FAILED)
    );
    c.shutdown().await;
    // a server that never answers the head
    let (addr, pki) = hostile_server(b"", false).await;
    let c = client_for(addr, &pki);
    let s = c.wait_until(WAIT, |s| s.failures > 0).await.unwrap();
    assert_eq!(s.last_error, LastErrorCode::TIMED_OUT);
    c.shutdown().await;
    // a 200 followed by garbage: discarded, the link stays up
    let (addr, pki) = hostile_server(
        b"HTTP/1.1 200 OK\r\nServer: Microsoft-HTTPAPI/2.0\r\n\r\n\x45\x00garbage that is not IPv6",
        true,
    )
    .await;
    let c = client_for(addr, &pki);
    c.wait_until(WAIT, |s| s.state == ClientState::LinkUp)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(c.status().state, ClientState::LinkUp);
    c.shutdown().await;
}

#[test]
fn the_host_ignores_malformed_ras_and_prefixes_that_are_not_64() {
    use iphttps_sim::link::host::{Host, HostConfig};
    use iphttps_sim::wire::icmpv6::{PrefixInfo, RouterAdvert};
    let now = std::time::Instant::now();
    let mut h = Host::new(HostConfig::fast(1), now);
    h.handle_timeout(now + Duration::from_millis(50));
    let router: Ipv6Addr = "fe80::1".parse().unwrap();
    let prefix = |len| RouterAdvert {
        cur_hop_limit: 64,
        router_lifetime: 1800,
        prefixes: vec![PrefixInfo {
            prefix: "2001:db8:1:1000::".parse().unwrap(),
            len,
            on_link: false,
            autonomous: true,
            valid_lifetime: 100,
            preferred_lifetime: 100,
        }],
        mtu: Some(1280),
        ..Default::default()
    };
    // a /56: no address from it
    h.handle_packet(
        &icmpv6::router_advertisement(router, ipv6::ALL_NODES, &prefix(56)),
        now,
    );
    // a malformed option (length 0)
    let mut bad = icmpv6::router_advertisement(router, ipv6::ALL_NODES, &prefix(64));
    bad[40 + 17] = 0;
    h.handle_packet(&bad, now);
    h.handle_timeout(now + Duration::from_secs(1));
    assert!(h.global().is_none(), "neither RA gave an address");
    assert_eq!(h.last_router_advert().map(|r| r.prefixes[0].len), Some(56));
}

#[tokio::test]
async fn the_admin_endpoint_needs_a_token_off_loopback() {
    let lab = Arc::new(
        Lab::start(LabConfig {
            clients: 0,
            ..LabConfig::default()
        })
        .await
        .unwrap(),
    );
    let err = iphttps_sim::api::serve(lab.clone(), "0.0.0.0:0".parse().unwrap(), None)
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("unless a token is configured"),
        "{err}"
    );
    let ctl = iphttps_sim::api::serve(
        lab.clone(),
        "127.0.0.1:0".parse().unwrap(),
        Some("s3cret".into()),
    )
    .await
    .unwrap();
    let mut s = TcpStream::connect(ctl.local_addr()).await.unwrap();
    s.write_all(b"GET /faults HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    let mut s = TcpStream::connect(ctl.local_addr()).await.unwrap();
    s.write_all(b"GET /faults HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    // request bodies are size-limited, and a refused request changes nothing
    let before = lab.admin().await;
    let big = format!(
        "{{\"client\": null, \"lines\": [\"{}\"]}}",
        "x".repeat(100 * 1024)
    );
    let mut s = TcpStream::connect(ctl.local_addr()).await.unwrap();
    let req = format!(
        "POST /run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
        big.len()
    );
    let _ = s.write_all(req.as_bytes()).await;
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp).await;
    assert!(
        resp.starts_with("HTTP/1.1 400") && resp.contains("limit"),
        "{}",
        &resp[..resp.len().min(200)]
    );
    assert_eq!(lab.admin().await, before);
    lab.shutdown().await;
}

/// A fragment from `src` to `dst`: `data` at `offset`, with the M flag, for UDP.
fn fragment(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    id: u32,
    offset: usize,
    more: bool,
    data: &[u8],
) -> Vec<u8> {
    let mut p = vec![0u8; 48];
    ipv6::write_header(
        &mut p,
        (8 + data.len()) as u16,
        frag::PROTO_FRAGMENT,
        64,
        src,
        dst,
    );
    p[40] = ipv6::PROTO_UDP;
    let fo = ((offset / 8) as u16) << 3 | u16::from(more);
    p[42..44].copy_from_slice(&fo.to_be_bytes());
    p[44..48].copy_from_slice(&id.to_be_bytes());
    p.extend_from_slice(data);
    p
}

#[tokio::test]
async fn fragment_floods_cost_the_flooder_its_own_datagrams_only() {
    let lab = lab(|_| {}).await;
    let pki = lab.pki().await;
    let intranet = lab.server.intranet_address();
    let honest = lab.client(0);
    // the honest client's big pings work (the first answer meets Packet Too Big)
    let _ = honest.ping(intranet, 3000, Duration::from_secs(1)).await;
    honest
        .ping(intranet, 3000, WAIT)
        .await
        .expect("big pings before the flood");
    let mut raw = raw_tunnel(lab.server.local_addr(), "da.contoso.com", &pki).await;
    let me: Ipv6Addr = "2001:db8:1:1000::f10d".parse().unwrap();
    raw.write_all(&udp::build(me, intranet, 1, 9, b"claim"))
        .await
        .unwrap();
    let mut udp_header = udp::build(me, intranet, 1, 9, &[0; 1224])[40..].to_vec();
    udp_header.truncate(1232);
    let mut flood = Vec::new();
    let mut sent = 0u64;
    for id in 0..6000u32 {
        // never completed: a first fragment each
        flood.extend(fragment(me, intranet, id, 0, true, &udp_header));
        // tiny ones: 8 bytes far into a datagram that never starts
        flood.extend(fragment(
            me,
            intranet,
            100_000 + id,
            8 * (1 + id as usize % 100),
            true,
            &[0; 8],
        ));
        // overlapping ones
        flood.extend(fragment(me, intranet, 200_000 + id, 16, true, &[0; 16]));
        flood.extend(fragment(me, intranet, 200_000 + id, 24, false, &[0; 16]));
        sent += 4;
        if flood.len() > 256 * 1024 {
            raw.write_all(&flood).await.unwrap();
            flood.clear();
            // the honest client keeps reaching the intranet with fragmented pings
            if id % 1200 == 0 {
                honest
                    .ping(intranet, 3000, WAIT)
                    .await
                    .expect("big pings during the flood");
            }
        }
    }
    // fragments that would reassemble beyond 65,535 bytes
    flood.extend(fragment(me, intranet, 300_000, 65_528, false, &[0; 64]));
    sent += 1;
    raw.write_all(&flood).await.unwrap();
    raw.flush().await.unwrap();
    eventually("every fragment reached the intranet host", || {
        lab.server.intranet_stats().ip.reassembly.fragments >= sent
    })
    .await;
    let s = lab.server.intranet_stats().ip;
    let limit = iphttps_sim::link::reassembly::ReassemblyConfig::default().max_bytes;
    assert!(s.held_bytes <= limit, "memory bounded: {s:?}");
    assert!(s.reassembly.evicted > 1000, "{s:?}");
    assert_eq!(s.reassembly.overlapping, 6000, "{s:?}");
    assert_eq!(s.reassembly.invalid, 1, "{s:?}");
    honest
        .ping(intranet, 3000, WAIT)
        .await
        .expect("big pings after the flood");
    others_fine(&lab).await;
    // a fragmented jumbogram ends the flooder's session at the deframer: its own loss
    let mut jumbo = fragment(me, intranet, 7, 0, true, &[0; 64]);
    jumbo[4..6].copy_from_slice(&0u16.to_be_bytes());
    jumbo[6] = ipv6::PROTO_HOPOPT;
    raw.write_all(&jumbo).await.unwrap();
    raw.flush().await.unwrap();
    assert!(closed_by_peer(&mut raw).await);
    others_fine(&lab).await;
    lab.shutdown().await;
}

#[tokio::test]
async fn a_flood_toward_an_unreachable_address_gets_a_bounded_number_of_errors() {
    let lab = lab(|_| {}).await;
    let pki = lab.pki().await;
    let intranet = lab.server.intranet_address();
    let mut raw = raw_tunnel(lab.server.local_addr(), "da.contoso.com", &pki).await;
    let me: Ipv6Addr = "2001:db8:1:1000::e77".parse().unwrap();
    let nobody: Ipv6Addr = "2001:db8:1:1000::dead".parse().unwrap();
    let mut flood = udp::build(me, intranet, 1, 9, b"claim");
    const N: u64 = 2000;
    for seq in 0..N {
        flood.extend(icmpv6::echo_request(me, nobody, 7, seq as u16, b"anyone?"));
    }
    let started = std::time::Instant::now();
    raw.write_all(&flood).await.unwrap();
    raw.flush().await.unwrap();
    eventually("every request routed", || {
        dropped(&lab, DropReason::NoRoute) >= N
    })
    .await;
    let elapsed = started.elapsed();
    // read what came back until the tunnel is quiet
    let mut d = iphttps_sim::wire::deframe::Deframer::new(1280);
    let mut buf = vec![0u8; 64 * 1024];
    let mut unreachable = 0u64;
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), raw.read(&mut buf)).await
    {
        assert!(n > 0, "the tunnel stays up");
        d.extend(&buf[..n]);
        while let Ok(Some(p)) = d.next_packet() {
            let v = ipv6::Ipv6Packet::new(&p).unwrap();
            if let Ok(icmpv6::Message::DestUnreachable { code: 3, .. }) = icmpv6::parse(&v) {
                unreachable += 1;
            }
        }
    }
    let cfg = iphttps_sim::link::router::RouterConfig::new(
        "2001:db8:1:1000::/64".parse().unwrap(),
        "2001:db8:1::/48".parse().unwrap(),
    );
    let refills = (elapsed.as_nanos() / cfg.icmp_error_interval.as_nanos()) as u64 + 1;
    let bound = u64::from(cfg.icmp_error_burst) + refills;
    assert!(
        (u64::from(cfg.icmp_error_burst)..=bound).contains(&unreachable),
        "{unreachable} Destination Unreachable for {N} requests in {elapsed:?} (bound {bound})"
    );
    assert_eq!(
        dropped(&lab, DropReason::IcmpRateLimited),
        N - unreachable,
        "every error not sent is counted"
    );
    others_fine(&lab).await;
    lab.shutdown().await;
}

/// A connection accepted before the listener closed (every client disconnected, as when
/// the IP Helper service restarts) whose handshake finishes after is disconnected too: it
/// must not survive as a tunnel from before the restart.
#[tokio::test]
async fn a_handshake_that_straddles_a_listener_close_is_disconnected() {
    let lab = lab(|_| {}).await;
    let pki = lab.pki().await;
    let addr = lab.server.local_addr();
    let tcp = TcpStream::connect(addr).await.unwrap();
    // the accept happened: the server's session waits for a ClientHello
    eventually("accepted", || lab.server.stats().accepted >= 2).await;
    lab.server.set_listener(ListenerMode::Closed);
    eventually("the listener closed", || {
        std::net::TcpStream::connect(addr).is_err()
    })
    .await;
    let cfg = iphttps_sim::tls::client_config(&pki.root_ca, None).unwrap();
    let name = rustls::pki_types::ServerName::try_from("da.contoso.com").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .unwrap();
    tls.write_all(&iphttps_sim::wire::head::request(
        "/IPHTTPS",
        "da.contoso.com",
    ))
    .await
    .unwrap();
    let (head, _) = read_head(&mut tls).await;
    assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(
        closed_by_peer(&mut tls).await,
        "the tunnel from before the close is ended"
    );
    lab.server.set_listener(ListenerMode::Open);
    lab.shutdown().await;
}
