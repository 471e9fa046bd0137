//! Elasticsearch upstream (`protocol: elasticsearch`, logs only): each log record becomes one
//! document, POSTed as NDJSON to `<endpoint>/_bulk`, each after the action line
//! `{"create":{"_index":"<index>"}}` (a data stream takes `create` only; no `_id` is set, so
//! Elasticsearch makes one and a retried document cannot conflict).
//!
//! The document is ECS for the fields ECS names, and keeps the OTLP attributes apart under
//! `attributes` and `resource.attributes` with their keys as they are, like the OpenTelemetry
//! Collector's elasticsearch exporter in `mapping.mode: none` (no attribute lands at the top
//! level, where it could collide with an ECS field):
//!
//! ```json
//! {"@timestamp": "2023-11-14T22:13:20.000000001Z", "message": "<string body>",
//!  "log": {"level": "ERROR"}, "event": {"severity": 17},
//!  "trace": {"id": "<hex>"}, "span": {"id": "<hex>"},
//!  "service": {"name": "..."}, "host": {"name": "..."},
//!  "scope": {"name": "...", "version": "..."},
//!  "attributes": {"retention.class": "...", "http.status_code": 500},
//!  "resource": {"attributes": {"service.name": "...", "host.name": "..."}}}
//! ```
//!
//! `@timestamp` is the record's time, else its observed time, else the time of encoding (a data
//! stream refuses a document without one). A body that is a map or an array goes to
//! `body.structured` as JSON, any other to `message` (as text). `log.level` is the severity
//! text, else the name of the severity number's range. Elasticsearch expands the dots of
//! attribute keys into objects, so two attributes such as `a` and `a.b` conflict in the mapping:
//! that document is refused (400) and counted dropped.
//!
//! Answers: the bulk API answers 200 even when documents failed, so the per-item statuses are
//! read (the request asks only for them, with `filter_path`): a document refused with 429 or a
//! 5xx is sent again (alone with the others that failed so, never those already stored); any
//! other failure (400 mapping errors) drops it, counted, its status and error type logged,
//! never its content (Elasticsearch's reasons quote field values). A whole request answered 429
//! or 5xx is retried whole, honouring `Retry-After`; any other status is permanent (401/403 are
//! explained once). An answer whose items cannot be read is retried: records may then arrive
//! twice, never be lost.

use super::http::{url, Answer, HttpClient, MAX_RESPONSE_BYTES};
use super::json::{
    self, any_to_json, attributes, hex_id, record_time, severity_name, str_attr, Items, Record,
    Verdict,
};
use super::tls::Connector;
use super::SendError;
use crate::config::serve::{ElasticAuth, ElasticsearchConfig, UpstreamConfig};
use crate::serve::civil::rfc3339_nanos;
use base64::Engine as _;
use bytes::Bytes;
use http::{StatusCode, Uri};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde_json::{json, Map, Value as Json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// Only what is needed of the bulk answer: a few bytes per document instead of a few hundred.
const FILTER: &str = "filter_path=errors,items.*.status,items.*.error.type";

pub(crate) struct ElasticUpstream {
    client: HttpClient,
    uri: Uri,
    /// The action line, newline included.
    action: Vec<u8>,
    max_bytes: usize,
    /// Set once a 401/403 was logged.
    auth_refused: AtomicBool,
}

impl ElasticUpstream {
    /// `max_bytes` bounds each request body (`batch.max_bytes`).
    pub(crate) fn new(
        endpoint: &str,
        config: &UpstreamConfig,
        max_bytes: usize,
        connector: Connector,
    ) -> Result<ElasticUpstream, String> {
        let es: ElasticsearchConfig = config
            .elasticsearch
            .clone()
            .unwrap_or_else(|| serde_yaml_ng::from_str("{}").expect("every field has a default"));
        let authorization = match es.auth()? {
            ElasticAuth::None => None,
            ElasticAuth::ApiKey(key) => Some(format!("ApiKey {key}")),
            ElasticAuth::Basic { user, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )),
        };
        let mut action = serde_json::to_vec(&json!({"create": {"_index": es.index}}))
            .map_err(|e| e.to_string())?;
        action.push(b'\n');
        Ok(ElasticUpstream {
            client: HttpClient::new(config, authorization, connector)?,
            uri: bulk_url(endpoint)?,
            action,
            max_bytes,
            auth_refused: AtomicBool::new(false),
        })
    }

    /// The connector, whose TLS files the exporters reload.
    pub(super) fn connector(&self) -> &Connector {
        self.client.connector()
    }

    /// One document per log record of a queued batch.
    pub(crate) async fn encode(&self, body: Bytes) -> Result<(Items, u64), SendError> {
        json::encode_batch(body, |r, out| {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            serde_json::to_writer(out, &document(r, now))?;
            Ok(true)
        })
        .await
    }

    pub(crate) async fn send(&self, items: &Items) -> Result<u64, SendError> {
        json::send_items(
            items,
            self.max_bytes,
            &self.action,
            b"\n",
            |body, n| async move {
                let answer = self
                    .client
                    .post(
                        &self.uri,
                        "application/x-ndjson",
                        body,
                        MAX_RESPONSE_BYTES.saturating_add(n.saturating_mul(128)),
                    )
                    .await?;
                if answer.status.is_success() {
                    return verdicts(answer.body.as_deref()).map_err(SendError::retryable);
                }
                Err(self.failure(&answer))
            },
        )
        .await
    }

    fn failure(&self, answer: &Answer) -> SendError {
        let status = answer.status;
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
            && !self.auth_refused.swap(true, Ordering::Relaxed)
        {
            tracing::error!(
                status = status.as_u16(),
                "Elasticsearch refused the credentials: check serve.upstream.elasticsearch (api_key_env/api_key_file or user and password) and the key's privileges on the index. Batches are dropped until it is fixed."
            );
        }
        let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        answer.error(retryable, String::new())
    }
}

/// `<endpoint>/_bulk?filter_path=…` (an endpoint that already ends with `/_bulk` is not
/// doubled).
fn bulk_url(endpoint: &str) -> Result<Uri, String> {
    let base = endpoint.trim_end_matches('/');
    let base = base.strip_suffix("/_bulk").unwrap_or(base);
    url(base, &format!("/_bulk?{FILTER}"))
}

/// The per-document verdicts of a bulk answer: `None` when every document was stored. An
/// answer that cannot be read is an error (the request is retried).
fn verdicts(body: Option<&[u8]>) -> Result<Option<Vec<Verdict>>, String> {
    #[derive(serde::Deserialize)]
    struct Reply {
        #[serde(default)]
        errors: bool,
        #[serde(default)]
        items: Vec<Map<String, Json>>,
    }
    let unreadable = || "HTTP 200 with an unreadable bulk answer".to_string();
    let reply: Reply =
        serde_json::from_slice(body.ok_or_else(unreadable)?).map_err(|_| unreadable())?;
    if !reply.errors {
        return Ok(None);
    }
    let verdicts = reply
        .items
        .iter()
        .map(|item| {
            // `{"create": {"status": 429, "error": {"type": "..."}}}`
            let result = item.values().next();
            let status = result
                .and_then(|r| r["status"].as_u64())
                .unwrap_or_default();
            let kind = result
                .and_then(|r| r["error"]["type"].as_str())
                .map(error_type)
                .unwrap_or_default();
            let why = format!("item status {status}{kind}");
            match status {
                200..=299 => Verdict::Accepted,
                429 | 500..=599 => Verdict::Retry(why),
                _ => Verdict::Refused(why),
            }
        })
        .collect();
    Ok(Some(verdicts))
}

/// An Elasticsearch error type for logs (` mapper_parsing_exception`): only the identifier's
/// characters, so nothing else an answer holds can reach the log.
fn error_type(t: &str) -> String {
    let clean: String = t
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(80)
        .collect();
    format!(" {clean}")
}

/// The document of one record; `now` (nanoseconds) stamps a record with no time at all.
fn document(r: &Record<'_>, now: u64) -> Json {
    let record = r.record;
    let mut doc = Map::new();
    let time = record_time(record).unwrap_or(now);
    doc.insert("@timestamp".into(), rfc3339_nanos(time).into());
    if let Some(body) = &record.body {
        match &body.value {
            None => {}
            Some(Value::StringValue(s)) => {
                doc.insert("message".into(), s.clone().into());
            }
            Some(Value::KvlistValue(_) | Value::ArrayValue(_)) => {
                doc.insert("body".into(), json!({"structured": any_to_json(body)}));
            }
            Some(_) => {
                doc.insert("message".into(), any_to_json(body).to_string().into());
            }
        }
    }
    let level = Some(record.severity_text.as_str())
        .filter(|t| !t.is_empty())
        .or_else(|| severity_name(record.severity_number));
    if let Some(level) = level {
        doc.insert("log".into(), json!({"level": level}));
    }
    if record.severity_number > 0 {
        doc.insert("event".into(), json!({"severity": record.severity_number}));
    }
    if let Some(id) = hex_id(&record.trace_id) {
        doc.insert("trace".into(), json!({"id": id}));
    }
    if let Some(id) = hex_id(&record.span_id) {
        doc.insert("span".into(), json!({"id": id}));
    }
    for (ecs, key) in [("service", "service.name"), ("host", "host.name")] {
        if let Some(v) = str_attr(r.resource, key) {
            doc.insert(ecs.into(), json!({"name": v}));
        }
    }
    if let Some(scope) = r.scope.filter(|s| !s.name.is_empty()) {
        let mut s = Map::new();
        s.insert("name".into(), scope.name.clone().into());
        if !scope.version.is_empty() {
            s.insert("version".into(), scope.version.clone().into());
        }
        doc.insert("scope".into(), Json::Object(s));
    }
    if !record.attributes.is_empty() {
        doc.insert(
            "attributes".into(),
            Json::Object(attributes(&record.attributes)),
        );
    }
    if !r.resource.is_empty() {
        doc.insert(
            "resource".into(),
            json!({"attributes": Json::Object(attributes(r.resource))}),
        );
    }
    Json::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::super::json::tests::{kv, s, v};
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::LogRecord;

    #[test]
    fn a_record_becomes_an_ecs_document() {
        let record = LogRecord {
            time_unix_nano: 1_700_000_000_000_000_001,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(s("payment failed for [EMAIL]")),
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            attributes: vec![
                kv("retention.class", s("pii-pseudonymized")),
                kv("http.status_code", v(Value::IntValue(500))),
            ],
            ..Default::default()
        };
        let resource = [
            kv("service.name", s("checkout")),
            kv("host.name", s("web-1")),
        ];
        let scope = InstrumentationScope {
            name: "app.logger".into(),
            ..Default::default()
        };
        let r = Record {
            resource: &resource,
            scope: Some(&scope),
            record: &record,
        };
        assert_eq!(
            document(&r, 0),
            json!({
                "@timestamp": "2023-11-14T22:13:20.000000001Z",
                "message": "payment failed for [EMAIL]",
                "log": {"level": "ERROR"},
                "event": {"severity": 17},
                "trace": {"id": "abababababababababababababababab"},
                "span": {"id": "cdcdcdcdcdcdcdcd"},
                "service": {"name": "checkout"},
                "host": {"name": "web-1"},
                "scope": {"name": "app.logger"},
                "attributes": {"retention.class": "pii-pseudonymized", "http.status_code": 500},
                "resource": {"attributes": {"service.name": "checkout", "host.name": "web-1"}},
            })
        );
    }

    #[test]
    fn times_levels_and_bodies() {
        let map = v(Value::KvlistValue(KeyValueList {
            values: vec![kv("user", s("[EMAIL]"))],
        }));
        let record = LogRecord {
            observed_time_unix_nano: 1_000_000_000,
            severity_number: 10,
            body: Some(map),
            ..Default::default()
        };
        let r = Record {
            resource: &[],
            scope: None,
            record: &record,
        };
        let doc = document(&r, 5);
        assert_eq!(doc["@timestamp"], "1970-01-01T00:00:01.000000000Z");
        assert_eq!(doc["log"]["level"], "INFO");
        assert_eq!(doc["body"]["structured"], json!({"user": "[EMAIL]"}));
        assert!(doc.get("message").is_none() && doc.get("resource").is_none());
        // No time at all: the encoding time (a data stream needs @timestamp).
        let bare = LogRecord {
            body: Some(v(Value::IntValue(42))),
            ..Default::default()
        };
        let r = Record {
            resource: &[],
            scope: None,
            record: &bare,
        };
        let doc = document(&r, 2_000_000_000);
        assert_eq!(doc["@timestamp"], "1970-01-01T00:00:02.000000000Z");
        assert_eq!(doc["message"], "42");
        assert!(doc.get("log").is_none() && doc.get("trace").is_none());
    }

    #[test]
    fn bulk_answers_become_verdicts() {
        assert_eq!(verdicts(Some(br#"{"errors":false}"#)), Ok(None));
        let answer = br#"{"errors":true,"items":[
            {"create":{"status":201}},
            {"create":{"status":429,"error":{"type":"es_rejected_execution_exception"}}},
            {"create":{"status":400,"error":{"type":"mapper_parsing_exception <b>x</b>"}}},
            {"create":{"status":503}}]}"#;
        assert_eq!(
            verdicts(Some(answer)),
            Ok(Some(vec![
                Verdict::Accepted,
                Verdict::Retry("item status 429 es_rejected_execution_exception".into()),
                Verdict::Refused("item status 400 mapper_parsing_exceptionbxb".into()),
                Verdict::Retry("item status 503".into()),
            ]))
        );
        assert!(verdicts(Some(b"<html>")).is_err());
        assert!(verdicts(None).is_err());
    }

    #[test]
    fn bulk_urls() {
        for (endpoint, want) in [
            ("http://es:9200", "http://es:9200/_bulk"),
            ("https://es:9200/", "https://es:9200/_bulk"),
            ("https://gw/es", "https://gw/es/_bulk"),
            ("https://es:9200/_bulk", "https://es:9200/_bulk"),
        ] {
            assert_eq!(
                bulk_url(endpoint).unwrap().to_string(),
                format!("{want}?{FILTER}"),
                "{endpoint}"
            );
        }
    }
}
