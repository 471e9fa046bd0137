//! The non-OTLP upstreams, black-box: `caviard serve` forwarding to a fake Splunk HTTP Event
//! Collector and a fake Elasticsearch (`_bulk`), both HTTP servers written here that record
//! what they get and answer as scripted. What must hold: the wire shape each backend takes,
//! the credentials header, redacted content, retries that lose and duplicate nothing,
//! permanent refusals dropped and counted, traces and metrics refused, bad configs named.
#![cfg(feature = "serve")]

mod otlp_util;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use otlp_util::*;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// === a scriptable fake backend ===

/// One request the fake backend got (body decompressed when gzipped).
#[derive(Debug, Clone)]
struct Got {
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as a stream of JSON values (HEC: concatenated events; bulk: NDJSON lines).
    fn json_values(&self) -> Vec<Json> {
        serde_json::Deserializer::from_slice(&self.body)
            .into_iter::<Json>()
            .map(|v| v.expect("valid JSON"))
            .collect()
    }
}

/// An answer: status, headers, body.
type Reply = (u16, Vec<(&'static str, String)>, String);
/// Decides the answer to request number `n` (from 0).
type Script = dyn Fn(usize, &Got) -> Reply + Send + Sync;

struct Backend {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Got>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Backend {
    fn start(script: impl Fn(usize, &Got) -> Reply + Send + Sync + 'static) -> Backend {
        let (runtime, listener, addr) = server_runtime();
        let got = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let g = got.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (g, script) = (g.clone(), script.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (g, script) = (g.clone(), script.clone());
                        async move {
                            Ok::<_, std::convert::Infallible>(answer(req, &g, &*script).await)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Backend {
            addr,
            got,
            _runtime: runtime,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Wait until `done` holds for the requests received, or panic after `timeout`.
    fn wait_for(&self, timeout: Duration, what: &str, done: impl Fn(&[Got]) -> bool) {
        let start = Instant::now();
        while !done(&self.got()) {
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for: {what}; got {:?}",
                self.got()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn answer(
    req: http::Request<hyper::body::Incoming>,
    got: &Mutex<Vec<Got>>,
    script: &Script,
) -> http::Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let gzip = req
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let body = if gzip {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        body.to_vec()
    };
    let request = Got {
        path,
        query,
        headers,
        body,
    };
    let n = {
        let mut g = got.lock().unwrap();
        g.push(request.clone());
        g.len() - 1
    };
    let (status, headers, body) = script(n, &request);
    let mut r = http::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.body(Full::new(Bytes::from(body))).unwrap()
}

// === helpers ===

const HEC_TOKEN: &str = "0f5e3c1a-test-hec-token-77";
const HEC_OK: &str = r#"{"text":"Success","code":0}"#;

fn hec_config(backend: &Backend, extra: &str) -> String {
    format!(
        "serve:
  upstream:
    endpoint: {}
    protocol: splunk_hec
    timeout: 2s
    splunk_hec:
      token_env: TEST_HEC_TOKEN
{extra}  batch:
    timeout: 20ms
  retry:
    initial_backoff: 50ms
    max_backoff: 300ms
",
        backend.url()
    )
}

fn start_hec(backend: &Backend, extra: &str) -> Proxy {
    Proxy::start(
        &[],
        Some(&hec_config(backend, extra)),
        &[("TEST_HEC_TOKEN", HEC_TOKEN)],
    )
}

/// Send `seqs` as one OTLP/gRPC logs request.
fn send_logs(proxy: &Proxy, seqs: std::ops::Range<i64>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = LogsServiceClient::connect(proxy.grpc_url()).await.unwrap();
        client.export(log_request(seqs)).await.unwrap();
    });
}

/// Every HEC event received, in order.
fn hec_events(got: &[Got]) -> Vec<Json> {
    got.iter().flat_map(Got::json_values).collect()
}

/// How many times each `seq` arrived, from the events' `fields.seq`.
fn hec_seqs(events: &[Json]) -> BTreeMap<i64, usize> {
    let mut out = BTreeMap::new();
    for e in events {
        *out.entry(e["fields"]["seq"].as_i64().expect("fields.seq"))
            .or_insert(0) += 1;
    }
    out
}

fn metric(proxy: &Proxy, sample: &str) -> Option<u64> {
    proxy.metric(sample)
}

fn wait_metric(proxy: &Proxy, sample: &str, want: u64) {
    wait_until(
        &format!("{sample} == {want}; stderr:\n{}", proxy.stderr()),
        Duration::from_secs(15),
        || metric(proxy, sample) == Some(want),
    );
}

const DROPPED: &str = "caviard_export_dropped_records_total{signal=\"logs\"}";
const EXPORTED: &str = "caviard_exported_records_total{signal=\"logs\"}";

/// Nothing secret or personal in caviard's own log.
fn assert_clean_log(proxy: &Proxy, secret: &str) {
    let stderr = proxy.stderr();
    assert!(
        !stderr.contains(secret),
        "a credential was logged:\n{stderr}"
    );
    assert_no_pii(&[stderr], "caviard's log");
}

// === Splunk HEC ===

/// Events arrive at /services/collector/event with the token, one per record, in the
/// Collector's shape, redacted, gzipped when asked.
#[test]
fn hec_receives_redacted_events_with_the_token() {
    let backend = Backend::start(|_, _| (200, vec![], HEC_OK.into()));
    let yaml = hec_config(&backend, "      index: main\n").replace(
        "    timeout: 2s\n",
        "    timeout: 2s\n    compression: gzip\n    headers: {x-extra: 'yes'}\n",
    );
    let proxy = Proxy::start(&[], Some(&yaml), &[("TEST_HEC_TOKEN", HEC_TOKEN)]);
    send_logs(&proxy, 0..5);
    backend.wait_for(Duration::from_secs(15), "5 events", |g| {
        hec_events(g).len() == 5
    });
    let got = backend.got();
    for g in &got {
        assert_eq!(g.path, "/services/collector/event");
        assert_eq!(
            g.header("authorization"),
            Some(format!("Splunk {HEC_TOKEN}").as_str())
        );
        assert_eq!(g.header("content-encoding"), Some("gzip"));
        assert_eq!(g.header("x-extra"), Some("yes"));
        assert_no_pii(&[String::from_utf8_lossy(&g.body).into_owned()], "HEC body");
    }
    let events = hec_events(&got);
    assert_eq!(
        hec_seqs(&events).keys().copied().collect::<Vec<_>>(),
        (0..5).collect::<Vec<_>>()
    );
    for e in &events {
        let seq = e["fields"]["seq"].as_i64().unwrap();
        // time_unix_nano 1_700_000_000_000_000_000 + seq: seconds with microseconds.
        assert_eq!(e["time"].as_f64(), Some(1_700_000_000.0), "{e}");
        assert_eq!(e["sourcetype"], "otel");
        assert_eq!(e["index"], "main");
        let body = e["event"].as_str().expect("a string event");
        assert!(body.starts_with("payment failed for "), "{body}");
        let f = &e["fields"];
        let (trace, span) = fixture_ids(seq as u64);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(f["trace_id"], hex(&trace));
        assert_eq!(f["span_id"], hex(&span));
        assert_eq!(f["otel.log.severity.text"], "ERROR");
        assert_eq!(f["otel.log.severity.number"], 17);
        assert_eq!(f["service.name"], "caviard-test");
        assert_eq!(f["http.status_code"], 500);
        // caviard's own tags travel as indexed fields.
        assert!(f["retention.class"].is_string(), "{e}");
        assert!(f["redaction.count"].as_i64().unwrap() > 0, "{e}");
        assert_ne!(f["enduser.id"], "Jean Dupont");
    }
    wait_metric(&proxy, EXPORTED, 5);
    assert_clean_log(&proxy, HEC_TOKEN);
}

/// HEC busy (503, code 9, Retry-After) then fine: every record arrives exactly once.
#[test]
fn hec_503_then_200_loses_nothing_and_duplicates_nothing() {
    let backend = Backend::start(|n, _| {
        if n < 2 {
            (
                503,
                vec![("retry-after", "1".into())],
                r#"{"text":"Server is busy","code":9}"#.into(),
            )
        } else {
            (200, vec![], HEC_OK.into())
        }
    });
    let proxy = start_hec(&backend, "");
    for r in 0..3 {
        send_logs(&proxy, r * 10..(r + 1) * 10);
    }
    wait_metric(&proxy, EXPORTED, 30);
    // Only what was answered 200 counts as received.
    let ok: Vec<Got> = backend.got().into_iter().skip(2).collect();
    let seqs = hec_seqs(&hec_events(&ok));
    assert_eq!(seqs.len(), 30, "{seqs:?}");
    assert!(seqs.values().all(|&n| n == 1), "duplicates: {seqs:?}");
    assert!(metric(&proxy, "caviard_export_retries_total{signal=\"logs\"}").unwrap() >= 1);
    assert_eq!(metric(&proxy, DROPPED), Some(0));
    let stderr = proxy.stderr();
    assert!(stderr.contains("HTTP 503"), "{stderr}");
    assert!(stderr.contains("HEC code 9 (server is busy)"), "{stderr}");
    assert_clean_log(&proxy, HEC_TOKEN);
}

/// HEC 400 (invalid data format): permanent; the batch is dropped and counted, the status and
/// HEC code logged, not the events.
#[test]
fn hec_400_is_dropped_and_counted() {
    let backend = Backend::start(|_, _| {
        (
            400,
            vec![],
            r#"{"text":"Invalid data format","code":6,"invalid-event-number":0}"#.into(),
        )
    });
    let proxy = start_hec(&backend, "");
    send_logs(&proxy, 0..10);
    wait_metric(&proxy, DROPPED, 10);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(backend.got().len(), 1, "a permanent refusal is not retried");
    assert_eq!(metric(&proxy, EXPORTED), Some(0));
    let stderr = proxy.stderr();
    assert!(
        stderr.contains("HTTP 400 Bad Request, HEC code 6 (invalid data format)"),
        "{stderr}"
    );
    assert_clean_log(&proxy, HEC_TOKEN);
}

/// A refused token (403, code 4): dropped, counted, explained once; the token never shown.
#[test]
fn hec_refused_token_is_explained_once_without_the_token() {
    let backend =
        Backend::start(|_, _| (403, vec![], r#"{"text":"Invalid token","code":4}"#.into()));
    let proxy = start_hec(&backend, "");
    send_logs(&proxy, 0..3);
    wait_metric(&proxy, DROPPED, 3);
    send_logs(&proxy, 3..6);
    wait_metric(&proxy, DROPPED, 6);
    let stderr = proxy.stderr();
    assert_eq!(
        stderr.matches("Splunk HEC refused the token").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("HEC code 4 (invalid token)"), "{stderr}");
    assert_clean_log(&proxy, HEC_TOKEN);
}

/// Records with no body cannot be HEC events: dropped and counted, the others delivered.
#[test]
fn hec_records_without_a_body_are_counted_dropped() {
    let backend = Backend::start(|_, _| (200, vec![], HEC_OK.into()));
    let proxy = start_hec(&backend, "");
    let mut request = log_request(0..3);
    request.resource_logs[0].scope_logs[0].log_records[1].body = None;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut client = LogsServiceClient::connect(proxy.grpc_url()).await.unwrap();
        client.export(request).await.unwrap();
    });
    wait_metric(&proxy, EXPORTED, 2);
    wait_metric(&proxy, DROPPED, 1);
    let seqs = hec_seqs(&hec_events(&backend.got()));
    assert_eq!(seqs.keys().copied().collect::<Vec<_>>(), [0, 2]);
}

/// With a logs-only upstream, traces and metrics are refused for good (gRPC UNIMPLEMENTED,
/// HTTP 404) and counted; nothing reaches the backend.
#[test]
fn traces_and_metrics_are_refused_with_a_logs_only_upstream() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    let backend = Backend::start(|_, _| (200, vec![], HEC_OK.into()));
    let proxy = start_hec(&backend, "");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        let mut client = TraceServiceClient::connect(proxy.grpc_url()).await.unwrap();
        client
            .export(ExportTraceServiceRequest::default())
            .await
            .unwrap_err()
    });
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    let r = http_request(
        proxy.http,
        "POST",
        "/v1/metrics",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 404);
    let body: Json = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["code"], 12, "google.rpc.Status UNIMPLEMENTED: {body}");
    wait_metric(
        &proxy,
        "caviard_refused_requests_total{reason=\"unsupported_signal\"}",
        2,
    );
    // Logs still flow.
    send_logs(&proxy, 0..1);
    wait_metric(&proxy, EXPORTED, 1);
    assert!(backend
        .got()
        .iter()
        .all(|g| g.path == "/services/collector/event"));
}

// === configuration ===

fn check(yaml: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_caviard"));
    cmd.arg("check").arg("--config").arg(&path);
    cmd.env_remove("TEST_HEC_TOKEN")
        .env_remove("TEST_ES_KEY")
        .env_remove("TEST_ES_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `caviard check` refuses `yaml`, naming `want`, without showing `secret`.
fn check_fails(yaml: &str, env: &[(&str, &str)], want: &str, secret: &str) {
    let (ok, err) = check(yaml, env);
    assert!(!ok, "{yaml} passed");
    assert!(err.contains(want), "{want:?} not in:\n{err}");
    assert!(!err.contains(secret), "a credential was shown:\n{err}");
}

#[test]
fn check_names_bad_splunk_hec_settings() {
    let good = "serve:\n  upstream:\n    endpoint: https://splunk.example:8088\n    protocol: splunk_hec\n    splunk_hec: {token_env: TEST_HEC_TOKEN, index: main}\n";
    let (ok, err) = check(good, &[("TEST_HEC_TOKEN", HEC_TOKEN)]);
    assert!(ok, "{err}");
    for (yaml, env, want) in [
        (good, &[][..], "serve.upstream.splunk_hec.token_env: environment variable TEST_HEC_TOKEN is not set"),
        (
            "serve:\n  upstream:\n    endpoint: splunk:8088\n    protocol: splunk_hec\n    splunk_hec: {token_env: TEST_HEC_TOKEN}\n",
            &[("TEST_HEC_TOKEN", HEC_TOKEN)][..],
            "serve.upstream.endpoint: not a URL",
        ),
        (
            "serve:\n  upstream:\n    endpoint: http://s:8088\n    protocol: splunk_hec\n    splunk_hec: {token_env: TEST_HEC_TOKEN, index: Main Logs}\n",
            &[("TEST_HEC_TOKEN", HEC_TOKEN)][..],
            "serve.upstream.splunk_hec.index: \"Main Logs\"",
        ),
        (
            "serve:\n  upstream:\n    endpoint: http://s:8088\n    protocol: splunk_hec\n",
            &[][..],
            "serve.upstream.splunk_hec: required with protocol splunk_hec",
        ),
        (
            "serve:\n  upstream:\n    protocol: splunk_hec\n    splunk_hec: {token_file: /nonexistent/token}\n",
            &[][..],
            "serve.upstream.splunk_hec.token_file: cannot read /nonexistent/token",
        ),
        (
            "serve:\n  upstream:\n    protocol: splunk_hec\n    splunk_hec: {token_env: TEST_HEC_TOKEN}\n",
            &[("TEST_HEC_TOKEN", HEC_TOKEN)][..],
            "serve.upstream.endpoint: required with protocol splunk_hec",
        ),
        (
            "serve:\n  upstream:\n    endpoint: http://c:4318\n    protocol: http/protobuf\n    splunk_hec: {token_env: TEST_HEC_TOKEN}\n",
            &[("TEST_HEC_TOKEN", HEC_TOKEN)][..],
            "serve.upstream.splunk_hec: set, but serve.upstream.protocol is http/protobuf",
        ),
        (
            "serve:\n  upstream:\n    endpoint: http://s:8088\n    protocol: splunk_hec\n    headers: {Authorization: x}\n    splunk_hec: {token_env: TEST_HEC_TOKEN}\n",
            &[("TEST_HEC_TOKEN", HEC_TOKEN)][..],
            "serve.upstream.headers.authorization: conflicts",
        ),
    ] {
        check_fails(yaml, env, want, HEC_TOKEN);
    }
}

// === Elasticsearch ===

const ES_KEY: &str = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";

fn es_config(backend: &Backend, extra: &str) -> String {
    format!(
        "serve:
  upstream:
    endpoint: {}
    protocol: elasticsearch
    timeout: 2s
    elasticsearch:
      api_key_env: TEST_ES_KEY
{extra}  batch:
    timeout: 20ms
  retry:
    initial_backoff: 50ms
    max_backoff: 300ms
",
        backend.url()
    )
}

fn start_es(backend: &Backend, extra: &str) -> Proxy {
    Proxy::start(
        &[],
        Some(&es_config(backend, extra)),
        &[("TEST_ES_KEY", ES_KEY)],
    )
}

/// A bulk body's (action, document) pairs; panics unless it is exactly such pairs, each line
/// ending in a newline.
fn bulk_pairs(g: &Got) -> Vec<(Json, Json)> {
    let text = std::str::from_utf8(&g.body).unwrap();
    assert!(text.ends_with('\n'), "NDJSON ends with a newline: {text:?}");
    let lines: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() % 2, 0, "{text}");
    lines
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

/// The bulk answer for `statuses`, one item per document, as Elasticsearch writes it with
/// the exporter's `filter_path`.
fn bulk_answer(statuses: &[u16]) -> String {
    let items: Vec<Json> = statuses
        .iter()
        .map(|&s| match s {
            200..=299 => serde_json::json!({"create": {"status": s}}),
            429 => serde_json::json!({"create": {"status": s, "error": {"type": "es_rejected_execution_exception"}}}),
            _ => serde_json::json!({"create": {"status": s, "error": {"type": "document_parsing_exception"}}}),
        })
        .collect();
    serde_json::json!({"errors": statuses.iter().any(|s| *s >= 300), "items": items}).to_string()
}

fn es_seq(doc: &Json) -> i64 {
    doc["attributes"]["seq"].as_i64().expect("attributes.seq")
}

/// Action line + document pairs, `create` into the configured data stream, ECS fields,
/// redacted message, the API key.
#[test]
fn es_bulk_has_action_and_document_pairs() {
    let backend = Backend::start(|_, g| {
        let n = g.body.iter().filter(|&&b| b == b'\n').count() / 2;
        (200, vec![], bulk_answer(&vec![201; n]))
    });
    let proxy = start_es(&backend, "      index: logs-payments-prod\n");
    send_logs(&proxy, 0..4);
    wait_metric(&proxy, EXPORTED, 4);
    let got = backend.got();
    let mut seqs = Vec::new();
    for g in &got {
        assert_eq!(g.path, "/_bulk");
        assert!(
            g.query
                .as_deref()
                .is_some_and(|q| q.contains("filter_path=")),
            "{:?}",
            g.query
        );
        assert_eq!(g.header("content-type"), Some("application/x-ndjson"));
        assert_eq!(
            g.header("authorization"),
            Some(format!("ApiKey {ES_KEY}").as_str())
        );
        assert_no_pii(
            &[String::from_utf8_lossy(&g.body).into_owned()],
            "bulk body",
        );
        for (action, doc) in bulk_pairs(g) {
            assert_eq!(
                action,
                serde_json::json!({"create": {"_index": "logs-payments-prod"}})
            );
            let seq = es_seq(&doc);
            seqs.push(seq);
            assert_eq!(
                doc["@timestamp"],
                format!("2023-11-14T22:13:20.{seq:09}Z"),
                "{doc}"
            );
            let message = doc["message"].as_str().unwrap();
            assert!(message.starts_with("payment failed for "), "{message}");
            assert_eq!(doc["log"]["level"], "ERROR");
            let (trace, span) = fixture_ids(seq as u64);
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            assert_eq!(doc["trace"]["id"], hex(&trace));
            assert_eq!(doc["span"]["id"], hex(&span));
            assert_eq!(doc["service"]["name"], "caviard-test");
            assert_eq!(
                doc["resource"]["attributes"]["service.name"],
                "caviard-test"
            );
            assert_eq!(doc["attributes"]["http.status_code"], 500);
            assert!(doc["attributes"]["retention.class"].is_string(), "{doc}");
        }
    }
    seqs.sort_unstable();
    assert_eq!(seqs, [0, 1, 2, 3]);
    assert_clean_log(&proxy, ES_KEY);
}

/// The bulk API answers 200 with per-item failures: the 429 document is sent again alone and
/// stored once; the 400 one is dropped and counted; the stored one is never sent again.
#[test]
fn es_partial_failure_retries_only_the_retryable_item() {
    let backend = Backend::start(|n, g| {
        let docs = g.body.iter().filter(|&&b| b == b'\n').count() / 2;
        if n == 0 {
            assert_eq!(docs, 3, "one bulk request of three documents first");
            (200, vec![], bulk_answer(&[201, 429, 400]))
        } else {
            (200, vec![], bulk_answer(&vec![201; docs]))
        }
    });
    let proxy = start_es(&backend, "");
    send_logs(&proxy, 0..3);
    wait_metric(&proxy, EXPORTED, 2);
    wait_metric(&proxy, DROPPED, 1);
    std::thread::sleep(Duration::from_millis(300));
    let got = backend.got();
    assert_eq!(got.len(), 2, "the first request and one retry: {got:?}");
    let first: Vec<i64> = bulk_pairs(&got[0]).iter().map(|(_, d)| es_seq(d)).collect();
    let retry: Vec<i64> = bulk_pairs(&got[1]).iter().map(|(_, d)| es_seq(d)).collect();
    assert_eq!(first, [0, 1, 2]);
    assert_eq!(retry, [1], "only the 429 document is sent again");
    assert!(metric(&proxy, "caviard_export_retries_total{signal=\"logs\"}").unwrap() >= 1);
    let stderr = proxy.stderr();
    assert!(
        stderr.contains("item status 400 document_parsing_exception (x1)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("item status 429 es_rejected_execution_exception"),
        "{stderr}"
    );
    assert_clean_log(&proxy, ES_KEY);
}

/// A whole bulk request refused with 429 is retried whole, after the `Retry-After` asked for.
#[test]
fn es_whole_request_429_is_retried() {
    let backend = Backend::start(|n, g| {
        let docs = g.body.iter().filter(|&&b| b == b'\n').count() / 2;
        if n == 0 {
            (429, vec![("retry-after", "0".into())], "{}".into())
        } else {
            (200, vec![], bulk_answer(&vec![201; docs]))
        }
    });
    let proxy = start_es(&backend, "");
    send_logs(&proxy, 0..5);
    wait_metric(&proxy, EXPORTED, 5);
    let got = backend.got();
    assert_eq!(got.len(), 2);
    assert_eq!(bulk_pairs(&got[1]).len(), 5);
    assert_eq!(metric(&proxy, DROPPED), Some(0));
}

#[test]
fn check_names_bad_elasticsearch_settings() {
    let base =
        "serve:\n  upstream:\n    endpoint: https://es.example:9200\n    protocol: elasticsearch\n";
    let (ok, err) = check(base, &[]);
    assert!(
        ok,
        "no block: an unauthenticated cluster, default data stream: {err}"
    );
    for (block, env, want) in [
        (
            "{index: 'Logs App', api_key_env: TEST_ES_KEY}",
            &[("TEST_ES_KEY", ES_KEY)][..],
            "serve.upstream.elasticsearch.index: \"Logs App\" has upper-case letters",
        ),
        (
            "{index: '_logs'}",
            &[][..],
            "serve.upstream.elasticsearch.index: \"_logs\" starts with -, _ or +",
        ),
        (
            "{index: 'logs|x'}",
            &[][..],
            "serve.upstream.elasticsearch.index: \"logs|x\" contains '|'",
        ),
        (
            "{api_key_env: TEST_ES_KEY}",
            &[][..],
            "serve.upstream.elasticsearch.api_key_env: environment variable TEST_ES_KEY is not set",
        ),
        (
            "{user: elastic}",
            &[][..],
            "serve.upstream.elasticsearch.user: set without password_env or password_file",
        ),
        (
            "{user: elastic, password_env: TEST_ES_PASSWORD, api_key_env: TEST_ES_KEY}",
            &[("TEST_ES_KEY", ES_KEY), ("TEST_ES_PASSWORD", "pw")][..],
            "serve.upstream.elasticsearch: set either an API key",
        ),
    ] {
        let yaml = format!("{base}    elasticsearch: {block}\n");
        check_fails(&yaml, env, want, ES_KEY);
    }
}
