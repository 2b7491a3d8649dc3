//! Writing packets that lie in several buffers onto a stream: as one vectored write where
//! the stream takes them (rustls copies each piece once, into the record it encrypts),
//! else copied into one buffer first.

use std::io::{self, IoSlice};

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Writes `pieces` in order (without flushing); `scratch` is the buffer of the copying
/// path.
pub async fn write_pieces<'a, W: AsyncWrite + Unpin>(
    wr: &mut W,
    pieces: impl Iterator<Item = &'a [u8]>,
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    if wr.is_write_vectored() {
        let mut slices: Vec<IoSlice<'_>> =
            pieces.filter(|p| !p.is_empty()).map(IoSlice::new).collect();
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            let n = wr.write_vectored(rest).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut rest, n);
        }
    } else {
        scratch.clear();
        for p in pieces {
            scratch.extend_from_slice(p);
        }
        wr.write_all(scratch).await?;
    }
    Ok(())
}
