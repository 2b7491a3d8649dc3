//! The commands an operator runs on the DirectAccess server, against the [`AdminState`].

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use serde_json::{Value, json};

use super::command::{
    Args, CommandError, CommandSpec, CommandTable, Output, Params, Target, netsh_match, netsh_pairs,
};
use super::views::{self, Render};
use super::{AdminState, NetRoute};
use crate::link::router::{AuthMode, Publish};
use crate::pki::{MachineOptions, Validity};

/// What a command asks of the world beyond the state itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// RaMgmtSvc restarted: Operations Status is evaluated again now.
    RefreshOperationsStatus,
    /// The IP Helper service (which hosts IP-HTTPS) restarted while running: every tunnel
    /// drops and nothing listens until it is back.
    RestartIpHelper,
}

/// The parameters of `Enable-DAOtpAuthentication` and `Disable-DAOtpAuthentication`.
const OTP_PARAMS: &[&str] = &[
    "CertificateTemplateName",
    "SigningCertificateTemplateName",
    "CAServer",
    "RadiusServer",
    "SharedSecret",
    "UserSecurityGroupName",
    "Force",
    "PassThru",
];

/// The parameters of `Install-RemoteAccess` and `Uninstall-RemoteAccess`.
const VPN_PARAMS: &[&str] = &["VpnType", "Force", "PassThru"];

/// The parameters of the service commands.
const SERVICE_PARAMS: &[&str] = &["Name", "PassThru", "Force"];

/// The commands this target runs: the supported-commands message and `Get-Help` are
/// made from it.
pub static COMMANDS: CommandTable<ServerHandler> = CommandTable(&[
    CommandSpec {
        name: "Get-RemoteAccess",
        usage: &["Get-RemoteAccess"],
        help: "shows the Remote Access configuration (ConnectTo, ClientIPv6Prefix, ...)",
        params: Params::Named(&[]),
        run: |t, c, a| t.get_remoteaccess(c, a),
    },
    CommandSpec {
        name: "Enable-DAOtpAuthentication",
        usage: &["Enable-DAOtpAuthentication"],
        help: "turns OTP authentication on (the NULL cipher suites off)",
        params: Params::Named(OTP_PARAMS),
        run: |t, c, a| t.otp_authentication(c, a),
    },
    CommandSpec {
        name: "Disable-DAOtpAuthentication",
        usage: &["Disable-DAOtpAuthentication"],
        help: "turns OTP authentication off",
        params: Params::Named(OTP_PARAMS),
        run: |t, c, a| t.otp_authentication(c, a),
    },
    CommandSpec {
        name: "Install-RemoteAccess",
        usage: &["Install-RemoteAccess -VpnType Vpn"],
        help: "installs the client VPN role (SSTP: NULL cipher suites off)",
        params: Params::Named(VPN_PARAMS),
        run: |t, c, a| t.vpn_role(c, a),
    },
    CommandSpec {
        name: "Uninstall-RemoteAccess",
        usage: &["Uninstall-RemoteAccess -VpnType Vpn"],
        help: "removes the client VPN role",
        params: Params::Named(VPN_PARAMS),
        run: |t, c, a| t.vpn_role(c, a),
    },
    CommandSpec {
        name: "Set-ItemProperty",
        usage: &[
            "Set-ItemProperty -Path HKLM:\\System\\CurrentControlSet\\Control\\Lsa\\FipsAlgorithmPolicy -Name Enabled -Value 0|1",
        ],
        help: "sets the FIPS policy (FIPS mode: NULL cipher suites off)",
        params: Params::Named(&["Path", "Name", "Value", "Type", "Force"]),
        run: |t, c, a| t.set_itemproperty(c, a),
    },
    CommandSpec {
        name: "Get-RemoteAccessHealth",
        usage: &["Get-RemoteAccessHealth"],
        help: "Operations Status, one row per component",
        params: Params::Named(&[]),
        run: |t, c, a| t.get_remoteaccesshealth(c, a),
    },
    CommandSpec {
        name: "Get-NetRoute",
        usage: &["Get-NetRoute"],
        help: "lists the route table",
        params: Params::Named(&[
            "AddressFamily",
            "InterfaceAlias",
            "InterfaceIndex",
            "DestinationPrefix",
        ]),
        run: |t, c, a| t.get_netroute(c, a),
    },
    CommandSpec {
        name: "New-NetRoute",
        usage: &["New-NetRoute"],
        help: "adds a route (-Publish Yes puts it in the RAs)",
        params: Params::Named(&[
            "AddressFamily",
            "DestinationPrefix",
            "InterfaceAlias",
            "InterfaceIndex",
            "NextHop",
            "RouteMetric",
            "Publish",
            "ValidLifetime",
            "PreferredLifetime",
            "PolicyStore",
        ]),
        run: |t, c, a| t.new_netroute(c, a),
    },
    CommandSpec {
        name: "Set-NetRoute",
        usage: &["Set-NetRoute"],
        help: "changes a route (Publish, lifetimes, metric)",
        params: Params::Named(&[
            "AddressFamily",
            "DestinationPrefix",
            "InterfaceAlias",
            "InterfaceIndex",
            "Publish",
            "ValidLifetime",
            "PreferredLifetime",
            "RouteMetric",
            "PassThru",
        ]),
        run: |t, c, a| t.set_netroute(c, a),
    },
    CommandSpec {
        name: "Remove-NetRoute",
        usage: &["Remove-NetRoute"],
        help: "removes a route",
        params: Params::Named(&[
            "AddressFamily",
            "DestinationPrefix",
            "InterfaceAlias",
            "InterfaceIndex",
            "Confirm",
        ]),
        run: |t, c, a| t.remove_netroute(c, a),
    },
    CommandSpec {
        name: "Set-NetIPInterface",
        usage: &["Set-NetIPInterface"],
        help: "turns forwarding or advertising on or off on an interface",
        params: Params::Named(&[
            "AddressFamily",
            "InterfaceAlias",
            "InterfaceIndex",
            "Forwarding",
            "Advertising",
            "PassThru",
        ]),
        run: |t, c, a| t.set_netipinterface(c, a),
    },
    CommandSpec {
        name: "Get-Service",
        usage: &["Get-Service"],
        help: "shows a service (iphlpsvc, RaMgmtSvc)",
        params: Params::Named(SERVICE_PARAMS),
        run: |t, c, a| t.service(c, a),
    },
    CommandSpec {
        name: "Start-Service",
        usage: &["Start-Service"],
        help: "starts a service",
        params: Params::Named(SERVICE_PARAMS),
        run: |t, c, a| t.service(c, a),
    },
    CommandSpec {
        name: "Stop-Service",
        usage: &["Stop-Service"],
        help: "stops a service",
        params: Params::Named(SERVICE_PARAMS),
        run: |t, c, a| t.service(c, a),
    },
    CommandSpec {
        name: "Restart-Service",
        usage: &["Restart-Service"],
        help: "restarts a service (RaMgmtSvc: Operations Status is evaluated again; iphlpsvc: every IP-HTTPS tunnel drops)",
        params: Params::Named(SERVICE_PARAMS),
        run: |t, c, a| t.service(c, a),
    },
    CommandSpec {
        name: "New-NetFirewallRule",
        usage: &["New-NetFirewallRule"],
        help: "adds a firewall rule (inbound TCP 443 lets clients in)",
        params: Params::Named(&[
            "DisplayName",
            "Name",
            "Direction",
            "Protocol",
            "LocalPort",
            "Action",
            "Profile",
            "Enabled",
        ]),
        run: |t, c, a| t.new_netfirewallrule(c, a),
    },
    CommandSpec {
        name: "certreq",
        usage: &["certreq -enroll -machine -q -cert NAME renew"],
        help: "renews the IP-HTTPS or the IPsec machine certificate",
        params: Params::Words,
        run: |t, c, a| t.certificates(c, a),
    },
    CommandSpec {
        name: "certutil",
        usage: &["certutil -crl"],
        help: "publishes the CRL (brings the CRL distribution point online)",
        params: Params::Words,
        run: |t, c, a| t.certificates(c, a),
    },
    CommandSpec {
        name: "netsh",
        usage: &[
            "netsh int ipv6 show int [N]",
            "netsh int ipv6 set int N forwarding=|advertise=enabled|disabled",
            "netsh interface httpstunnel show interfaces",
            "netsh interface httpstunnel set interface server state=|authmode=",
        ],
        help: "shows and sets the IPv6 interfaces and the IP-HTTPS server interface",
        params: Params::Words,
        run: |t, c, a| t.netsh_command(c, a),
    },
    CommandSpec {
        name: "Get-Help",
        usage: &["Get-Help"],
        help: "lists the commands simulated here, with what each does",
        params: Params::Named(&[]),
        run: |_, _, _| Ok(COMMANDS.help()),
    },
]);

/// How a command of this target runs.
pub type ServerHandler = fn(&mut ServerTarget<'_>, &str, &Args) -> Result<Output, CommandError>;

/// The FIPS policy key, as `Set-ItemProperty -Path` names it.
const FIPS_KEY: &str = r"HKLM:\System\CurrentControlSet\Control\Lsa\FipsAlgorithmPolicy";

/// The server as a command target. Work on a copy of the state and keep it only when
/// the command succeeded.
pub struct ServerTarget<'a> {
    /// The state commands change.
    pub state: &'a mut AdminState,
    /// Effects asked for.
    pub effects: Vec<Effect>,
    /// Operations Status rows, for `Get-RemoteAccessHealth`.
    pub health: Value,
    /// The time of day the commands run at (certificates are renewed from it).
    pub now: time::OffsetDateTime,
}

fn parse_prefix(s: &str) -> Result<Ipv6Net, CommandError> {
    s.parse::<Ipv6Net>().map(|n| n.trunc()).map_err(|_| {
        CommandError::Argument(format!(
            "'{s}' is not a valid IPv6 prefix (e.g. 2001:db8:1:1000::/64)"
        ))
    })
}

fn no_route(prefix: Ipv6Net) -> CommandError {
    CommandError::Object(format!(
        "No MSFT_NetRoute objects found with property 'DestinationPrefix' equal to '{prefix}'"
    ))
}

fn parse_publish(s: &str) -> Result<Publish, CommandError> {
    match s.to_ascii_lowercase().as_str() {
        "no" => Ok(Publish::No),
        "yes" => Ok(Publish::Yes),
        "age" => Ok(Publish::Age),
        _ => Err(CommandError::Argument(format!(
            "-Publish must be No, Yes or Age, not '{s}'"
        ))),
    }
}

fn parse_enabled(key: &str, s: &str) -> Result<bool, CommandError> {
    match s.to_ascii_lowercase().as_str() {
        "enabled" | "enable" | "true" => Ok(true),
        "disabled" | "disable" | "false" => Ok(false),
        _ => Err(CommandError::Argument(format!(
            "{key} must be enabled or disabled, not '{s}'"
        ))),
    }
}

fn parse_lifetime(s: &str) -> Result<u32, CommandError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("infinite") {
        return Ok(u32::MAX);
    }
    let bad = || {
        CommandError::Argument(format!(
            "'{s}' is not a lifetime (seconds, [d.]hh:mm:ss or Infinite)"
        ))
    };
    // seconds, or a TimeSpan d.hh:mm:ss / hh:mm:ss
    if let Ok(n) = t.parse::<u32>() {
        return Ok(n);
    }
    let (days, rest) = match t.split_once('.') {
        Some((d, r)) => (
            d.parse::<u64>()
                .ok()
                .filter(|d| *d <= u64::from(u32::MAX) / 86_400)
                .ok_or_else(bad)?,
            r,
        ),
        None => (0, t),
    };
    let parts: Vec<u64> = rest
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let secs = match parts.as_slice() {
        [h, m, s] if *h < 24 && *m < 60 && *s < 60 => days * 86_400 + h * 3600 + m * 60 + s,
        _ => return Err(bad()),
    };
    // the all-ones value is the RA's infinity: a finite lifetime stays below it
    u32::try_from(secs)
        .ok()
        .filter(|&v| v != u32::MAX)
        .ok_or_else(bad)
}

impl ServerTarget<'_> {
    fn interface_index(&self, args: &Args) -> Result<u32, CommandError> {
        if let Some(alias) = args.get("InterfaceAlias") {
            return self
                .state
                .interfaces
                .iter()
                .find(|i| i.answers_to(alias))
                .map(|i| i.index)
                .ok_or_else(|| CommandError::Object(format!("No MSFT_NetIPInterface objects found with property 'InterfaceAlias' equal to '{alias}'")));
        }
        if let Some(idx) = args.get("InterfaceIndex") {
            let i: u32 = idx.parse().map_err(|_| {
                CommandError::Argument(format!("-InterfaceIndex must be a number, not '{idx}'"))
            })?;
            return self
                .state
                .interface(i)
                .map(|i| i.index)
                .ok_or_else(|| CommandError::Object(format!("No MSFT_NetIPInterface objects found with property 'InterfaceIndex' equal to '{i}'")));
        }
        Err(CommandError::Argument(
            "-InterfaceAlias or -InterfaceIndex is required".into(),
        ))
    }

    /// The interface named by -InterfaceAlias or -InterfaceIndex, if either is given.
    fn optional_interface(&self, args: &Args) -> Result<Option<u32>, CommandError> {
        if args.get("InterfaceAlias").is_some() || args.get("InterfaceIndex").is_some() {
            self.interface_index(args).map(Some)
        } else {
            Ok(None)
        }
    }

    fn route_rows(&self, filter: impl Fn(&NetRoute) -> bool) -> Output {
        let all = views::routes(self.state);
        let rows: Vec<Value> = self
            .state
            .routes
            .iter()
            .zip(all.as_array().cloned().unwrap_or_default())
            .filter(|(r, _)| filter(r))
            .map(|(_, v)| v)
            .collect();
        Output {
            value: Value::Array(rows),
            render: Render::Table(views::route_columns()),
        }
    }

    fn service_cmd(&mut self, verb: &str, args: &Args) -> Result<Output, CommandError> {
        let name = args
            .get("Name")
            .or(args.positional.first().map(String::as_str))
            .ok_or_else(|| CommandError::Argument(format!("{verb}: a service name is required")))?
            .to_string();
        let svc = self.state.service_mut(&name).ok_or_else(|| {
            CommandError::Object(format!(
                "Cannot find any service with service name '{name}'. Known: iphlpsvc, RaMgmtSvc"
            ))
        })?;
        let was_running = svc.running;
        match verb {
            "start-service" | "restart-service" => svc.running = true,
            "stop-service" => svc.running = false,
            _ => {}
        }
        let real = svc.name.clone();
        if real.eq_ignore_ascii_case("iphlpsvc") && verb == "restart-service" && was_running {
            self.effects.push(Effect::RestartIpHelper);
        }
        if real.eq_ignore_ascii_case("RaMgmtSvc") && verb != "stop-service" && verb != "get-service"
        {
            self.effects.push(Effect::RefreshOperationsStatus);
        }
        let value = views::services(self.state, &[real]);
        let show = verb == "get-service"
            || args
                .named
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("PassThru"));
        Ok(if show {
            Output {
                value,
                render: Render::Table(views::service_columns()),
            }
        } else {
            Output::none()
        })
    }

    fn netsh(&mut self, words: &[String]) -> Result<Output, CommandError> {
        if netsh_match(words, &["netsh", "interface", "ipv6", "show", "interfaces"]) {
            return match words.get(5) {
                None => {
                    let (value, text) = views::netsh_interfaces(self.state);
                    Ok(Output {
                        value,
                        render: Render::Text(text),
                    })
                }
                Some(idx) => {
                    let i = self.netsh_index(idx)?;
                    let (value, text) =
                        views::netsh_interface(self.state.interface(i).expect("checked"));
                    Ok(Output {
                        value,
                        render: Render::Text(text),
                    })
                }
            };
        }
        if netsh_match(words, &["netsh", "interface", "ipv6", "set", "interface"]) {
            let idx = words.get(5).ok_or_else(|| {
                CommandError::Argument(
                    "netsh int ipv6 set int: the interface index or name is required".into(),
                )
            })?;
            let i = self.netsh_index(idx)?;
            let pairs = netsh_pairs(&words[6..])?;
            if pairs.is_empty() {
                return Err(CommandError::Argument(
                    "nothing to set: use forwarding=enabled|disabled or advertise=enabled|disabled"
                        .into(),
                ));
            }
            let mut changes = Vec::new();
            for (k, v) in pairs {
                let on = parse_enabled(&k, &v)?;
                match k.as_str() {
                    "forwarding" => changes.push((true, on)),
                    "advertise" | "advertising" => changes.push((false, on)),
                    other => {
                        return Err(CommandError::Argument(format!(
                            "netsh int ipv6 set int: '{other}' is not supported (supported: forwarding, advertise)"
                        )));
                    }
                }
            }
            let ifc = self.state.interface_mut(i).expect("checked");
            for (forwarding, on) in changes {
                if forwarding {
                    ifc.forwarding = on;
                } else {
                    ifc.advertising = on;
                }
            }
            return Ok(Output::text("Ok.\n"));
        }
        if netsh_match(
            words,
            &["netsh", "interface", "httpstunnel", "show", "interfaces"],
        ) {
            let ra = &self.state.remote_access;
            let text = format!(
                "\nInterface IPHTTPSInterface (Group Policy)  Parameters\n------------------------------------------------------------\n{:<27}: server\n{:<27}: https://{}:443/IPHTTPS\n{:<27}: {}\n{:<27}: {}\n\n",
                "Role",
                "URL",
                ra.connect_to,
                "Client authentication mode",
                match ra.auth_mode {
                    AuthMode::None => "none",
                    AuthMode::Certificates => "certificates",
                },
                "Interface Status",
                if self.state.listener() == crate::server::ListenerMode::Open {
                    "IPHTTPS interface active"
                } else {
                    "IPHTTPS interface deactivated"
                },
            );
            return Ok(Output::text(text));
        }
        if netsh_match(
            words,
            &["netsh", "interface", "httpstunnel", "set", "interface"],
        ) {
            let rest: Vec<String> = words[5..]
                .iter()
                .filter(|w| {
                    !w.eq_ignore_ascii_case("server") && !w.eq_ignore_ascii_case("IPHTTPSInterface")
                })
                .cloned()
                .collect();
            let pairs = netsh_pairs(&rest)?;
            let mut ra = self.state.remote_access.clone();
            for (k, v) in pairs {
                match k.as_str() {
                    "state" => {
                        ra.iphttps_enabled = v.eq_ignore_ascii_case("enabled")
                            || v.eq_ignore_ascii_case("default")
                            || parse_enabled(&k, &v)?
                    }
                    "authmode" => {
                        ra.auth_mode = match v.to_ascii_lowercase().as_str() {
                            "none" => AuthMode::None,
                            "certificates" => AuthMode::Certificates,
                            _ => {
                                return Err(CommandError::Argument(format!(
                                    "authmode must be none or certificates, not '{v}'"
                                )));
                            }
                        }
                    }
                    "type" | "interface" => {}
                    other => {
                        return Err(CommandError::Argument(format!(
                            "'{other}' is not supported (supported: state, authmode)"
                        )));
                    }
                }
            }
            self.state.remote_access = ra;
            return Ok(Output::text("Ok.\n"));
        }
        Err(CommandError::Unknown {
            command: words.join(" "),
            supported: COMMANDS.supported(),
        })
    }

    fn netsh_index(&self, idx: &str) -> Result<u32, CommandError> {
        let found = match idx.parse::<u32>() {
            Ok(n) => self.state.interface(n).map(|i| i.index),
            Err(_) => self
                .state
                .interfaces
                .iter()
                .find(|i| i.answers_to(idx))
                .map(|i| i.index),
        };
        found.ok_or_else(|| {
            CommandError::Object(format!(
                "The interface '{idx}' was not found. Known indices: {}",
                self.state
                    .interfaces
                    .iter()
                    .map(|i| i.index.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    fn certreq(&mut self, words: &[String]) -> Result<Output, CommandError> {
        let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
        let renew = lower.iter().any(|w| w == "renew") && lower.iter().any(|w| w == "-enroll");
        let which = lower
            .iter()
            .position(|w| w == "-cert")
            .and_then(|i| words.get(i + 1));
        let (Some(which), true) = (which, renew) else {
            return Err(CommandError::Argument("supported: certreq -enroll -machine -q -cert NAME renew (NAME: the IP-HTTPS certificate's subject, e.g. da.contoso.com, or IPsec for the machine certificate)".into()));
        };
        let now = self.now;
        let name = self.state.remote_access.connect_to.clone();
        let w = which.trim_start_matches("CN=");
        let certs = &mut self.state.certs;
        if w.eq_ignore_ascii_case(&name) || w.eq_ignore_ascii_case("IPHTTPS") {
            certs
                .pki
                .reissue_server(&name, Validity::around(now, 365))
                .map_err(|e| CommandError::Object(e.to_string()))?;
            Ok(Output::text(format!(
                "Certificate for CN={name} renewed (valid 1 year, issued by the enterprise CA).\n"
            )))
        } else if w.eq_ignore_ascii_case("IPsec")
            || w.eq_ignore_ascii_case("machine")
            || w.to_ascii_lowercase().starts_with("da-server")
        {
            let m = MachineOptions {
                validity: Validity::around(now, 365),
                client_auth: true,
                private_key: true,
                chains_to_root: true,
            };
            certs
                .pki
                .reissue_machine(&m)
                .map_err(|e| CommandError::Object(e.to_string()))?;
            Ok(Output::text(
                "Machine certificate renewed (Client Authentication, private key, chained to the configured root).\n",
            ))
        } else {
            Err(CommandError::Object(format!(
                "certreq: no certificate matches '{which}' (use {name} or IPsec)"
            )))
        }
    }
}

impl ServerTarget<'_> {
    fn get_remoteaccess(&mut self, _command: &str, _args: &Args) -> Result<Output, CommandError> {
        Ok(Output {
            value: views::remote_access(self.state),
            render: Render::List(None),
        })
    }

    fn otp_authentication(&mut self, command: &str, _args: &Args) -> Result<Output, CommandError> {
        let lc = command.to_ascii_lowercase();
        self.state.remote_access.otp_enabled = lc.starts_with("enable");
        Ok(Output::none())
    }

    fn vpn_role(&mut self, command: &str, args: &Args) -> Result<Output, CommandError> {
        let lc = command.to_ascii_lowercase();
        let kind = args.require("VpnType")?;
        if !kind.eq_ignore_ascii_case("Vpn") {
            return Err(CommandError::Argument(format!(
                "-VpnType {kind} is not simulated; Vpn (the client VPN, SSTP) is"
            )));
        }
        self.state.remote_access.vpn_enabled = lc.starts_with("install");
        Ok(Output::none())
    }

    fn set_itemproperty(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        let path = args.require("Path")?;
        let name = args.require("Name")?;
        if !path.eq_ignore_ascii_case(FIPS_KEY) || !name.eq_ignore_ascii_case("Enabled") {
            return Err(CommandError::Argument(format!(
                "only {FIPS_KEY} -Name Enabled (FIPS mode) is simulated, not {path} -Name {name}"
            )));
        }
        self.state.fips_mode = match args.require("Value")? {
            "1" => true,
            "0" => false,
            v => {
                return Err(CommandError::Argument(format!(
                    "-Value must be 0 or 1, not '{v}'"
                )));
            }
        };
        Ok(Output::none())
    }

    fn get_remoteaccesshealth(
        &mut self,
        _command: &str,
        _args: &Args,
    ) -> Result<Output, CommandError> {
        Ok(Output {
            value: self.health.clone(),
            render: Render::Table(views::health_columns()),
        })
    }

    fn get_netroute(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        let ifx = self.optional_interface(args)?;
        let dest = args
            .get("DestinationPrefix")
            .map(parse_prefix)
            .transpose()?;
        Ok(self.route_rows(|r| {
            ifx.is_none_or(|i| r.if_index == i) && dest.is_none_or(|d| r.destination_prefix == d)
        }))
    }

    fn new_netroute(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        let prefix = parse_prefix(args.require("DestinationPrefix")?)?;
        let if_index = self.interface_index(args)?;
        let publish = args
            .get("Publish")
            .map(parse_publish)
            .transpose()?
            .unwrap_or(Publish::No);
        let next_hop = match args.get("NextHop") {
            Some(h) => h.parse::<Ipv6Addr>().map_err(|_| {
                CommandError::Argument(format!("-NextHop '{h}' is not an IPv6 address"))
            })?,
            None => Ipv6Addr::UNSPECIFIED,
        };
        let route_metric = match args.get("RouteMetric") {
            Some(m) => m.parse().map_err(|_| {
                CommandError::Argument(format!("-RouteMetric '{m}' is not a number"))
            })?,
            None => 256,
        };
        let valid_lifetime = args
            .get("ValidLifetime")
            .map(parse_lifetime)
            .transpose()?
            .unwrap_or(u32::MAX);
        let preferred_lifetime = args
            .get("PreferredLifetime")
            .map(parse_lifetime)
            .transpose()?
            .unwrap_or(valid_lifetime);
        if self
            .state
            .routes
            .iter()
            .any(|r| r.destination_prefix == prefix && r.if_index == if_index)
        {
            return Err(CommandError::Object(
                "Instance MSFT_NetRoute already exists".into(),
            ));
        }
        self.state.routes.push(NetRoute {
            destination_prefix: prefix,
            if_index,
            next_hop,
            route_metric,
            publish,
            valid_lifetime,
            preferred_lifetime,
        });
        Ok(self.route_rows(|r| r.destination_prefix == prefix && r.if_index == if_index))
    }

    fn set_netroute(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        let prefix = parse_prefix(args.require("DestinationPrefix")?)?;
        let ifx = self.optional_interface(args)?;
        let publish = args.get("Publish").map(parse_publish).transpose()?;
        let valid = args.get("ValidLifetime").map(parse_lifetime).transpose()?;
        let preferred = args
            .get("PreferredLifetime")
            .map(parse_lifetime)
            .transpose()?;
        let metric: Option<u32> = args
            .get("RouteMetric")
            .map(|m| {
                m.parse().map_err(|_| {
                    CommandError::Argument(format!("-RouteMetric '{m}' is not a number"))
                })
            })
            .transpose()?;
        let mut n = 0;
        for r in self
            .state
            .routes
            .iter_mut()
            .filter(|r| r.destination_prefix == prefix && ifx.is_none_or(|i| r.if_index == i))
        {
            n += 1;
            if let Some(p) = publish {
                r.publish = p;
            }
            if let Some(v) = valid {
                r.valid_lifetime = v;
            }
            if let Some(p) = preferred {
                r.preferred_lifetime = p;
            }
            if let Some(m) = metric {
                r.route_metric = m;
            }
        }
        if n == 0 {
            return Err(no_route(prefix));
        }
        Ok(Output::none())
    }

    fn remove_netroute(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        let prefix = parse_prefix(args.require("DestinationPrefix")?)?;
        let ifx = self.optional_interface(args)?;
        let before = self.state.routes.len();
        self.state
            .routes
            .retain(|r| !(r.destination_prefix == prefix && ifx.is_none_or(|i| r.if_index == i)));
        if self.state.routes.len() == before {
            return Err(no_route(prefix));
        }
        Ok(Output::none())
    }

    fn set_netipinterface(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        let i = self.interface_index(args)?;
        let fwd = args
            .get("Forwarding")
            .map(|v| parse_enabled("-Forwarding", v))
            .transpose()?;
        let adv = args
            .get("Advertising")
            .map(|v| parse_enabled("-Advertising", v))
            .transpose()?;
        if fwd.is_none() && adv.is_none() {
            return Err(CommandError::Argument(
                "Set-NetIPInterface: give -Forwarding and/or -Advertising Enabled|Disabled".into(),
            ));
        }
        let ifc = self.state.interface_mut(i).expect("checked");
        if let Some(f) = fwd {
            ifc.forwarding = f;
        }
        if let Some(a) = adv {
            ifc.advertising = a;
        }
        Ok(Output::none())
    }

    fn service(&mut self, command: &str, args: &Args) -> Result<Output, CommandError> {
        let lc = command.to_ascii_lowercase();
        self.service_cmd(&lc, args)
    }

    fn new_netfirewallrule(&mut self, _command: &str, args: &Args) -> Result<Output, CommandError> {
        let inbound = args
            .get("Direction")
            .is_none_or(|d| d.eq_ignore_ascii_case("Inbound"));
        let tcp = args
            .get("Protocol")
            .is_some_and(|p| p.eq_ignore_ascii_case("TCP"));
        let port443 = args
            .get("LocalPort")
            .is_some_and(|p| p.split(',').any(|p| p.trim() == "443"));
        let allow = args
            .get("Action")
            .is_none_or(|a| a.eq_ignore_ascii_case("Allow"));
        if inbound && tcp && port443 {
            self.state.firewall_allows_443 = allow;
        }
        Ok(Output {
            value: json!({"Name": args.get("DisplayName").unwrap_or("rule"), "Enabled": "True", "Direction": args.get("Direction").unwrap_or("Inbound"), "Action": args.get("Action").unwrap_or("Allow")}),
            render: Render::List(None),
        })
    }

    fn netsh_command(&mut self, command: &str, args: &Args) -> Result<Output, CommandError> {
        let mut words = vec![command.to_string()];
        words.extend(args.positional.iter().cloned());
        self.netsh(&words)
    }

    fn certificates(&mut self, command: &str, args: &Args) -> Result<Output, CommandError> {
        let lc = command.to_ascii_lowercase();
        let mut words = vec![command.to_string()];
        words.extend(args.positional.iter().cloned());
        for (n, v) in &args.named {
            words.push(format!("-{n}"));
            words.extend(v.clone());
        }
        if lc == "certreq" {
            self.certreq(&words)
        } else if words.iter().any(|w| w.eq_ignore_ascii_case("-crl")) {
            self.state.certs.cdp_online = true;
            Ok(Output::text(
                "CertUtil: -CRL command completed successfully.\n",
            ))
        } else {
            Err(CommandError::Argument("supported: certutil -crl".into()))
        }
    }
}

impl Target for ServerTarget<'_> {
    fn run(&mut self, command: &str, args: &Args) -> Result<Output, CommandError> {
        let spec = COMMANDS.lookup(command, args)?;
        (spec.run)(self, command, args)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn lifetimes_are_seconds_timespans_or_infinite() {
        assert_eq!(parse_lifetime("0").unwrap(), 0);
        assert_eq!(parse_lifetime("600").unwrap(), 600);
        assert_eq!(parse_lifetime("00:10:00").unwrap(), 600);
        assert_eq!(parse_lifetime("1.00:00:00").unwrap(), 86_400);
        assert_eq!(parse_lifetime("2.01:02:03").unwrap(), 2 * 86_400 + 3723);
        assert_eq!(parse_lifetime("Infinite").unwrap(), u32::MAX);
        for bad in [
            "x.00:00:00",
            "00:61:00",
            "1:2",
            "soon",
            "99999999999999.00:00:00",
            "49710.06:28:15",
        ] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }

    use super::*;
    use crate::pki::{Pki, PkiOptions};
    use crate::windows::IPHTTPS_INDEX;
    use crate::windows::command::{Session, run_line};

    fn state() -> AdminState {
        let pki = Pki::generate(&PkiOptions::new(
            "da.contoso.com",
            time::OffsetDateTime::now_utc(),
        ))
        .unwrap();
        AdminState::new(
            "da.contoso.com",
            "2001:db8:1:1000::/64".parse().unwrap(),
            "2001:db8:1::/48".parse().unwrap(),
            pki,
        )
    }

    fn run(st: &mut AdminState, s: &mut Session, line: &str) -> Result<String, CommandError> {
        let mut copy = st.clone();
        let mut t = ServerTarget {
            now: time::OffsetDateTime::now_utc(),
            state: &mut copy,
            effects: Vec::new(),
            health: Value::Null,
        };
        let out = run_line(line, s, &mut t)?;
        *st = copy;
        Ok(out.to_text())
    }

    #[test]
    fn the_supported_commands_and_the_help_come_from_the_table() {
        // what operators saw before the table, then the help command it added
        let before = "Get-RemoteAccess, Enable-DAOtpAuthentication, Disable-DAOtpAuthentication, Install-RemoteAccess -VpnType Vpn, Uninstall-RemoteAccess -VpnType Vpn, Set-ItemProperty -Path HKLM:\\System\\CurrentControlSet\\Control\\Lsa\\FipsAlgorithmPolicy -Name Enabled -Value 0|1, Get-RemoteAccessHealth, Get-NetRoute, New-NetRoute, Set-NetRoute, Remove-NetRoute, Set-NetIPInterface, Get-Service, Start-Service, Stop-Service, Restart-Service, New-NetFirewallRule, certreq -enroll -machine -q -cert NAME renew, certutil -crl, netsh int ipv6 show int [N], netsh int ipv6 set int N forwarding=|advertise=enabled|disabled, netsh interface httpstunnel show interfaces, netsh interface httpstunnel set interface server state=|authmode=";
        assert_eq!(COMMANDS.supported(), format!("{before}, Get-Help"));
        let mut st = state();
        let mut s = Session::default();
        let e = run(&mut st, &mut s, "Get-Thing").unwrap_err();
        assert!(e.to_string().contains(&COMMANDS.supported()), "{e}");
        let help = run(&mut st, &mut s, "Get-Help").unwrap();
        for c in COMMANDS.0 {
            assert!(
                help.contains(c.name) && help.contains(c.help),
                "{} missing from\n{help}",
                c.name
            );
        }
        // a table's parameter list is enforced before the handler runs
        let e = run(&mut st, &mut s, "Get-NetRoute -Bogus 1").unwrap_err();
        assert!(e.to_string().contains("'Bogus'"), "{e}");
    }

    #[test]
    fn the_seed_route_fix_works_as_pasted() {
        let mut st = state();
        st.routes.retain(|r| r.if_index != IPHTTPS_INDEX);
        let mut s = Session::default();
        let shown = run(
            &mut st,
            &mut s,
            "Get-RemoteAccess | Select-Object ClientIPv6Prefix.",
        )
        .unwrap();
        assert!(shown.contains("2001:db8:1:1000::/64"), "{shown}");
        run(
            &mut st,
            &mut s,
            "$IPv6prefix = (Get-RemoteAccess).ClientIPv6Prefix ",
        )
        .unwrap();
        run(&mut st, &mut s, "New-NetRoute -AddressFamily IPv6 -DestinationPrefix $IPv6prefix -InterfaceAlias \u{201c}Microsoft IP-HTTPS Platform Interface\u{201d} -Publish Yes ").unwrap();
        assert_eq!(st.client_route().unwrap().publish, Publish::Yes);
        let routes = run(&mut st, &mut s, "Get-NetRoute -AddressFamily IPv6").unwrap();
        assert!(
            routes.contains("2001:db8:1:1000::/64") && routes.contains("Yes"),
            "{routes}"
        );
        assert!(run(&mut st, &mut s, "New-NetRoute -AddressFamily IPv6 -DestinationPrefix $IPv6prefix -InterfaceIndex 17 -Publish Yes").is_err());
    }

    #[test]
    fn netsh_seed_commands_and_bad_input_change_nothing() {
        let mut st = state();
        st.iphttps_mut().advertising = false;
        st.iphttps_mut().forwarding = false;
        let mut s = Session::default();
        let table = run(&mut st, &mut s, "netsh int ipv6 show int").unwrap();
        assert!(
            table.contains(" 17          50        1280  connected     IPHTTPSInterface"),
            "{table}"
        );
        let one = run(&mut st, &mut s, "netsh int ipv6 show int 17").unwrap();
        assert!(
            one.contains("Forwarding                         : disabled"),
            "{one}"
        );
        run(
            &mut st,
            &mut s,
            "Netsh int ipv6 set int 17 forwarding=enabled ",
        )
        .unwrap();
        run(
            &mut st,
            &mut s,
            "netsh int ipv6 set int 17 advertise=enabled",
        )
        .unwrap();
        assert!(st.iphttps().forwarding && st.iphttps().advertising);
        let before = st.clone();
        for bad in [
            "netsh int ipv6 set int 99 forwarding=enabled",
            "netsh int ipv6 set int 17 forwarding=maybe",
            "New-NetRoute -DestinationPrefix 2001:zz::/64 -InterfaceIndex 17",
            "New-NetRoute -DestinationPrefix 2001:db8:9::/64 -InterfaceAlias Nope",
            "Format-Disk C:",
            "Set-NetIPInterface -InterfaceIndex 17 -Forwarding Sideways",
        ] {
            let e = run(&mut st, &mut s, bad).unwrap_err();
            assert!(!e.to_string().is_empty());
            assert_eq!(st, before, "{bad} changed state");
        }
    }

    #[test]
    fn restart_ramgmtsvc_asks_for_a_refresh() {
        let mut st = state();
        let mut t = ServerTarget {
            now: time::OffsetDateTime::now_utc(),
            state: &mut st,
            effects: Vec::new(),
            health: Value::Null,
        };
        let out = run_line(
            "Restart-Service RaMgmtSvc -PassThru ",
            &mut Session::default(),
            &mut t,
        )
        .unwrap();
        assert!(
            out.to_text().contains("Running RaMgmtSvc"),
            "{}",
            out.to_text()
        );
        assert_eq!(t.effects, vec![Effect::RefreshOperationsStatus]);
    }
}
