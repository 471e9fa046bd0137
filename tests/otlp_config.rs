//! The configuration surface of `caviard serve`: the documented example files validate and
//! run, bad values are named by `caviard check` and at start-up, and with no configuration
//! at all the built-in policy runs and writes OTLP/JSON to stdout.
#![cfg(feature = "serve")]

mod otlp_util;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlp_util::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

fn check(path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_caviard"))
        .arg("check")
        .arg("--config")
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn example_configs_pass_check() {
    for name in ["sidecar.yaml", "gateway.yaml"] {
        let out = check(&example(name));
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn check_names_every_bad_serve_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "serve:\n  upstream:\n    endpoint: collector:4317\n  otlp_grpc:\n    listen: localhost:4317\n  retry:\n    initial_backoff: 2s\n    max_backoff: 1s\n",
    )
    .unwrap();
    let out = check(&bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for field in [
        "serve.upstream.endpoint",
        "serve.otlp_grpc.listen",
        "serve.retry.max_backoff",
    ] {
        assert!(err.contains(field), "{field} not named in:\n{err}");
    }

    std::fs::write(&bad, "serve:\n  upstream:\n    endpont: http://c:4317\n").unwrap();
    let out = check(&bad);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("endpont"),
        "unknown key named"
    );
}

#[test]
fn serve_refuses_bad_flags_and_env_naming_them() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_caviard"));
        cmd.arg("serve")
            .args(args)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(
        run(&["--upstream", "collector:4317"], &[]).contains("serve.upstream.endpoint: not a URL")
    );
    assert!(run(&["--upstream-protocol", "http/json"], &[]).contains("http/json"));
    let err = run(&[], &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
    assert!(err.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{err}");
    let err = run(
        &[
            "--otlp-grpc",
            "127.0.0.1:0",
            "--otlp-http",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:0",
        ],
        &[],
    );
    assert!(err.contains("serve.upstream.endpoint"), "{err}");
}

/// The sidecar example, with its listen addresses and upstream overridden by flags, runs and
/// applies its policy (partial e-mails, the `enduser.id` key rule).
#[test]
fn sidecar_example_runs_with_flag_overrides() {
    let upstream = Upstream::start();
    let config = std::fs::read_to_string(example("sidecar.yaml")).unwrap();
    let proxy = Proxy::start(&["--upstream", &upstream.grpc_url()], Some(&config), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut client = rt
        .block_on(LogsServiceClient::connect(proxy.grpc_url()))
        .unwrap();
    rt.block_on(client.export(log_request(0..5))).unwrap();
    upstream.wait_for(Duration::from_secs(10), "5 records", |r| {
        r.log_records().len() == 5
    });
    let received = upstream.received();
    assert_eq!(received_seqs(&received).len(), 5);
    for (rec, _) in received.log_records() {
        match attr(&rec.attributes, "enduser.id") {
            Some(Value::StringValue(v)) => assert_ne!(v, "Jean Dupont"),
            None => {}
            other => panic!("enduser.id became {other:?}"),
        }
    }
}

/// One OTLP/JSON log record carrying PII.
const JSON_LOG: &[u8] = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"5b8efff798038103d269b63300000001",
    "body":{"stringValue":"payment failed for jean.dupont@example.fr card 4111 1111 1111 1111"}}]}]}]}"#;

fn post_json_log(proxy: &Proxy) -> RawResponse {
    http_request(
        proxy.http,
        "POST",
        "/v1/logs",
        &[("Content-Type", "application/json")],
        JSON_LOG,
    )
}

/// No config file, no upstream: the built-in policy runs and redacted records are printed as
/// OTLP/JSON lines.
#[test]
fn no_config_at_all_prints_redacted_otlp_json() {
    let mut proxy = Proxy::start(&[], None, &[]);
    assert_eq!(post_json_log(&proxy).status, 200);
    let status = proxy.terminate(Duration::from_secs(10));
    assert!(status.success());
    let start = std::time::Instant::now();
    while proxy.stdout().is_empty() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = proxy.stdout();
    let line = out
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no output; stderr:\n{}", proxy.stderr()));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let rec = &v["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(rec["traceId"], "5b8efff798038103d269b63300000001");
    let body = rec["body"]["stringValue"].as_str().unwrap();
    assert!(body.starts_with("payment failed for "), "{body}");
    assert_no_pii(&[body.to_string()], "stdout");
}

/// No upstream, and stdout's reader went away (the log shipper reading it died): nothing can
/// be written any more. The proxy stops and exits non-zero, so a supervisor restarts it; it
/// used to retry the write forever while refusing every client as "queue full". Its own log
/// names the cause and never a record's content.
#[test]
fn closed_stdout_stops_serve_with_a_failure() {
    let mut proxy = Proxy::start_with_stdout_closed(&[], None, &[]);
    assert_eq!(post_json_log(&proxy).status, 200);
    let Some(status) = proxy.wait_exit(Duration::from_secs(30)) else {
        panic!(
            "caviard serve still running 30 s after a write to its closed stdout; stderr:\n{}",
            proxy.stderr()
        );
    };
    let stderr = proxy.stderr();
    assert_eq!(status.code(), Some(2), "{status:?}; stderr:\n{stderr}");
    assert!(
        stderr.contains(
            "stdout closed by its reader; stopped with 1 acknowledged record(s) not written"
        ),
        "{stderr}"
    );
    assert_no_pii(&[stderr], "caviard's log");
}
