//! Kernel TUN devices (Linux only): the client's `connect --tun NAME`, where the kernel's
//! own IPv6 stack is the host behind the tunnel, and the server's `serve --intranet-tun
//! NAME`, where the intranet prefix is routed into a device so a real network (a
//! namespace, a bridge, forwarding) stands behind the server.
//!
//! Creating a device needs root or CAP_NET_ADMIN and `/dev/net/tun`; without them the
//! error says which is missing.

use std::net::Ipv6Addr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use ipnet::Ipv6Net;
use tokio::sync::{mpsc, watch};
use tun_rs::{AsyncDevice, DeviceBuilder, GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use crate::link::Frame;
use crate::port::{Batch, KernelPort, OnWire};
use crate::wire::ipv6::MIN_MTU;

/// Batches queued each way between a device and the tunnel (a batch is the packets of
/// one read: up to [`BATCH`]).
pub const QUEUE: usize = 256;

/// Why a TUN device could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TunError {
    /// No TUN driver.
    #[error(
        "/dev/net/tun does not exist: this system has no TUN driver (load the tun module, or run the container with --device /dev/net/tun)"
    )]
    NoDriver,
    /// Not allowed.
    #[error("not permitted to create TUN device {name}: {source} (needs root or CAP_NET_ADMIN)")]
    Permission {
        /// The device.
        name: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Creating or configuring the device failed.
    #[error("cannot set up TUN device {name}: {what}: {detail}")]
    Setup {
        /// The device.
        name: String,
        /// The step that failed.
        what: &'static str,
        /// The cause.
        detail: String,
    },
}

/// A running TUN device and the tasks that pump its packets; dropping it stops them and
/// removes the device.
pub struct Tun {
    name: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Tun {
    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Tun {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The environment variable that turns the TUN offloads off (`0` or `off`), to compare
/// or to rule them out; they are on otherwise.
pub const OFFLOAD_ENV: &str = "IPHTTPS_TUN_OFFLOAD";

/// Whether to ask for the TUN offloads.
fn offload_wanted() -> bool {
    !matches!(
        std::env::var(OFFLOAD_ENV).as_deref(),
        Ok("0") | Ok("off") | Ok("false")
    )
}

fn build(name: &str, address: Option<(Ipv6Addr, u8)>) -> Result<AsyncDevice, TunError> {
    if !Path::new("/dev/net/tun").exists() {
        return Err(TunError::NoDriver);
    }
    let builder = |offload: bool| {
        let mut b = DeviceBuilder::new()
            .name(name)
            .mtu(MIN_MTU as u16)
            .offload(offload);
        if let Some((a, len)) = address {
            b = b.ipv6(a, len);
        }
        b.build_async()
    };
    let wanted = offload_wanted();
    if !wanted {
        tracing::info!(
            device = name,
            "TUN offloads off ({OFFLOAD_ENV}=0): plain reads and writes, one packet per system call"
        );
    }
    let dev = match builder(wanted) {
        Err(e) if e.kind() != std::io::ErrorKind::PermissionDenied => {
            tracing::warn!(
                device = name,
                error = %e,
                "the kernel refused TUN offloads (virtio-net header, GSO/GRO): plain reads and writes, one packet per system call"
            );
            builder(false)
        }
        r => r,
    }
    .map_err(|source| {
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            TunError::Permission {
                name: name.to_string(),
                source,
            }
        } else {
            TunError::Setup {
                name: name.to_string(),
                what: "create",
                detail: source.to_string(),
            }
        }
    })?;
    if dev.tcp_gso() {
        tracing::info!(
            device = name,
            udp_gso = dev.udp_gso(),
            "TUN offloads on: the kernel's super-packets are split into packets of at most {MIN_MTU} bytes, and packets to the kernel are coalesced per flow"
        );
    }
    Ok(dev)
}

/// Sets `net.ipv6.conf.NAME.KEY`.
fn sysctl(name: &str, key: &str, value: &str) -> Result<(), TunError> {
    std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/{key}"), value).map_err(|e| {
        TunError::Setup {
            name: name.to_string(),
            what: "sysctl",
            detail: format!("net.ipv6.conf.{name}.{key}={value}: {e}"),
        }
    })
}

/// Packets handed over per batch each way, at most.
pub const BATCH: usize = IDEAL_BATCH_SIZE;
/// Room for a coalesced super-packet written to the device, with its virtio-net header
/// (and the room tun-rs asks for in front of it).
const SUPER_PACKET: usize = 2 * VIRTIO_NET_HDR_LEN + 65535;
/// Room for one packet read from the device (more than the link MTU, so a packet the
/// kernel should not have sent is seen and dropped rather than cut).
const PACKET_ROOM: usize = 2048;

/// Copies the device's packets into `to` until the device fails. With offloads one read
/// can bring a TCP or UDP super-packet, split here into packets of at most the link MTU.
async fn device_to(dev: Arc<AsyncDevice>, mut to: impl FnMut(Batch)) {
    let mut whole = vec![0u8; VIRTIO_NET_HDR_LEN + 65535];
    let mut bufs = vec![vec![0u8; PACKET_ROOM]; BATCH];
    let mut sizes = vec![0usize; BATCH];
    loop {
        match dev
            .recv_multiple(&mut whole, &mut bufs, &mut sizes, 0)
            .await
        {
            Ok(n) => to(bufs
                .iter()
                .zip(&sizes)
                .take(n)
                .map(|(buf, &len)| Bytes::copy_from_slice(&buf[..len]))
                .collect()),
            // a failed read ends the pump; a super-packet that cannot be split is dropped,
            // as a link drops a bad frame
            Err(e) if e.raw_os_error().is_some() => {
                tracing::warn!(error = %e, "TUN read failed");
                return;
            }
            Err(e) => tracing::debug!(error = %e, "TUN packet dropped"),
        }
    }
}

/// Publishes the device's IPv6 addresses as the kernel configures them.
async fn report_addresses(dev: Arc<AsyncDevice>, to: watch::Sender<Vec<Ipv6Addr>>) {
    loop {
        let now: Vec<Ipv6Addr> = dev
            .addresses()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| match a {
                std::net::IpAddr::V6(a) => Some(a),
                std::net::IpAddr::V4(_) => None,
            })
            .collect();
        to.send_if_modified(|old| {
            let changed = *old != now;
            *old = now;
            changed
        });
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Writes what arrives on `from` into the device, as many packets at a time as are
/// waiting; with offloads, TCP and UDP packets of one flow are coalesced into one write.
async fn to_device<P: OnWire>(dev: Arc<AsyncDevice>, mut from: mpsc::Receiver<Vec<P>>) {
    let mut gro = GROTable::new();
    let mut waiting = Vec::new();
    // a packet's buffer becomes the head of a coalesced super-packet only if it has room
    // for all of it (tun-rs does not reallocate); pages not written are not resident
    let mut bufs: Vec<Vec<u8>> = (0..BATCH)
        .map(|_| Vec::with_capacity(SUPER_PACKET))
        .collect();
    while from.recv_many(&mut waiting, QUEUE).await > 0 {
        let mut n = 0;
        for p in waiting.drain(..).flatten() {
            // the virtio-net header goes in front of each packet
            let buf = &mut bufs[n];
            buf.clear();
            buf.resize(VIRTIO_NET_HDR_LEN, 0);
            for piece in p.pieces() {
                buf.extend_from_slice(piece);
            }
            n += 1;
            if n == BATCH {
                write_batch(&dev, &mut gro, &mut bufs[..n]).await;
                n = 0;
            }
        }
        write_batch(&dev, &mut gro, &mut bufs[..n]).await;
    }
}

/// Writes `bufs` (each a packet after room for the virtio-net header) into the device.
async fn write_batch(dev: &AsyncDevice, gro: &mut GROTable, bufs: &mut [Vec<u8>]) {
    if bufs.is_empty() {
        return;
    }
    if let Err(e) = dev.send_multiple(gro, bufs, VIRTIO_NET_HDR_LEN).await {
        tracing::debug!(error = %e, "TUN write failed");
    }
}

/// Creates the client's device `name` (MTU 1280, accepting RAs even with forwarding on)
/// and returns the port the client's link uses (`ClientConfig::kernel`).
pub fn client(name: &str) -> Result<(Tun, Arc<KernelPort>), TunError> {
    let dev = Arc::new(build(name, None)?);
    // the server's RA configures the kernel: address (SLAAC), default route, MTU
    sysctl(name, "accept_ra", "2")?;
    let (port, side) = KernelPort::new(QUEUE);
    let to_tunnel = side.to_tunnel;
    let tasks = vec![
        tokio::spawn(report_addresses(dev.clone(), side.addresses)),
        tokio::spawn(device_to(dev.clone(), move |packets| {
            // while the link is down the queue fills and the kernel's packets are dropped
            let _ = to_tunnel.try_send(packets);
        })),
        tokio::spawn(to_device(dev, side.from_tunnel)),
    ];
    tracing::info!(
        device = name,
        "TUN device up; the kernel is the IP-HTTPS client's host"
    );
    Ok((
        Tun {
            name: name.to_string(),
            tasks,
        },
        port,
    ))
}

/// Creates the server's intranet device `name`: the kernel side gets `address` in
/// `internal` (so the kernel of this namespace is an intranet host, and can forward
/// further), `client_prefix` is routed into the device; what the router sends to the
/// intranet arrives on `from_router` (`ServerHandle::divert_intranet`) and is written into
/// the device, and what the kernel sends goes to `to_router`.
pub fn intranet(
    name: &str,
    address: Ipv6Addr,
    internal: Ipv6Net,
    client_prefix: Ipv6Net,
    (from_router, to_router): (mpsc::Receiver<Vec<Frame>>, impl Fn(Batch) + Send + 'static),
) -> Result<Tun, TunError> {
    let dev = Arc::new(build(name, Some((address, internal.prefix_len())))?);
    let _ = sysctl(name, "accept_ra", "0");
    if !internal.contains(&client_prefix) {
        route(name, client_prefix)?;
    }
    let tasks = vec![
        tokio::spawn(device_to(dev.clone(), to_router)),
        tokio::spawn(to_device(dev, from_router)),
    ];
    tracing::info!(device = name, %address, "intranet routed into the TUN device");
    Ok(Tun {
        name: name.to_string(),
        tasks,
    })
}

/// `ip -6 route replace PREFIX dev NAME`.
fn route(name: &str, prefix: Ipv6Net) -> Result<(), TunError> {
    let fail = |detail: String| TunError::Setup {
        name: name.to_string(),
        what: "route",
        detail,
    };
    let out = Command::new("ip")
        .args(["-6", "route", "replace", &prefix.to_string(), "dev", name])
        .output()
        .map_err(|e| fail(format!("cannot run ip (iproute2): {e}")))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

/// A thread inside a network namespace (an `ip netns` name) running its own
/// current-thread runtime: a device built there, the tasks that pump it and the polls of
/// its addresses all act in that namespace while the rest of the process stays where it
/// is. Dropping it stops the runtime, which removes the device.
pub struct InNamespace {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for InNamespace {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs `build` on a new thread that has entered namespace `ns`, inside that thread's
/// runtime; the [`Tun`] it makes stays there, what else it returns comes back.
pub fn in_namespace<T: Send + 'static>(
    ns: &str,
    build: impl FnOnce() -> Result<(Tun, T), TunError> + Send + 'static,
) -> Result<(InNamespace, T), TunError> {
    let setup = |what: &'static str, detail: String| TunError::Setup {
        name: ns.to_string(),
        what,
        detail,
    };
    let file = std::fs::File::open(format!("/run/netns/{ns}"))
        .map_err(|e| setup("network namespace", format!("/run/netns/{ns}: {e}")))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("netns-{ns}"))
        .spawn(move || {
            if let Err(e) = enter(&file) {
                let _ = tx.send(Err(format!("setns: {e}")));
                return;
            }
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(format!("runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                match build() {
                    Ok((tun, out)) => {
                        let _ = tx.send(Ok(out));
                        let _ = stopped.await;
                        drop(tun);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        })
        .map_err(|e| setup("thread", e.to_string()))?;
    let out = rx
        .recv()
        .map_err(|e| setup("network namespace", e.to_string()))?
        .map_err(|e| setup("network namespace", e))?;
    Ok((
        InNamespace {
            stop: Some(stop),
            thread: Some(thread),
        },
        out,
    ))
}

/// Moves the calling thread into the network namespace `file` refers to.
fn enter(file: &std::fs::File) -> std::io::Result<()> {
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
}
