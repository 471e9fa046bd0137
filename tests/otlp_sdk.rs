//! End to end with real clients: the OpenTelemetry Python SDK's OTLP exporters (gRPC and
//! HTTP/protobuf) send logs and spans to `caviard serve`, which forwards them to a real OTLP
//! receiver (tests/util) over gRPC or HTTP/protobuf. Every record must arrive, with its PII
//! redacted and everything else (ids, timestamps, severities, kinds, non-PII attributes)
//! unchanged.
//!
//! Needs the venv: `bash tests/python/setup_venv.sh`.
#![cfg(feature = "serve")]

mod otlp_util;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlp_util::*;
use std::collections::BTreeMap;
use std::time::Duration;

const N: usize = 150;

fn upstream_flags(upstream: &Upstream, protocol: &str) -> Vec<String> {
    let url = if protocol == "grpc" {
        upstream.grpc_url()
    } else {
        upstream.http_url()
    };
    vec![
        "--upstream".into(),
        url,
        "--upstream-protocol".into(),
        protocol.into(),
    ]
}

fn start(upstream: &Upstream, upstream_protocol: &str) -> Proxy {
    let flags = upstream_flags(upstream, upstream_protocol);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Proxy::start(&flags, None, &[])
}

/// Check the log records the SDK sent (see tests/python/send_otlp.py) arrived redacted.
fn check_logs(upstream: &Upstream) {
    upstream.wait_for(Duration::from_secs(30), "all log records", |r| {
        r.log_records().len() >= N
    });
    let received = upstream.received();
    let mut by_seq = BTreeMap::new();
    for (rec, resource) in received.log_records() {
        let seq = int_attr(&rec.attributes, "seq").expect("seq attribute kept as an int");
        *by_seq.entry(seq).or_insert(0) += 1;
        assert_eq!(
            str_attr(resource, "service.name"),
            Some("caviard-test"),
            "resource attribute unchanged"
        );
        let (trace_id, span_id) = fixture_ids(seq as u64);
        assert_eq!(rec.trace_id, trace_id, "trace id of record {seq} unchanged");
        assert_eq!(rec.span_id, span_id, "span id of record {seq} unchanged");
        assert_eq!(
            rec.time_unix_nano,
            1_700_000_000_000_000_000 + seq as u64,
            "timestamp unchanged"
        );
        assert_eq!(rec.severity_number, 17);
        assert_eq!(rec.severity_text, "ERROR");
        assert_eq!(
            int_attr(&rec.attributes, "http.status_code"),
            Some(500),
            "non-PII attribute unchanged"
        );

        let Some(Value::StringValue(body)) = rec.body.as_ref().and_then(|b| b.value.as_ref())
        else {
            panic!("body of record {seq} is no longer a string")
        };
        assert!(
            body.starts_with("payment failed for "),
            "body structure kept: {body:?}"
        );
        assert!(
            !body.contains("jean.dupont@example.fr"),
            "email in body redacted: {body:?}"
        );
        assert!(
            !body.contains("4111 1111 1111 1111"),
            "card in body redacted: {body:?}"
        );
        match attr(&rec.attributes, "user.email") {
            None => {}
            Some(Value::StringValue(v)) => {
                assert_ne!(v, "a.b@example.com", "user.email redacted by key")
            }
            Some(other) => panic!("user.email became {other:?}"),
        }
        match attr(&rec.attributes, "enduser.id") {
            None => {}
            Some(Value::StringValue(v)) => {
                assert_ne!(v, "Jean Dupont", "enduser.id redacted by key")
            }
            Some(other) => panic!("enduser.id became {other:?}"),
        }
        let mut strings = vec![body.clone(), rec.event_name.clone()];
        strings_of_attrs(&rec.attributes, &mut strings);
        strings_of_attrs(resource, &mut strings);
        assert_no_pii(&strings, &format!("log record {seq}"));
    }
    let expected: BTreeMap<i64, i32> = (0..N as i64).map(|i| (i, 1)).collect();
    assert_eq!(by_seq, expected, "every record arrived exactly once");
}

/// Check the spans the SDK sent arrived redacted.
fn check_spans(upstream: &Upstream) {
    upstream.wait_for(Duration::from_secs(30), "all spans", |r| {
        r.spans().len() >= N
    });
    let received = upstream.received();
    let mut by_seq = BTreeMap::new();
    for (span, resource) in received.spans() {
        let seq = int_attr(&span.attributes, "seq").expect("seq attribute kept as an int");
        *by_seq.entry(seq).or_insert(0) += 1;
        assert_eq!(str_attr(resource, "service.name"), Some("caviard-test"));
        let (trace_id, span_id) = fixture_ids(seq as u64);
        assert_eq!(span.trace_id, trace_id, "trace id of span {seq} unchanged");
        assert_eq!(span.span_id, span_id, "span id of span {seq} unchanged");
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.kind, 2, "span kind unchanged (SERVER)");
        assert!(
            span.end_time_unix_nano >= span.start_time_unix_nano && span.start_time_unix_nano > 0
        );
        assert_eq!(int_attr(&span.attributes, "http.status_code"), Some(500));
        assert!(
            span.name.starts_with("charge "),
            "span name structure kept: {:?}",
            span.name
        );
        assert_eq!(span.events.len(), 1, "event kept");
        let event = &span.events[0];
        assert!(
            event.name.starts_with("receipt sent to "),
            "event name kept: {:?}",
            event.name
        );
        assert_eq!(
            int_attr(&event.attributes, "retry"),
            Some(1),
            "non-PII event attribute unchanged"
        );
        if let Some(Value::StringValue(url)) = attr(&span.attributes, "url.full") {
            assert!(
                url.starts_with("https://shop.example/checkout?"),
                "url.full structure kept: {url:?}"
            );
            assert!(
                url.contains("step=2"),
                "non-PII query parameter kept: {url:?}"
            );
        }
        let mut strings = vec![span.name.clone(), event.name.clone()];
        strings_of_attrs(&span.attributes, &mut strings);
        strings_of_attrs(&event.attributes, &mut strings);
        strings_of_attrs(resource, &mut strings);
        assert_no_pii(&strings, &format!("span {seq}"));
    }
    let expected: BTreeMap<i64, i32> = (0..N as i64).map(|i| (i, 1)).collect();
    assert_eq!(by_seq, expected, "every span arrived exactly once");
}

#[test]
fn logs_grpc_sdk_to_grpc_upstream() {
    let upstream = Upstream::start();
    let proxy = start(&upstream, "grpc");
    send_with_sdk(&proxy.grpc_url(), "grpc", "logs", N, &["--batch", "40"]);
    check_logs(&upstream);
}

#[test]
fn logs_http_sdk_gzip_to_http_upstream() {
    let upstream = Upstream::start();
    let proxy = start(&upstream, "http/protobuf");
    send_with_sdk(
        &proxy.http_url(),
        "http",
        "logs",
        N,
        &["--batch", "40", "--gzip"],
    );
    check_logs(&upstream);
}

#[test]
fn spans_http_sdk_to_grpc_upstream() {
    let upstream = Upstream::start();
    let proxy = start(&upstream, "grpc");
    send_with_sdk(&proxy.http_url(), "http", "traces", N, &["--batch", "40"]);
    check_spans(&upstream);
}

#[test]
fn spans_grpc_sdk_gzip_to_http_upstream() {
    let upstream = Upstream::start();
    let proxy = start(&upstream, "http/protobuf");
    send_with_sdk(
        &proxy.grpc_url(),
        "grpc",
        "traces",
        N,
        &["--batch", "40", "--gzip"],
    );
    check_spans(&upstream);
}

/// OTEL_EXPORTER_OTLP_ENDPOINT / _PROTOCOL pick the upstream when neither flag nor file does;
/// the config file's serve section is honoured (OTLP/HTTP paths off, batching); SIGTERM drains
/// and exits 0.
#[test]
fn env_upstream_config_file_and_graceful_exit() {
    let upstream = Upstream::start();
    let config = "serve:\n  otlp_http:\n    enabled: false\n  batch:\n    max_records: 100000\n    timeout: 2s\n";
    let mut proxy = Proxy::start(
        &[],
        Some(config),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &upstream.http_url()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ],
    );
    let r = http_request(
        proxy.http,
        "POST",
        "/v1/logs",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(
        r.status, 404,
        "otlp_http.enabled: false turns the OTLP paths off"
    );
    assert_eq!(
        http_request(proxy.http, "GET", "/healthz", &[], b"").status,
        200,
        "health stays served"
    );
    send_with_sdk(&proxy.grpc_url(), "grpc", "logs", N, &["--batch", "5"]);
    let status = proxy.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        proxy.stderr()
    );
    let requests = upstream.received().logs.len();
    assert!(
        requests <= N / 5 / 3,
        "{} SDK requests merged into {requests} upstream requests",
        N / 5
    );
    check_logs(&upstream);
}
