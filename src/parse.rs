//! Value parsers of the command line's options.

/// An option's value that is not one of its names.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadValue(String);

use iphttps_harness::fixtures::web_proxy::ProxyMode;
use iphttps_sim::client_state::transition::NetworkSituation;
use iphttps_sim::tls::NullCipher;

/// A web proxy mode: open, refuses or requires-auth.
pub fn parse_proxy_mode(s: &str) -> Result<ProxyMode, BadValue> {
    ProxyMode::named(s)
        .ok_or_else(|| BadValue(format!("'{s}': expected {}", ProxyMode::NAMES.join(", "))))
}

/// A NULL-cipher mode: off, prefer or only.
pub fn parse_null_cipher(s: &str) -> Result<NullCipher, BadValue> {
    NullCipher::named(s).ok_or_else(|| BadValue(format!("'{s}': expected off, prefer or only")))
}

/// A client network: hotel, nat, public-ipv4 or force-tunnel.
pub fn parse_network(s: &str) -> Result<NetworkSituation, BadValue> {
    NetworkSituation::named(s).ok_or_else(|| {
        BadValue(format!(
            "unknown network '{s}': hotel, nat, public-ipv4 or force-tunnel"
        ))
    })
}
