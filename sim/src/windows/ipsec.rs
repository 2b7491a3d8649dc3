//! The client's IPsec as Windows shows it: the DirectAccess connection security rules
//! (the infrastructure tunnel and the intranet tunnel), the main mode and quick mode SAs,
//! and `Get-DAConnectionStatus`. Nothing here runs IKE: an [`IpsecAgent`] does (in the
//! harness, a strongSwan charon per client read through vici) and this module only names
//! what it reports in Windows' words.

use std::fmt::Debug;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::{Value, json};

/// The connection security rule of the infrastructure tunnel (domain controllers, DNS).
pub const INFRASTRUCTURE_RULE: &str = "DirectAccess Policy-ClientToDnsDc";
/// The connection security rule of the intranet tunnel (the rest of the internal prefix).
pub const INTRANET_RULE: &str = "DirectAccess Policy-ClientToCorp";

/// One of the two tunnels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tunnel {
    /// To the infrastructure servers.
    Infrastructure,
    /// To the rest of the intranet.
    Intranet,
}

impl Tunnel {
    /// Both, the infrastructure tunnel first (it comes up first on Windows).
    pub const ALL: [Tunnel; 2] = [Tunnel::Infrastructure, Tunnel::Intranet];

    /// The lower-case name scenarios and the agent use.
    pub fn name(self) -> &'static str {
        match self {
            Tunnel::Infrastructure => "infrastructure",
            Tunnel::Intranet => "intranet",
        }
    }

    /// Its connection security rule's DisplayName.
    pub fn rule(self) -> &'static str {
        match self {
            Tunnel::Infrastructure => INFRASTRUCTURE_RULE,
            Tunnel::Intranet => INTRANET_RULE,
        }
    }

    /// The tunnel a rule name (DisplayName, or the lower-case tunnel name) is about.
    pub fn from_rule(name: &str) -> Option<Tunnel> {
        Tunnel::ALL
            .into_iter()
            .find(|t| t.rule().eq_ignore_ascii_case(name) || t.name().eq_ignore_ascii_case(name))
    }
}

/// A main mode SA (an IKE_SA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MainModeSa {
    /// The SA's number on this host.
    pub id: u64,
    /// IKE's state (`ESTABLISHED`, `CONNECTING`, ...).
    pub state: String,
    /// This host's endpoint.
    pub local: Option<IpAddr>,
    /// The server's endpoint.
    pub remote: Option<IpAddr>,
    /// This host's identity (its certificate's subject).
    pub local_id: String,
    /// The server's identity.
    pub remote_id: String,
    /// The IKE proposal (encryption, integrity, PRF, group).
    pub cipher: String,
    /// Seconds since it was established.
    pub established_secs: Option<u64>,
}

/// A quick mode SA (a CHILD_SA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuickModeSa {
    /// The tunnel it carries.
    pub tunnel: Tunnel,
    /// `INSTALLED`, ...
    pub state: String,
    /// `TUNNEL-in-UDP` and the like.
    pub mode: String,
    /// ESP's algorithm.
    pub cipher: String,
    /// Inbound and outbound SPI.
    pub spi_in: String,
    /// Outbound SPI.
    pub spi_out: String,
    /// This side's traffic selectors.
    pub local_ts: Vec<String>,
    /// The server's traffic selectors.
    pub remote_ts: Vec<String>,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
    /// The main mode SA it belongs to.
    pub main_mode_id: u64,
}

/// What the agent reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IpsecSnapshot {
    /// Main mode SAs.
    pub main_mode: Vec<MainModeSa>,
    /// Quick mode SAs.
    pub quick_mode: Vec<QuickModeSa>,
    /// Whether each rule is enabled (infrastructure, intranet).
    pub enabled: [bool; 2],
    /// IKE's own reason for the last failure to bring a tunnel up, until one comes up.
    pub failure: Option<String>,
}

impl IpsecSnapshot {
    /// The quick mode SA of `tunnel` that is installed, if any.
    pub fn installed(&self, tunnel: Tunnel) -> Option<&QuickModeSa> {
        self.quick_mode
            .iter()
            .find(|q| q.tunnel == tunnel && q.state == "INSTALLED")
    }

    /// `Get-DAConnectionStatus`: `ConnectedRemotely` with both tunnels up (or the
    /// infrastructure one while the intranet rule is disabled), else `Error` with
    /// `RemoteNetworkAuthenticationFailure` when IKE failed, `ConnectingRemotely` before.
    pub fn da_status(&self) -> (&'static str, &'static str) {
        let up = Tunnel::ALL
            .iter()
            .enumerate()
            .filter(|(i, _)| self.enabled[*i])
            .all(|(_, t)| self.installed(*t).is_some());
        if up && self.installed(Tunnel::Infrastructure).is_some() {
            ("ConnectedRemotely", "None")
        } else if self.failure.is_some() {
            ("Error", "RemoteNetworkAuthenticationFailure")
        } else {
            ("ConnectingRemotely", "None")
        }
    }
}

/// Why an agent refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IpsecError(pub String);

/// A client host's IPsec, run by something that really negotiates it.
pub trait IpsecAgent: Send + Sync + Debug {
    /// What it last read.
    fn snapshot(&self) -> IpsecSnapshot;
    /// Enables or disables a tunnel's connection security rule: disabled, its quick
    /// mode SA is deleted and not negotiated again until it is enabled.
    fn set_rule(&self, tunnel: Tunnel, enabled: bool) -> Result<(), IpsecError>;
}

/// `Get-NetIPsecMainModeSA` rows.
pub fn main_mode_rows(s: &IpsecSnapshot) -> Vec<Value> {
    s.main_mode
        .iter()
        .map(|m| {
            json!({
                "Name": m.id.to_string(),
                "LocalEndpoint": m.local.map(|a| a.to_string()),
                "RemoteEndpoint": m.remote.map(|a| a.to_string()),
                "LocalFirstId.Identity": m.local_id,
                "LocalFirstId.AuthenticationMethod": "MachineCert",
                "RemoteFirstId.Identity": m.remote_id,
                "RemoteFirstId.AuthenticationMethod": "MachineCert",
                "CipherAlgorithm": m.cipher,
                "State": m.state,
                "EstablishedSeconds": m.established_secs,
            })
        })
        .collect()
}

/// `Get-NetIPsecQuickModeSA` rows.
pub fn quick_mode_rows(s: &IpsecSnapshot) -> Vec<Value> {
    s.quick_mode
        .iter()
        .map(|q| {
            json!({
                "Name": q.tunnel.rule(),
                "LocalEndpoint": q.local_ts.join(", "),
                "RemoteEndpoint": q.remote_ts.join(", "),
                "EncapsulationMode": q.mode,
                "CipherAlgorithm": q.cipher,
                "InboundSPI": q.spi_in,
                "OutboundSPI": q.spi_out,
                "InboundBytes": q.bytes_in,
                "OutboundBytes": q.bytes_out,
                "InboundPackets": q.packets_in,
                "OutboundPackets": q.packets_out,
                "MainModeSAName": q.main_mode_id.to_string(),
                "State": q.state,
            })
        })
        .collect()
}

/// `Get-NetIPsecRule` rows for the two DirectAccess rules.
pub fn rule_rows(s: &IpsecSnapshot) -> Vec<Value> {
    Tunnel::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({
                "DisplayName": t.rule(),
                "Enabled": if s.enabled[i] { "True" } else { "False" },
                "Mode": "Tunnel",
                "InboundSecurity": "Require",
                "OutboundSecurity": "Require",
                "Phase1AuthSet": "DirectAccess-Phase1AuthSet",
                "PrimaryStatus": if s.installed(*t).is_some() { "OK" } else { "Inactive" },
            })
        })
        .collect()
}

/// `Get-DAConnectionStatus`, with IKE's reason when it failed.
pub fn da_status_row(s: &IpsecSnapshot) -> Value {
    let (status, substatus) = s.da_status();
    let mut v = json!({"Status": status, "Substatus": substatus});
    if let (Some(reason), "Error") = (&s.failure, status) {
        v["IkeError"] = json!(reason);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(tunnel: Tunnel) -> QuickModeSa {
        QuickModeSa {
            tunnel,
            state: "INSTALLED".into(),
            mode: "TUNNEL-in-UDP".into(),
            cipher: "AES_GCM_16-128".into(),
            spi_in: "1".into(),
            spi_out: "2".into(),
            local_ts: vec![],
            remote_ts: vec![],
            bytes_in: 0,
            bytes_out: 0,
            packets_in: 0,
            packets_out: 0,
            main_mode_id: 1,
        }
    }

    #[test]
    fn da_status_follows_the_enabled_tunnels() {
        let mut s = IpsecSnapshot {
            enabled: [true, true],
            ..Default::default()
        };
        assert_eq!(s.da_status().0, "ConnectingRemotely");
        s.failure = Some("received AUTHENTICATION_FAILED notify error".into());
        assert_eq!(
            s.da_status(),
            ("Error", "RemoteNetworkAuthenticationFailure")
        );
        assert_eq!(
            da_status_row(&s)["IkeError"],
            "received AUTHENTICATION_FAILED notify error"
        );
        s.quick_mode.push(child(Tunnel::Infrastructure));
        assert_eq!(s.da_status().0, "Error", "the intranet tunnel is missing");
        s.enabled[1] = false;
        assert_eq!(s.da_status().0, "ConnectedRemotely");
        s.enabled[1] = true;
        s.quick_mode.push(child(Tunnel::Intranet));
        assert_eq!(s.da_status().0, "ConnectedRemotely");
        assert!(da_status_row(&s).get("IkeError").is_none());
    }

    #[test]
    fn the_rows_carry_windows_field_names_and_the_sas_values() {
        let mut s = IpsecSnapshot {
            enabled: [true, false],
            ..Default::default()
        };
        s.main_mode.push(MainModeSa {
            id: 7,
            state: "ESTABLISHED".into(),
            local: Some("2001:db8:1:1000::5".parse().unwrap()),
            remote: Some("2001:db8:1::10".parse().unwrap()),
            local_id: "CN=client".into(),
            remote_id: "da.contoso.com".into(),
            cipher: "AES_CBC-128".into(),
            established_secs: Some(3),
        });
        let mut q = child(Tunnel::Infrastructure);
        q.remote_ts = vec!["2001:db8:1::2/128".into()];
        q.packets_in = 4;
        q.bytes_out = 416;
        s.quick_mode.push(q);
        let mm = main_mode_rows(&s);
        assert_eq!(mm.len(), 1);
        assert_eq!(mm[0]["Name"], "7");
        assert_eq!(mm[0]["RemoteEndpoint"], "2001:db8:1::10");
        assert_eq!(mm[0]["LocalFirstId.Identity"], "CN=client");
        assert_eq!(mm[0]["RemoteFirstId.AuthenticationMethod"], "MachineCert");
        let qm = quick_mode_rows(&s);
        assert_eq!(qm.len(), 1);
        assert_eq!(qm[0]["Name"], INFRASTRUCTURE_RULE);
        assert_eq!(qm[0]["RemoteEndpoint"], "2001:db8:1::2/128");
        assert_eq!(qm[0]["InboundPackets"], 4);
        assert_eq!(qm[0]["OutboundBytes"], 416);
        assert_eq!(qm[0]["MainModeSAName"], "1");
        let rules = rule_rows(&s);
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0]["DisplayName"], INFRASTRUCTURE_RULE);
        assert_eq!(rules[0]["Enabled"], "True");
        assert_eq!(rules[0]["PrimaryStatus"], "OK");
        assert_eq!(rules[1]["DisplayName"], INTRANET_RULE);
        assert_eq!(rules[1]["Enabled"], "False");
        assert_eq!(rules[1]["PrimaryStatus"], "Inactive");
    }

    #[test]
    fn rules_are_found_by_display_name_or_tunnel() {
        assert_eq!(
            Tunnel::from_rule("directaccess policy-clienttocorp"),
            Some(Tunnel::Intranet)
        );
        assert_eq!(
            Tunnel::from_rule("infrastructure"),
            Some(Tunnel::Infrastructure)
        );
        assert_eq!(Tunnel::from_rule("DirectAccess Policy-Other"), None);
    }
}
