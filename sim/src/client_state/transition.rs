//! Which IPv6 transition technology a DirectAccess client uses (ms-iphttps.md section 7):
//! a public IPv4 address means 6to4, a private one behind NAT means Teredo, and when
//! neither works, IP-HTTPS; force tunnelling means IP-HTTPS only. The simulator brings up
//! IP-HTTPS only when this choice says so; 6to4 and Teredo themselves are not simulated.

use std::fmt;

/// The client's network situation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkSituation {
    /// The client has a public IPv4 address (else it is behind NAT).
    pub public_ipv4: bool,
    /// 6to4 works from here (some ISPs give a "public" address that is NATed anyway).
    pub sixtofour_works: bool,
    /// Teredo's UDP 3544 gets through the local firewall.
    pub teredo_works: bool,
    /// 6to4 is disabled on the client (`Set-Net6to4Configuration -State Disabled`).
    pub sixtofour_disabled: bool,
    /// Teredo is disabled on the client (`netsh interface teredo set state disable`).
    pub teredo_disabled: bool,
    /// Force tunnelling is configured: IP-HTTPS only.
    pub force_tunnel: bool,
}

impl NetworkSituation {
    /// Behind NAT where Teredo is blocked (a hotel or an airport): IP-HTTPS.
    pub const HOTEL: Self = Self {
        public_ipv4: false,
        sixtofour_works: false,
        teredo_works: false,
        sixtofour_disabled: false,
        teredo_disabled: false,
        force_tunnel: false,
    };

    /// Parses a situation name: `hotel` (NAT, Teredo blocked), `nat` (Teredo works),
    /// `public-ipv4` (6to4 works), `force-tunnel`.
    pub fn named(name: &str) -> Option<Self> {
        let mut s = Self::HOTEL;
        match name {
            "hotel" | "nat-teredo-blocked" => {}
            "nat" => s.teredo_works = true,
            "public-ipv4" => {
                s.public_ipv4 = true;
                s.sixtofour_works = true;
                s.teredo_works = true;
            }
            "force-tunnel" => s.force_tunnel = true,
            _ => return None,
        }
        Some(s)
    }
}

impl Default for NetworkSituation {
    fn default() -> Self {
        Self::HOTEL
    }
}

/// A transition technology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Transition {
    /// 6to4 (public IPv4).
    #[serde(rename = "6to4")]
    SixToFour,
    /// Teredo (behind NAT).
    Teredo,
    /// IP-HTTPS (when neither works, or force tunnelling).
    #[serde(rename = "IP-HTTPS")]
    IpHttps,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transition::SixToFour => "6to4",
            Transition::Teredo => "Teredo",
            Transition::IpHttps => "IP-HTTPS",
        })
    }
}

/// The technology Windows would use.
pub fn choose(n: &NetworkSituation) -> Transition {
    if n.force_tunnel {
        Transition::IpHttps
    } else if n.public_ipv4 && n.sixtofour_works && !n.sixtofour_disabled {
        Transition::SixToFour
    } else if n.teredo_works && !n.teredo_disabled {
        Transition::Teredo
    } else {
        Transition::IpHttps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_order() {
        let n = |s| NetworkSituation::named(s).unwrap();
        assert_eq!(choose(&n("public-ipv4")), Transition::SixToFour);
        assert_eq!(choose(&n("nat")), Transition::Teredo);
        assert_eq!(choose(&n("hotel")), Transition::IpHttps);
        assert_eq!(choose(&n("force-tunnel")), Transition::IpHttps);
        let mut p = n("public-ipv4");
        p.sixtofour_disabled = true;
        assert_eq!(choose(&p), Transition::Teredo);
        p.teredo_disabled = true;
        assert_eq!(choose(&p), Transition::IpHttps);
    }
}
