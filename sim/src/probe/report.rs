//! The probe's text report.

use std::fmt;

use super::ProbeReport;

/// A prefix lifetime as RFC 4861 reads it (all ones: infinite).
fn lifetime(s: u32) -> String {
    if s == u32::MAX {
        "infinite".into()
    } else {
        format!("{s} s")
    }
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Probing {}", self.url)?;
        if let Some(p) = &self.proxy {
            writeln!(f, "through the web proxy {p}")?;
        }
        writeln!(f)?;
        for s in &self.stages {
            let mark = if s.ok { "ok  " } else { "FAIL" };
            writeln!(
                f,
                "[{mark}] {:<17} {:>8.1} ms  {}",
                s.name, s.millis, s.detail
            )?;
        }
        if let Some(t) = &self.tls {
            writeln!(f)?;
            writeln!(f, "TLS: {} {}", t.protocol, t.cipher_suite)?;
            for (i, c) in t.chain.iter().enumerate() {
                let role = if i == 0 { "server" } else { "chain" };
                writeln!(f, "  [{i}] {role}: {}", c.subject)?;
                writeln!(f, "      issuer:   {}", c.issuer)?;
                writeln!(
                    f,
                    "      valid:    {} to {}{}",
                    c.not_before,
                    c.not_after,
                    if c.valid_now { "" } else { "  (NOT valid now)" }
                )?;
                writeln!(f, "      serial:   {}", c.serial)?;
                if !c.eku.is_empty() {
                    writeln!(f, "      EKU:      {}", c.eku.join(", "))?;
                }
                if !c.san.is_empty() {
                    writeln!(f, "      SAN:      {}", c.san.join(", "))?;
                }
                if !c.crl_distribution_points.is_empty() {
                    writeln!(
                        f,
                        "      CDP:      {}",
                        c.crl_distribution_points.join(", ")
                    )?;
                }
            }
            writeln!(f, "  trust: {}", t.trust)?;
            for c in &t.revocation {
                writeln!(f, "  revocation: {}: {}", c.url, c.detail)?;
            }
        }
        if let Some(h) = &self.http {
            writeln!(f)?;
            writeln!(f, "HTTP: {}", h.status_line)?;
            if let Some(s) = &h.server {
                writeln!(f, "  Server: {s}")?;
            }
        }
        if let Some(ra) = &self.router_advertisement {
            writeln!(f)?;
            writeln!(
                f,
                "Router Advertisement from {}: router lifetime {} s, hop limit {}, MTU {}",
                ra.router,
                ra.router_lifetime,
                ra.cur_hop_limit,
                ra.mtu.map_or("none".into(), |m| m.to_string())
            )?;
            if ra.prefixes.is_empty() {
                writeln!(f, "  no prefix")?;
            }
            for p in &ra.prefixes {
                writeln!(
                    f,
                    "  prefix {} (L={} A={}) valid {}, preferred {}",
                    p.prefix,
                    u8::from(p.on_link),
                    u8::from(p.autonomous),
                    lifetime(p.valid_lifetime),
                    lifetime(p.preferred_lifetime)
                )?;
            }
        }
        writeln!(f)?;
        writeln!(f, "What a Windows client would show:")?;
        writeln!(
            f,
            "  {:<27}: {}{}",
            "Last Error Code",
            self.verdict.last_error_code,
            self.verdict
                .symbol
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        )?;
        writeln!(
            f,
            "  {:<27}: {}",
            "Interface Status", self.verdict.interface_status
        )?;
        if let Some(w) = &self.verdict.windows7 {
            writeln!(f, "  Note: {w}")?;
        }
        writeln!(f)?;
        write!(f, "{}", self.diagnosis)?;
        writeln!(f)?;
        writeln!(
            f,
            "Result: {}",
            if self.ok {
                "every stage succeeded and the RA carries a prefix"
            } else {
                "FAILED"
            }
        )
    }
}
