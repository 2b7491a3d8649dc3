//! The IPv6 stream deframer.
//!
//! After the head exchange each direction is a byte stream of back-to-back IPv6 packets,
//! delimited only by the Payload Length field ([MS-IPHTTPS] 3.1.5.3, 3.2.5.2.2). The
//! deframer keeps "need more bytes" (`Ok(None)`) apart from "invalid" (`Err`), hands out
//! packets as [`Bytes`] that share the receive buffer (no copy), and tells a clean end of
//! stream from one cut in the middle of a packet.

use bytes::{Bytes, BytesMut};

use super::ipv6::{HEADER_LEN, PROTO_HOPOPT};

/// Why the stream cannot be delimited at this point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The version nibble is not 6: this is not IPv6 data.
    #[error("non-IPv6 data in the tunnel (version {version})")]
    NotIpv6 {
        /// The version nibble found.
        version: u8,
    },
    /// Payload Length 0 with a Hop-by-Hop header: a jumbogram, which this framing cannot delimit.
    #[error("jumbogram in the tunnel (Payload Length 0 with Hop-by-Hop options)")]
    Jumbogram,
    /// A packet larger than the link MTU.
    #[error("packet of {len} bytes exceeds the link MTU {mtu}")]
    TooBig {
        /// The packet length (40 + Payload Length).
        len: usize,
        /// The link MTU.
        mtu: usize,
    },
}

/// Delimits the first packet in `buf`: `Ok(Some(len))` when a whole packet of `len`
/// bytes is there, `Ok(None)` when more bytes are needed, `Err` when the stream is invalid.
#[inline]
pub fn frame_len(buf: &[u8], mtu: usize) -> Result<Option<usize>, FrameError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if first >> 4 != 6 {
        return Err(FrameError::NotIpv6 {
            version: first >> 4,
        });
    }
    if buf.len() < 8 {
        return Ok(None);
    }
    let payload = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    if payload == 0 && buf[6] == PROTO_HOPOPT {
        return Err(FrameError::Jumbogram);
    }
    let len = HEADER_LEN + payload;
    if len > mtu {
        return Err(FrameError::TooBig { len, mtu });
    }
    Ok((buf.len() >= len).then_some(len))
}

/// Room [`Deframer::buffer_mut`] keeps for one read at first: a TLS record's plaintext.
pub const READ_SPACE: usize = 16 * 1024;

/// Room it keeps at most: a stream that fills whatever room it is given doubles it up to
/// this, so a busy tunnel is handled in fewer, larger reads while an idle one stays small.
pub const MAX_READ_SPACE: usize = 64 * 1024;

/// A stateful deframer over a receive buffer.
#[derive(Debug)]
pub struct Deframer {
    buf: BytesMut,
    mtu: usize,
    /// Bytes of an over-MTU packet still to be skipped after [`Deframer::discard`].
    skip: usize,
    /// The room kept for one read, between [`READ_SPACE`] and [`MAX_READ_SPACE`].
    space: usize,
    /// Bytes taken out of `buf` so far (packets and skipped bytes).
    taken: u64,
    /// Bytes received (taken + buffered) and room free at the last `buffer_mut`.
    mark: (u64, usize),
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// On a packet boundary.
    Clean,
    /// In the middle of a packet, with this many bytes of it received.
    Truncated(usize),
}

impl Deframer {
    /// A deframer for a link of `mtu` bytes. It allocates nothing until bytes arrive.
    pub fn new(mtu: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            mtu,
            skip: 0,
            space: READ_SPACE,
            taken: 0,
            mark: (0, usize::MAX),
        }
    }

    /// A deframer whose stream starts with `initial` (bytes that arrived after the HTTP head).
    pub fn with_initial(mtu: usize, initial: &[u8]) -> Self {
        let mut d = Self::new(mtu);
        d.extend(initial);
        d
    }

    /// The receive buffer, to read more stream bytes into (e.g. with `read_buf`). When
    /// less than half of the read room is free it makes room for that much more; it
    /// leaves the buffer alone otherwise. The room starts at [`READ_SPACE`] and doubles,
    /// up to [`MAX_READ_SPACE`], each time the bytes received since the last call filled
    /// all the room there was. Space is reclaimed once the packets handed out from it are
    /// dropped, so a steady stream reuses one allocation.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        let received = self.taken + self.buf.len() as u64;
        let (then, free_then) = self.mark;
        if received - then >= free_then as u64 && self.space < MAX_READ_SPACE {
            self.space *= 2;
        }
        if self.buf.capacity() - self.buf.len() < self.space / 2 {
            self.buf.reserve(self.space);
        }
        self.mark = (received, self.buf.capacity() - self.buf.len());
        &mut self.buf
    }

    /// Appends stream bytes.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole packet, `Ok(None)` when more bytes are needed.
    pub fn next_packet(&mut self) -> Result<Option<Bytes>, FrameError> {
        if self.skip > 0 {
            // bytes of a discarded packet first; if some are still to come, the buffer is
            // empty now and `frame_len` asks for more
            let n = self.skip.min(self.buf.len());
            let _ = self.buf.split_to(n);
            self.skip -= n;
            self.taken += n as u64;
        }
        match frame_len(&self.buf, self.mtu)? {
            Some(len) => {
                self.taken += len as u64;
                Ok(Some(self.buf.split_to(len).freeze()))
            }
            None => Ok(None),
        }
    }

    /// Discards what caused `err` so that a receiver which keeps the session (the client,
    /// [MS-IPHTTPS] 3.1.5.3) can go on: an over-MTU packet is skipped whole since its
    /// length is known; data that cannot be delimited (non-IPv6, jumbogram) empties the
    /// buffer, as there is no way to find the next packet boundary in it.
    pub fn discard(&mut self, err: FrameError) {
        match err {
            FrameError::TooBig { len, .. } => {
                self.skip = len;
            }
            FrameError::NotIpv6 { .. } | FrameError::Jumbogram => {
                self.taken += self.buf.len() as u64;
                self.buf.clear();
            }
        }
    }

    /// How the stream stands if it ends now.
    pub fn end(&self) -> StreamEnd {
        if self.buf.is_empty() && self.skip == 0 {
            StreamEnd::Clean
        } else {
            StreamEnd::Truncated(self.buf.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv6;
    use proptest::prelude::*;

    fn packet(payload_len: usize, fill: u8) -> Vec<u8> {
        let payload = vec![fill; payload_len];
        ipv6::build(
            ipv6::PROTO_UDP,
            64,
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            &payload,
            None,
        )
    }

    fn all(d: &mut Deframer) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            out.push(p);
        }
        out
    }

    #[test]
    fn need_more_is_not_invalid() {
        let p = packet(20, 1);
        for n in 0..p.len() {
            assert_eq!(frame_len(&p[..n], 1280), Ok(None));
        }
        assert_eq!(frame_len(&p, 1280), Ok(Some(60)));
    }

    #[test]
    fn invalid_streams() {
        assert_eq!(
            frame_len(b"GET /", 1280),
            Err(FrameError::NotIpv6 { version: 4 })
        );
        let mut jumbo = packet(0, 0);
        jumbo[6] = PROTO_HOPOPT;
        assert_eq!(frame_len(&jumbo, 1280), Err(FrameError::Jumbogram));
        let big = packet(1300, 0);
        assert_eq!(
            frame_len(&big[..8], 1280),
            Err(FrameError::TooBig {
                len: 1340,
                mtu: 1280
            })
        );
    }

    #[test]
    fn client_skips_an_oversized_packet_and_keeps_the_next() {
        let mut stream = packet(1300, 9);
        stream.extend(packet(10, 3));
        let mut d = Deframer::new(1280);
        d.extend(&stream[..100]);
        let e = d.next_packet().unwrap_err();
        d.discard(e);
        assert_eq!(d.next_packet(), Ok(None));
        d.extend(&stream[100..]);
        let got = all(&mut d);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), 50);
        assert_eq!(d.end(), StreamEnd::Clean);
    }

    #[test]
    fn only_payload_length_zero_with_hop_by_hop_is_a_jumbogram() {
        // Hop-by-Hop options with a payload (an MLD report's Router Alert) frame normally
        let mut hbh = packet(16, 0);
        hbh[6] = PROTO_HOPOPT;
        assert_eq!(frame_len(&hbh, 1280), Ok(Some(56)));
        // Payload Length 0 with No Next Header is a 40-byte packet
        let mut empty = packet(0, 0);
        empty[6] = 59;
        assert_eq!(frame_len(&empty, 1280), Ok(Some(40)));
    }

    #[test]
    fn a_packet_of_exactly_the_mtu_passes() {
        let p = packet(1240, 0);
        assert_eq!(frame_len(&p, 1280), Ok(Some(1280)));
        assert_eq!(
            frame_len(&p, 1279),
            Err(FrameError::TooBig {
                len: 1280,
                mtu: 1279
            })
        );
    }

    fn free(b: &BytesMut) -> usize {
        b.capacity() - b.len()
    }

    #[test]
    fn the_receive_buffer_keeps_room_for_a_tls_record_and_reuses_its_allocation() {
        let mut d = Deframer::new(1280);
        // a fresh deframer makes room for a whole 16 KiB TLS record
        assert!(free(d.buffer_mut()) >= 16 * 1024);
        let cap = d.buffer_mut().capacity();
        // half the room still free: the buffer is left alone
        let half = vec![0x60; cap - 8 * 1024];
        d.buffer_mut().extend_from_slice(&half);
        assert_eq!(free(d.buffer_mut()), 8 * 1024);
        assert_eq!(
            d.buffer_mut().capacity(),
            cap,
            "no reallocation at half free"
        );
        // less than half free: room is made again
        d.buffer_mut().extend_from_slice(&[0x60]);
        assert!(free(d.buffer_mut()) >= 16 * 1024);
        // a steady stream through the buffer: packets arrive in it, leave, and the room
        // stays at least half a record without the allocation growing
        let mut d = Deframer::new(1280);
        let p = packet(1240, 7);
        let mut high = 0;
        for _ in 0..2000 {
            let b = d.buffer_mut();
            assert!(free(b) >= 8 * 1024);
            b.extend_from_slice(&p);
            high = high.max(b.capacity());
            let got = d.next_packet().unwrap().expect("a whole packet");
            assert_eq!(&got[..], &p[..]);
        }
        assert!(high <= 3 * 16 * 1024, "the allocation grew to {high}");
    }

    #[test]
    fn a_stream_that_fills_its_room_gets_larger_reads_up_to_the_maximum() {
        let p = packet(1240, 7);
        // `reads` reads of the stream of back-to-back copies of `p`, each filling all the
        // room there is (`full`) or bringing one packet; the room offered each time
        let rooms = |reads: usize, full: bool| {
            let mut d = Deframer::new(1280);
            let mut at = 0usize;
            let mut rooms = Vec::new();
            for _ in 0..reads {
                let b = d.buffer_mut();
                let room = free(b);
                rooms.push(room);
                let mut n = if full { room } else { p.len() };
                while n > 0 {
                    let k = n.min(p.len() - at % p.len());
                    b.extend_from_slice(&p[at % p.len()..at % p.len() + k]);
                    at += k;
                    n -= k;
                }
                while let Some(got) = d.next_packet().unwrap() {
                    assert_eq!(&got[..], &p[..]);
                }
            }
            rooms
        };
        let busy = rooms(40, true);
        assert!(
            busy[0] >= READ_SPACE && busy[0] < 2 * READ_SPACE,
            "{busy:?}"
        );
        assert!(busy.iter().any(|&r| r >= MAX_READ_SPACE), "{busy:?}");
        assert!(busy.iter().all(|&r| r <= 2 * MAX_READ_SPACE), "{busy:?}");
        let idle = rooms(40, false);
        assert!(idle.iter().all(|&r| r < 2 * READ_SPACE), "{idle:?}");
    }

    #[test]
    fn truncated_end_is_reported() {
        let p = packet(10, 0);
        let mut d = Deframer::with_initial(1280, &p[..30]);
        assert_eq!(d.next_packet(), Ok(None));
        assert_eq!(d.end(), StreamEnd::Truncated(30));
    }

    proptest! {
        #[test]
        fn every_split_gives_the_same_packets(
            sizes in proptest::collection::vec(0usize..1240, 1..12),
            cuts in proptest::collection::vec(1usize..400, 1..40),
        ) {
            let pkts: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &s)| packet(s, i as u8)).collect();
            let stream: Vec<u8> = pkts.concat();
            let mut d = Deframer::new(1280);
            let mut got = Vec::new();
            let mut at = 0;
            let mut ci = 0;
            while at < stream.len() {
                let n = cuts[ci % cuts.len()].min(stream.len() - at);
                ci += 1;
                d.extend(&stream[at..at + n]);
                at += n;
                got.extend(all(&mut d));
            }
            prop_assert_eq!(d.end(), StreamEnd::Clean);
            let got: Vec<Vec<u8>> = got.iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(got, pkts);
        }
    }
}
