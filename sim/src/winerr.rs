//! Windows' Last Error Codes as the IP-HTTPS client shows them
//! (`netsh interface httpstunnel show interfaces`), and the one table that maps TLS and
//! socket failures onto them (ms-iphttps.md section 5.3).

use std::fmt;

/// A Last Error Code, printed as Windows prints it (`0x0`, `0x800b0109`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LastErrorCode(pub u32);

macro_rules! codes {
    ($($name:ident = $value:literal, $symbol:literal;)*) => {
        impl LastErrorCode {
            $(
                #[doc = concat!("`", $symbol, "`")]
                pub const $name: LastErrorCode = LastErrorCode($value);
            )*

            /// The Windows symbol for a known code.
            pub fn symbol(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($symbol),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    SUCCESS = 0x0, "ERROR_SUCCESS";
    NOT_SUPPORTED = 0x32, "ERROR_NOT_SUPPORTED";
    NO_MORE_ITEMS = 0x103, "ERROR_NO_MORE_ITEMS";
    INVALID_NETNAME = 0x4BE, "ERROR_INVALID_NETNAME";
    CONNECTION_RESET = 0x2746, "WSAECONNRESET";
    TIMED_OUT = 0x274C, "WSAETIMEDOUT";
    CONNECTION_REFUSED = 0x274D, "WSAECONNREFUSED";
    HOST_NOT_FOUND = 0x2AF9, "WSAHOST_NOT_FOUND";
    NO_DATA = 0x2AFC, "WSANO_DATA";
    INCOMPLETE_CREDENTIALS = 0x90320, "SEC_I_INCOMPLETE_CREDENTIALS";
    ILLEGAL_MESSAGE = 0x80090326, "SEC_E_ILLEGAL_MESSAGE";
    REVOKED = 0x80092010, "CRYPT_E_REVOKED";
    REVOCATION_OFFLINE = 0x80092013, "CRYPT_E_REVOCATION_OFFLINE";
    CERT_EXPIRED = 0x800B0101, "CERT_E_EXPIRED";
    CERT_UNTRUSTED_ROOT = 0x800B0109, "CERT_E_UNTRUSTEDROOT";
    CERT_NAME_MISMATCH = 0x800B010F, "CERT_E_CN_NO_MATCH";
    CERT_WRONG_USAGE = 0x800B0110, "CERT_E_WRONG_USAGE";
}

impl fmt::Display for LastErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl LastErrorCode {
    /// The code for a TLS failure seen by the client.
    ///
    /// A not-yet-valid certificate maps to `CERT_E_EXPIRED` too: Windows' text for it is
    /// "not within its validity period", which covers both ends of the period.
    pub fn from_tls(e: &rustls::Error) -> Self {
        use rustls::{AlertDescription as A, CertificateError as C, Error as E};
        match e {
            E::InvalidCertificate(c) => match c {
                C::UnknownIssuer | C::BadSignature => Self::CERT_UNTRUSTED_ROOT,
                C::Expired | C::ExpiredContext { .. } => Self::CERT_EXPIRED,
                C::NotValidYet | C::NotValidYetContext { .. } => Self::CERT_EXPIRED,
                C::NotValidForName | C::NotValidForNameContext { .. } => Self::CERT_NAME_MISMATCH,
                C::Revoked => Self::REVOKED,
                C::UnknownRevocationStatus
                | C::ExpiredRevocationList
                | C::ExpiredRevocationListContext { .. } => Self::REVOCATION_OFFLINE,
                C::InvalidPurpose | C::InvalidPurposeContext { .. } => Self::CERT_WRONG_USAGE,
                _ => Self::ILLEGAL_MESSAGE,
            },
            E::AlertReceived(A::CertificateRequired) => Self::INCOMPLETE_CREDENTIALS,
            _ => Self::ILLEGAL_MESSAGE,
        }
    }

    /// The code a client reports for a handshake the server saw fail: the client's alert
    /// names its certificate complaint (rustls sends `unknown_ca` for an untrusted root,
    /// `certificate_expired` for either end of the validity period, `bad_certificate`
    /// for a name mismatch, ...; an unknown revocation status also arrives as `unknown_ca`,
    /// so the server counts it as an untrusted root); a client that presented no certificate when one was
    /// required shows `SEC_I_INCOMPLETE_CREDENTIALS`.
    pub fn seen_by_server(e: &rustls::Error) -> Self {
        use rustls::{AlertDescription as A, Error as E};
        match e {
            E::AlertReceived(a) => match a {
                // a root of the same name but another key fails the signature check
                A::UnknownCA | A::DecryptError => Self::CERT_UNTRUSTED_ROOT,
                A::CertificateExpired => Self::CERT_EXPIRED,
                A::BadCertificate => Self::CERT_NAME_MISMATCH,
                A::CertificateRevoked => Self::REVOKED,
                A::UnsupportedCertificate => Self::CERT_WRONG_USAGE,
                _ => Self::ILLEGAL_MESSAGE,
            },
            E::NoCertificatesPresented => Self::INCOMPLETE_CREDENTIALS,
            _ => Self::ILLEGAL_MESSAGE,
        }
    }

    /// As [`LastErrorCode::seen_by_server`] for the error an acceptor returns: rustls
    /// errors by the client's alert, OpenSSL's handshake failures (no shared suite, an
    /// alert; `ErrorKind::Other`) as `SEC_E_ILLEGAL_MESSAGE`, the socket's as a reset.
    pub fn seen_by_server_io(e: &std::io::Error) -> Self {
        match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(tls) => Self::seen_by_server(tls),
            None if e.kind() == std::io::ErrorKind::Other => Self::ILLEGAL_MESSAGE,
            None => Self::CONNECTION_RESET,
        }
    }

    /// The code for a socket failure.
    pub fn from_io(e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return Self::from_tls(tls);
        }
        match e.kind() {
            K::ConnectionRefused => Self::CONNECTION_REFUSED,
            K::TimedOut => Self::TIMED_OUT,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                Self::CONNECTION_RESET
            }
            _ => Self::CONNECTION_RESET,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_print_like_netsh() {
        assert_eq!(LastErrorCode::SUCCESS.to_string(), "0x0");
        assert_eq!(LastErrorCode::CERT_UNTRUSTED_ROOT.to_string(), "0x800b0109");
        assert_eq!(LastErrorCode(0x2af9).symbol(), Some("WSAHOST_NOT_FOUND"));
    }
}
