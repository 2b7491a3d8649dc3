//! A firewall on the internal network, between the server and its intranet hosts, that
//! drops IPv6 fragments: where fragmentation breaks in real deployments (ACLs that cannot
//! see ports in non-first fragments, middleboxes that drop fragments altogether). It acts
//! on the packets as they cross that link, both ways; the hosts on either end then fail
//! the way RFC 8200 says (a reassembly that never completes, Time Exceeded code 1 when the
//! first fragment had arrived).

use std::fmt;
use std::str::FromStr;

use crate::wire::frag;

/// Which fragments the internal firewall drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FragmentFilter {
    /// None: every packet passes.
    #[default]
    None,
    /// Every fragment.
    All,
    /// The last fragment of each datagram (offset above 0, M clear).
    Last,
}

impl FragmentFilter {
    /// Every filter, with its name.
    pub const ALL: [(FragmentFilter, &'static str); 3] = [
        (FragmentFilter::None, "none"),
        (FragmentFilter::All, "fragments"),
        (FragmentFilter::Last, "last-fragment"),
    ];

    /// Whether `packet` passes.
    pub fn passes(self, packet: &[u8]) -> bool {
        if self == FragmentFilter::None {
            return true;
        }
        match frag::find(packet) {
            Ok(Some(f)) => match self {
                FragmentFilter::None => true,
                FragmentFilter::All => false,
                FragmentFilter::Last => f.more() || f.offset() == 0,
            },
            _ => true,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("none", |(_, n)| n)
    }
}

impl fmt::Display for FragmentFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A filter name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown fragment filter '{0}' (one of: none, fragments, last-fragment)")]
pub struct UnknownFilter(pub String);

impl FromStr for FragmentFilter {
    type Err = UnknownFilter;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(s))
            .map(|(f, _)| *f)
            .ok_or_else(|| UnknownFilter(s.to_string()))
    }
}
