//! Splunk HTTP Event Collector upstream (`protocol: splunk_hec`, logs only): each log record
//! becomes one JSON event, POSTed concatenated (no separator, as HEC takes them) to
//! `<endpoint>/services/collector/event` with `Authorization: Splunk <token>`.
//!
//! The event is the OpenTelemetry Collector's `splunk_hec` exporter's:
//!
//! ```json
//! {"time": 1700000000.123456, "host": "<host.name>", "source": "...", "sourcetype": "otel",
//!  "index": "...", "event": "<body>", "fields": {"trace_id": "...", "span_id": "...",
//!  "otel.log.severity.text": "ERROR", "otel.log.severity.number": 17, "<attribute>": ...}}
//! ```
//!
//! * `time`: the record's time, else its observed time, in seconds with microseconds
//!   (truncated); absent when the record has neither (HEC then uses its own clock).
//! * `host`, `source`, `sourcetype`, `index`: the `host.name`, `com.splunk.source`,
//!   `com.splunk.sourcetype` and `com.splunk.index` attributes (record over resource), else
//!   the configured defaults (`sourcetype` defaults to `otel`); absent when unset.
//! * `event`: a string body as is; any other body (a map, an array, a number) as JSON. A
//!   record with no body or an empty one is dropped and counted, as the Collector does: HEC
//!   refuses blank events ("Event field cannot be blank") and would refuse the whole request.
//! * `fields` (indexed fields): the resource's then the record's attributes, caviard's
//!   `retention.*` and `redaction.*` tags included; HEC takes no nested objects there, so maps
//!   are flattened to dotted keys (`http.request.header.x`), arrays of scalars kept, other
//!   arrays written as a JSON string. `com.splunk.hec.access_token` is never forwarded.
//!
//! Answers: any 2xx is success. 429 and 5xx (503 with HEC code 9, "server is busy") are
//! retried, honouring `Retry-After`. Every other status is permanent and the batch dropped
//! and counted: 400 (invalid event, data format, index), 401/403 (the token is missing,
//! wrong or disabled: a retry with the same token fails the same way, and keeping such batches
//! would fill the queue and refuse every client; the first such answer is logged at error
//! level with the status and HEC code, never the token). The reason logged is the status and
//! HEC's numeric code with its documented meaning, never the reply's text.

use super::http::{url, Answer, HttpClient, MAX_RESPONSE_BYTES};
use super::json::{self, any_to_json, hex_id, record_time, Items, Record};
use super::tls::Connector;
use super::SendError;
use crate::config::serve::{SplunkHecConfig, UpstreamConfig};
use bytes::Bytes;
use http::{StatusCode, Uri};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The path HEC takes JSON events on.
const EVENT_PATH: &str = "/services/collector/event";

pub(crate) struct HecUpstream {
    client: HttpClient,
    uri: Uri,
    defaults: Arc<Defaults>,
    max_bytes: usize,
    /// Set once a 401/403 was logged.
    token_refused: AtomicBool,
}

/// The envelope's values when no attribute sets them.
#[derive(Debug, Clone)]
struct Defaults {
    sourcetype: String,
    source: Option<String>,
    index: Option<String>,
}

impl HecUpstream {
    /// `max_bytes` bounds each request body (`batch.max_bytes`).
    pub(crate) fn new(
        endpoint: &str,
        config: &UpstreamConfig,
        max_bytes: usize,
        connector: Connector,
    ) -> Result<HecUpstream, String> {
        let hec: &SplunkHecConfig = config
            .splunk_hec
            .as_ref()
            .ok_or("splunk_hec: required with protocol splunk_hec")?;
        let token = hec.token()?;
        Ok(HecUpstream {
            client: HttpClient::new(config, Some(format!("Splunk {token}")), connector)?,
            uri: event_url(endpoint)?,
            defaults: Arc::new(Defaults {
                sourcetype: hec.sourcetype.clone(),
                source: hec.source.clone(),
                index: hec.index.clone(),
            }),
            max_bytes,
            token_refused: AtomicBool::new(false),
        })
    }

    /// The connector, whose TLS files the exporters reload.
    pub(super) fn connector(&self) -> &Connector {
        self.client.connector()
    }

    /// One HEC event per log record of a queued batch, and how many records had no body.
    pub(crate) async fn encode(&self, body: Bytes) -> Result<(Items, u64), SendError> {
        let defaults = self.defaults.clone();
        json::encode_batch(body, move |r, out| event(r, &defaults, out)).await
    }

    pub(crate) async fn send(&self, items: &Items) -> Result<u64, SendError> {
        json::send_items(items, self.max_bytes, b"", b"", |body, _| async move {
            let answer = self
                .client
                .post(&self.uri, "application/json", body, MAX_RESPONSE_BYTES)
                .await?;
            if answer.status.is_success() {
                return Ok(None);
            }
            Err(self.failure(&answer))
        })
        .await
    }

    fn failure(&self, answer: &Answer) -> SendError {
        #[derive(serde::Deserialize)]
        struct Reply {
            code: Option<u32>,
        }
        let code = answer
            .body
            .as_ref()
            .and_then(|b| serde_json::from_slice::<Reply>(b).ok())
            .and_then(|r| r.code);
        let detail = code.map_or_else(String::new, |c| match hec_code_meaning(c) {
            Some(m) => format!(", HEC code {c} ({m})"),
            None => format!(", HEC code {c}"),
        });
        let status = answer.status;
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
            && !self.token_refused.swap(true, Ordering::Relaxed)
        {
            tracing::error!(
                status = status.as_u16(),
                hec_code = code,
                "Splunk HEC refused the token: check serve.upstream.splunk_hec (token_env or token_file) and the token in Splunk. Batches are dropped until it is fixed."
            );
        }
        let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        answer.error(retryable, detail)
    }
}

/// `<endpoint>/services/collector/event`. An endpoint that already ends with that path, or
/// with `/services/collector` (how the Collector's exporter is configured), is completed
/// rather than doubled.
fn event_url(endpoint: &str) -> Result<Uri, String> {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with(EVENT_PATH) {
        url(base, "")
    } else if base.ends_with("/services/collector") {
        url(base, "/event")
    } else {
        url(base, EVENT_PATH)
    }
}

/// What HEC's numeric error codes mean (Splunk's documentation), for logs.
fn hec_code_meaning(code: u32) -> Option<&'static str> {
    Some(match code {
        1 => "token disabled",
        2 => "token is required",
        3 => "invalid authorization",
        4 => "invalid token",
        5 => "no data",
        6 => "invalid data format",
        7 => "incorrect index",
        8 => "internal server error",
        9 => "server is busy",
        10 => "data channel is missing",
        11 => "invalid data channel",
        12 => "event field is required",
        13 => "event field cannot be blank",
        14 => "ACK is disabled",
        15 => "error in handling indexed fields",
        16 => "query string authorization is not enabled",
        _ => return None,
    })
}

/// One HEC event.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    sourcetype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<&'a str>,
    event: Json,
    #[serde(skip_serializing_if = "Map::is_empty")]
    fields: Map<String, Json>,
}

/// Write `r` as a HEC event to `out`; `false` (nothing written) for a record with no body.
fn event(r: &Record<'_>, d: &Defaults, out: &mut Vec<u8>) -> serde_json::Result<bool> {
    let record = r.record;
    let event = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
        None => return Ok(false),
        Some(Value::StringValue(s)) if s.is_empty() => return Ok(false),
        Some(Value::StringValue(s)) => Json::String(s.clone()),
        Some(_) => record.body.as_ref().map_or(Json::Null, any_to_json),
    };
    let mut fields = Map::new();
    if let Some(id) = hex_id(&record.trace_id) {
        fields.insert("trace_id".into(), id.into());
    }
    if let Some(id) = hex_id(&record.span_id) {
        fields.insert("span_id".into(), id.into());
    }
    if !record.severity_text.is_empty() {
        fields.insert(
            "otel.log.severity.text".into(),
            record.severity_text.clone().into(),
        );
    }
    if record.severity_number > 0 {
        fields.insert(
            "otel.log.severity.number".into(),
            record.severity_number.into(),
        );
    }
    if !record.event_name.is_empty() {
        fields.insert("otel.log.name".into(), record.event_name.clone().into());
    }
    let (mut host, mut source, mut sourcetype, mut index) = (
        None,
        d.source.as_deref(),
        d.sourcetype.as_str(),
        d.index.as_deref(),
    );
    for kv in r.resource.iter().chain(&record.attributes) {
        let Some(value) = kv.value.as_ref() else {
            continue;
        };
        let text = match &value.value {
            Some(Value::StringValue(s)) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        };
        match (kv.key.as_str(), text) {
            ("host.name", Some(t)) => host = Some(t),
            ("com.splunk.source", Some(t)) => source = Some(t),
            ("com.splunk.sourcetype", Some(t)) => sourcetype = t,
            ("com.splunk.index", Some(t)) => index = Some(t),
            ("com.splunk.hec.access_token", _) => {}
            (key, _) => flatten(&mut fields, key.to_string(), any_to_json(value)),
        }
    }
    let time = record_time(record).map(|t| (t / 1_000) as f64 / 1e6);
    let e = Event {
        time,
        host,
        source,
        sourcetype,
        index,
        event,
        fields,
    };
    serde_json::to_writer(out, &e)?;
    Ok(true)
}

/// Put `value` into HEC's indexed fields under `key`: a map flattened to `key.sub` keys, an
/// array of scalars kept, an array holding maps or arrays written as a JSON string (HEC takes
/// neither nesting). Nulls are left out.
fn flatten(fields: &mut Map<String, Json>, key: String, value: Json) {
    match value {
        Json::Null => {}
        Json::Object(m) => {
            for (k, v) in m {
                flatten(fields, format!("{key}.{k}"), v);
            }
        }
        Json::Array(a) if a.iter().any(|v| v.is_array() || v.is_object()) => {
            fields.insert(key, Json::String(Json::Array(a).to_string()));
        }
        other => {
            fields.insert(key, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::json::tests::{kv, s, v};
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::LogRecord;
    use serde_json::json;

    fn defaults() -> Defaults {
        Defaults {
            sourcetype: "otel".into(),
            source: Some("caviard".into()),
            index: None,
        }
    }

    fn encode(
        resource: &[opentelemetry_proto::tonic::common::v1::KeyValue],
        record: &LogRecord,
    ) -> Option<Json> {
        let mut out = Vec::new();
        let r = Record {
            resource,
            scope: None,
            record,
        };
        event(&r, &defaults(), &mut out)
            .unwrap()
            .then(|| serde_json::from_slice(&out).unwrap())
    }

    #[test]
    fn a_record_becomes_the_collectors_event() {
        let record = LogRecord {
            time_unix_nano: 1_700_000_000_123_456_789,
            observed_time_unix_nano: 1_800_000_000_000_000_000,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(s("payment failed for [EMAIL]")),
            trace_id: vec![0x5b; 16],
            span_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
            attributes: vec![
                kv("retention.class", s("pii-pseudonymized")),
                kv("redaction.count", v(Value::IntValue(2))),
                kv("com.splunk.index", s("payments")),
                kv("com.splunk.hec.access_token", s("never-forwarded")),
                kv(
                    "http",
                    v(Value::KvlistValue(KeyValueList {
                        values: vec![
                            kv("status_code", v(Value::IntValue(500))),
                            kv(
                                "route",
                                v(Value::KvlistValue(KeyValueList {
                                    values: vec![kv("name", s("/pay"))],
                                })),
                            ),
                        ],
                    })),
                ),
                kv(
                    "tags",
                    v(Value::ArrayValue(ArrayValue {
                        values: vec![s("a"), v(Value::IntValue(1))],
                    })),
                ),
                kv(
                    "nested",
                    v(Value::ArrayValue(ArrayValue {
                        values: vec![v(Value::ArrayValue(ArrayValue {
                            values: vec![s("x")],
                        }))],
                    })),
                ),
                kv("empty", AnyValue { value: None }),
            ],
            ..Default::default()
        };
        let resource = [
            kv("host.name", s("web-1")),
            kv("service.name", s("checkout")),
            kv("com.splunk.index", s("resource-index")),
        ];
        assert_eq!(
            encode(&resource, &record).unwrap(),
            json!({
                "time": 1_700_000_000.123_456,
                "host": "web-1",
                "source": "caviard",
                "sourcetype": "otel",
                "index": "payments",
                "event": "payment failed for [EMAIL]",
                "fields": {
                    "trace_id": "5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b",
                    "span_id": "0000000000000001",
                    "otel.log.severity.text": "ERROR",
                    "otel.log.severity.number": 17,
                    "service.name": "checkout",
                    "retention.class": "pii-pseudonymized",
                    "redaction.count": 2,
                    "http.status_code": 500,
                    "http.route.name": "/pay",
                    "tags": ["a", 1],
                    "nested": "[[\"x\"]]",
                }
            })
        );
    }

    #[test]
    fn time_falls_back_to_observed_then_is_left_out() {
        let mut record = LogRecord {
            observed_time_unix_nano: 1_500_000_000_999_999_999,
            body: Some(s("x")),
            ..Default::default()
        };
        let e = encode(&[], &record).unwrap();
        // Truncated to the microsecond: never rounded into the next second.
        assert_eq!(e["time"], json!(1_500_000_000.999_999));
        record.observed_time_unix_nano = 0;
        let e = encode(&[], &record).unwrap();
        assert!(e.get("time").is_none(), "{e}");
        assert!(e.get("host").is_none() && e.get("index").is_none(), "{e}");
        assert!(e.get("fields").is_none(), "{e}");
    }

    #[test]
    fn structured_bodies_are_json_and_blank_ones_are_skipped() {
        let map = v(Value::KvlistValue(KeyValueList {
            values: vec![kv("user", s("[EMAIL]")), kv("n", v(Value::IntValue(3)))],
        }));
        let record = LogRecord {
            body: Some(map),
            ..Default::default()
        };
        assert_eq!(
            encode(&[], &record).unwrap()["event"],
            json!({"user": "[EMAIL]", "n": 3})
        );
        for body in [None, Some(s("")), Some(AnyValue { value: None })] {
            let record = LogRecord {
                body,
                ..Default::default()
            };
            assert_eq!(encode(&[], &record), None);
        }
    }

    #[test]
    fn event_urls() {
        for (endpoint, want) in [
            (
                "https://splunk:8088",
                "https://splunk:8088/services/collector/event",
            ),
            (
                "https://splunk:8088/",
                "https://splunk:8088/services/collector/event",
            ),
            (
                "http://gw/splunk",
                "http://gw/splunk/services/collector/event",
            ),
            (
                "https://s:8088/services/collector",
                "https://s:8088/services/collector/event",
            ),
            (
                "https://s:8088/services/collector/event/",
                "https://s:8088/services/collector/event",
            ),
        ] {
            assert_eq!(event_url(endpoint).unwrap().to_string(), want, "{endpoint}");
        }
    }
}
