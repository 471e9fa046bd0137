//! Retention classes and redaction summaries end to end: the OpenTelemetry Python SDK sends
//! logs and spans from several resources (namespaces, pod labels, severities, with and without
//! personal data) to `caviard serve`, which forwards them to a real OTLP upstream. Each record
//! must arrive with the class of the first matching rule, the summary attributes must carry
//! counts and names only, and `/metrics` must count per category, rule, receiver and class
//! without ever showing a value.
//!
//! Needs the venv: `bash tests/python/setup_venv.sh`.
#![cfg(feature = "serve")]

mod otlp_util;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use otlp_util::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const CONFIG: &str = r#"
retention:
  default_class: standard
  classes:
    standard: 180d
    security-audit: 365d
    app-debug: 30d
    pii-pseudonymized: 180d
    frontend: 7d
  rules:
    - name: security-namespace
      class: security-audit
      match: {namespace: [security]}
    - name: debug
      class: app-debug
      match: {max_severity: debug}
    - name: personal-data
      class: pii-pseudonymized
      match: {categories: [email, phone]}
    - name: frontend-pods
      class: frontend
      match: {pod_labels: {tier: [front*]}}
audit:
  summary: rules
"#;

/// Personal values sent; none may appear in a summary attribute, `/metrics` or anywhere
/// upstream.
const VALUES: &[&str] = &["jean.dupont", "example.fr", "06 12 34 56 78", "0612345678"];

/// Three resources; each record names its case in the `case` attribute.
const SPEC: &str = r#"[
  {"resource": {"service.name": "auth", "k8s.namespace.name": "security"},
   "records": [
     {"severity": "DEBUG", "body": "login by jean.dupont@example.fr", "attributes": {"case": "sec-debug-pii"}}]},
  {"resource": {"service.name": "shop", "k8s.namespace.name": "shop", "k8s.pod.label.tier": "frontend"},
   "records": [
     {"severity": "DEBUG", "body": "cart of jean.dupont@example.fr", "attributes": {"case": "debug-pii"}},
     {"severity": "INFO", "body": "call 06 12 34 56 78 or mail jean.dupont@example.fr", "attributes": {"case": "info-pii"}},
     {"severity": "INFO", "body": "order shipped", "attributes": {"case": "info-clean"}}]},
  {"resource": {"service.name": "batch", "k8s.namespace.name": "jobs"},
   "records": [
     {"severity": "WARN", "body": "disk almost full", "attributes": {"case": "warn-clean"}},
     {"severity": "INFO", "body": "nothing personal",
      "attributes": {"case": "forged", "retention.class": "forever", "retention.days": 99999, "redaction.count": 0}}]}
]"#;

fn send(endpoint: &str, protocol: &str, signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, SPEC).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/send_records.py");
    let out = Command::new(python())
        .arg(script)
        .args([
            "--endpoint",
            endpoint,
            "--protocol",
            protocol,
            "--signal",
            signal,
        ])
        .arg("--spec")
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "send_records.py failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start(upstream: &Upstream, protocol: &str) -> Proxy {
    let url = if protocol == "grpc" {
        upstream.grpc_url()
    } else {
        upstream.http_url()
    };
    Proxy::start(
        &["--upstream", &url, "--upstream-protocol", protocol],
        Some(CONFIG),
        &[],
    )
}

fn metrics(proxy: &Proxy) -> String {
    let r = http_request(proxy.http, "GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    String::from_utf8(r.body).unwrap()
}

/// Every string of the summary attributes (`redaction.*`) and class attributes.
fn tag_strings(attrs: &[KeyValue], out: &mut Vec<String>) {
    let tags: Vec<KeyValue> = attrs
        .iter()
        .filter(|kv| kv.key.starts_with("redaction.") || kv.key.starts_with("retention."))
        .cloned()
        .collect();
    strings_of_attrs(&tags, out);
}

fn assert_no_values(strings: &[String], context: &str) {
    for s in strings {
        for v in VALUES {
            assert!(!s.contains(v), "{context}: value {v:?} leaked in {s:?}");
        }
    }
}

/// The metric line `name{labels}`'s value.
fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

fn check_logs(upstream: &Upstream, proxy: &Proxy, receiver: &str) {
    upstream.wait_for(Duration::from_secs(30), "6 log records", |r| {
        r.log_records().len() >= 6
    });
    let received = upstream.received();
    let mut by_case = BTreeMap::new();
    let mut strings = Vec::new();
    for (rec, resource) in received.log_records() {
        let case = str_attr(&rec.attributes, "case")
            .expect("case attribute")
            .to_string();
        let class = str_attr(&rec.attributes, "retention.class").map(str::to_string);
        let days = int_attr(&rec.attributes, "retention.days");
        let count = int_attr(&rec.attributes, "redaction.count");
        let cats = str_attr(&rec.attributes, "redaction.categories").map(str::to_string);
        let rules = str_attr(&rec.attributes, "redaction.rules").map(str::to_string);
        let keys: Vec<&str> = rec.attributes.iter().map(|kv| kv.key.as_str()).collect();
        for k in ["retention.class", "retention.days"] {
            assert_eq!(
                keys.iter().filter(|x| **x == k).count(),
                1,
                "{case}: one {k}"
            );
        }
        by_case.insert(case.clone(), (class, days, count, cats, rules));
        tag_strings(&rec.attributes, &mut strings);
        let mut all = Vec::new();
        strings_of_attrs(&rec.attributes, &mut all);
        strings_of_attrs(resource, &mut all);
        if let Some(b) = &rec.body {
            strings_of(b, &mut all);
        }
        assert_no_values(&all, &format!("record {case}"));
    }
    let class = |c: &str| by_case[c].0.as_deref().unwrap_or("<none>").to_string();
    // First matching rule wins: the namespace rule beats the debug and personal-data rules.
    assert_eq!(class("sec-debug-pii"), "security-audit");
    assert_eq!(by_case["sec-debug-pii"].1, Some(365));
    // Severity rule before the category rule.
    assert_eq!(class("debug-pii"), "app-debug");
    assert_eq!(by_case["debug-pii"].1, Some(30));
    // Detected categories before the pod-label rule.
    assert_eq!(class("info-pii"), "pii-pseudonymized");
    // Pod label (resource attribute k8s.pod.label.tier), prefix pattern.
    assert_eq!(class("info-clean"), "frontend");
    assert_eq!(by_case["info-clean"].1, Some(7));
    // No rule: the default class.
    assert_eq!(class("warn-clean"), "standard");
    // A client cannot choose its class or forge a summary.
    assert_eq!(class("forged"), "standard");
    assert_eq!(by_case["forged"].1, Some(180));
    assert_eq!(by_case["forged"].2, None, "forged redaction.count removed");

    let (_, _, count, cats, rules) = &by_case["info-pii"];
    assert_eq!(*count, Some(2), "email and phone redacted");
    assert_eq!(cats.as_deref(), Some("email:1,phone:1"));
    let rules = rules.as_deref().expect("redaction.rules in mode rules");
    assert!(rules.split(',').count() == 2, "{rules}");
    assert_eq!(by_case["warn-clean"].2, None, "no summary on clean records");
    assert_no_values(&strings, "summary attributes");

    let text = metrics(proxy);
    assert_no_values(std::slice::from_ref(&text), "/metrics");
    let logs = |class: &str| {
        metric(
            &text,
            &format!(
                "caviard_records_by_retention_class_total{{signal=\"logs\",class=\"{class}\"}}"
            ),
        )
    };
    assert_eq!(logs("security-audit"), Some(1), "{text}");
    assert_eq!(logs("app-debug"), Some(1));
    assert_eq!(logs("pii-pseudonymized"), Some(1));
    assert_eq!(logs("frontend"), Some(1));
    assert_eq!(logs("standard"), Some(2));
    assert_eq!(
        metric(
            &text,
            "caviard_redactions_by_category_total{category=\"email\"}"
        ),
        Some(3)
    );
    assert_eq!(
        metric(
            &text,
            "caviard_redactions_by_category_total{category=\"phone\"}"
        ),
        Some(1)
    );
    assert_eq!(
        metric(
            &text,
            &format!("caviard_redactions_by_receiver_total{{receiver=\"{receiver}\"}}")
        ),
        Some(4)
    );
    assert!(
        text.contains("caviard_redactions_by_rule_total{rule="),
        "per-rule counters: {text}"
    );
}

#[test]
fn log_classes_grpc_sdk_to_grpc_upstream() {
    let upstream = Upstream::start();
    let proxy = start(&upstream, "grpc");
    send(&proxy.grpc_url(), "grpc", "logs");
    check_logs(&upstream, &proxy, "otlp_grpc");
}

#[test]
fn log_classes_http_sdk_to_http_upstream() {
    let upstream = Upstream::start();
    let proxy = start(&upstream, "http/protobuf");
    send(&proxy.http_url(), "http", "logs");
    check_logs(&upstream, &proxy, "otlp_http");
}

/// Spans: the class is a resource attribute (the class of the resource's spans of one request
/// together), the summary a span attribute. The sender exports one span per request, so each
/// span's resource carries that span's class.
#[test]
fn span_classes_on_the_resource() {
    let upstream = Upstream::start();
    let proxy = start(&upstream, "grpc");
    send(&proxy.http_url(), "http", "traces");
    upstream.wait_for(Duration::from_secs(30), "6 spans", |r| r.spans().len() >= 6);
    let received = upstream.received();
    let mut by_case = BTreeMap::new();
    let mut strings = Vec::new();
    for (span, resource) in received.spans() {
        let case = str_attr(&span.attributes, "case").unwrap().to_string();
        let class = str_attr(resource, "retention.class")
            .unwrap_or("<none>")
            .to_string();
        by_case.insert(case.clone(), (class, int_attr(resource, "retention.days")));
        let count = int_attr(&span.attributes, "redaction.count");
        match case.as_str() {
            "info-pii" => assert_eq!(count, Some(2)),
            "info-clean" | "warn-clean" | "forged" => assert_eq!(count, None, "{case}"),
            _ => assert_eq!(count, Some(1), "{case}"),
        }
        assert_eq!(
            str_attr(&span.attributes, "retention.class"),
            None,
            "{case}: class on the resource only"
        );
        tag_strings(&span.attributes, &mut strings);
        tag_strings(resource, &mut strings);
        strings.push(span.name.clone());
    }
    assert_no_values(&strings, "spans");
    let class = |c: &str| by_case[c].0.as_str();
    assert_eq!(class("sec-debug-pii"), "security-audit");
    assert_eq!(by_case["sec-debug-pii"].1, Some(365));
    // Spans have no severity: the debug rule cannot match, the category rule does.
    assert_eq!(class("debug-pii"), "pii-pseudonymized");
    assert_eq!(class("info-pii"), "pii-pseudonymized");
    assert_eq!(class("info-clean"), "frontend");
    assert_eq!(class("warn-clean"), "standard");
    assert_eq!(class("forged"), "standard");
    let text = metrics(&proxy);
    assert_eq!(
        metric(
            &text,
            "caviard_records_by_retention_class_total{signal=\"traces\",class=\"pii-pseudonymized\"}"
        ),
        Some(2)
    );
    assert_no_values(&[text], "/metrics");
}

/// `retention.enabled: false` and `audit.summary: off`: records leave untagged.
#[test]
fn tagging_can_be_switched_off() {
    let upstream = Upstream::start();
    let proxy = Proxy::start(
        &[
            "--upstream",
            &upstream.grpc_url(),
            "--upstream-protocol",
            "grpc",
        ],
        Some("retention: {enabled: false}\naudit: {summary: off}\n"),
        &[],
    );
    send(&proxy.grpc_url(), "grpc", "logs");
    upstream.wait_for(Duration::from_secs(30), "6 log records", |r| {
        r.log_records().len() >= 6
    });
    for (rec, _) in upstream.received().log_records() {
        let case = str_attr(&rec.attributes, "case").unwrap();
        if case != "forged" {
            assert_eq!(int_attr(&rec.attributes, "redaction.count"), None, "{case}");
            assert_eq!(str_attr(&rec.attributes, "retention.class"), None, "{case}");
        }
    }
}
