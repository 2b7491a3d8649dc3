//! Kernel mode: an operating system's IPv6 stack is the client's host. The link pumps
//! packets between the tunnel and a [`KernelPort`] (fed by a TUN device on Linux, see
//! `crate::tun`); the kernel solicits routers, configures its address from the server's
//! RA (SLAAC) and runs ND itself. The status shows the addresses the device reports and
//! the prefix and MTU of the RAs that pass.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};

use super::{ClientConfig, ClientStatus, Command, ConnectError, Tunnel, refuse};
use crate::net::{stopped, write_pieces};
use crate::port::KernelPort;
use crate::wire::icmpv6::{self, Message};
use crate::wire::ipv6::{self, Ipv6Packet, PROTO_ICMPV6};

/// Largest write the link coalesces the kernel's packets into.
const COALESCE: usize = 64 * 1024;

/// Runs the link between the tunnel and the kernel until it is lost (`Err`) or the
/// client is disabled (`Ok`).
pub(super) async fn link(
    config: &ClientConfig,
    port: &KernelPort,
    tunnel: Tunnel,
    status: &watch::Sender<ClientStatus>,
    commands: &mut mpsc::Receiver<Command>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), ConnectError> {
    let Tunnel {
        mut wr,
        reader,
        packets: mut from_server,
    } = tunnel;
    let mut from_kernel = port.from_kernel.lock().await;
    let mut addresses = port.addresses.clone();
    addresses.mark_changed();
    // the batches of one write, and the buffer of the copying path
    let (mut held, mut scratch) = (Vec::new(), Vec::new());
    loop {
        tokio::select! {
            biased;
            _ = stopped(shutdown) => {
                let _ = wr.shutdown().await;
                return Ok(());
            }
            batch = from_server.recv() => {
                let Some(packets) = batch else {
                    return Err(reader.end().await);
                };
                for p in &packets {
                    watch_server(p, status);
                    if let Some(c) = &config.pcap {
                        c.record(p);
                    }
                }
                // what one read brought goes to the kernel together
                let n = packets.len();
                if port.to_kernel.try_send(packets).is_err() {
                    tracing::debug!(packets = n, "the kernel's queue is full; packets dropped");
                }
            },
            Some(batch) = from_kernel.recv() => {
                held.clear();
                let mut bytes = 0;
                let mut next = Some(batch);
                while let Some(mut batch) = next {
                    // only whole IPv6 packets: anything else would break the framing
                    batch.retain(|p| {
                        Ipv6Packet::new(p).is_some_and(|pkt| {
                            pkt.as_bytes().len() == ipv6::HEADER_LEN + pkt.payload_len()
                        })
                    });
                    for p in &batch {
                        if let Some(c) = &config.pcap {
                            c.record(p);
                        }
                        bytes += p.len();
                    }
                    held.push(batch);
                    next = if bytes < COALESCE { from_kernel.try_recv().ok() } else { None };
                }
                if bytes > 0 {
                    // from the kernel's buffers straight into TLS records: no copy of ours
                    let pieces = held.iter().flatten().map(|p| &p[..]);
                    write_pieces(&mut wr, pieces, &mut scratch)
                        .await
                        .map_err(ConnectError::Io)?;
                    wr.flush().await.map_err(ConnectError::Io)?;
                }
            }
            Ok(()) = addresses.changed() => {
                let now = addresses.borrow_and_update().clone();
                show_addresses(&now, status);
            }
            Some(cmd) = commands.recv() => refuse(cmd),
        }
    }
}

/// Shows the kernel's link-local address and its address in an advertised prefix.
fn show_addresses(addresses: &[Ipv6Addr], status: &watch::Sender<ClientStatus>) {
    status.send_if_modified(|s| {
        let link_local = addresses.iter().copied().find(|a| ipv6::is_link_local(*a));
        let global = addresses.iter().copied().find(|a| {
            s.router_advert.as_ref().is_some_and(|ra| {
                ra.prefixes
                    .iter()
                    .any(|p| Ipv6Net::new(p.prefix, p.len).is_ok_and(|n| n.contains(a)))
            })
        });
        let changed = (s.link_local, s.global) != (link_local, global);
        s.link_local = link_local;
        s.global = global;
        changed
    });
}

/// Notes the server's Router Advertisements (prefix, MTU) as they pass to the kernel.
fn watch_server(p: &[u8], status: &watch::Sender<ClientStatus>) {
    let Some(pkt) = Ipv6Packet::new(p) else {
        return;
    };
    if pkt.next_header() != PROTO_ICMPV6 || !ipv6::is_link_local(pkt.src()) {
        return;
    }
    if let Ok(Message::RouterAdvertisement(ra)) = icmpv6::parse(&pkt) {
        status.send_modify(|s| {
            if let Some(mtu) = ra.mtu {
                s.mtu = mtu;
            }
            s.router_advert = Some(ra);
        });
    }
}
