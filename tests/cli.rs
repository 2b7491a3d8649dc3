//! The `iphttps` command as a user runs it: pki, serve + connect --once, lab, and the
//! pcap it writes, read back by etherparse and (when installed) by tshark.

mod common;

use common::serve;

use std::process::{Command, Stdio};

use iphttps_sim::pki::files;

fn iphttps() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iphttps"))
}

#[test]
fn pki_writes_the_documented_files_with_explicit_dates() {
    let dir = tempfile::tempdir().unwrap();
    let out = iphttps().arg("pki").arg(dir.path()).output().unwrap();
    assert!(out.status.success());
    for f in [
        files::ROOT_CA,
        files::INTERMEDIATE_CA,
        files::SERVER,
        files::SERVER_CHAIN,
        files::SERVER_KEY,
        files::CLIENT,
        files::CLIENT_KEY,
    ] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(text.starts_with("-----BEGIN "), "{f}");
    }
    let chain = std::fs::read_to_string(dir.path().join(files::SERVER_CHAIN)).unwrap();
    assert_eq!(
        chain.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf + intermediate"
    );
}

/// `iphttps connect https://da.contoso.com:PORT/IPHTTPS --ca CA --resolve ... --once`.
fn connect_once(port: u16, ca: &std::path::Path) -> std::process::Output {
    connect_once_within(port, ca, 15)
}

fn connect_once_within(port: u16, ca: &std::path::Path, secs: u32) -> std::process::Output {
    iphttps()
        .arg("connect")
        .arg(format!("https://da.contoso.com:{port}/IPHTTPS"))
        .arg("--ca")
        .arg(ca)
        .args([
            "--resolve",
            "da.contoso.com:127.0.0.1",
            "--once",
            "--timeout",
            &secs.to_string(),
        ])
        .output()
        .unwrap()
}

#[test]
fn serve_then_connect_once_prints_active_with_last_error_0x0() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &[]);
    let (port, banner) = (served.port, &served.banner);
    assert!(
        banner
            .iter()
            .any(|l| l.starts_with("IP-HTTPS server https://da.contoso.com:"))
    );
    assert!(banner.iter().any(|l| l.contains("root-ca.pem")));
    assert!(
        banner
            .iter()
            .any(|l| l == "ClientIPv6Prefix: 2001:db8:1:1000::/64")
    );
    assert!(banner.iter().any(|l| l == "Intranet host: 2001:db8:1::10"));
    let out = connect_once(port, &dir.path().join(files::ROOT_CA));
    drop(served);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Last Error Code            : 0x0\n"),
        "{text}"
    );
    assert!(
        text.contains("Interface Status           : IPHTTPS interface active\n"),
        "{text}"
    );
    assert!(
        text.contains("IPv6 Address               : 2001:db8:1:1000:"),
        "{text}"
    );
}

#[test]
fn connect_once_with_an_untrusted_root_shows_0x800b0109_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    assert!(
        iphttps()
            .arg("pki")
            .arg(other.path())
            .output()
            .unwrap()
            .status
            .success()
    );
    let served = serve(dir.path(), &[]);
    let out = connect_once(served.port, &other.path().join(files::ROOT_CA));
    drop(served);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("Last Error Code            : 0x800b0109"),
        "{text}"
    );
    assert!(
        text.contains("Failed to connect to the IPHTTPS server. Waiting to reconnect"),
        "{text}"
    );
}

#[test]
fn serve_on_a_taken_port_explains_itself() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = iphttps()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot listen on") && err.contains("--listen"),
        "{err}"
    );
}

#[test]
fn lab_with_four_clients_prints_addresses_and_pings() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("lab.pcap");
    let out = iphttps()
        .args(["lab", "--clients", "4", "--pcap"])
        .arg(&pcap)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for n in 1..=4 {
        assert!(
            text.contains(&format!("client {n}: address 2001:db8:1:1000:")),
            "{text}"
        );
    }
    assert_eq!(text.matches(": reply in ").count(), 8, "{text}");
    assert!(text.contains("8/8 pings answered: PASS"));
    check_pcap(&pcap);
}

/// Every record is a whole IPv6 packet whose ICMPv6 checksum verifies, and tshark (when
/// installed) reports no malformed packet and no bad checksum.
fn check_pcap(path: &std::path::Path) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    let mut at = 24;
    let mut icmp = 0;
    let mut kinds = std::collections::BTreeSet::new();
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let pkt = &bytes[at + 16..at + 16 + len];
        at += 16 + len;
        let sliced = etherparse::SlicedPacket::from_ip(pkt).expect("a valid IPv6 packet");
        let Some(etherparse::NetSlice::Ipv6(ip)) = &sliced.net else {
            panic!("not IPv6")
        };
        let (src, dst) = (ip.header().source(), ip.header().destination());
        if let Some(etherparse::TransportSlice::Icmpv6(i)) = sliced.transport {
            assert!(i.is_checksum_valid(src, dst), "bad ICMPv6 checksum");
            kinds.insert(i.type_u8());
            icmp += 1;
        }
    }
    assert!(icmp > 0);
    for t in [133u8, 134, 135, 128, 129] {
        assert!(
            kinds.contains(&t),
            "capture lacks ICMPv6 type {t}: {kinds:?}"
        );
    }
    match Command::new("tshark")
        .args(["-r"])
        .arg(path)
        .args([
            "-T",
            "fields",
            "-e",
            "icmpv6.checksum.status",
            "-e",
            "_ws.malformed",
        ])
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(!text.is_empty());
            for line in text.lines() {
                let mut f = line.split('\t');
                let status = f.next().unwrap_or("");
                let malformed = f.next().unwrap_or("");
                assert!(
                    status.is_empty() || status == "1",
                    "tshark: bad checksum in {line:?}"
                );
                assert!(malformed.is_empty(), "tshark: malformed packet {line:?}");
            }
        }
        Ok(out) => panic!("tshark failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => common::skip(
            "the tshark part of the pcap check",
            &format!("tshark not runnable ({e}); .ci/run installs it"),
        ),
    }
}

/// Fragmented traffic (the shipped fragment scenarios: pings up to 65,000 bytes, a Packet
/// Too Big, 4000-byte UDP datagrams) captured by the server reads clean in tshark with its
/// IPv6 reassembly on: no malformed packet, no expert warning or error, every ICMPv6 and UDP
/// checksum of the reassembled datagrams valid.
#[test]
fn fragmented_traffic_reads_clean_in_tshark() {
    if Command::new("tshark").arg("--version").output().is_err() {
        return common::skip(
            "fragmented_traffic_reads_clean_in_tshark",
            "tshark not runnable; .ci/run installs it",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let scenarios = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let out = iphttps()
        .arg("run")
        .arg(scenarios.join("fragments-path-mtu.toml"))
        .arg(scenarios.join("fragments-between-clients.toml"))
        .arg("--artifacts")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for (name, reassembled_at_least) in [
        ("fragments-path-mtu", 10),
        ("fragments-between-clients", 200),
    ] {
        let pcap = dir.path().join(format!("{name}.pcap"));
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args([
                "-o",
                "ipv6.defragment:TRUE",
                "-o",
                "udp.check_checksum:TRUE",
            ])
            .args(["-T", "fields", "-E", "separator=/t"])
            .args([
                "-e",
                "ipv6.reassembled.length",
                "-e",
                "icmpv6.checksum.status",
            ])
            .args([
                "-e",
                "udp.checksum.status",
                "-e",
                "_ws.malformed",
                "-e",
                "_ws.expert.severity",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut reassembled = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let field = |i: usize| f.get(i).copied().unwrap_or("");
            for (i, what) in [(1, "ICMPv6"), (2, "UDP")] {
                assert!(
                    field(i).is_empty() || field(i) == "1",
                    "{name}: bad {what} checksum in {line:?}"
                );
            }
            assert!(field(3).is_empty(), "{name}: malformed packet {line:?}");
            // 0x00600000 warning, 0x00800000 error
            assert!(
                !field(4)
                    .split(',')
                    .any(|s| s.parse::<u32>().is_ok_and(|v| v >= 0x0060_0000)),
                "{name}: expert warning or error {line:?}"
            );
            if !field(0).is_empty() {
                reassembled += 1;
            }
        }
        assert!(
            reassembled >= reassembled_at_least,
            "{name}: tshark reassembled {reassembled} datagrams"
        );
    }
}

#[test]
fn serve_with_expired_cert_makes_connect_fail_with_0x800b0101() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &["--fault", "expired-cert"]);
    let out = connect_once(served.port, &dir.path().join(files::ROOT_CA));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("Last Error Code            : 0x800b0101"),
        "{text}"
    );
}

#[test]
fn serve_with_untrusted_root_shows_0x800b0109_and_the_seed_status_line() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &["--fault", "untrusted-root"]);
    let out = connect_once(served.port, &dir.path().join(files::ROOT_CA));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("Last Error Code            : 0x800b0109"),
        "{text}"
    );
    assert!(text.contains("Interface Status           : Failed to connect to the IPHTTPS server. Waiting to reconnect"), "{text}");
}

/// The seed's remediation block, as it stands in the document (typographic quotes and
/// trailing spaces included).
const SEED_ROUTE_FIX: &str = "$IPv6prefix = (Get-RemoteAccess).ClientIPv6Prefix \nNew-NetRoute -AddressFamily IPv6 -DestinationPrefix $IPv6prefix -InterfaceAlias \u{201c}Microsoft IP-HTTPS Platform Interface\u{201d} -Publish Yes \nRestart-Service RaMgmtSvc -PassThru \n";

#[test]
fn route_not_published_is_diagnosed_and_the_seed_block_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &["--fault", "route-not-published"]);
    let diag = iphttps()
        .args(["diagnose", "--admin", &served.admin])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&diag.stdout);
    assert!(!diag.status.success(), "{text}");
    assert!(text.contains("IP-HTTPS: Not working properly\nError:\nThe IP-HTTPS route does not have published property enabled.\n"), "{text}");
    // before the fix a client gets only a link-local address
    let out = connect_once_within(served.port, &dir.path().join(files::ROOT_CA), 4);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Link-local IPv6 Address") && !text.contains("IPv6 Address               :"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("RA carries no prefix"), "{text}");
    // the seed's block, piped into ctl as one session
    let mut ctl = iphttps()
        .args(["ctl", "--admin", &served.admin])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    ctl.stdin
        .take()
        .unwrap()
        .write_all(SEED_ROUTE_FIX.as_bytes())
        .unwrap();
    let out = ctl.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Running RaMgmtSvc"));
    let diag = iphttps()
        .args(["diagnose", "--admin", &served.admin])
        .output()
        .unwrap();
    assert!(
        diag.status.success(),
        "{}",
        String::from_utf8_lossy(&diag.stdout)
    );
    let out = connect_once(served.port, &dir.path().join(files::ROOT_CA));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("IPv6 Address               : 2001:db8:1:1000:"),
        "{text}"
    );
}

#[test]
fn ctl_rejects_bad_input_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &[]);
    let run = |args: &[&str]| {
        iphttps()
            .args(["ctl", "--admin", &served.admin, "--"])
            .args(args)
            .output()
            .unwrap()
    };
    let before = String::from_utf8_lossy(&run(&["Get-NetRoute", "-AddressFamily", "IPv6"]).stdout)
        .to_string();
    for bad in [
        vec!["Format-Disk", "C:"],
        vec![
            "New-NetRoute",
            "-DestinationPrefix",
            "2001:db8::zz/64",
            "-InterfaceIndex",
            "17",
        ],
        vec![
            "netsh",
            "int",
            "ipv6",
            "set",
            "int",
            "42",
            "forwarding=enabled",
        ],
    ] {
        let out = run(&bad);
        assert!(!out.status.success(), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("error: "),
            "{bad:?}"
        );
    }
    let after = String::from_utf8_lossy(&run(&["Get-NetRoute", "-AddressFamily", "IPv6"]).stdout)
        .to_string();
    assert_eq!(before, after);
    let json = run(&["Get-RemoteAccess"]);
    let text = String::from_utf8_lossy(&json.stdout).to_string();
    assert!(
        text.lines()
            .any(|l| l.starts_with("ClientIPv6Prefix ") && l.ends_with(": 2001:db8:1:1000::/64")),
        "{text}"
    );
    let out = iphttps()
        .args([
            "ctl",
            "--admin",
            &served.admin,
            "--json",
            "--",
            "Get-RemoteAccess",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ClientIPv6Prefix"], "2001:db8:1:1000::/64");
}

#[test]
fn pki_fault_sets_are_what_openssl_sees() {
    let dir = tempfile::tempdir().unwrap();
    let out = iphttps()
        .arg("pki")
        .arg(dir.path())
        .args(["--fault", "untrusted-root"])
        .output()
        .unwrap();
    assert!(out.status.success());
    for f in [
        files::ROOT_CA,
        files::ISSUING_ROOT_CA,
        files::SERVER,
        files::SERVER_CHAIN,
        files::INTERMEDIATE_CA,
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let bad = iphttps()
        .arg("pki")
        .arg(dir.path())
        .args(["--fault", "route-not-published"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a certificate fault"));
    let verify = |root: &str| {
        Command::new("openssl")
            .args(["verify", "-CAfile"])
            .arg(dir.path().join(root))
            .arg("-untrusted")
            .arg(dir.path().join(files::INTERMEDIATE_CA))
            .arg(dir.path().join(files::SERVER))
            .output()
    };
    match verify(files::ROOT_CA) {
        Ok(o) => {
            assert!(!o.status.success(), "root-ca.pem must not verify the chain");
            assert!(
                verify(files::ISSUING_ROOT_CA).unwrap().status.success(),
                "the issuing root verifies it"
            );
            let expired = tempfile::tempdir().unwrap();
            assert!(
                iphttps()
                    .arg("pki")
                    .arg(expired.path())
                    .args(["--fault", "expired-cert"])
                    .output()
                    .unwrap()
                    .status
                    .success()
            );
            let check = Command::new("openssl")
                .args(["x509", "-checkend", "0", "-noout", "-in"])
                .arg(expired.path().join(files::SERVER))
                .output()
                .unwrap();
            assert!(
                !check.status.success(),
                "openssl says the expired-cert leaf has expired"
            );
        }
        Err(e) => common::skip(
            "the openssl part of the certificate check",
            &format!("openssl not runnable ({e}); .ci/run installs it"),
        ),
    }
}

#[test]
fn faults_lists_the_catalogue_as_text_and_json() {
    let out = iphttps().args(["faults", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 19);
    for n in [
        "expired-cert",
        "untrusted-root",
        "route-not-published",
        "ip-address-url",
        "server-timeout",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    let text =
        String::from_utf8_lossy(&iphttps().arg("faults").output().unwrap().stdout).to_string();
    assert!(text.contains("The IP-HTTPS route does not have published property enabled."));
    let bad = iphttps()
        .args(["serve", "--fault", "expired-certt"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("did you mean expired-cert"));
}

#[cfg(not(feature = "null-cipher"))]
#[test]
fn null_cipher_without_the_openssl_backend_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = iphttps()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--null-cipher",
            "--pki",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features null-cipher"), "{err}");
}
