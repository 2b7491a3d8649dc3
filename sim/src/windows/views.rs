//! Text views in the shapes Windows prints (netsh, PowerShell tables and lists, the
//! Operations Status details), built from JSON values so every view has a JSON twin.

use serde_json::{Value, json};

use super::health::{HealthState, OperationsStatus};
use super::{AdminState, NetInterface, publish_name};

/// How a value is shown as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Render {
    /// A PowerShell table with these columns.
    Table(Vec<String>),
    /// A PowerShell list (all properties, or these).
    List(Option<Vec<String>>),
    /// Text made by the command itself.
    Text(String),
}

/// Renders `value` as `render` says.
pub fn render(value: &Value, render: &Render) -> String {
    match render {
        Render::Text(t) => t.clone(),
        Render::Table(cols) => format_table(&rows(value), cols),
        Render::List(cols) => format_list(&rows(value), cols.as_deref()),
    }
}

fn rows(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        v => vec![v.clone()],
    }
}

/// A property as PowerShell prints it.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        other => other.to_string(),
    }
}

/// `Format-Table`: a header, a dashed rule, one line per row; blank lines around.
pub fn format_table(rows: &[Value], cols: &[String]) -> String {
    let widths: Vec<usize> = cols
        .iter()
        .map(|c| {
            rows.iter()
                .map(|r| cell(&r[c.as_str()]).chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let s: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        s.join(" ").trim_end().to_string()
    };
    let mut out = String::from("\n");
    out += &line(cols.to_vec());
    out += "\n";
    out += &line(cols.iter().map(|c| "-".repeat(c.len())).collect());
    out += "\n";
    for r in rows {
        out += &line(cols.iter().map(|c| cell(&r[c.as_str()])).collect());
        out += "\n";
    }
    out + "\n"
}

/// `Format-List`: `Name : value` per property, a blank line between objects.
pub fn format_list(rows: &[Value], cols: Option<&[String]>) -> String {
    let mut out = String::new();
    for r in rows {
        let keys: Vec<String> = match (cols, r) {
            (Some(c), _) if !c.iter().any(|c| c == "*") => c.to_vec(),
            (_, Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let w = keys.iter().map(|k| k.len()).max().unwrap_or(0);
        out += "\n";
        for k in &keys {
            let v = cell(&r[k.as_str()]);
            let mut lines = v.lines();
            out += &format!("{k:<w$} : {}\n", lines.next().unwrap_or(""));
            for more in lines {
                out += &format!("{:<w$}   {more}\n", "");
            }
        }
    }
    out + "\n"
}

fn enabled(b: bool) -> &'static str {
    if b { "enabled" } else { "disabled" }
}

/// `netsh int ipv6 show int`.
pub fn netsh_interfaces(state: &AdminState) -> (Value, String) {
    let mut text = String::from(
        "\nIdx     Met         MTU          State                Name\n---  ----------  ----------  ------------  ---------------------------\n",
    );
    for i in &state.interfaces {
        text += &format!(
            "{:>3}  {:>10}  {:>10}  {:<12}  {}\n",
            i.index, i.metric, i.mtu, i.state, i.name
        );
    }
    text += "\n";
    (
        serde_json::to_value(&state.interfaces).unwrap_or(Value::Null),
        text,
    )
}

/// `netsh int ipv6 show int N`.
pub fn netsh_interface(i: &NetInterface) -> (Value, String) {
    let rows = [
        ("IfIndex", i.index.to_string()),
        ("State", i.state.clone()),
        ("Metric", i.metric.to_string()),
        ("Link MTU", format!("{} bytes", i.mtu)),
        ("Forwarding", enabled(i.forwarding).into()),
        ("Advertising", enabled(i.advertising).into()),
        ("Neighbor Discovery", enabled(i.neighbor_discovery).into()),
        (
            "Neighbor Unreachability Detection",
            enabled(i.neighbor_unreachability_detection).into(),
        ),
        ("Router Discovery", enabled(i.router_discovery).into()),
    ];
    let mut text = format!(
        "\nInterface {} Parameters\n----------------------------------------------\n",
        i.name
    );
    for (k, v) in rows {
        text += &format!("{k:<35}: {v}\n");
    }
    text += "\n";
    (serde_json::to_value(i).unwrap_or(Value::Null), text)
}

/// `Get-NetRoute -AddressFamily IPv6` rows.
pub fn routes(state: &AdminState) -> Value {
    Value::Array(
        state
            .routes
            .iter()
            .map(|r| {
                let alias = state
                    .interface(r.if_index)
                    .map(|i| i.aliases.first().cloned().unwrap_or_else(|| i.name.clone()));
                json!({
                    "ifIndex": r.if_index,
                    "InterfaceAlias": alias,
                    "DestinationPrefix": r.destination_prefix.to_string(),
                    "NextHop": r.next_hop.to_string(),
                    "RouteMetric": r.route_metric,
                    "Publish": publish_name(r.publish),
                    "ValidLifetime": route_lifetime(r.valid_lifetime),
                    "PreferredLifetime": route_lifetime(r.preferred_lifetime),
                    "PolicyStore": "ActiveStore",
                })
            })
            .collect(),
    )
}

fn route_lifetime(s: u32) -> String {
    timespan((s != u32::MAX).then(|| std::time::Duration::from_secs(u64::from(s))))
}

/// A lifetime as PowerShell prints a TimeSpan (`01:59:58`, `1.00:00:00`), or
/// `Infinite ([TimeSpan]::MaxValue)`.
pub fn timespan(d: Option<std::time::Duration>) -> String {
    let Some(d) = d else {
        return "Infinite ([TimeSpan]::MaxValue)".into();
    };
    let s = d.as_secs();
    let (days, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}.{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// The default columns of `Get-NetRoute`.
pub fn route_columns() -> Vec<String> {
    [
        "ifIndex",
        "DestinationPrefix",
        "NextHop",
        "RouteMetric",
        "Publish",
        "PolicyStore",
    ]
    .map(String::from)
    .to_vec()
}

/// `Get-RemoteAccess`.
pub fn remote_access(state: &AdminState) -> Value {
    let ra = &state.remote_access;
    json!({
        "DAStatus": "Installed",
        "ConnectToAddress": ra.connect_to,
        "InternalIPv6Prefix": ra.internal_prefix.to_string(),
        "ClientIPv6Prefix": ra.client_prefix.to_string(),
        "IPHttpsAuthMode": match ra.auth_mode {
            crate::link::router::AuthMode::None => "None",
            crate::link::router::AuthMode::Certificates => "Certificates",
        },
        "IPHttpsState": if ra.iphttps_enabled { "Enabled" } else { "Disabled" },
        "OtpStatus": if ra.otp_enabled { "Enabled" } else { "Disabled" },
        "VpnStatus": if ra.vpn_enabled { "Installed" } else { "Uninstalled" },
        "IPHttpsNullEncryption": match state.null_suites() {
            super::NullSuites::Offered => "Offered".to_string(),
            super::NullSuites::Disabled(why) => format!("Disabled: {why}"),
            super::NullSuites::Unsupported => "Not supported".to_string(),
        },
        "SslCertificate": format!("CN={}", ra.connect_to),
    })
}

/// Services as `Get-Service` shows them.
pub fn services(state: &AdminState, names: &[String]) -> Value {
    Value::Array(
        state
            .services
            .iter()
            .filter(|s| names.is_empty() || names.iter().any(|n| n.eq_ignore_ascii_case(&s.name)))
            .map(|s| {
                json!({
                    "Status": if s.running { "Running" } else { "Stopped" },
                    "Name": s.name,
                    "DisplayName": s.display_name,
                })
            })
            .collect(),
    )
}

/// The default columns of `Get-Service`.
pub fn service_columns() -> Vec<String> {
    ["Status", "Name", "DisplayName"].map(String::from).to_vec()
}

/// `Get-RemoteAccessHealth` rows.
pub fn health(ops: &OperationsStatus) -> Value {
    let mut rows = vec![json!({
        "Component": "Server",
        "RemoteAccessServer": "localhost",
        "HealthState": ops.server.as_str(),
        "TimeStamp": ops.evaluated_at,
    })];
    for c in &ops.components {
        rows.push(json!({
            "Component": c.component,
            "RemoteAccessServer": "localhost",
            "HealthState": c.state.as_str(),
            "TimeStamp": ops.evaluated_at,
            "ErrorDesc": c.error,
            "ErrorCause": c.causes,
            "ErrorResoln": c.resolution,
        }));
    }
    Value::Array(rows)
}

/// The default columns of `Get-RemoteAccessHealth`.
pub fn health_columns() -> Vec<String> {
    [
        "Component",
        "RemoteAccessServer",
        "HealthState",
        "TimeStamp",
    ]
    .map(String::from)
    .to_vec()
}

/// The Operations Status tile and the Details of every component that is not OK, in the
/// console's words (`IP-HTTPS: Not working properly`, `Error:`, `Causes:`, `Resolution:`).
pub fn operations_status(ops: &OperationsStatus) -> String {
    let mut out = format!("Operations Status (evaluated {})\n", ops.evaluated_at);
    out += &format!("  {:<18}{}\n", "Server", ops.server.as_str());
    for c in &ops.components {
        out += &format!("  {:<18}{}\n", c.component, c.state.as_str());
    }
    out += &format!(
        "  {:<18}NULL encryption {}\n",
        "IP-HTTPS TLS", ops.encryption.null
    );
    for (suite, n) in &ops.encryption.clients_by_suite {
        out += &format!("  {:<18}{n} client(s) on {suite}\n", "");
    }
    for c in ops.components.iter().filter(|c| c.state != HealthState::Ok) {
        let header = match c.state {
            HealthState::Error => "Not working properly",
            _ => "Working with warnings",
        };
        out += &format!(
            "\nDetails\n{}: {header}\nError:\n{}\nCauses:\n{}\nResolution:\n{}\n",
            c.component,
            c.error.as_deref().unwrap_or(""),
            c.causes.as_deref().unwrap_or(""),
            c.resolution.as_deref().unwrap_or("")
        );
    }
    out
}

/// What Windows' `ping` prints for these outcomes (one per Echo Request, in order), and
/// its JSON twin: a reply's round trip, a request that timed out, or one that could not be
/// sent (no usable address: Windows' "transmit failed").
pub fn ping(
    dst: std::net::Ipv6Addr,
    size: usize,
    outcomes: &[Result<std::time::Duration, crate::client::PingError>],
) -> (Value, String) {
    use crate::client::PingError;
    use std::fmt::Write as _;
    let ms = |d: &std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut text = format!("\nPinging {dst} with {size} bytes of data:\n");
    let mut rtts = Vec::new();
    for o in outcomes {
        match o {
            Ok(d) if ms(d) < 1.0 => {
                let _ = writeln!(text, "Reply from {dst}: time<1ms");
                rtts.push(ms(d));
            }
            Ok(d) => {
                let _ = writeln!(text, "Reply from {dst}: time={}ms", ms(d).round());
                rtts.push(ms(d));
            }
            Err(PingError::Timeout(_)) => text.push_str("Request timed out.\n"),
            Err(PingError::NotUp | PingError::Stopped) => {
                text.push_str("PING: transmit failed. General failure.\n")
            }
        }
    }
    let (sent, received) = (outcomes.len(), rtts.len());
    let lost = sent - received;
    let _ = write!(
        text,
        "\nPing statistics for {dst}:\n    Packets: Sent = {sent}, Received = {received}, Lost = {lost} ({}% loss),\n",
        (lost * 100).checked_div(sent).unwrap_or(0)
    );
    if received > 0 {
        let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rtts.iter().copied().fold(0.0, f64::max);
        let avg = rtts.iter().sum::<f64>() / received as f64;
        let _ = writeln!(
            text,
            "Approximate round trip times in milli-seconds:\n    Minimum = {}ms, Maximum = {}ms, Average = {}ms",
            min.round(),
            max.round(),
            avg.round()
        );
    }
    let value = json!({
        "Destination": dst.to_string(),
        "BufferSize": size,
        "Sent": sent,
        "Received": received,
        "Lost": lost,
        "RoundTripMs": rtts,
    });
    (value, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_list_shapes() {
        let rows = vec![json!({"ClientIPv6Prefix": "2001:db8:1:1000::/64"})];
        assert_eq!(
            format_table(&rows, &["ClientIPv6Prefix".to_string()]),
            "\nClientIPv6Prefix\n----------------\n2001:db8:1:1000::/64\n\n"
        );
        assert_eq!(
            format_list(&rows, None),
            "\nClientIPv6Prefix : 2001:db8:1:1000::/64\n\n"
        );
    }
}
