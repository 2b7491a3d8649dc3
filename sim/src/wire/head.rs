//! The HTTP heads of the IP-HTTPS exchange.
//!
//! After TLS the client sends `POST <path> HTTP/1.1` with `Host:` and
//! `Content-Length: 18446744073709551615`; the server answers `HTTP/1.1 200 OK` with
//! `Server: Microsoft-HTTPAPI/2.0` and `Date:`, and neither Content-Length nor
//! Transfer-Encoding ([MS-IPHTTPS] 3.1.5.2, 3.2.5.1, 4.1). Everything after a head is the
//! raw IPv6 stream, so the parsers report how many bytes the head took and leave the rest.
//! hyper cannot be used here: it rejects the 2^64-1 Content-Length with 431.

use time::OffsetDateTime;

/// The Content-Length a client sends (2^64-1, [MS-IPHTTPS] 3.1.5.2).
pub const CONTENT_LENGTH: u64 = u64::MAX;
/// Largest head accepted in either direction.
pub const MAX_HEAD: usize = 8 * 1024;
/// The Server header Windows' HTTP.sys sends.
pub const SERVER_HEADER: &str = "Microsoft-HTTPAPI/2.0";
/// The URI path Windows uses; the spec's own example uses `/IPTLS`.
pub const DEFAULT_PATH: &str = "/IPHTTPS";
const MAX_HEADERS: usize = 32;

/// Why a head was refused. The server answers every one of these by closing the
/// connection: the spec defines no HTTP error status ([MS-IPHTTPS] 3.2.5.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// More than [`MAX_HEAD`] bytes arrived without the end of the head.
    #[error("HTTP head exceeds {MAX_HEAD} bytes")]
    TooLarge,
    /// httparse rejected the bytes.
    #[error("malformed HTTP head: {0}")]
    Malformed(String),
    /// A method other than POST.
    #[error("method {0} is not POST")]
    WrongMethod(String),
    /// A path other than the configured one.
    #[error("path {got} is not the configured IP-HTTPS path {want}")]
    WrongPath {
        /// What the client asked for.
        got: String,
        /// The configured path.
        want: String,
    },
    /// Content-Length missing, not a number, or chunked encoding used instead.
    #[error("request has no usable Content-Length ({0})")]
    BadContentLength(String),
    /// The server answered with a status other than 200.
    #[error("server answered {code} {reason}")]
    Status {
        /// The status code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
}

/// A parsed, accepted request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The request path.
    pub path: String,
    /// The Host header, if any.
    pub host: Option<String>,
    /// The Content-Length value.
    pub content_length: u64,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code (always 200 when returned by [`parse_response`]).
    pub code: u16,
    /// The Server header, if any.
    pub server: Option<String>,
    /// The Date header, if any.
    pub date: Option<String>,
}

/// Outcome of feeding bytes to a head parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// The head is complete and used the first `len` bytes; the rest is tunnel data.
    Complete {
        /// The parsed head.
        head: T,
        /// Bytes the head took, including the blank line.
        len: usize,
    },
    /// Not enough bytes yet.
    Partial,
}

/// Builds the client's request head.
pub fn request(path: &str, host: &str) -> Vec<u8> {
    format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {CONTENT_LENGTH}\r\n\r\n")
        .into_bytes()
}

/// Builds the server's `200 OK` head, dated `now`.
pub fn response(now: OffsetDateTime) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nServer: {SERVER_HEADER}\r\nDate: {}\r\n\r\n",
        http_date(now)
    )
    .into_bytes()
}

/// Formats an IMF-fixdate (RFC 9110 5.6.7), e.g. `Sun, 10 Aug 2008 03:51:52 GMT`.
pub fn http_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let wd = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        [usize::from(t.weekday().number_days_from_monday())];
    let mo = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][usize::from(u8::from(t.month()) - 1)];
    format!(
        "{wd}, {:02} {mo} {} {:02}:{:02}:{:02} GMT",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn header<'h>(headers: &'h [httparse::Header<'_>], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn header_string(headers: &[httparse::Header<'_>], name: &str) -> Option<String> {
    header(headers, name).map(|v| String::from_utf8_lossy(v).trim().to_string())
}

/// The head's length once httparse has all of it, `None` while it is partial.
fn head_len(
    status: Result<httparse::Status<usize>, httparse::Error>,
    buf: &[u8],
) -> Result<Option<usize>, HeadError> {
    match status {
        Ok(httparse::Status::Complete(n)) => Ok(Some(n)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(_) if buf.len() > MAX_HEAD => Err(HeadError::TooLarge),
        Err(e) => Err(HeadError::Malformed(e.to_string())),
    }
}

fn check_size<T>(buf: &[u8], parsed: Parsed<T>) -> Result<Parsed<T>, HeadError> {
    match parsed {
        Parsed::Partial if buf.len() >= MAX_HEAD => Err(HeadError::TooLarge),
        Parsed::Complete { len, .. } if len > MAX_HEAD => Err(HeadError::TooLarge),
        p => Ok(p),
    }
}

/// Any head, not interpreted: complete at its blank line, as its bytes (what `probe`
/// reports of a response it may not accept).
pub fn unparsed(buf: &[u8]) -> Result<Parsed<Vec<u8>>, HeadError> {
    let parsed = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => Parsed::Complete {
            head: buf[..end + 4].to_vec(),
            len: end + 4,
        },
        None => Parsed::Partial,
    };
    check_size(buf, parsed)
}

/// Parses the client's request head from the start of `buf`, accepting only `POST`
/// to `want_path` with a numeric Content-Length.
pub fn parse_request(buf: &[u8], want_path: &str) -> Result<Parsed<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let Some(len) = head_len(req.parse(buf), buf)? else {
        return check_size(buf, Parsed::Partial);
    };
    let method = req.method.unwrap_or_default();
    if method != "POST" {
        return Err(HeadError::WrongMethod(method.to_string()));
    }
    let path = req.path.unwrap_or_default();
    if path != want_path {
        return Err(HeadError::WrongPath {
            got: path.to_string(),
            want: want_path.to_string(),
        });
    }
    let cl = header(req.headers, "content-length")
        .ok_or_else(|| HeadError::BadContentLength("missing".into()))?;
    let cl_text = std::str::from_utf8(cl).unwrap_or("").trim();
    let content_length: u64 = cl_text
        .parse()
        .map_err(|_| HeadError::BadContentLength(format!("{cl_text:?}")))?;
    let head = RequestHead {
        path: path.to_string(),
        host: header_string(req.headers, "host"),
        content_length,
    };
    check_size(buf, Parsed::Complete { head, len })
}

/// Parses the server's response head from the start of `buf`; any status but 200 is an error.
pub fn parse_response(buf: &[u8]) -> Result<Parsed<ResponseHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let Some(len) = head_len(resp.parse(buf), buf)? else {
        return check_size(buf, Parsed::Partial);
    };
    let code = resp.code.unwrap_or(0);
    if code != 200 {
        return Err(HeadError::Status {
            code,
            reason: resp.reason.unwrap_or_default().to_string(),
        });
    }
    let head = ResponseHead {
        code,
        server: header_string(resp.headers, "server"),
        date: header_string(resp.headers, "date"),
    };
    check_size(buf, Parsed::Complete { head, len })
}

/// A parsed `CONNECT` request, as a web proxy receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectHead {
    /// `HOST:PORT` the client wants a tunnel to.
    pub target: String,
    /// Basic credentials from `Proxy-Authorization`, if any.
    pub credentials: Option<(String, String)>,
}

/// A parsed answer to `CONNECT`: any status (2xx means the tunnel is open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectReply {
    /// The status code.
    pub code: u16,
    /// The reason phrase.
    pub reason: String,
    /// `Proxy-Authenticate`, if any (a 407 names its scheme there).
    pub authenticate: Option<String>,
}

/// Builds a `CONNECT` request for `target` (`HOST:PORT`), with Basic proxy
/// authentication when `credentials` are given ([MS-IPHTTPS] 3.1.5.1).
pub fn connect_request(target: &str, credentials: Option<(&str, &str)>) -> Vec<u8> {
    let auth = credentials
        .map(|(u, p)| format!("Proxy-Authorization: Basic {}\r\n", basic(u, p)))
        .unwrap_or_default();
    format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n").into_bytes()
}

/// `base64(user:password)`, the Basic scheme's token (RFC 7617).
fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// Decodes a `Basic` credentials header value.
fn parse_basic(value: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Parses a `CONNECT` request head (a web proxy's side).
pub fn parse_connect_request(buf: &[u8]) -> Result<Parsed<ConnectHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let Some(len) = head_len(req.parse(buf), buf)? else {
        return check_size(buf, Parsed::Partial);
    };
    let method = req.method.unwrap_or_default();
    if method != "CONNECT" {
        return Err(HeadError::WrongMethod(method.to_string()));
    }
    let head = ConnectHead {
        target: req.path.unwrap_or_default().to_string(),
        credentials: header_string(req.headers, "proxy-authorization")
            .and_then(|v| parse_basic(&v)),
    };
    check_size(buf, Parsed::Complete { head, len })
}

/// Parses a web proxy's answer to `CONNECT` (the client's side).
pub fn parse_connect_reply(buf: &[u8]) -> Result<Parsed<ConnectReply>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let Some(len) = head_len(resp.parse(buf), buf)? else {
        return check_size(buf, Parsed::Partial);
    };
    let head = ConnectReply {
        code: resp.code.unwrap_or(0),
        reason: resp.reason.unwrap_or_default().to_string(),
        authenticate: header_string(resp.headers, "proxy-authenticate"),
    };
    check_size(buf, Parsed::Complete { head, len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_heads_round_trip_with_basic_credentials() {
        let r = connect_request("da.contoso.com:443", Some(("alice", "s3cret")));
        assert!(
            r.starts_with(b"CONNECT da.contoso.com:443 HTTP/1.1\r\nHost: da.contoso.com:443\r\n")
        );
        match parse_connect_request(&r).unwrap() {
            Parsed::Complete { head, len } => {
                assert_eq!(len, r.len());
                assert_eq!(head.target, "da.contoso.com:443");
                assert_eq!(head.credentials, Some(("alice".into(), "s3cret".into())));
            }
            Parsed::Partial => panic!("partial"),
        }
        let reply = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n";
        match parse_connect_reply(reply).unwrap() {
            Parsed::Complete { head, .. } => {
                assert_eq!(head.code, 407);
                assert_eq!(head.authenticate.as_deref(), Some("Basic realm=\"x\""));
            }
            Parsed::Partial => panic!("partial"),
        }
        assert!(matches!(
            parse_connect_request(b"POST / HTTP/1.1\r\n\r\n"),
            Err(HeadError::WrongMethod(_))
        ));
    }

    #[test]
    fn request_bytes_are_exact_and_round_trip() {
        let r = request("/IPHTTPS", "da.contoso.com");
        assert_eq!(
            r,
            b"POST /IPHTTPS HTTP/1.1\r\nHost: da.contoso.com\r\nContent-Length: 18446744073709551615\r\n\r\n"
        );
        let mut buf = r.clone();
        buf.extend_from_slice(&[0x60, 0, 0, 0]);
        match parse_request(&buf, "/IPHTTPS").unwrap() {
            Parsed::Complete { head, len } => {
                assert_eq!(len, r.len());
                assert_eq!(head.content_length, u64::MAX);
                assert_eq!(head.host.as_deref(), Some("da.contoso.com"));
            }
            Parsed::Partial => panic!("partial"),
        }
    }

    #[test]
    fn spec_example_request_parses_with_iptls_path() {
        let spec = b"POST /IPTLS HTTP/1.1\r\nContent-Length: 18446744073709551615\r\nHost: 192.0.2.1\r\n\r\n";
        assert!(matches!(
            parse_request(spec, "/IPTLS"),
            Ok(Parsed::Complete { len, .. }) if len == spec.len()
        ));
        assert!(matches!(
            parse_request(spec, "/IPHTTPS"),
            Err(HeadError::WrongPath { .. })
        ));
    }

    #[test]
    fn every_prefix_of_a_head_is_partial() {
        let r = request("/IPHTTPS", "x");
        for n in 0..r.len() {
            assert_eq!(
                parse_request(&r[..n], "/IPHTTPS"),
                Ok(Parsed::Partial),
                "{n}"
            );
        }
    }

    #[test]
    fn bad_requests_are_refused() {
        let get = b"GET /IPHTTPS HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(
            matches!(parse_request(get, "/IPHTTPS"), Err(HeadError::WrongMethod(m)) if m == "GET")
        );
        let no_cl = b"POST /IPHTTPS HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(matches!(
            parse_request(no_cl, "/IPHTTPS"),
            Err(HeadError::BadContentLength(_))
        ));
        let neg = b"POST /IPHTTPS HTTP/1.1\r\nContent-Length: -1\r\n\r\n";
        assert!(matches!(
            parse_request(neg, "/IPHTTPS"),
            Err(HeadError::BadContentLength(_))
        ));
        let mut big = b"POST /IPHTTPS HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 10, b'a');
        assert_eq!(parse_request(&big, "/IPHTTPS"), Err(HeadError::TooLarge));
    }

    #[test]
    fn response_has_server_and_date_and_no_length() {
        let t = time::macros::datetime!(2008-08-10 03:51:52 UTC);
        let r = response(t);
        assert_eq!(
            r,
            b"HTTP/1.1 200 OK\r\nServer: Microsoft-HTTPAPI/2.0\r\nDate: Sun, 10 Aug 2008 03:51:52 GMT\r\n\r\n"
        );
        match parse_response(&r).unwrap() {
            Parsed::Complete { head, len } => {
                assert_eq!(len, r.len());
                assert_eq!(head.server.as_deref(), Some(SERVER_HEADER));
            }
            Parsed::Partial => panic!(),
        }
        let e = parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap_err();
        assert_eq!(
            e,
            HeadError::Status {
                code: 404,
                reason: "Not Found".into()
            }
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fuzz target's twin: any bytes give a verdict, never a panic, and a verdict
        /// of Complete never claims more bytes than were given.
        #[test]
        fn any_bytes_get_a_verdict(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(Parsed::Complete { len, .. }) = parse_request(&data, DEFAULT_PATH) {
                prop_assert!(len <= data.len());
            }
            if let Ok(Parsed::Complete { len, .. }) = parse_response(&data) {
                prop_assert!(len <= data.len());
            }
        }

        /// Whatever follows a valid request head is left for the tunnel, byte for byte.
        #[test]
        fn bytes_after_the_head_are_kept(host in "[a-z]{1,20}\\.[a-z]{2,5}", rest in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut data = request(DEFAULT_PATH, &host);
            let head_len = data.len();
            data.extend_from_slice(&rest);
            match parse_request(&data, DEFAULT_PATH) {
                Ok(Parsed::Complete { head, len }) => {
                    prop_assert_eq!(len, head_len);
                    prop_assert_eq!(&data[len..], &rest[..]);
                    prop_assert_eq!(head.host.as_deref(), Some(host.as_str()));
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
