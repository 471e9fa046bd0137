//! Policy reload of a running `caviard serve`: SIGHUP (sent with `kill -HUP`) and a watched
//! config file. Records go in with curl (OTLP/JSON over HTTP) and come out on stdout (no
//! upstream); no record is lost across a reload, a broken file keeps the running policy, and
//! a rotated pseudonym key file takes effect without a restart.
#![cfg(feature = "serve")]

mod otlp_util;

use otlp_util::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One OTLP/JSON log record with a body, a ticket attribute and a sequence number.
fn post(http: std::net::SocketAddr, seq: u32, body: &str) {
    let json = format!(
        r#"{{"resourceLogs":[{{"resource":{{}},"scopeLogs":[{{"logRecords":[{{"body":{{"stringValue":"{body}"}},"attributes":[{{"key":"ticket_ref","value":{{"stringValue":"T-{seq:04}"}}}},{{"key":"seq","value":{{"stringValue":"seq-{seq}"}}}}]}}]}}]}}]}}"#
    );
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &json,
        ])
        .arg(format!("http://{http}/v1/logs"))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "POST seq {seq}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The stdout line carrying record `seq`, once written.
fn line_of(proxy: &Proxy, seq: u32) -> String {
    let marker = format!("\"seq-{seq}\"");
    let start = Instant::now();
    loop {
        if let Some(l) = proxy.stdout().lines().find(|l| l.contains(&marker)) {
            return l.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "record {seq} never written; stderr:\n{}",
            proxy.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn metric(proxy: &Proxy, series: &str) -> u64 {
    proxy
        .metric(series)
        .unwrap_or_else(|| panic!("no series {series}"))
}

/// Wait until `series` reaches `n`.
fn wait_metric(proxy: &Proxy, series: &str, n: u64) {
    wait_until(
        &format!("{series} >= {n}; stderr:\n{}", proxy.stderr()),
        Duration::from_secs(20),
        || metric(proxy, series) >= n,
    );
}

fn hup(proxy: &Proxy) {
    let ok = Command::new("kill")
        .args(["-HUP", &proxy.pid().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP failed");
}

fn start(config: &Path) -> Proxy {
    Proxy::start(&["--config", config.to_str().unwrap()], None, &[])
}

const OK: &str = r#"caviard_config_reloads_total{result="success"}"#;
const FAILED: &str = r#"caviard_config_reloads_total{result="failure"}"#;

#[test]
fn sighup_reloads_the_policy_without_losing_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("caviard.yaml");
    std::fs::write(&config, "policy:\n  default_action: mask\n").unwrap();
    let mut proxy = start(&config);
    assert_eq!(metric(&proxy, OK), 0);
    assert_eq!(
        metric(
            &proxy,
            "caviard_config_last_reload_success_timestamp_seconds"
        ),
        0
    );

    // Before: e-mails are masked, ticket references are nobody's business.
    for seq in 0..5 {
        post(proxy.http, seq, "reset for jean.dupont@example.fr");
    }
    let before = line_of(&proxy, 4);
    assert!(before.contains("T-0004"), "{before}");
    assert!(!before.contains("jean.dupont"), "{before}");

    // A key rule is added; records keep coming from another thread while the signal lands.
    std::fs::write(
        &config,
        "policy:\n  default_action: mask\n  keys:\n    - {id: local.ticket, category: ticket, keys: [ticket_ref]}\n",
    )
    .unwrap();
    let sender = {
        let http = proxy.http;
        std::thread::spawn(move || {
            for seq in 5..45 {
                post(http, seq, "reset for jean.dupont@example.fr");
            }
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    hup(&proxy);
    sender.join().unwrap();
    wait_metric(&proxy, OK, 1);
    assert!(
        metric(
            &proxy,
            "caviard_config_last_reload_success_timestamp_seconds"
        ) > 1_700_000_000
    );
    post(proxy.http, 45, "reset for jean.dupont@example.fr");
    let after = line_of(&proxy, 45);
    assert!(
        !after.contains("T-0045"),
        "ticket kept after the reload: {after}"
    );
    assert!(after.contains("[TICKET]"), "{after}");
    // Every record sent around the reload is there, redacted under one policy or the other.
    for seq in 0..46 {
        let l = line_of(&proxy, seq);
        assert!(!l.contains("jean.dupont"), "record {seq} leaked: {l}");
    }
    let stderr = proxy.stderr();
    assert!(stderr.contains("Policy reloaded"), "{stderr}");

    // A broken file: the running policy (with the ticket rule) stays, the failure is counted
    // and named, and nothing of the file's values reaches the log.
    std::fs::write(
        &config,
        "policy:\n  default_action: mask\n  actions: {email: explode}\n",
    )
    .unwrap();
    hup(&proxy);
    wait_metric(&proxy, FAILED, 1);
    assert_eq!(metric(&proxy, OK), 1);
    post(proxy.http, 46, "reset for jean.dupont@example.fr");
    let kept = line_of(&proxy, 46);
    assert!(
        kept.contains("[TICKET]") && !kept.contains("jean.dupont"),
        "{kept}"
    );
    let stderr = proxy.stderr();
    assert!(stderr.contains("Policy reload failed"), "{stderr}");
    assert!(stderr.contains("explode"), "the problem is named: {stderr}");
    assert!(
        !stderr.contains("jean.dupont"),
        "a value in caviard's log: {stderr}"
    );

    // Still serving, and SIGTERM still drains and exits cleanly.
    assert!(proxy.alive());
    assert!(proxy.terminate(Duration::from_secs(20)).success());
}

#[test]
fn a_watched_key_file_rotates_pseudonyms_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (config, key) = (
        dir.path().join("caviard.yaml"),
        dir.path().join("pseudonym.key"),
    );
    std::fs::write(&key, "first-key-0123456789abcdefghijklmn\n").unwrap();
    let yaml = format!(
        "serve:\n  config_watch_interval: 200ms\npolicy:\n  default_action: pseudonymize\n  pseudonym: {{key_id: k1, key_file: '{}'}}\n",
        key.display()
    );
    std::fs::write(&config, &yaml).unwrap();
    let proxy = start(&config);
    let pseudonym = |l: &str| {
        let at = l
            .find("[EMAIL:k1:")
            .unwrap_or_else(|| panic!("no pseudonym in {l}"));
        l[at..at + l[at..].find(']').unwrap() + 1].to_string()
    };
    post(proxy.http, 0, "reset for jean.dupont@example.fr");
    post(proxy.http, 1, "reset for jean.dupont@example.fr");
    let first = pseudonym(&line_of(&proxy, 0));
    assert_eq!(
        first,
        pseudonym(&line_of(&proxy, 1)),
        "pseudonyms are stable"
    );
    // Unchanged files: ticks do not reload.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(metric(&proxy, OK), 0);

    // The Secret is updated in place: only the key file changes, no signal is sent.
    std::fs::write(&key, "second-key-9876543210zyxwvutsrqpo\n").unwrap();
    wait_metric(&proxy, OK, 1);
    post(proxy.http, 2, "reset for jean.dupont@example.fr");
    let second = pseudonym(&line_of(&proxy, 2));
    assert_ne!(first, second, "the new key is used");
    let stderr = proxy.stderr();
    assert!(
        !stderr.contains("first-key") && !stderr.contains("second-key"),
        "{stderr}"
    );
    assert!(
        stderr.contains("key changed but its key_id did not"),
        "a new key under the same id is flagged: {stderr}"
    );

    // A change to the serve section is reported as needing a restart; the policy part of
    // the same edit still applies.
    std::fs::write(
        &config,
        yaml.replace("200ms", "150ms")
            .replace("key_id: k1", "key_id: k2"),
    )
    .unwrap();
    wait_metric(&proxy, OK, 2);
    post(proxy.http, 3, "reset for jean.dupont@example.fr");
    assert!(
        line_of(&proxy, 3).contains("[EMAIL:k2:"),
        "{}",
        line_of(&proxy, 3)
    );
    assert_eq!(
        proxy
            .stderr()
            .matches("key changed but its key_id did not")
            .count(),
        1,
        "a new id with the same key is not flagged"
    );
    assert!(
        proxy.stderr().contains("serve section changed"),
        "{}",
        proxy.stderr()
    );
}

#[test]
fn sighup_without_a_config_file_is_ignored() {
    let mut proxy = Proxy::start(&[], None, &[]);
    hup(&proxy);
    let start = Instant::now();
    while !proxy.stderr().contains("SIGHUP ignored") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            proxy.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(proxy.alive(), "SIGHUP must not end the proxy");
    post(proxy.http, 0, "reset for jean.dupont@example.fr");
    assert!(line_of(&proxy, 0).contains("[EMAIL]"));
}
