//! Writing a client's queued packets onto its TLS stream, in writes of at most
//! [`COALESCE`] bytes, each from the packets where they lie ([`net::write_pieces`]).

use std::io;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::link::Frame;
use crate::net;

/// Largest TLS write the writer hands packets to rustls in.
const COALESCE: usize = 64 * 1024;

/// Writes `frames` in order, in writes of at most [`COALESCE`] bytes (or one larger
/// frame), then flushes; `scratch` is the buffer of the copying path.
pub(super) async fn write_frames<W: AsyncWrite + Unpin>(
    wr: &mut W,
    frames: &[Frame],
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    let mut rest = frames;
    while !rest.is_empty() {
        let mut bytes = 0;
        let n = rest
            .iter()
            .take_while(|f| {
                bytes += f.len();
                bytes <= COALESCE
            })
            .count()
            .max(1);
        let (now, later) = rest.split_at(n);
        net::write_pieces(wr, now.iter().flat_map(Frame::pieces), scratch).await?;
        rest = later;
    }
    wr.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::io::IoSlice;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A sink that takes at most `step` bytes per call, vectored or not.
    struct Trickle {
        got: Vec<u8>,
        step: usize,
        vectored: bool,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.got.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(self.step - n);
                self.got.extend_from_slice(&b[..k]);
                n += k;
                if n == self.step {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn both_paths_write_every_packet_with_its_new_hop_limit_in_order() {
        // more than one write's worth: sizes up to 9 KiB, 90 KiB in all
        let frames: Vec<Frame> = (0..20u8)
            .map(|i| {
                let mut p = vec![0x60, 0, 0, 0, 0, 2, 17, 64, i, i];
                p.resize(10 + usize::from(i) * 480, i);
                Frame::forwarded(Bytes::from(p), 63 - i)
            })
            .collect();
        let want: Vec<u8> = frames.iter().flat_map(Frame::to_vec).collect();
        for vectored in [true, false] {
            for step in [1, 3, 7, 8, 64, 4096] {
                let mut sink = Trickle {
                    got: Vec::new(),
                    step,
                    vectored,
                };
                write_frames(&mut sink, &frames, &mut Vec::new())
                    .await
                    .unwrap();
                assert_eq!(sink.got, want, "vectored {vectored}, step {step}");
            }
        }
    }
}
