//! Unit tests of the parent module, table-driven where the cases are alike.

use super::*;
use std::collections::HashMap;

fn load(yaml: &str) -> ServeConfig {
    serde_yaml_ng::from_str(yaml).unwrap()
}

#[test]
fn defaults_are_valid() {
    assert_eq!(ServeConfig::default().validate(), Vec::<String>::new());
    assert_eq!(load("{}").validate(), Vec::<String>::new());
}

#[test]
fn a_syslog_only_proxy_is_valid() {
    let c = load("otlp_grpc: {enabled: false}\notlp_http: {enabled: false}\nsyslog: {tcp_listen: '0.0.0.0:5514'}");
    assert_eq!(c.validate(), Vec::<String>::new());
    assert!(c.syslog.enabled() && !ServeConfig::default().syslog.enabled());
}

#[test]
fn durations_and_sizes() {
    for (s, d) in [
        ("250ms", 250),
        ("10s", 10_000),
        ("2m", 120_000),
        ("1h", 3_600_000),
    ] {
        assert_eq!(
            HumanDuration::parse(s),
            Some(HumanDuration(Duration::from_millis(d))),
            "{s}"
        );
    }
    for bad in ["10", "s", "1.5s", "-1s", "10 parsecs"] {
        assert_eq!(HumanDuration::parse(bad), None, "{bad}");
    }
    for (s, n) in [
        ("1024", 1024),
        ("4MiB", 4 << 20),
        ("4 MiB", 4 << 20),
        ("2KB", 2000),
        ("1GiB", 1 << 30),
    ] {
        assert_eq!(ByteSize::parse(s), Some(ByteSize(n)), "{s}");
    }
    for bad in ["4mb", "x", "1.5MiB", "99999999999999999999GiB"] {
        assert_eq!(ByteSize::parse(bad), None, "{bad}");
    }
    let c =
        load("limits: {max_body_bytes: 1MiB, request_timeout: 3s}\nqueue: {max_bytes: 65536000}");
    assert_eq!(c.limits.max_body_bytes, ByteSize(1 << 20));
    assert_eq!(c.limits.request_timeout.0, Duration::from_secs(3));
    assert_eq!(c.queue.max_bytes, ByteSize(65_536_000));
}

#[test]
fn unknown_keys_fail_at_load() {
    let err =
        serde_yaml_ng::from_str::<ServeConfig>("upstream: {endpont: http://x:4317}").unwrap_err();
    assert!(err.to_string().contains("endpont"), "{err}");
    assert!(serde_yaml_ng::from_str::<ServeConfig>("upstream: {protocol: http/json}").is_err());
    assert!(serde_yaml_ng::from_str::<ServeConfig>("retry: {max_backoff: 5}").is_err());
}

#[test]
fn validate_names_each_bad_field() {
    let table: &[(&str, &str)] = &[
        (
            "otlp_grpc: {listen: 'localhost:4317'}",
            "serve.otlp_grpc.listen: not an IP:port",
        ),
        (
            "otlp_http: {listen: '127.0.0.1:4317'}",
            "serve.otlp_http.listen: same address",
        ),
        (
            "upstream: {endpoint: 'collector:4317'}",
            "serve.upstream.endpoint: not a URL",
        ),
        (
            "upstream: {endpoint: 'ftp://c:4317'}",
            "serve.upstream.endpoint: not a URL",
        ),
        (
            "upstream: {endpoint: 'http://127.0.0.1:4317'}",
            "serve.upstream.endpoint: points at caviard's own",
        ),
        (
            "upstream: {endpoint: 'http://localhost:4318'}",
            "serve.upstream.endpoint: points at caviard's own",
        ),
        ("upstream: {timeout: 0s}", "serve.upstream.timeout"),
        (
            "upstream: {headers: {'bad header': x}}",
            "serve.upstream.headers.bad header: not a valid header name",
        ),
        (
            "limits: {max_body_bytes: 10}",
            "serve.limits.max_body_bytes: below 1KiB",
        ),
        (
            "limits: {max_decompressed_bytes: 1MiB}",
            "serve.limits.max_decompressed_bytes: below",
        ),
        (
            "queue: {max_bytes: 1MiB}",
            "serve.queue.max_bytes: below serve.limits.max_decompressed_bytes",
        ),
        (
            "retry: {initial_backoff: 2s, max_backoff: 1s}",
            "serve.retry.max_backoff: below",
        ),
        (
            "retry: {initial_backoff: 0ms}",
            "serve.retry.initial_backoff",
        ),
        (
            "otlp_grpc: {enabled: false}\notlp_http: {enabled: false}",
            "serve: otlp_grpc and otlp_http are disabled and no syslog receiver",
        ),
        (
            "syslog: {tcp_listen: 'localhost:514'}",
            "serve.syslog.tcp_listen: not an IP:port",
        ),
        (
            "syslog: {udp_listen: '127.0.0.1:5514', max_message_bytes: 100B}",
            "serve.syslog.max_message_bytes: must be between",
        ),
        (
            "syslog: {udp_listen: '127.0.0.1:5514', max_batch_delay: 0s}",
            "serve.syslog.max_batch_delay: must be above zero",
        ),
    ];
    for (yaml, want) in table {
        let problems = load(yaml).validate();
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "{yaml}: want {want:?}, got {problems:?}"
        );
    }
}

#[test]
fn env_fills_only_what_the_file_left_unset() {
    let env: HashMap<&str, &str> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ]
    .into();
    let var = |k: &str| env.get(k).map(|v| v.to_string());
    let mut c = ServeConfig::default();
    assert!(c.apply_otel_env(var).is_empty());
    assert_eq!(c.upstream.endpoint.as_deref(), Some("http://env:4318"));
    assert_eq!(c.protocol(), UpstreamProtocol::HttpProtobuf);

    let mut c = load("upstream: {endpoint: 'http://file:4317', protocol: grpc}");
    c.apply_otel_env(var);
    assert_eq!(c.upstream.endpoint.as_deref(), Some("http://file:4317"));
    assert_eq!(c.protocol(), UpstreamProtocol::Grpc);

    let mut c = ServeConfig::default();
    let problems =
        c.apply_otel_env(|k| (k == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "http/json".to_string()));
    assert!(
        problems[0].starts_with("OTEL_EXPORTER_OTLP_PROTOCOL: unsupported"),
        "{problems:?}"
    );
    assert_eq!(c.protocol(), UpstreamProtocol::Grpc);
}

#[test]
fn env_headers_and_certificates() {
    let env: HashMap<&str, &str> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://backend:443"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Basic%20dXNlcjpwdw%3D%3D, x-scope-orgid=platform",
        ),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/etc/client.key"),
    ]
    .into();
    let var = |k: &str| env.get(k).map(|v| v.to_string());
    let mut c = ServeConfig::default();
    assert!(c.apply_otel_env(var).is_empty());
    let h = &c.upstream.headers;
    assert_eq!(
        h.get("authorization").map(String::as_str),
        Some("Basic dXNlcjpwdw==")
    );
    assert_eq!(h.get("x-scope-orgid").map(String::as_str), Some("platform"));
    let tls = c.upstream.tls.as_ref().unwrap();
    assert_eq!(
        tls.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/ca.pem"))
    );
    assert_eq!(
        tls.key_file.as_deref(),
        Some(std::path::Path::new("/etc/client.key"))
    );
    assert!(tls.cert_file.is_none());

    // The file wins: its headers and its tls fields are kept.
    let mut c =
        load("upstream: {endpoint: 'https://f:443', headers: {a: b}, tls: {ca_file: /f/ca.pem}}");
    c.apply_otel_env(var);
    assert_eq!(c.upstream.headers.len(), 1);
    let tls = c.upstream.tls.as_ref().unwrap();
    assert_eq!(
        tls.ca_file.as_deref(),
        Some(std::path::Path::new("/f/ca.pem"))
    );
    assert_eq!(
        tls.key_file.as_deref(),
        Some(std::path::Path::new("/etc/client.key"))
    );

    // http:// ignores the certificate variables, as an SDK does.
    let mut c = load("upstream: {endpoint: 'http://f:4317'}");
    c.apply_otel_env(var);
    assert!(c.upstream.tls.is_none());

    // A malformed entry is reported without its value.
    let mut c = ServeConfig::default();
    let problems = c.apply_otel_env(|k| {
        (k == "OTEL_EXPORTER_OTLP_HEADERS").then(|| "a=1,secret-token-without-equals".to_string())
    });
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("entry 2") && !problems[0].contains("secret"),
        "{problems:?}"
    );
}

/// The OTEL_EXPORTER_OTLP_* variables describe an OTLP exporter: a Splunk or Elasticsearch
/// upstream takes none of them, and they cannot select one.
#[test]
fn otel_variables_are_for_otlp_upstreams_only() {
    let env: HashMap<&str, &str> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20x"),
    ]
    .into();
    let mut c = load("upstream: {protocol: splunk_hec}");
    assert!(c
        .apply_otel_env(|k| env.get(k).map(|v| v.to_string()))
        .is_empty());
    assert_eq!(c.upstream.endpoint, None);
    assert!(c.upstream.headers.is_empty());
    let mut c = load("{}");
    let problems =
        c.apply_otel_env(|k| (k == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "splunk_hec".into()));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(c.upstream.protocol, None);
    assert_eq!(
        UpstreamProtocol::parse("elasticsearch"),
        Some(UpstreamProtocol::Elasticsearch)
    );
}
