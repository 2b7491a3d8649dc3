//! Value parsers of the command line's options.

use iphttps_harness::fixtures::web_proxy::ProxyMode;
use iphttps_sim::client_state::transition::NetworkSituation;
use iphttps_sim::tls::NullCipher;

/// A web proxy mode: open, refuses or requires-auth.
pub fn parse_proxy_mode(s: &str) -> Result<ProxyMode, String> {
    ProxyMode::named(s).ok_or_else(|| format!("'{s}': expected {}", ProxyMode::NAMES.join(", ")))
}

/// A NULL-cipher mode: off, prefer or only.
pub fn parse_null_cipher(s: &str) -> Result<NullCipher, String> {
    NullCipher::named(s).ok_or_else(|| format!("'{s}': expected off, prefer or only"))
}

/// A client network: hotel, nat, public-ipv4 or force-tunnel.
pub fn parse_network(s: &str) -> Result<NetworkSituation, String> {
    NetworkSituation::named(s)
        .ok_or_else(|| format!("unknown network '{s}': hotel, nat, public-ipv4 or force-tunnel"))
}
