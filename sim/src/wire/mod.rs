//! Bytes to meaning and back. No I/O, no clock, no allocation where a slice will do.
//!
//! - [`head`]: the HTTP heads of the IP-HTTPS exchange ([MS-IPHTTPS] 3.1.5.2, 3.2.5.1, 4.1).
//! - [`deframe`]: the stream of back-to-back IPv6 packets after the exchange ([MS-IPHTTPS] 3.1.5.3, 3.2.5.2.2).
//! - [`ipv6`]: the fixed IPv6 header, addresses and the ICMPv6/UDP checksum.
//! - [`frag`]: the header chain, the Fragment header and source fragmentation (RFC 8200 4.5).
//! - [`udp`]: UDP datagrams.
//! - [`icmpv6`]: ICMPv6 messages, Neighbor Discovery (RFC 4861) included, as checked representations.

pub mod deframe;
pub mod frag;
pub mod head;
pub mod icmpv6;
pub mod ipv6;
pub mod udp;
