//! Reading an HTTP head (the IP-HTTPS request or response, a proxy's `CONNECT` answer)
//! off a byte stream: read, hand what has arrived to a parser of [`crate::wire::head`],
//! stop at the first complete head and keep the bytes that followed it.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::wire::head::Parsed;

/// How much the reader may take from the stream at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// As much as arrives: bytes after the head are returned to the caller.
    Chunks,
    /// One byte at a time, so nothing after the head is consumed (a proxy's answer,
    /// after which the stream belongs to TLS).
    ByteByByte,
}

/// Why no head was read.
#[derive(Debug, thiserror::Error)]
pub enum ReadHeadError<E: std::error::Error + 'static> {
    /// Reading failed.
    #[error("read failed: {0}")]
    Io(#[source] std::io::Error),
    /// The stream ended before the head was complete.
    #[error("connection closed before the HTTP head was complete")]
    Closed,
    /// The parser refused what arrived.
    #[error(transparent)]
    Head(E),
}

/// Reads until `parse` finds a complete head; returns it and the bytes read after it.
pub async fn read_head<S, T, E>(
    stream: &mut S,
    reads: Reads,
    mut parse: impl FnMut(&[u8]) -> Result<Parsed<T>, E>,
) -> Result<(T, Vec<u8>), ReadHeadError<E>>
where
    S: AsyncRead + Unpin,
    E: std::error::Error + 'static,
{
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    let step = match reads {
        Reads::Chunks => chunk.len(),
        Reads::ByteByByte => 1,
    };
    loop {
        let n = match stream.read(&mut chunk[..step]).await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(ReadHeadError::Io(e)),
        };
        if n == 0 {
            return Err(ReadHeadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        if reads == Reads::ByteByByte && !buf.ends_with(b"\r\n\r\n") {
            // no head can be complete before its blank line; only the size can fail
            if buf.len() <= crate::wire::head::MAX_HEAD {
                continue;
            }
        }
        if let Parsed::Complete { head, len } = parse(&buf).map_err(ReadHeadError::Head)? {
            return Ok((head, buf.split_off(len)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::head::{self, HeadError};

    #[tokio::test]
    async fn keeps_what_follows_the_head() {
        let mut data: &[u8] =
            b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n\x60\x00";
        let (h, rest) = read_head(&mut data, Reads::Chunks, head::parse_response)
            .await
            .unwrap();
        assert_eq!(h.code, 200);
        assert_eq!(rest, b"\x60\x00");
    }

    #[tokio::test]
    async fn byte_by_byte_leaves_the_rest_in_the_stream() {
        let mut data: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\nTLS";
        let (h, rest) = read_head(&mut data, Reads::ByteByByte, head::parse_connect_reply)
            .await
            .unwrap();
        assert_eq!(h.code, 200);
        assert!(rest.is_empty());
        assert_eq!(data, b"TLS");
    }

    #[tokio::test]
    async fn a_cut_head_is_closed_and_garbage_is_refused() {
        let mut cut: &[u8] = b"HTTP/1.1 200 OK\r\n";
        let e = read_head(&mut cut, Reads::Chunks, head::parse_response).await;
        assert!(matches!(e, Err(ReadHeadError::Closed)));
        let mut bad: &[u8] = b"\x16\x03\x01 not http\r\n\r\n";
        let e = read_head(&mut bad, Reads::Chunks, head::parse_response).await;
        assert!(matches!(
            e,
            Err(ReadHeadError::Head(HeadError::Malformed(_)))
        ));
    }
}
