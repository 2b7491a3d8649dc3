//! Kernel TUN mode (Linux): `connect --tun` in one network namespace, `serve
//! --intranet-tun` in another, joined by a veth pair. The client namespace's kernel
//! solicits the server, configures its address from the RA and pings, streams TCP to and
//! sends UDP to the server namespace's kernel, which stands behind the server as the
//! intranet. Needs root, /dev/net/tun, iproute2, ping and socat (.ci/run installs them);
//! without them the test says why it skips (and under CI=true it fails instead).
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::Served;
use iphttps_harness::peers::netns::{self, Namespaces};

/// The intranet host: the server namespace's kernel on the intranet TUN.
const INTRANET: &str = "2001:db8:1::10";

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why this machine cannot run the namespace tests, if it cannot.
fn cannot_run() -> Option<String> {
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun does not exist".into());
    }
    if !netns::is_root() {
        return Some("not running as root (network namespaces and TUN need it)".into());
    }
    for tool in ["ip", "ping", "socat"] {
        if !have(tool) {
            return Some(format!("{tool} is not installed (.ci/run installs it)"));
        }
    }
    None
}

/// The server's address on the veth (a /30 that exists only between the namespaces).
fn veth_addrs(n: u32) -> (Ipv4Addr, Ipv4Addr) {
    (
        Ipv4Addr::new(10, 231, n as u8, 1),
        Ipv4Addr::new(10, 231, n as u8, 2),
    )
}

/// Two namespaces joined by a veth pair (the harness' own, as `bench --peers` uses),
/// removed with everything in them on drop.
fn namespaces() -> (Namespaces, u32) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let ns = Namespaces::create_as(
        &format!("iph-{pid}-{n}"),
        &format!("iv{}x{n}", pid % 10_000_000),
        veth_addrs(n),
    )
    .unwrap();
    (ns, n)
}

/// A child process killed on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_kernel_client_reaches_a_kernel_intranet_through_the_tunnel() {
    if let Some(why) = cannot_run() {
        return common::skip(
            "a_kernel_client_reaches_a_kernel_intranet_through_the_tunnel",
            &why,
        );
    }
    kernel_client_reaches_kernel_intranet(true);
}

/// The plain path, one packet per read and write, as where the kernel refuses the
/// offloads (turned off here with IPHTTPS_TUN_OFFLOAD=0 on both ends).
#[test]
fn without_offloads_the_kernel_client_reaches_the_intranet_too() {
    if let Some(why) = cannot_run() {
        return common::skip(
            "without_offloads_the_kernel_client_reaches_the_intranet_too",
            &why,
        );
    }
    kernel_client_reaches_kernel_intranet(false);
}

/// Ping, a 1 MB TCP stream and UDP datagrams from the client namespace's kernel to the
/// server namespace's, through the tunnel, with or without the TUN offloads.
fn kernel_client_reaches_kernel_intranet(offload: bool) {
    let offload_env = (
        iphttps_sim::tun::OFFLOAD_ENV,
        if offload { "1" } else { "0" },
    );
    let pki = tempfile::tempdir().unwrap();
    let (ns, n) = namespaces();
    let (srv_addr, _) = veth_addrs(n);
    let mut serve = ns.exec(&ns.server);
    serve
        .arg(env!("CARGO_BIN_EXE_iphttps"))
        .args(["serve", "--listen", &format!("{srv_addr}:443"), "--pki"])
        .arg(pki.path())
        .args(["--intranet-tun", "iphi0"])
        .env(offload_env.0, offload_env.1);
    let served = Served::start(serve);
    assert!(
        served
            .banner
            .iter()
            .any(|l| l == &format!("Intranet: TUN device iphi0 (the kernel at {INTRANET})")),
        "{:?}",
        served.banner
    );

    let mut client = ns.exec(&ns.client);
    client
        .arg(env!("CARGO_BIN_EXE_iphttps"))
        .args(["connect", "https://da.contoso.com/IPHTTPS", "--ca"])
        .arg(pki.path().join(iphttps_sim::pki::files::ROOT_CA))
        .args(["--resolve", &format!("da.contoso.com:{srv_addr}")])
        .args(["--tun", "iph0"])
        .env(offload_env.0, offload_env.1)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut client = Child(client.spawn().unwrap());
    // the client prints its status as it changes; the address line comes from the kernel
    let mut out = BufReader::new(client.0.stdout.take().unwrap());
    let address = loop {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0, "connect ended");
        if let Some(a) = l.trim().strip_prefix("IPv6 Address               : ") {
            break a.parse::<std::net::Ipv6Addr>().unwrap();
        }
    };
    assert!(
        address.segments()[..4] == [0x2001, 0xdb8, 1, 0x1000],
        "the kernel's SLAAC address is in ClientIPv6Prefix: {address}"
    );
    let route = ns
        .exec(&ns.client)
        .args(["ip", "-6", "route", "show", "default"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&route.stdout).contains("via fe80::1 dev iph0 proto ra"),
        "the RA installed the server as default router: {}",
        String::from_utf8_lossy(&route.stdout)
    );

    // ping: the client namespace's kernel to the server namespace's kernel
    let ping = ns
        .exec(&ns.client)
        .args(["ping", "-6", "-c", "3", "-W", "5", INTRANET])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "ping through the tunnel: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    // 3000 bytes: the client's kernel fragments to the tunnel's 1280, the server's router
    // forwards the fragments, the intranet kernel reassembles; its first answer is too big
    // for the tunnel (Packet Too Big from the router), the next ones come in fragments
    let big = ns
        .exec(&ns.client)
        .args([
            "ping", "-6", "-c", "4", "-i", "0.3", "-W", "5", "-s", "3000", INTRANET,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&big.stdout);
    let received: u32 = text
        .split(',')
        .find_map(|p| p.trim().strip_suffix(" received")?.parse().ok())
        .unwrap_or(0);
    assert!(
        received >= 3,
        "3000-byte pings through the tunnel (all but the first answered): {text}"
    );

    // a TCP stream of 1 MB, compared byte for byte on the far side
    let dir = tempfile::tempdir().unwrap();
    let (sent, got) = (dir.path().join("sent"), dir.path().join("got"));
    let data: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&sent, &data).unwrap();
    let mut sink = ns.exec(&ns.server);
    sink.args(["socat", "-u", "TCP6-LISTEN:7001,reuseaddr"])
        .arg(format!("OPEN:{},creat,trunc", got.display()));
    let mut sink = Child(sink.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let send = ns
            .exec(&ns.client)
            .args(["socat", "-u"])
            .arg(format!("OPEN:{}", sent.display()))
            .arg(format!("TCP6:[{INTRANET}]:7001"))
            .output()
            .unwrap();
        if send.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "TCP connect through the tunnel failed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = sink.0.wait();
    assert_eq!(
        std::fs::read(&got).unwrap(),
        data,
        "the TCP stream arrived intact"
    );

    // UDP datagrams to a receiver in the intranet
    let udp = dir.path().join("udp");
    let mut rx = ns.exec(&ns.server);
    rx.args(["socat", "-u", "UDP6-RECV:7002"])
        .arg(format!("OPEN:{},creat,append", udp.display()));
    let _rx = Child(rx.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&udp).is_ok_and(|s| s.contains("datagram through IP-HTTPS")) {
        assert!(Instant::now() < deadline, "no UDP datagram arrived");
        let mut tx = ns.exec(&ns.client);
        tx.args(["socat", "-u", "-"])
            .arg(format!("UDP6-SENDTO:[{INTRANET}]:7002"))
            .stdin(Stdio::piped());
        let mut tx = tx.spawn().unwrap();
        use std::io::Write;
        tx.stdin
            .take()
            .unwrap()
            .write_all(b"datagram through IP-HTTPS\n")
            .unwrap();
        let _ = tx.wait();
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(client);
    drop(served);
}

#[test]
fn without_permission_the_command_says_so() {
    if let Some(why) = cannot_run() {
        return common::skip("without_permission_the_command_says_so", &why);
    }
    if !have("setpriv") {
        return common::skip(
            "without_permission_the_command_says_so",
            "setpriv is not installed (.ci/run installs util-linux)",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, common::test_pki().root_ca).unwrap();
    let mut perms = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(dir.path(), perms).unwrap();
    // an unprivileged user: no CAP_NET_ADMIN
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_iphttps"))
        .args(["connect", "https://da.contoso.com/IPHTTPS", "--ca"])
        .arg(&ca)
        .args(["--tun", "iphnoperm0", "--once"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("not permitted to create TUN device iphnoperm0")
            && err.contains("needs root or CAP_NET_ADMIN"),
        "{err}"
    );
}
