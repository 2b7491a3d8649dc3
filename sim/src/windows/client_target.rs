//! The commands run on a client (`iphttps ctl --client N`): its netsh and PowerShell
//! views, its Trusted Root store, its hosts file and its IP-HTTPS URL.

use serde_json::json;

use super::command::{Args, CommandError, Output, Target, netsh_match, netsh_pairs};
use super::views::Render;
use crate::client::ClientConfig;
use crate::client_state::{ClientState, ClientStatus};
use crate::dial::IphttpsUrl;

/// The commands supported on a client, for error messages.
pub const SUPPORTED: &str = "netsh interface httpstunnel show interfaces, netsh interface teredo set state disable, Set-NetTeredoConfiguration -Type Disabled, Set-Net6to4Configuration -State Disabled, Get-Transition, netsh interface httpstunnel set interface IPHTTPSInterface client url=URL, Get-NetIPHttpsState, Get-NetIPHttpsConfiguration, ipconfig, Import-Certificate -FilePath FILE -CertStoreLocation Cert:\\LocalMachine\\Root, certutil -addstore Root FILE, Add-Content -Path C:\\Windows\\System32\\drivers\\etc\\hosts -Value \"ADDR NAME\", diagnose";

/// The first words of a client's commands.
pub const COMMANDS: &[&str] = &[
    "netsh",
    "get-netiphttpsstate",
    "get-netiphttpsconfiguration",
    "ipconfig",
    "import-certificate",
    "certutil",
    "add-content",
    "set-netteredoconfiguration",
    "set-net6to4configuration",
    "get-transition",
    "diagnose",
];

/// A client as a command target.
pub struct ClientTarget<'a> {
    /// Its configuration (changed by the commands; kept only if the line succeeds).
    pub config: &'a mut ClientConfig,
    /// Its status (read by the views).
    pub status: &'a ClientStatus,
}

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

impl Target for ClientTarget<'_> {
    fn run(&mut self, command: &str, args: &Args) -> Result<Output, CommandError> {
        let lc = command.to_ascii_lowercase();
        let s = self.status;
        match lc.as_str() {
            "netsh" => {
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
                                    "netsh interface teredo set state disable|client|default"
                                        .into(),
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
                            !w.eq_ignore_ascii_case("IPHTTPSInterface")
                                && !w.eq_ignore_ascii_case("client")
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
                    supported: SUPPORTED.into(),
                })
            }
            "get-netiphttpsstate" => Ok(Output {
                value: json!({"InterfaceStatus": s.interface_status, "LastErrorCode": s.last_error.0}),
                render: Render::List(None),
            }),
            "get-netiphttpsconfiguration" => Ok(Output {
                value: json!({"Profile": "DirectAccess-ClientComputers", "Type": "Client", "State": "Default", "ServerURL": self.config.url.to_string(), "AuthMode": "None"}),
                render: Render::List(None),
            }),
            "ipconfig" => {
                let mut t = String::from(
                    "\nWindows IP Configuration\n\nTunnel adapter IPHTTPSInterface:\n\n",
                );
                if s.state == ClientState::LinkUp {
                    t += "   Connection-specific DNS Suffix  . :\n";
                    if let Some(g) = s.global {
                        t += &format!("   IPv6 Address. . . . . . . . . . . : {g}\n");
                    }
                    if let Some(l) = s.link_local {
                        t += &format!("   Link-local IPv6 Address . . . . . : {l}%17\n");
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
            "import-certificate" => {
                args.only(command, &["FilePath", "CertStoreLocation"])?;
                let store = args.require("CertStoreLocation")?;
                if !is_root_store(store) {
                    return Err(CommandError::Argument(format!(
                        "only the Trusted Root store is simulated: -CertStoreLocation Cert:\\LocalMachine\\Root (not {store})"
                    )));
                }
                let path = args.require("FilePath")?.to_string();
                self.import_root(&path)
            }
            "certutil" => {
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
            "add-content" => {
                args.only(command, &["Path", "Value"])?;
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
                let ip: std::net::IpAddr = addr.parse().map_err(|_| {
                    CommandError::Argument(format!("'{addr}' is not an IP address"))
                })?;
                self.config
                    .resolve
                    .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                self.config.resolve.push((name.to_string(), ip));
                Ok(Output::none())
            }
            "set-netteredoconfiguration" => {
                args.only(command, &["Type"])?;
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
            "set-net6to4configuration" => {
                args.only(command, &["State"])?;
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
            "get-transition" => Ok(Output {
                value: json!({"Transition": s.transition, "IPHttpsInterfaceStatus": s.interface_status}),
                render: Render::List(None),
            }),
            "diagnose" => {
                let d = crate::diag::diagnose(s, None);
                Ok(Output {
                    value: serde_json::to_value(&d).unwrap_or_default(),
                    render: Render::Text(d.to_string()),
                })
            }
            _ => Err(CommandError::Unknown {
                command: command.to_string(),
                supported: SUPPORTED.into(),
            }),
        }
    }
}
