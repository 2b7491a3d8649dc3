//! Capture: every tunnelled IPv6 packet, both directions, as a classic pcap file with the
//! raw-IPv6 link type (LINKTYPE_IPV6 = 229), readable by Wireshark and tshark.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// LINKTYPE_IPV6: raw IPv6 packets, no link-layer header.
pub const LINKTYPE_IPV6: u32 = 229;
const SNAPLEN: u32 = 65535;

/// A pcap writer over any byte sink.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header.
    pub fn new(mut out: W) -> std::io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_IPV6.to_le_bytes());
        out.write_all(&h)?;
        Ok(Self { out })
    }

    /// Writes one packet record stamped `at`.
    pub fn write_packet(&mut self, at: SystemTime, packet: &[u8]) -> std::io::Result<()> {
        let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&(d.as_secs() as u32).to_le_bytes());
        h[4..8].copy_from_slice(&d.subsec_micros().to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(packet)
    }

    /// Flushes the sink.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A shared capture file that the shells' tasks all write into.
#[derive(Debug, Clone)]
pub struct Capture {
    inner: Arc<Mutex<PcapWriter<BufWriter<File>>>>,
    clock: crate::net::Clock,
}

impl Capture {
    /// Creates (truncates) `path` and writes the pcap header; records are stamped with
    /// the wall-clock time of `clock` (virtual in a simulated run).
    pub fn create(path: &Path, clock: crate::net::Clock) -> std::io::Result<Self> {
        let w = PcapWriter::new(BufWriter::new(File::create(path)?))?;
        Ok(Self {
            inner: Arc::new(Mutex::new(w)),
            clock,
        })
    }

    /// Records one packet now; a write failure is logged, never fatal to the tunnel.
    pub fn record(&self, packet: &[u8]) {
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = w.write_packet(self.clock.wall(), packet) {
            tracing::warn!(error = %e, "pcap write failed");
        }
    }

    /// Flushes buffered records to the file.
    pub fn flush(&self) {
        let mut w = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = w.flush() {
            tracing::warn!(error = %e, "pcap flush failed");
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if Arc::strong_count(&self.inner) == 1 {
            self.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(
            UNIX_EPOCH + std::time::Duration::from_micros(1_500_000),
            &[0x60; 40],
        )
        .unwrap();
        let b = w.out;
        assert_eq!(&b[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(b[20..24].try_into().unwrap()), 229);
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 500_000);
        assert_eq!(u32::from_le_bytes(b[32..36].try_into().unwrap()), 40);
        assert_eq!(b.len(), 24 + 16 + 40);
    }
}
