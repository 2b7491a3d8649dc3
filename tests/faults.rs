//! Every fault of the catalogue: a lab starts with it, the client shows what Windows
//! shows, Operations Status shows the console's message, the documented fix is run
//! through the same command path a user has (the catalogue's own command lines), and
//! the lab recovers: LinkUp with a global address, intranet ping answered, healthy.

mod common;

use std::time::Duration;

use common::WAIT;
use iphttps_harness::lab::{Lab, LabConfig};
use iphttps_sim::client::{ClientState, ClientStatus, STATUS_FAILED, STATUS_INVALID_URL};
use iphttps_sim::deployment::DeploymentConfig;
use iphttps_sim::fault::Fault;
use iphttps_sim::windows::command::Session;
use iphttps_sim::windows::health::HealthState;
use iphttps_sim::winerr::LastErrorCode;

/// What the client must show while the fault is in place.
enum Shows {
    /// A failed connection with this code.
    Code(LastErrorCode),
    /// Up, with this check on the status.
    Up(fn(&ClientStatus) -> bool),
}

async fn lab_with(fault: Fault) -> Lab {
    Lab::start(LabConfig {
        clients: 2,
        deployment: DeploymentConfig {
            faults: vec![fault],
            ..DeploymentConfig::default()
        },
        ..LabConfig::default()
    })
    .await
    .expect("lab starts")
}

/// A lab with no fault and `clients` clients, all up with an address.
async fn healthy_lab(clients: usize) -> Lab {
    let lab = Lab::start(LabConfig {
        clients,
        ..LabConfig::default()
    })
    .await
    .expect("lab starts");
    lab.wait_all_active(WAIT).await.expect("every client up");
    lab
}

async fn run_fix(lab: &Lab, fault: Fault) {
    let url = format!(
        "https://da.contoso.com:{}/IPHTTPS",
        lab.server.local_addr().port()
    );
    let pki = lab.pki_dir().display().to_string();
    let mut session = Session::default();
    for line in fault.info().fix_commands {
        let line = line
            .replace("<NAME>", "da.contoso.com")
            .replace("<PKI>", &pki)
            .replace("<URL>", &url)
            .replace("<ADDR>", "127.0.0.1");
        match line.strip_prefix("client: ") {
            Some(l) => {
                for n in 1..=lab.clients().len() {
                    lab.run(Some(n), l, &mut session)
                        .await
                        .unwrap_or_else(|e| panic!("{l}: {e}"));
                }
            }
            None => {
                lab.run(None, &line, &mut session)
                    .await
                    .unwrap_or_else(|e| panic!("{line}: {e}"));
            }
        }
    }
}

async fn check(fault: Fault, shows: Shows, ops: Option<(&str, HealthState, &str)>) {
    let lab = lab_with(fault).await;
    let intranet = lab.server.intranet_address();
    // 1. what the client shows
    match shows {
        Shows::Code(code) => {
            let s = lab
                .client(0)
                .wait_until(WAIT, |s| s.failures > 0 && s.last_error == code)
                .await
                .unwrap_or_else(|s| panic!("{fault}: expected {code}, client shows {s:?}"));
            assert_ne!(s.state, ClientState::LinkUp);
            let want = if code == LastErrorCode::INVALID_NETNAME {
                STATUS_INVALID_URL
            } else {
                STATUS_FAILED
            };
            assert_eq!(s.interface_status, want);
        }
        Shows::Up(pred) => {
            lab.client(0)
                .wait_until(WAIT, |s| {
                    s.state == ClientState::LinkUp && s.link_local.is_some()
                })
                .await
                .unwrap_or_else(|s| panic!("{fault}: no link: {s:?}"));
            // give an RA (if any) time to arrive
            tokio::time::sleep(Duration::from_millis(300)).await;
            let s = lab.client(0).status();
            assert_eq!(s.last_error, LastErrorCode::SUCCESS);
            assert!(pred(&s), "{fault}: client status {s:?}");
        }
    }
    // 2. what Operations Status shows
    let st = lab.operations_status().await;
    match ops {
        Some((component, state, text)) => {
            let c = st.component(component).unwrap();
            assert_eq!(c.state, state, "{fault}: {st:?}");
            let all = format!(
                "{} {}",
                c.error.clone().unwrap_or_default(),
                c.causes.clone().unwrap_or_default()
            );
            assert!(all.contains(text), "{fault}: {all}");
            assert_eq!(st.server, state);
        }
        None => assert_eq!(st.server, HealthState::Ok, "{fault}: {st:?}"),
    }
    // 3. the documented fix, through the command path
    run_fix(&lab, fault).await;
    // 4. recovery
    let up = lab
        .wait_all_active(WAIT)
        .await
        .unwrap_or_else(|s| panic!("{fault}: not recovered: {s:?}"));
    assert!(up.iter().all(|s| s.last_error == LastErrorCode::SUCCESS));
    for c in lab.clients() {
        c.ping(intranet, 56, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{fault}: intranet ping after the fix: {e}"));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let st = lab.operations_status().await;
    assert_eq!(
        st.server,
        HealthState::Ok,
        "{fault}: still unhealthy after the fix: {st:?}"
    );
    lab.shutdown().await;
}

const IPHTTPS: &str = "IP-HTTPS";
const IPSEC: &str = "IPsec";
const CERT_NOT_VALID: &str = "The IP-HTTPS certificate is not valid.";

#[tokio::test]
async fn expired_cert() {
    check(
        Fault::ExpiredCert,
        Shows::Code(LastErrorCode::CERT_EXPIRED),
        Some((IPHTTPS, HealthState::Error, "The certificate has expired")),
    )
    .await;
    // and the console's Error line is the seed's
    let lab = lab_with(Fault::ExpiredCert).await;
    let st = lab.operations_status().await;
    assert_eq!(
        st.component(IPHTTPS).unwrap().error.as_deref(),
        Some(CERT_NOT_VALID)
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn not_yet_valid_cert() {
    check(
        Fault::NotYetValidCert,
        Shows::Code(LastErrorCode::CERT_EXPIRED),
        Some((IPHTTPS, HealthState::Error, CERT_NOT_VALID)),
    )
    .await;
}

#[tokio::test]
async fn untrusted_root() {
    check(
        Fault::UntrustedRoot,
        Shows::Code(LastErrorCode::CERT_UNTRUSTED_ROOT),
        None,
    )
    .await;
}

#[tokio::test]
async fn name_mismatch() {
    check(
        Fault::NameMismatch,
        Shows::Code(LastErrorCode::CERT_NAME_MISMATCH),
        None,
    )
    .await;
}

#[tokio::test]
async fn revoked_cert() {
    check(
        Fault::RevokedCert,
        Shows::Code(LastErrorCode::REVOKED),
        Some((
            IPHTTPS,
            HealthState::Error,
            "The certificate has been revoked",
        )),
    )
    .await;
}

#[tokio::test]
async fn crl_offline() {
    check(
        Fault::CrlOffline,
        Shows::Code(LastErrorCode::REVOCATION_OFFLINE),
        Some((IPHTTPS, HealthState::Warning, "CRL distribution point")),
    )
    .await;
}

#[tokio::test]
async fn route_not_published() {
    check(
        Fault::RouteNotPublished,
        Shows::Up(|s| {
            s.global.is_none()
                && s.router_advert
                    .as_ref()
                    .is_some_and(|ra| ra.prefixes.is_empty())
        }),
        Some((
            IPHTTPS,
            HealthState::Error,
            "The IP-HTTPS route does not have published property enabled.",
        )),
    )
    .await;
}

#[tokio::test]
async fn advertising_disabled() {
    check(
        Fault::AdvertisingDisabled,
        Shows::Up(|s| s.router_advert.is_none() && s.global.is_none()),
        Some((
            IPHTTPS,
            HealthState::Error,
            "Route advertisement is disabled on the IP-HTTPS adapter.",
        )),
    )
    .await;
}

#[tokio::test]
async fn forwarding_disabled() {
    let lab = lab_with(Fault::ForwardingDisabled).await;
    let st = lab
        .wait_all_active(WAIT)
        .await
        .expect("addresses are still configured");
    let intranet = lab.server.intranet_address();
    assert!(
        lab.client(0)
            .ping(intranet, 56, Duration::from_millis(500))
            .await
            .is_err(),
        "intranet unreachable"
    );
    assert!(
        lab.client(0)
            .ping(st[1].global.unwrap(), 56, Duration::from_millis(500))
            .await
            .is_err(),
        "other clients unreachable"
    );
    drop(lab);
    check(
        Fault::ForwardingDisabled,
        Shows::Up(|s| s.global.is_some()),
        Some((
            IPHTTPS,
            HealthState::Error,
            "Forwarding is disabled on the IP-HTTPS adapter.",
        )),
    )
    .await;
}

#[tokio::test]
async fn iphlpsvc_stopped() {
    check(
        Fault::IphlpsvcStopped,
        Shows::Code(LastErrorCode::CONNECTION_REFUSED),
        Some((
            IPHTTPS,
            HealthState::Error,
            "The IP Helper service (IPHlpSvc) has stopped.",
        )),
    )
    .await;
}

#[tokio::test]
async fn ipsec_cert_expired() {
    check(
        Fault::IpsecCertExpired,
        Shows::Up(|s| s.global.is_some()),
        Some((IPSEC, HealthState::Error, "The certificate has expired.")),
    )
    .await;
}

#[tokio::test]
async fn ipsec_cert_no_private_key() {
    check(
        Fault::IpsecCertNoPrivateKey,
        Shows::Up(|s| s.global.is_some()),
        Some((IPSEC, HealthState::Error, "no private key")),
    )
    .await;
}

#[tokio::test]
async fn ipsec_cert_no_client_auth() {
    check(
        Fault::IpsecCertNoClientAuth,
        Shows::Up(|s| s.global.is_some()),
        Some((IPSEC, HealthState::Error, "client authentication")),
    )
    .await;
}

#[tokio::test]
async fn ipsec_cert_wrong_root() {
    check(
        Fault::IpsecCertWrongRoot,
        Shows::Up(|s| s.global.is_some()),
        Some((IPSEC, HealthState::Error, "There is no valid certificate to be used by Ipsec which chains to the root/intermediate certificate configured to be used by Ipsec in the DirectAccess configuration.")),
    )
    .await;
}

#[tokio::test]
async fn client_cert_required() {
    check(
        Fault::ClientCertRequired,
        Shows::Code(LastErrorCode::INCOMPLETE_CREDENTIALS),
        None,
    )
    .await;
}

#[tokio::test]
async fn server_refused() {
    check(
        Fault::ServerRefused,
        Shows::Code(LastErrorCode::CONNECTION_REFUSED),
        Some((IPHTTPS, HealthState::Error, "not enabled")),
    )
    .await;
}

#[tokio::test]
async fn server_timeout() {
    check(
        Fault::ServerTimeout,
        Shows::Code(LastErrorCode::TIMED_OUT),
        None,
    )
    .await;
}

#[tokio::test]
async fn name_not_resolvable() {
    check(
        Fault::NameNotResolvable,
        Shows::Code(LastErrorCode::HOST_NOT_FOUND),
        None,
    )
    .await;
}

/// Hermetic: a lab whose server name the system resolver does answer (`localhost`) still
/// gives 0x2af9 when the lab's hosts table lacks it, so the system resolver was not asked
/// (it would have answered 127.0.0.1, where the server listens). A client allowed to use
/// the system resolver, as `connect` without `--resolve` is, does reach the server.
#[tokio::test]
async fn name_not_resolvable_never_asks_the_system_resolver() {
    let system = tokio::net::lookup_host(("localhost", 443)).await;
    assert!(
        system.is_ok_and(|mut a| a.next().is_some()),
        "the system resolves localhost"
    );
    let lab = Lab::start(LabConfig {
        clients: 1,
        deployment: DeploymentConfig {
            name: "localhost".into(),
            faults: vec![Fault::NameNotResolvable],
            ..DeploymentConfig::default()
        },
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let s = lab
        .client(0)
        .wait_until(WAIT, |s| s.last_error != LastErrorCode::SUCCESS)
        .await
        .unwrap();
    assert_eq!(s.last_error, LastErrorCode::HOST_NOT_FOUND, "{s:?}");
    assert!(
        s.last_error_detail
            .as_deref()
            .is_some_and(|d| d.contains("system resolver is not used")),
        "{s:?}"
    );
    // the same client, allowed the system resolver, resolves localhost and connects
    lab.client(0).update(|c| c.system_dns = true);
    lab.client(0).wait_active(WAIT).await.unwrap();
    lab.shutdown().await;
}

/// `[clients] trust_root = false`: the client's store holds another root, the handshake
/// really runs (the server counts a failed TLS handshake) and fails on the chain.
#[tokio::test]
async fn a_client_trusting_another_root_fails_the_handshake_with_0x800b0109() {
    let lab = Lab::start(LabConfig {
        clients: 0,
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let other = iphttps_sim::pki::unrelated_root(time::OffsetDateTime::now_utc()).unwrap();
    lab.add_client(|c| c.trust_pem = other).unwrap();
    let s = lab
        .client(0)
        .wait_until(WAIT, |s| s.last_error != LastErrorCode::SUCCESS)
        .await
        .unwrap();
    assert_eq!(s.last_error, LastErrorCode::CERT_UNTRUSTED_ROOT, "{s:?}");
    common::eventually("the server saw the handshake fail", || {
        lab.server.stats().tls_failures >= 1
    })
    .await;
    lab.shutdown().await;
}

/// `Restart-Service iphlpsvc` restarts the service that hosts IP-HTTPS: every tunnel drops
/// and the clients reconnect (Stop-Service then Start-Service does the same, slower).
#[tokio::test]
async fn restarting_the_ip_helper_service_drops_every_tunnel() {
    let lab = healthy_lab(1).await;
    assert_eq!(lab.client(0).status().connects, 1);
    lab.run(None, "Restart-Service iphlpsvc", &mut Session::default())
        .await
        .unwrap();
    let s = lab
        .client(0)
        .wait_until(WAIT, |s| s.connects >= 2 && s.is_active_with_address())
        .await
        .unwrap();
    assert!(s.failures >= 1, "{s:?}");
    lab.shutdown().await;
}

#[tokio::test]
async fn ip_address_url() {
    check(
        Fault::IpAddressUrl,
        Shows::Code(LastErrorCode::INVALID_NETNAME),
        None,
    )
    .await;
}

#[tokio::test]
async fn injected_into_a_running_lab_it_acts_on_live_clients() {
    let lab = healthy_lab(2).await;
    let intranet = lab.server.intranet_address();
    lab.client(0).ping(intranet, 56, WAIT).await.unwrap();
    let mut session = Session::default();
    lab.run(None, "fault add forwarding-disabled", &mut session)
        .await
        .unwrap();
    assert!(
        lab.client(0)
            .ping(intranet, 56, Duration::from_millis(500))
            .await
            .is_err()
    );
    lab.run(None, "fault add iphlpsvc-stopped", &mut session)
        .await
        .unwrap();
    for c in lab.clients() {
        let s = c
            .wait_until(WAIT, |s| s.last_error == LastErrorCode::CONNECTION_REFUSED)
            .await
            .expect("live clients are disconnected and then refused");
        assert_eq!(s.interface_status, STATUS_FAILED);
    }
    lab.run(None, "Start-Service iphlpsvc", &mut session)
        .await
        .unwrap();
    lab.run(
        None,
        "netsh int ipv6 set int 17 forwarding=enabled",
        &mut session,
    )
    .await
    .unwrap();
    lab.wait_all_active(WAIT).await.expect("clients come back");
    lab.client(1).ping(intranet, 56, WAIT).await.unwrap();
    lab.shutdown().await;
}

#[tokio::test]
async fn bad_commands_change_nothing() {
    let lab = Lab::start(LabConfig {
        clients: 0,
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let before = lab.admin().await;
    let mut session = Session::default();
    for bad in [
        "Frobnicate-Everything",
        "New-NetRoute -AddressFamily IPv6 -DestinationPrefix 2001:db8:zz::/64 -InterfaceIndex 17 -Publish Yes",
        "netsh int ipv6 set int 99 forwarding=enabled",
        "netsh int ipv6 set int 17 forwarding=enabled advertise=sideways",
        "fault add expired-certt",
        "New-NetRoute -DestinationPrefix $undefined -InterfaceIndex 17",
    ] {
        let e = lab.run(None, bad, &mut session).await.unwrap_err();
        assert!(!e.to_string().is_empty(), "{bad}");
        assert_eq!(lab.admin().await, before, "{bad} changed the state");
    }
    let e = lab
        .run(None, "fault add expired-certt", &mut session)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("did you mean expired-cert"), "{e}");
    let e = lab
        .run(None, "Frobnicate-Everything", &mut session)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Supported: Get-RemoteAccess"), "{e}");
    lab.shutdown().await;
}

#[tokio::test]
async fn ip_https_comes_up_only_when_windows_would_use_it() {
    let lab = Lab::start(LabConfig {
        clients: 0,
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let i = lab
        .add_client(|c| {
            c.network =
                iphttps_sim::client_state::transition::NetworkSituation::named("nat").unwrap()
        })
        .unwrap();
    let c = lab.client(i);
    let s = c
        .wait_until(WAIT, |s| {
            s.transition == iphttps_sim::client_state::transition::Transition::Teredo
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        c.status().connects,
        0,
        "Teredo works here, so IP-HTTPS stays down: {s:?}"
    );
    assert_eq!(lab.server.stats().accepted, 0);
    // the test guides force IP-HTTPS this way
    let mut session = Session::default();
    lab.run(
        Some(i + 1),
        "netsh interface teredo set state disable",
        &mut session,
    )
    .await
    .unwrap();
    let up = c
        .wait_active(WAIT)
        .await
        .expect("IP-HTTPS once Teredo is disabled");
    assert_eq!(
        up.transition,
        iphttps_sim::client_state::transition::Transition::IpHttps
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn client_views_through_the_command_path() {
    let lab = Lab::start(LabConfig {
        clients: 1,
        deployment: DeploymentConfig {
            faults: vec![Fault::UntrustedRoot],
            ..DeploymentConfig::default()
        },
        ..LabConfig::default()
    })
    .await
    .unwrap();
    lab.client(0)
        .wait_until(WAIT, |s| s.failures > 0)
        .await
        .unwrap();
    let mut session = Session::default();
    // the seed's own command, abbreviated as it stands
    let t = lab
        .run(Some(1), "netsh interface http show interface", &mut session)
        .await
        .unwrap()
        .to_text();
    assert!(t.contains("Last Error Code            : 0x800b0109"), "{t}");
    assert!(
        t.contains("Failed to connect to the IPHTTPS server. Waiting to reconnect"),
        "{t}"
    );
    let d = lab
        .run(Some(1), "diagnose", &mut session)
        .await
        .unwrap()
        .to_text();
    assert!(d.contains("Trusted Root"), "{d}");
    let ip = lab
        .run(Some(1), "ipconfig", &mut session)
        .await
        .unwrap()
        .to_text();
    assert!(ip.contains("Media disconnected"), "{ip}");
    assert!(lab.run(Some(9), "ipconfig", &mut session).await.is_err());
    lab.shutdown().await;
}

/// A prefix retired with lifetimes 0: the client's `Get-NetIPAddress` shows its address
/// Deprecated with two hours of valid lifetime left (RFC 4862's two-hour rule), its
/// link-local address Preferred and infinite, and bad filters get clear errors.
#[tokio::test]
async fn get_netipaddress_shows_a_deprecated_address_and_its_lifetimes() {
    let lab = healthy_lab(1).await;
    lab.client(0)
        .wait_until(WAIT, |s| s.is_active_with_address())
        .await
        .unwrap();
    let mut session = Session::default();
    let shown = |out: iphttps_sim::windows::command::Output| out.to_text();
    let before = shown(
        lab.run(
            Some(1),
            "Get-NetIPAddress -InterfaceAlias IPHTTPSInterface",
            &mut session,
        )
        .await
        .unwrap(),
    );
    assert!(before.contains("AddressState      : Preferred"), "{before}");
    assert!(!before.contains("Deprecated"), "{before}");
    assert!(
        before.contains("ValidLifetime     : Infinite ([TimeSpan]::MaxValue)"),
        "{before}"
    );
    for line in [
        "$p = (Get-RemoteAccess).ClientIPv6Prefix",
        "Set-NetRoute -DestinationPrefix $p -Publish Age -ValidLifetime 0 -PreferredLifetime 0",
    ] {
        lab.run(None, line, &mut session).await.unwrap();
    }
    lab.client(0)
        .wait_until(WAIT, |s| {
            s.global_state() == Some(iphttps_sim::link::host::AddressState::Deprecated)
        })
        .await
        .unwrap();
    let t = shown(
        lab.run(
            Some(1),
            "Get-NetIPAddress -AddressState Deprecated",
            &mut session,
        )
        .await
        .unwrap(),
    );
    let global = lab.client(0).status().global.unwrap();
    assert!(t.contains(&format!("IPAddress         : {global}")), "{t}");
    assert!(t.contains("PrefixOrigin      : RouterAdvertisement"), "{t}");
    assert!(
        t.contains("ValidLifetime     : 01:59:5"),
        "two hours, not 0: {t}"
    );
    assert!(t.contains("PreferredLifetime : 00:00:00"), "{t}");
    assert!(!t.contains("fe80"), "only the deprecated address: {t}");
    let all = shown(
        lab.run(Some(1), "Get-NetIPAddress", &mut session)
            .await
            .unwrap(),
    );
    assert!(
        all.contains("AddressState      : Preferred"),
        "link-local: {all}"
    );
    for bad in [
        "Get-NetIPAddress -AddressState Gone",
        "Get-NetIPAddress -InterfaceAlias Ethernet",
        "Get-NetIPAddress -AddressFamily IPv7",
        "Get-NetIPAddress -AddressState Duplicate",
    ] {
        assert!(lab.run(Some(1), bad, &mut session).await.is_err(), "{bad}");
    }
    lab.shutdown().await;
}

/// Windows' `ping` on a client, through the command path: `-l 65500` works (the request
/// and its answer travel in fragments; the first answer meets Packet Too Big at the
/// server, as on a real DirectAccess server), and bad values get Windows' messages.
#[tokio::test]
async fn windows_ping_on_a_client_goes_through_the_tunnel() {
    let lab = healthy_lab(1).await;
    let intranet = lab.server.intranet_address();
    let mut session = Session::default();
    let out = lab
        .run(
            Some(1),
            &format!("ping -6 -n 3 -w 1000 -l 65500 {intranet}"),
            &mut session,
        )
        .await
        .unwrap();
    let t = out.to_text();
    assert!(
        t.contains(&format!("Pinging {intranet} with 65500 bytes of data:")),
        "{t}"
    );
    assert!(t.contains("Request timed out."), "{t}");
    assert_eq!(
        t.matches(&format!("Reply from {intranet}: time")).count(),
        2,
        "{t}"
    );
    assert!(
        t.contains("Packets: Sent = 3, Received = 2, Lost = 1 (33% loss),"),
        "{t}"
    );
    assert_eq!(out.value["Received"], 2);
    for (line, want) in [
        (
            format!("ping -l 65501 {intranet}"),
            "Bad value for option -l, valid range is from 0 to 65500.",
        ),
        (
            format!("ping -n 0 {intranet}"),
            "Bad value for option -n, valid range is from 1 to 4294967295.",
        ),
        (
            "ping intranethost".to_string(),
            "Ping request could not find host intranethost.",
        ),
    ] {
        let e = lab.run(Some(1), &line, &mut session).await.unwrap_err();
        assert!(e.to_string().contains(want), "{line}: {e}");
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn a_trust_store_changed_before_the_first_attempt_is_the_one_it_uses() {
    // the first attempt may use the TLS connector `client::start` built to check the
    // stores, but only while they are the ones it was built from (without revocation
    // checks: with them every attempt builds its own, with the CRLs it fetched)
    let lab = Lab::start(LabConfig {
        clients: 0,
        check_revocation: false,
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let other = iphttps_sim::pki::Pki::generate(&iphttps_sim::pki::PkiOptions::new(
        "da.contoso.com",
        iphttps_sim::time::OffsetDateTime::now_utc(),
    ))
    .unwrap();
    let good = lab.pki().await.root_ca.clone();
    let fixed = lab
        .add_client(|c| c.trust_pem = other.root_ca.clone())
        .unwrap();
    // before the client's task has run at all (one thread: nothing ran since `start`)
    lab.client(fixed).update(|c| c.trust_pem = good);
    let left = lab
        .add_client(|c| c.trust_pem = other.root_ca.clone())
        .unwrap();
    let s = lab.client(fixed).wait_active(WAIT).await.unwrap();
    assert_eq!((s.connects, s.failures), (1, 0), "{s:?}");
    // the store it started with fails for real
    let s = lab
        .client(left)
        .wait_until(WAIT, |s| s.failures > 0)
        .await
        .unwrap();
    assert_eq!(s.last_error, LastErrorCode::CERT_UNTRUSTED_ROOT, "{s:?}");
    lab.shutdown().await;
}
