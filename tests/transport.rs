//! The shells take their transport and their clock as parameters: a server and a client
//! run over an in-memory network (no socket at all), and under tokio's paused clock the
//! client's reconnect timer runs at Windows' real 30 seconds in virtual time.

use std::net::IpAddr;
use std::time::Duration;

use iphttps_sim::client::{self, ClientConfig, ClientState};
use iphttps_sim::link::host::HostConfig;
use iphttps_sim::net::MemoryNetwork;
use iphttps_sim::pki::{Pki, PkiOptions};
use iphttps_sim::server::{self, ServerConfig};
use iphttps_sim::winerr::LastErrorCode;

const NAME: &str = "da.contoso.com";

fn addresses() -> (IpAddr, IpAddr) {
    // addresses on the in-memory network only: nothing is sent on any real one
    ("127.0.0.10".parse().unwrap(), "127.0.0.20".parse().unwrap())
}

fn pki() -> Pki {
    Pki::generate(&PkiOptions::new(
        NAME,
        iphttps_sim::time::OffsetDateTime::now_utc(),
    ))
    .unwrap()
}

fn server_config(net: &MemoryNetwork, pki: &Pki) -> ServerConfig {
    let (server_ip, _) = addresses();
    let mut s = ServerConfig::new((server_ip, 443).into(), NAME, pki.clone());
    s.transport = net.host(server_ip);
    s
}

fn client_config(net: &MemoryNetwork, pki: &Pki) -> ClientConfig {
    let (server_ip, client_ip) = addresses();
    let url = format!("https://{NAME}:443/IPHTTPS").parse().unwrap();
    let mut c = ClientConfig::new(url, pki.root_ca.clone());
    c.resolve = vec![(NAME.into(), server_ip)];
    c.system_dns = false;
    c.transport = net.host(client_ip);
    c
}

#[tokio::test]
async fn server_and_client_tunnel_over_an_in_memory_network() {
    let net = MemoryNetwork::new();
    let pki = pki();
    let server = server::start(server_config(&net, &pki)).await.unwrap();
    let mut c = client_config(&net, &pki);
    c.host = HostConfig::fast(7);
    let client = client::start(c).unwrap();
    let up = client
        .wait_active(Duration::from_secs(20))
        .await
        .expect("LinkUp with a global address over the memory network");
    assert_eq!(up.last_error, LastErrorCode::SUCCESS);
    client
        .ping(server.intranet_address(), 56, Duration::from_secs(5))
        .await
        .expect("the intranet host answers through the tunnel");
    let snap = server.snapshot();
    assert_eq!(snap.clients.len(), 1);
    assert_eq!(
        snap.clients[0].peer.ip(),
        addresses().1,
        "the client's memory address"
    );
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn windows_reconnect_timer_runs_in_virtual_time() {
    let net = MemoryNetwork::new();
    let pki = pki();
    // Windows' own timers: reconnect after 30 s, RS and DAD delays of a second
    let client = client::start(client_config(&net, &pki)).unwrap();
    let down = client
        .wait_until(Duration::from_secs(5), |s| s.failures == 1)
        .await
        .expect("nothing listens: the first attempt fails at once");
    assert_eq!(down.state, ClientState::LinkDown);
    assert_eq!(down.last_error, LastErrorCode::CONNECTION_REFUSED);
    let t0 = tokio::time::Instant::now();
    let server = server::start(server_config(&net, &pki)).await.unwrap();
    // a second before the timer fires the client is still waiting
    tokio::time::sleep(Duration::from_secs(29)).await;
    let waiting = client.status();
    assert_eq!(
        (waiting.state, waiting.failures),
        (ClientState::LinkDown, 1)
    );
    let up = client
        .wait_active(Duration::from_secs(120))
        .await
        .expect("up at the attempt the reconnect timer makes");
    let waited = t0.elapsed();
    assert_eq!(up.failures, 1, "no attempt in between");
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(40),
        "the spec's 30-second first wait (plus RS and DAD), in virtual time: {waited:?}"
    );
    client.shutdown().await;
    server.shutdown().await;
}
