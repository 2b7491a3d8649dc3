//! The commands run on a client (`iphttps ctl --client N`): its netsh and PowerShell
//! views, its Trusted Root store, its hosts file, its IP-HTTPS URL, and `ping` through its
//! tunnel.

use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::command::{
    Args, CommandError, CommandSpec, CommandTable, Output, Params, Target, netsh_match, netsh_pairs,
};
use super::ipsec::{self, IpsecAgent, IpsecSnapshot, Tunnel};
use super::views::{Render, timespan};
use crate::client::ClientConfig;
use crate::client_state::{ClientState, ClientStatus};
use crate::dial::IphttpsUrl;
use crate::link::host::AddressInfo;
use crate::wire::ipv6;

/// The commands this target runs: the supported-commands message and `Get-Help` are
/// made from it.
pub static COMMANDS: CommandTable<ClientHandler> = CommandTable(&[
    CommandSpec {
        name: "netsh",
        usage: &[
            "netsh interface httpstunnel show interfaces",
            "netsh interface teredo set state disable",
            "netsh interface httpstunnel set interface IPHTTPSInterface client url=URL",
        ],
        help: "shows the IP-HTTPS interface, turns Teredo off, sets the IP-HTTPS URL",
        params: Params::Words,
        run: |t, c, a| t.netsh_command(c, a),
    },
    CommandSpec {
        name: "Set-NetTeredoConfiguration",
        usage: &["Set-NetTeredoConfiguration -Type Disabled"],
        help: "turns Teredo off or on",
        params: Params::Named(&["Type"]),
        run: |t, c, a| t.set_netteredoconfiguration(c, a),
    },
    CommandSpec {
        name: "Set-Net6to4Configuration",
        usage: &["Set-Net6to4Configuration -State Disabled"],
        help: "turns 6to4 off or on",
        params: Params::Named(&["State"]),
        run: |t, c, a| t.set_net6to4configuration(c, a),
    },
    CommandSpec {
        name: "Get-Transition",
        usage: &["Get-Transition"],
        help: "which transition technology the client uses",
        params: Params::Words,
        run: |t, c, a| t.get_transition(c, a),
    },
    CommandSpec {
        name: "Get-NetIPHttpsState",
        usage: &["Get-NetIPHttpsState"],
        help: "the IP-HTTPS interface status and Last Error Code",
        params: Params::Words,
        run: |t, c, a| t.get_netiphttpsstate(c, a),
    },
    CommandSpec {
        name: "Get-NetIPHttpsConfiguration",
        usage: &["Get-NetIPHttpsConfiguration"],
        help: "the IP-HTTPS client configuration (ServerURL)",
        params: Params::Words,
        run: |t, c, a| t.get_netiphttpsconfiguration(c, a),
    },
    CommandSpec {
        name: "ipconfig",
        usage: &["ipconfig"],
        help: "the tunnel adapter addresses and default gateway",
        params: Params::Words,
        run: |t, c, a| t.ipconfig(c, a),
    },
    CommandSpec {
        name: "Get-NetIPAddress",
        usage: &[
            "Get-NetIPAddress [-InterfaceAlias IPHTTPSInterface] [-AddressFamily IPv6] [-AddressState Preferred|Deprecated|Tentative|Duplicate]",
        ],
        help: "the tunnel interface's addresses with their state and valid and preferred lifetimes",
        params: Params::Named(&["InterfaceAlias", "AddressFamily", "AddressState"]),
        run: |t, c, a| t.get_netipaddress(c, a),
    },
    CommandSpec {
        name: "Import-Certificate",
        usage: &["Import-Certificate -FilePath FILE -CertStoreLocation Cert:\\LocalMachine\\Root"],
        help: "imports a root certificate into Cert:\\LocalMachine\\Root",
        params: Params::Named(&["FilePath", "CertStoreLocation"]),
        run: |t, c, a| t.import_certificate(c, a),
    },
    CommandSpec {
        name: "certutil",
        usage: &["certutil -addstore Root FILE"],
        help: "adds a root certificate to the Root store",
        params: Params::Words,
        run: |t, c, a| t.certutil(c, a),
    },
    CommandSpec {
        name: "Add-Content",
        usage: &[
            "Add-Content -Path C:\\Windows\\System32\\drivers\\etc\\hosts -Value \"ADDR NAME\"",
        ],
        help: "adds a line to the hosts file (pins a name to an address)",
        params: Params::Named(&["Path", "Value"]),
        run: |t, c, a| t.add_content(c, a),
    },
    CommandSpec {
        name: "ping",
        usage: &["ping [-6] [-n COUNT] [-l SIZE] [-w TIMEOUT_MS] ADDRESS"],
        help: "Echo Requests through the tunnel, as Windows' ping (up to 65,500 bytes; above the MTU they travel in fragments)",
        params: Params::Words,
        run: |t, c, a| t.ping(c, a),
    },
    CommandSpec {
        name: "diagnose",
        usage: &["diagnose"],
        help: "the likely causes and fixes, from what this client sees",
        params: Params::Words,
        run: |t, c, a| t.diagnose(c, a),
    },
    CommandSpec {
        name: "Get-NetIPsecMainModeSA",
        usage: &["Get-NetIPsecMainModeSA"],
        help: "the main mode (IKE) SAs: endpoints, identities, authentication method, cipher (IPsec lab)",
        params: Params::Named(&[]),
        run: |t, _, _| t.ipsec_rows(ipsec::main_mode_rows),
    },
    CommandSpec {
        name: "Get-NetIPsecQuickModeSA",
        usage: &["Get-NetIPsecQuickModeSA"],
        help: "the quick mode (ESP) SAs of the two tunnels: selectors, cipher, SPIs, bytes and packets (IPsec lab)",
        params: Params::Named(&[]),
        run: |t, _, _| t.ipsec_rows(ipsec::quick_mode_rows),
    },
    CommandSpec {
        name: "Get-NetIPsecRule",
        usage: &["Get-NetIPsecRule"],
        help: "the DirectAccess connection security rules (infrastructure and intranet tunnels) (IPsec lab)",
        params: Params::Named(&[]),
        run: |t, _, _| t.ipsec_rows(ipsec::rule_rows),
    },
    CommandSpec {
        name: "Enable-NetIPsecRule",
        usage: &["Enable-NetIPsecRule -DisplayName \"DirectAccess Policy-ClientToCorp\""],
        help: "enables a tunnel's connection security rule: its quick mode SA is negotiated again (IPsec lab)",
        params: Params::Named(&["DisplayName"]),
        run: |t, _, a| t.set_ipsec_rule(a, true),
    },
    CommandSpec {
        name: "Disable-NetIPsecRule",
        usage: &["Disable-NetIPsecRule -DisplayName \"DirectAccess Policy-ClientToCorp\""],
        help: "disables a tunnel's connection security rule: its quick mode SA is deleted (IPsec lab)",
        params: Params::Named(&["DisplayName"]),
        run: |t, _, a| t.set_ipsec_rule(a, false),
    },
    CommandSpec {
        name: "Get-DAConnectionStatus",
        usage: &["Get-DAConnectionStatus"],
        help: "DirectAccess's own verdict: ConnectedRemotely, or Error with IKE's reason (IPsec lab)",
        params: Params::Named(&[]),
        run: |t, _, _| t.ipsec_view(ipsec::da_status_row),
    },
    CommandSpec {
        name: "Get-Help",
        usage: &["Get-Help"],
        help: "lists the commands simulated here, with what each does",
        params: Params::Named(&[]),
        run: |_, _, _| Ok(COMMANDS.help()),
    },
]);

/// The client's tunnel interface, as Windows names it.
const INTERFACE_ALIAS: &str = "IPHTTPSInterface";
/// Its interface index (the `%17` zone of its link-local addresses).
const INTERFACE_INDEX: u32 = 17;

/// How a command of this target runs.
pub type ClientHandler = fn(&mut ClientTarget<'_>, &str, &Args) -> Result<Output, CommandError>;

/// A client as a command target.
pub struct ClientTarget<'a> {
    /// Its configuration (changed by the commands; kept only if the line succeeds).
    pub config: &'a mut ClientConfig,
    /// Its status (read by the views).
    pub status: &'a ClientStatus,
    /// Its clock's present (virtual in a simulated run): lifetimes are shown as what is
    /// left of them.
    pub now: Instant,
    /// The pings `ping` asked for, sent by the caller (they need the running client).
    pub ping: Option<PingRequest>,
    /// The client's IPsec, when something runs it (an IPsec lab).
    pub ipsec: Option<Arc<dyn IpsecAgent>>,
}

/// What `ping` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingRequest {
    /// The address pinged.
    pub dst: Ipv6Addr,
    /// Echo Requests (`-n`, default 4).
    pub count: u32,
    /// Data bytes (`-l`, default 32, at most 65,500 as on Windows).
    pub size: usize,
    /// How long each waits for its reply (`-w`, default 4000 ms).
    pub timeout: Duration,
}

/// The largest `-l` Windows' ping takes.
pub const PING_MAX_SIZE: usize = 65_500;

impl ClientTarget<'_> {
    fn import_root(&mut self, path: &str) -> Result<Output, CommandError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CommandError::Object(format!("cannot read {path}: {e}")))?;
        let certs = crate::tls::certs(&text, "certificate file")
            .map_err(|e| CommandError::Argument(e.to_string()))?;
        if !self.config.trust_pem.contains(text.trim()) {
            if !self.config.trust_pem.ends_with('\n') && !self.config.trust_pem.is_empty() {
                self.config.trust_pem.push('\n');
            }
            self.config.trust_pem.push_str(&text);
        }
        Ok(Output::text(format!(
            "Imported {} certificate(s) into Cert:\\LocalMachine\\Root from {path}\n",
            certs.len()
        )))
    }
}

fn is_root_store(s: &str) -> bool {
    let s = s.to_ascii_lowercase().replace('/', "\\");
    s == "root" || s.ends_with("\\root")
}

impl ClientTarget<'_> {
    fn netsh_command(&mut self, command: &str, args: &Args) -> Result<Output, CommandError> {
        let s = self.status;
        let mut words = vec![command.to_string()];
        words.extend(args.positional.iter().cloned());
        if netsh_match(
            &words,
            &["netsh", "interface", "httpstunnel", "show", "interfaces"],
        ) {
            return Ok(Output {
                value: json!({"Role": "client", "URL": s.url, "LastErrorCode": s.last_error.to_string(), "InterfaceStatus": s.interface_status}),
                render: Render::Text(format!("\n{}\n", s.netsh())),
            });
        }
        if netsh_match(&words, &["netsh", "interface", "teredo", "set", "state"]) {
            let state = words.get(5).map(|w| w.to_ascii_lowercase());
            self.config.network.teredo_disabled =
                match state.as_deref().map(|w| w.trim_start_matches("type=")) {
                    Some("disable" | "disabled") => true,
                    Some("client" | "enterpriseclient" | "default") => false,
                    _ => {
                        return Err(CommandError::Argument(
                            "netsh interface teredo set state disable|client|default".into(),
                        ));
                    }
                };
            return Ok(Output::text("Ok.\n"));
        }
        if netsh_match(
            &words,
            &["netsh", "interface", "httpstunnel", "set", "interface"],
        ) {
            let rest: Vec<String> = words[5..]
                .iter()
                .filter(|w| {
                    !w.eq_ignore_ascii_case(INTERFACE_ALIAS) && !w.eq_ignore_ascii_case("client")
                })
                .cloned()
                .collect();
            for (k, v) in netsh_pairs(&rest)? {
                match k.as_str() {
                    "url" => {
                        self.config.url = v
                            .parse::<IphttpsUrl>()
                            .map_err(|e| CommandError::Argument(e.to_string()))?;
                    }
                    "interface" | "type" | "state" => {}
                    other => {
                        return Err(CommandError::Argument(format!(
                            "'{other}' is not supported (supported: url)"
                        )));
                    }
                }
            }
            return Ok(Output::text("Ok.\n"));
        }
        Err(CommandError::Unknown {
            command: words.join(" "),
            supported: COMMANDS.supported(),
        })
    }

    fn get_netiphttpsstate(
        &mut self,
        _command: &str,
        _args: &Args,
    ) -> Result<Output, CommandError> {
        let s = self.status;
        Ok(Output {
            value: json!({"InterfaceStatus": s.interface_status, "LastErrorCode": s.last_error.0}),
            render: Render::List(None),
        })
    }

    fn get_netiphttpsconfiguration(
        &mut self,
        _command: &str,
        _args: &Args,
    ) -> Result<Output, CommandError> {
        Ok(Output {
            value: json!({"Profile": "DirectAccess-ClientComputers", "Type": "Client", "State": "Default", "ServerURL": self.config.url.to_string(), "AuthMode": "None"}),
            render: Render::List(None),
        })
    }

    fn ipconfig(&mut self, _command: &str, _args: &Args) -> Result<Output, CommandError> {
        let s = self.status;
        let mut t =
            String::from("\nWindows IP Configuration\n\nTunnel adapter IPHTTPSInterface:\n\n");
        if s.state == ClientState::LinkUp {
            t += "   Connection-specific DNS Suffix  . :\n";
            if let Some(g) = s.global {
                t += &format!("   IPv6 Address. . . . . . . . . . . : {g}\n");
            }
            if let Some(l) = s.link_local {
                t += &format!("   Link-local IPv6 Address . . . . . : {l}%{INTERFACE_INDEX}\n");
            }
            let gw = s
                .router_advert
                .as_ref()
                .filter(|ra| ra.router_lifetime > 0)
                .map(|_| "fe80::1%17");
            t += &format!(
                "   Default Gateway . . . . . . . . . : {}\n",
                gw.unwrap_or("")
            );
        } else {
            t += "   Media State . . . . . . . . . . . : Media disconnected\n   Connection-specific DNS Suffix  . :\n";
        }
        Ok(Output {
            value: json!({"IPv6Address": s.global, "LinkLocal": s.link_local, "State": format!("{:?}", s.state)}),
            render: Render::Text(t),
        })
    }

    fn get_netipaddress(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        if let Some(alias) = args.get("InterfaceAlias")
            && !alias.eq_ignore_ascii_case(INTERFACE_ALIAS)
        {
            return Err(CommandError::Object(format!(
                "No MSFT_NetIPAddress objects found with property 'InterfaceAlias' equal to '{alias}'. Verify the value of the property and retry."
            )));
        }
        let family = args.get("AddressFamily");
        if let Some(f) = family
            && !["IPv6", "IPv4"].iter().any(|x| f.eq_ignore_ascii_case(x))
        {
            return Err(CommandError::Argument(format!(
                "-AddressFamily '{f}' is not IPv4 or IPv6"
            )));
        }
        let state = args.get("AddressState");
        const STATES: [&str; 4] = ["Preferred", "Deprecated", "Tentative", "Duplicate"];
        if let Some(st) = state
            && !STATES.iter().any(|x| st.eq_ignore_ascii_case(x))
        {
            return Err(CommandError::Argument(format!(
                "-AddressState '{st}' is not one of {}",
                STATES.join(", ")
            )));
        }
        let rows: Vec<_> = self
            .status
            .addresses
            .iter()
            .filter(|_| family.is_none_or(|f| f.eq_ignore_ascii_case("IPv6")))
            .filter(|a| state.is_none_or(|st| a.state.as_str().eq_ignore_ascii_case(st)))
            .map(|a| self.address_row(a))
            .collect();
        if rows.is_empty() {
            return Err(CommandError::Object(
                "No matching MSFT_NetIPAddress objects found by CIM query for instances of the ROOT/StandardCimv2/MSFT_NetIPAddress class on the  CIM server: SELECT * FROM MSFT_NetIPAddress".into(),
            ));
        }
        Ok(Output {
            value: serde_json::Value::Array(rows),
            render: Render::List(None),
        })
    }

    fn address_row(&self, a: &AddressInfo) -> serde_json::Value {
        let left = |t: Option<Instant>| timespan(t.map(|t| t.saturating_duration_since(self.now)));
        let link_local = ipv6::is_link_local(a.addr);
        json!({
            "IPAddress": a.addr.to_string(),
            "InterfaceIndex": INTERFACE_INDEX,
            "InterfaceAlias": INTERFACE_ALIAS,
            "AddressFamily": "IPv6",
            "Type": "Unicast",
            "PrefixLength": 64,
            "PrefixOrigin": if link_local { "WellKnown" } else { "RouterAdvertisement" },
            "SuffixOrigin": if link_local { "Link" } else { "Random" },
            "AddressState": a.state.as_str(),
            "ValidLifetime": left(a.valid_until),
            "PreferredLifetime": left(a.preferred_until),
            "SkipAsSource": "False",
            "PolicyStore": "ActiveStore",
        })
    }

    fn import_certificate(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        let store = args.require("CertStoreLocation")?;
        if !is_root_store(store) {
            return Err(CommandError::Argument(format!(
                "only the Trusted Root store is simulated: -CertStoreLocation Cert:\\LocalMachine\\Root (not {store})"
            )));
        }
        let path = args.require("FilePath")?.to_string();
        self.import_root(&path)
    }

    fn certutil(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        let pos: Vec<&String> = args.positional.iter().collect();
        let addstore = args
            .named
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("addstore"));
        // certutil -addstore [-f] Root FILE: the parser sees -addstore's value as "Root" or "-f"
        let mut words: Vec<String> = Vec::new();
        for (n, v) in &args.named {
            if !n.eq_ignore_ascii_case("addstore") && !n.eq_ignore_ascii_case("f") {
                return Err(CommandError::Argument(format!(
                    "certutil: -{n} is not supported (supported: certutil -addstore Root FILE)"
                )));
            }
            words.extend(v.clone());
        }
        words.extend(pos.into_iter().cloned());
        match (addstore, words.as_slice()) {
            (true, [store, file]) if is_root_store(store) => self.import_root(file),
            _ => Err(CommandError::Argument(
                "supported: certutil -addstore Root FILE".into(),
            )),
        }
    }

    fn add_content(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        let path = args
            .require("Path")?
            .replace('/', "\\")
            .to_ascii_lowercase();
        if !path.ends_with("\\drivers\\etc\\hosts") {
            return Err(CommandError::Argument("only the hosts file is simulated: -Path C:\\Windows\\System32\\drivers\\etc\\hosts".into()));
        }
        let value = args.require("Value")?;
        let mut parts = value.split_whitespace();
        let (Some(addr), Some(name)) = (parts.next(), parts.next()) else {
            return Err(CommandError::Argument(format!(
                "a hosts line is \"ADDRESS NAME\", not \"{value}\""
            )));
        };
        let ip: std::net::IpAddr = addr
            .parse()
            .map_err(|_| CommandError::Argument(format!("'{addr}' is not an IP address")))?;
        self.config
            .resolve
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.config.resolve.push((name.to_string(), ip));
        Ok(Output::none())
    }

    fn set_netteredoconfiguration(
        &mut self,
        _command: &str,
        args: &Args,
    ) -> Result<Output, CommandError> {
        let t = args.require("Type")?;
        self.config.network.teredo_disabled = match t.to_ascii_lowercase().as_str() {
            "disabled" => true,
            "client" | "enterpriseclient" | "default" => false,
            _ => {
                return Err(CommandError::Argument(format!(
                    "-Type must be Disabled, Client, EnterpriseClient or Default, not '{t}'"
                )));
            }
        };
        Ok(Output::none())
    }

    fn set_net6to4configuration(
        &mut self,
        _command: &str,
        args: &Args,
    ) -> Result<Output, CommandError> {
        let st = args.require("State")?;
        self.config.network.sixtofour_disabled = match st.to_ascii_lowercase().as_str() {
            "disabled" => true,
            "enabled" | "default" | "automatic" => false,
            _ => {
                return Err(CommandError::Argument(format!(
                    "-State must be Disabled, Enabled or Default, not '{st}'"
                )));
            }
        };
        Ok(Output::none())
    }

    fn get_transition(&mut self, _command: &str, _args: &Args) -> Result<Output, CommandError> {
        let s = self.status;
        Ok(Output {
            value: json!({"Transition": s.transition, "IPHttpsInterfaceStatus": s.interface_status}),
            render: Render::List(None),
        })
    }

    /// `ping [-6] [-n COUNT] [-l SIZE] [-w TIMEOUT] ADDRESS`, with Windows' messages for
    /// bad values; the pings themselves are sent by the caller ([`ClientTarget::ping`]).
    fn ping(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        let usage = "usage: ping [-6] [-n COUNT] [-l SIZE] [-w TIMEOUT_MS] ADDRESS";
        let (mut count, mut size, mut timeout_ms) = (4u64, 32u64, 4000u64);
        // `-6` may come as a word (it reads as a negative number) or as a switch
        let mut words: Vec<String> = args
            .positional
            .iter()
            .filter(|w| *w != "-6")
            .cloned()
            .collect();
        for (name, value) in &args.named {
            let number = |lo: u64, hi: u64| {
                value
                    .as_deref()
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|v| (lo..=hi).contains(v))
                    .ok_or_else(|| {
                        CommandError::Argument(format!(
                            "Bad value for option -{name}, valid range is from {lo} to {hi}."
                        ))
                    })
            };
            match name.to_ascii_lowercase().as_str() {
                "n" => count = number(1, u64::from(u32::MAX))?,
                "l" => size = number(0, PING_MAX_SIZE as u64)?,
                "w" => timeout_ms = number(1, 3_600_000)?,
                // a switch: what the parser took for its value is the address
                "6" => words.extend(value.clone()),
                _ => {
                    return Err(CommandError::Argument(format!(
                        "Option -{name} is not supported here ({usage})"
                    )));
                }
            }
        }
        let [target] = words.as_slice() else {
            return Err(CommandError::Argument(usage.into()));
        };
        let dst: Ipv6Addr = target.trim_matches(['[', ']']).parse().map_err(|_| {
            CommandError::Argument(format!(
                "Ping request could not find host {target}. Please check the name and try again."
            ))
        })?;
        self.ping = Some(PingRequest {
            dst,
            count: u32::try_from(count).unwrap_or(u32::MAX),
            size: usize::try_from(size).unwrap_or(PING_MAX_SIZE),
            timeout: Duration::from_millis(timeout_ms),
        });
        Ok(Output::none())
    }

    fn diagnose(&mut self, _command: &str, _args: &Args) -> Result<Output, CommandError> {
        let s = self.status;
        let d = crate::diag::diagnose(s, None);
        Ok(Output {
            value: serde_json::to_value(&d).unwrap_or_default(),
            render: Render::Text(d.to_string()),
        })
    }
}

impl ClientTarget<'_> {
    fn agent(&self) -> Result<&Arc<dyn IpsecAgent>, CommandError> {
        self.ipsec.as_ref().ok_or_else(|| {
            CommandError::Object(
                "no IPsec runs on this client: the IPsec tunnels need an IPsec lab (iphttps lab --ipsec, or [lab] ipsec = true)".into(),
            )
        })
    }

    fn ipsec_rows(
        &mut self,
        rows: fn(&IpsecSnapshot) -> Vec<serde_json::Value>,
    ) -> Result<Output, CommandError> {
        let s = self.agent()?.snapshot();
        Ok(Output {
            value: serde_json::Value::Array(rows(&s)),
            render: Render::List(None),
        })
    }

    fn ipsec_view(
        &mut self,
        view: fn(&IpsecSnapshot) -> serde_json::Value,
    ) -> Result<Output, CommandError> {
        let s = self.agent()?.snapshot();
        Ok(Output {
            value: view(&s),
            render: Render::List(None),
        })
    }

    fn set_ipsec_rule(&mut self, args: &Args, enabled: bool) -> Result<Output, CommandError> {
        let agent = self.agent()?.clone();
        let name = args
            .get("DisplayName")
            .ok_or_else(|| CommandError::Argument("-DisplayName is required".into()))?;
        let tunnel = Tunnel::from_rule(name).ok_or_else(|| {
            CommandError::Object(format!(
                "No MSFT_NetConSecRule objects found with property 'DisplayName' equal to '{name}'. Verify the value of the property and retry."
            ))
        })?;
        agent
            .set_rule(tunnel, enabled)
            .map_err(|e| CommandError::Object(e.to_string()))?;
        Ok(Output::none())
    }
}

impl Target for ClientTarget<'_> {
    fn run(&mut self, command: &str, args: &Args) -> Result<Output, CommandError> {
        let spec = COMMANDS.lookup(command, args)?;
        (spec.run)(self, command, args)
    }
}
