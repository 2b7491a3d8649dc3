//! The Kubernetes Job that scales `iphttps swarm` out (`deploy/kubernetes/swarm-job.yaml`):
//! parsed, and checked for what the swarm relies on. Its command line is run through the
//! shell as a pod would run it, with the completion index Kubernetes gives pod 3, and the
//! flags it then passes are checked against `iphttps swarm --help`.

use std::path::Path;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

fn manifest() -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/swarm-job.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    YamlLoader::load_from_str(&text)
        .expect("valid YAML")
        .into_iter()
        .next()
        .expect("one document")
}

#[test]
fn the_job_runs_one_swarm_per_index_and_exposes_its_metrics() {
    let job = manifest();
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert!(spec["completions"].as_i64().unwrap() >= 1);
    let pod = &spec["template"];
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"].as_str(), Some("true"));
    let port = annotations["prometheus.io/port"].as_str().unwrap();
    assert_eq!(annotations["prometheus.io/path"].as_str(), Some("/metrics"));
    let container = &pod["spec"]["containers"][0];
    let ports = container["ports"].as_vec().unwrap();
    assert!(
        ports.iter().any(|p| p["containerPort"]
            .as_i64()
            .map(|n| n.to_string())
            .as_deref()
            == Some(port)),
        "the scraped port is the container's"
    );
    assert_eq!(container["command"][0].as_str(), Some("/bin/sh"));
    let script = container["args"][0].as_str().unwrap();
    assert!(script.contains("iphttps swarm"), "{script}");

    // the pod's shell, as Kubernetes runs it for index 3, with echo in place of the binary
    let env: Vec<(String, String)> = container["env"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let out = Command::new("sh")
        .arg("-c")
        .arg(script.replace("exec iphttps swarm", "echo"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("JOB_COMPLETION_INDEX", "3")
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let value = |flag: &str| {
        words
            .iter()
            .position(|w| *w == flag)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    let clients: u64 = value("--clients").unwrap().parse().unwrap();
    assert_eq!(
        value("--id-offset"),
        Some((3 * clients).to_string().as_str()),
        "pod 3 numbers its clients after pods 0-2: {line}"
    );
    assert_eq!(
        value("--admin"),
        Some(format!("0.0.0.0:{port}").as_str()),
        "{line}"
    );

    // every flag it passes is one the swarm has
    let help = Command::new(env!("CARGO_BIN_EXE_iphttps"))
        .args(["swarm", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in words.iter().filter(|w| w.starts_with("--")) {
        assert!(help.contains(flag), "iphttps swarm has no {flag}");
    }
}
