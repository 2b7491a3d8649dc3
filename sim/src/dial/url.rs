//! The IP-HTTPS URL (`https://NAME[:PORT]/PATH`) and curl-style `--resolve NAME:ADDR`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A parsed IP-HTTPS URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IphttpsUrl {
    /// Host name (or an IP literal, which Windows refuses with 0x4BE).
    pub host: String,
    /// TCP port (443 unless given).
    pub port: u16,
    /// URI path, e.g. `/IPHTTPS`.
    pub path: String,
}

/// Why a URL or a `--resolve` entry could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not `https://`.
    #[error("{0}: the URL must start with https://")]
    Scheme(String),
    /// No host.
    #[error("{0}: the URL has no host")]
    NoHost(String),
    /// Bad port.
    #[error("{0}: bad port")]
    Port(String),
    /// A proxy URL that is not `http://`.
    #[error("{0}: the proxy URL must start with http:// (the client sends CONNECT to it)")]
    ProxyScheme(String),
    /// Bad `--resolve` entry.
    #[error("{0}: expected NAME:ADDR, e.g. da.contoso.com:127.0.0.1")]
    Resolve(String),
}

impl IphttpsUrl {
    /// Whether the host is an IP address rather than a name.
    pub fn host_is_ip(&self) -> bool {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
    }
}

impl FromStr for IphttpsUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("https://"))
            .map(|_| &s[8..])
            .ok_or_else(|| UrlError::Scheme(s.to_string()))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = host_port(authority, 443, s)?;
        Ok(Self { host, port, path })
    }
}

/// Splits `HOST[:PORT]` (HOST may be `[IPv6]`); `url` is for the error.
fn host_port(authority: &str, default_port: u16, url: &str) -> Result<(String, u16), UrlError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6
            .find(']')
            .ok_or_else(|| UrlError::NoHost(url.to_string()))?;
        let port = v6[end + 1..].strip_prefix(':');
        (format!("[{}]", &v6[..end]), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::NoHost(url.to_string()));
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| UrlError::Port(url.to_string()))?,
        None => default_port,
    };
    Ok((host, port))
}

/// A web proxy the client reaches the server through with `CONNECT`
/// ([MS-IPHTTPS] 3.1.5.1): `http://[USER:PASSWORD@]HOST[:PORT]`, port 80 unless given.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// The proxy's host name or address.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// User name and password for Basic proxy authentication.
    pub credentials: Option<(String, String)>,
}

impl ProxyUrl {
    /// `HOST:PORT` with an IPv6 literal in brackets, as a socket address string.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl FromStr for ProxyUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("http://"))
            .map(|_| &s[7..])
            .ok_or_else(|| UrlError::ProxyScheme(s.to_string()))?;
        let authority = rest.trim_end_matches('/');
        let (credentials, authority) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (Some((user.to_string(), password.to_string())), hostport)
            }
            None => (None, authority),
        };
        let (host, port) = host_port(authority, 80, s)?;
        Ok(Self {
            host,
            port,
            credentials,
        })
    }
}

/// Never prints the password.
impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.credentials {
            Some((user, _)) => write!(f, "http://{user}:***@{}:{}", self.host, self.port),
            None => write!(f, "http://{}:{}", self.host, self.port),
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for IphttpsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "https://{}:{}{}", self.host, self.port, self.path)
    }
}

/// Parses `NAME:ADDR` (ADDR may be IPv4, IPv6, or `[IPv6]`).
pub fn parse_resolve(s: &str) -> Result<(String, IpAddr), UrlError> {
    let (name, addr) = s
        .split_once(':')
        .ok_or_else(|| UrlError::Resolve(s.to_string()))?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let addr = addr.parse().map_err(|_| UrlError::Resolve(s.to_string()))?;
    if name.is_empty() {
        return Err(UrlError::Resolve(s.to_string()));
    }
    Ok((name.to_string(), addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_with_and_without_credentials() {
        let p: ProxyUrl = "http://alice:s3cret@proxy.contoso.com:3128"
            .parse()
            .unwrap();
        assert_eq!(p.host, "proxy.contoso.com");
        assert_eq!(p.port, 3128);
        assert_eq!(p.credentials, Some(("alice".into(), "s3cret".into())));
        assert_eq!(p.to_string(), "http://alice:***@proxy.contoso.com:3128");
        let p: ProxyUrl = "http://[::1]/".parse().unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.credentials),
            ("[::1]", 80, None)
        );
        assert!(matches!(
            "https://proxy:8080".parse::<ProxyUrl>(),
            Err(UrlError::ProxyScheme(_))
        ));
    }

    #[test]
    fn urls() {
        let u: IphttpsUrl = "https://da.contoso.com/IPHTTPS".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("da.contoso.com", 443, "/IPHTTPS")
        );
        assert_eq!(u.to_string(), "https://da.contoso.com:443/IPHTTPS");
        let u: IphttpsUrl = "https://da.contoso.com:44500/IPHTTPS".parse().unwrap();
        assert_eq!(u.port, 44500);
        let u: IphttpsUrl = "https://[::1]:8443/IPTLS".parse().unwrap();
        assert!(u.host_is_ip());
        assert!("http://x/IPHTTPS".parse::<IphttpsUrl>().is_err());
        assert_eq!(
            parse_resolve("da.contoso.com:::1").unwrap().1,
            "::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            parse_resolve("da.contoso.com:127.0.0.1").unwrap().0,
            "da.contoso.com"
        );
        assert!(parse_resolve("nonsense").is_err());
    }
}
