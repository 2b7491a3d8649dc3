//! The paths measured side by side, each set up between the two namespaces: the bare
//! veth, the iphttps kernel-TUN tunnel, openconnect with ocserv, and wireguard-go.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path as FsPath;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use super::PeersError;
use super::netns::{self, Daemon, Namespaces, SERVER_ADDR};

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The veth pair itself, no tunnel: the ceiling of every tunnel.
    Veth,
    /// `iphttps connect --tun` in the client namespace, `iphttps serve --intranet-tun` in
    /// the server namespace.
    Iphttps,
    /// openconnect (client) with ocserv (server): TLS over TCP, DTLS off.
    Ocserv,
    /// wireguard-go in both namespaces (UDP).
    WireguardGo,
}

impl Kind {
    /// All, in the order they are measured.
    pub const ALL: [Kind; 4] = [Kind::Veth, Kind::Iphttps, Kind::Ocserv, Kind::WireguardGo];

    /// Its name in figures.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Veth => "veth",
            Kind::Iphttps => "iphttps",
            Kind::Ocserv => "ocserv",
            Kind::WireguardGo => "wireguard_go",
        }
    }
}

/// A path that is up: the address in the server namespace that traffic goes to, the
/// client namespace's device it leaves by, and the processes that carry it.
#[derive(Debug)]
pub struct Path {
    /// What it is.
    pub kind: Kind,
    /// Where iperf3 and ping go, in the server namespace.
    pub target: IpAddr,
    /// The client namespace's device toward `target`.
    pub device: String,
    daemons: Vec<Daemon>,
}

impl Path {
    /// An error if one of its processes has ended.
    pub fn alive(&mut self) -> Result<(), PeersError> {
        self.daemons.iter_mut().try_for_each(Daemon::alive)
    }

    /// The process ids of its daemons, in the order they started.
    pub fn pids(&self) -> Vec<u32> {
        self.daemons.iter().map(Daemon::pid).collect()
    }
}

/// The intranet address behind `serve --intranet-tun` (the server namespace's kernel).
const IPHTTPS_TARGET: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);
/// ocserv's pool; the server side of each client's device gets its `.1`.
const OCSERV_NETWORK: Ipv4Addr = Ipv4Addr::new(192, 168, 233, 0);
/// wireguard-go's addresses, server and client.
const WG_SERVER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x233, 0, 0, 0, 0, 0, 1);
const WG_CLIENT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x233, 0, 0, 0, 0, 0, 2);
/// The tunnels' MTU (the IP-HTTPS link MTU).
const MTU: &str = "1280";
/// How long a tunnel may take to come up.
const UP: Duration = Duration::from_secs(30);

/// Sets up path `kind`; `bin` is the iphttps executable, `dir` a folder for its files
/// (the PKI is already in `dir/pki`).
pub fn up(kind: Kind, ns: &Namespaces, bin: &FsPath, dir: &FsPath) -> Result<Path, PeersError> {
    match kind {
        Kind::Veth => Ok(Path {
            kind,
            target: IpAddr::V4(SERVER_ADDR),
            device: veth_device(ns)?,
            daemons: Vec::new(),
        }),
        Kind::Iphttps => iphttps(ns, bin, dir),
        Kind::Ocserv => ocserv(ns, dir),
        Kind::WireguardGo => wireguard_go(ns, dir),
    }
}

/// The client namespace's veth device.
fn veth_device(ns: &Namespaces) -> Result<String, PeersError> {
    let dev = ns.client_veth.clone();
    netns::run(
        Command::new("ip").args(["-n", &ns.client, "link", "show", &dev]),
        "ip link show (the veth pair)",
    )?;
    Ok(dev)
}

/// Whether `dev` in `netns` has a usable (not tentative) global address.
fn has_address(netns: &str, dev: &str) -> bool {
    Command::new("ip")
        .args([
            "-n",
            netns,
            "addr",
            "show",
            "dev",
            dev,
            "scope",
            "global",
            "-tentative",
        ])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("inet"))
}

fn iphttps(ns: &Namespaces, bin: &FsPath, dir: &FsPath) -> Result<Path, PeersError> {
    iphttps_with(ns, bin, dir, &[], &[])
}

/// The iphttps kernel-TUN path with more arguments for `serve` and `connect` (the NULL
/// suites); its daemons' process ids are [`Path::pids`] (serve, then connect).
pub fn iphttps_with(
    ns: &Namespaces,
    bin: &FsPath,
    dir: &FsPath,
    serve_args: &[&str],
    connect_args: &[&str],
) -> Result<Path, PeersError> {
    let pki = dir.join("pki");
    let mut serve = ns.exec(&ns.server);
    serve
        .arg(bin)
        .args(["serve", "--listen", &format!("{SERVER_ADDR}:443"), "--pki"])
        .arg(&pki)
        .args(["--intranet-tun", "iphi0"])
        .args(serve_args);
    let mut serve = Daemon::start(serve, "iphttps serve", dir.join("iphttps-serve.log"))?;
    netns::wait_until("iphttps serve", UP, &mut [&mut serve], || {
        has_address(&ns.server, "iphi0")
    })?;
    let mut connect = ns.exec(&ns.client);
    connect
        .arg(bin)
        .args(["connect", "https://da.contoso.com/IPHTTPS", "--ca"])
        .arg(pki.join(iphttps_sim::pki::files::ROOT_CA))
        .args(["--resolve", &format!("da.contoso.com:{SERVER_ADDR}")])
        .args(["--tun", "iph0"])
        .args(connect_args);
    let mut connect = Daemon::start(connect, "iphttps connect", dir.join("iphttps-connect.log"))?;
    netns::wait_until(
        "iphttps connect (an address from the server's RA)",
        UP,
        &mut [&mut serve, &mut connect],
        || has_address(&ns.client, "iph0"),
    )?;
    Ok(Path {
        kind: Kind::Iphttps,
        target: IpAddr::V6(IPHTTPS_TARGET),
        device: "iph0".into(),
        daemons: vec![serve, connect],
    })
}

/// The script openconnect runs instead of vpnc-script: it only addresses the device and
/// routes ocserv's pool into it (no default route, no DNS, nothing outside the namespace).
fn openconnect_script() -> String {
    format!(
        "#!/bin/sh\n\
         [ \"$reason\" = connect ] || exit 0\n\
         ip link set dev \"$TUNDEV\" mtu \"$INTERNAL_IP4_MTU\" up\n\
         ip addr add \"$INTERNAL_IP4_ADDRESS/32\" dev \"$TUNDEV\"\n\
         ip route add {OCSERV_NETWORK}/24 dev \"$TUNDEV\"\n"
    )
}

fn write(path: &FsPath, text: &str) -> Result<(), PeersError> {
    std::fs::write(path, text).map_err(|e| {
        PeersError::command(
            "write a configuration file",
            format!("{}: {e}", path.display()),
        )
    })
}

fn ocserv(ns: &Namespaces, dir: &FsPath) -> Result<Path, PeersError> {
    let d = dir.join("ocserv");
    std::fs::create_dir_all(&d)
        .map_err(|e| PeersError::command("create the ocserv folder", e.to_string()))?;
    let passwd = d.join("passwd");
    let mut ocpasswd = Command::new("ocpasswd");
    ocpasswd.arg("-c").arg(&passwd).arg("bench");
    Daemon::start_with_input(
        ocpasswd,
        "ocpasswd",
        d.join("ocpasswd.log"),
        "bench\nbench\n",
    )?
    .finish()?;
    let pki = dir.join("pki");
    let conf = format!(
        "auth = \"plain[passwd={passwd}]\"\n\
         tcp-port = 4443\nudp-port = 0\nlisten-host = {SERVER_ADDR}\n\
         socket-file = {sock}\npid-file = {pid}\n\
         server-cert = {cert}\nserver-key = {key}\n\
         ipv4-network = {OCSERV_NETWORK}\nipv4-netmask = 255.255.255.0\n\
         mtu = {MTU}\ntry-mtu-discovery = false\n\
         isolate-workers = false\nuse-occtl = false\ndevice = vpns\n\
         max-clients = 4\nkeepalive = 32400\ndpd = 90\nauth-timeout = 240\n",
        passwd = passwd.display(),
        sock = d.join("ocserv.sock").display(),
        pid = d.join("ocserv.pid").display(),
        cert = pki.join(iphttps_sim::pki::files::SERVER_CHAIN).display(),
        key = pki.join(iphttps_sim::pki::files::SERVER_KEY).display(),
    );
    let conf_path = d.join("ocserv.conf");
    write(&conf_path, &conf)?;
    let mut server = ns.exec(&ns.server);
    server.args(["ocserv", "-f", "-c"]).arg(&conf_path);
    let mut server = Daemon::start(server, "ocserv", d.join("ocserv.log"))?;
    netns::wait_until("ocserv (listening)", UP, &mut [&mut server], || {
        std::fs::read_to_string(d.join("ocserv.log")).is_ok_and(|l| l.contains("listening (TCP)"))
    })?;
    let script = d.join("connect.sh");
    write(&script, &openconnect_script())?;
    netns::run(Command::new("chmod").arg("755").arg(&script), "chmod")?;
    let mut client = ns.exec(&ns.client);
    client
        .args([
            "openconnect",
            "--protocol=anyconnect",
            "--no-dtls",
            "-i",
            "ocp0",
        ])
        .args([
            "--mtu",
            MTU,
            "-u",
            "bench",
            "--passwd-on-stdin",
            "--non-inter",
        ])
        .arg("--cafile")
        .arg(pki.join(iphttps_sim::pki::files::ROOT_CA))
        .arg("--script")
        .arg(&script)
        .args([
            &format!("--resolve=da.contoso.com:{SERVER_ADDR}"),
            "https://da.contoso.com:4443",
        ]);
    let mut client =
        Daemon::start_with_input(client, "openconnect", d.join("openconnect.log"), "bench\n")?;
    netns::wait_until(
        "openconnect (its device addressed)",
        UP,
        &mut [&mut server, &mut client],
        || has_address(&ns.client, "ocp0"),
    )?;
    let target = Ipv4Addr::from(u32::from(OCSERV_NETWORK) + 1);
    Ok(Path {
        kind: Kind::Ocserv,
        target: IpAddr::V4(target),
        device: "ocp0".into(),
        daemons: vec![server, client],
    })
}

fn wireguard_go(ns: &Namespaces, dir: &FsPath) -> Result<Path, PeersError> {
    let d = dir.join("wireguard");
    std::fs::create_dir_all(&d)
        .map_err(|e| PeersError::command("create the wireguard folder", e.to_string()))?;
    let mut keys = Vec::new();
    for side in ["server", "client"] {
        let private = netns::run(Command::new("wg").arg("genkey"), "wg genkey")?;
        let key_file = d.join(format!("{side}.key"));
        write(&key_file, &private)?;
        let public = Command::new("sh")
            .arg("-c")
            .arg(format!("wg pubkey < {}", key_file.display()))
            .output()
            .map_err(|e| PeersError::command("wg pubkey", e.to_string()))?;
        keys.push((
            key_file,
            String::from_utf8_lossy(&public.stdout).trim().to_string(),
        ));
    }
    // wireguard-go's control sockets are named after the device in one folder shared by
    // every namespace: the names carry this process's id so runs at once do not meet
    let pid = std::process::id();
    let (server_dev, client_dev) = (format!("iphw{pid}s"), format!("iphw{pid}c"));
    let sides = [
        (
            &ns.server,
            server_dev.as_str(),
            &keys[0].0,
            &keys[1].1,
            WG_SERVER,
            WG_CLIENT,
            netns::CLIENT_ADDR,
        ),
        (
            &ns.client,
            client_dev.as_str(),
            &keys[1].0,
            &keys[0].1,
            WG_CLIENT,
            WG_SERVER,
            SERVER_ADDR,
        ),
    ];
    let mut daemons = Vec::new();
    for (netns_name, dev, key, peer, me, them, endpoint) in sides {
        let mut go = ns.exec(netns_name);
        go.env("WG_PROCESS_FOREGROUND", "1")
            .args(["wireguard-go", "-f", dev]);
        let mut go = Daemon::start(go, "wireguard-go", d.join(format!("{dev}.log")))?;
        netns::wait_until("wireguard-go (its device)", UP, &mut [&mut go], || {
            Command::new("ip")
                .args(["-n", netns_name, "link", "show", dev])
                .output()
                .is_ok_and(|o| o.status.success())
        })?;
        netns::run(
            ns.exec(netns_name)
                .args(["wg", "set", dev, "private-key"])
                .arg(key)
                .args(["listen-port", "51820", "peer", peer, "allowed-ips"])
                .arg(format!("{them}/128"))
                .arg("endpoint")
                .arg(format!("{endpoint}:51820")),
            "wg set",
        )?;
        netns::run(
            Command::new("ip").args([
                "-n",
                netns_name,
                "addr",
                "add",
                &format!("{me}/64"),
                "dev",
                dev,
                "nodad",
            ]),
            "ip addr add",
        )?;
        netns::run(
            Command::new("ip").args(["-n", netns_name, "link", "set", dev, "mtu", MTU, "up"]),
            "ip link set up",
        )?;
        daemons.push(go);
    }
    Ok(Path {
        kind: Kind::WireguardGo,
        target: IpAddr::V6(WG_SERVER),
        device: client_dev,
        daemons,
    })
}

/// The MTU of `dev` in `netns`.
pub fn mtu(netns: &str, dev: &str) -> Option<u32> {
    let out = Command::new("ip")
        .args(["-n", netns, "-o", "link", "show", dev])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "mtu")?;
    words.next()?.parse().ok()
}
