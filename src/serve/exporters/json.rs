//! What the JSON upstreams (Splunk HEC, Elasticsearch) share: decoding a queued batch once,
//! walking its log records with their resource and scope, OTLP values as JSON, and the
//! encoded records ([`Items`]) the upstream sends in requests of at most `batch.max_bytes`.
//!
//! Everything goes through serde_json (no JSON is written by hand), so any string a record
//! holds, control characters and invalid surrogates included, comes out valid JSON.

use super::SendError;
use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Map, Value as Json};

/// A batch's log records, each encoded on its own (one HEC event, one bulk document), in the
/// order of the batch. Slices of one buffer, so a retry of some of them copies nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Items(pub(crate) Vec<Bytes>);

/// One log record with what it belongs to.
pub(super) struct Record<'a> {
    pub(super) resource: &'a [KeyValue],
    pub(super) scope: Option<&'a InstrumentationScope>,
    pub(super) record: &'a LogRecord,
}

/// Decode a queued logs batch and encode each record with `encode`, which returns `None` for
/// a record the backend cannot take (counted by the caller as dropped). Runs off the reactor:
/// a batch of megabytes takes milliseconds. Returns the items and the number skipped.
pub(super) async fn encode_batch(
    body: Bytes,
    encode: impl Fn(&Record<'_>, &mut Vec<u8>) -> serde_json::Result<bool> + Send + 'static,
) -> Result<(Items, u64), SendError> {
    tokio::task::spawn_blocking(move || {
        let request = ExportLogsServiceRequest::decode(body)
            .map_err(|e| SendError::permanent(format!("re-decoding a queued batch: {e}")))?;
        let mut buf = Vec::with_capacity(request.encoded_len() * 2);
        let mut ends = Vec::new();
        let mut skipped = 0;
        for rl in &request.resource_logs {
            let resource = rl
                .resource
                .as_ref()
                .map_or(&[][..], |r: &Resource| &r.attributes[..]);
            for sl in &rl.scope_logs {
                for record in &sl.log_records {
                    let r = Record {
                        resource,
                        scope: sl.scope.as_ref(),
                        record,
                    };
                    let start = buf.len();
                    match encode(&r, &mut buf) {
                        Ok(true) => ends.push(buf.len()),
                        Ok(false) => {
                            buf.truncate(start);
                            skipped += 1;
                        }
                        Err(e) => {
                            return Err(SendError::permanent(format!("JSON encoding: {e}")));
                        }
                    }
                }
            }
        }
        let buf = Bytes::from(buf);
        let mut start = 0;
        let items = ends
            .into_iter()
            .map(|end| {
                let item = buf.slice(start..end);
                start = end;
                item
            })
            .collect();
        Ok((Items(items), skipped))
    })
    .await
    .map_err(|_| SendError::permanent("encoding task failed".into()))?
}

/// Group items into request bodies of at most `max_bytes` (an item larger than that alone),
/// each item written as `prefix item suffix`. Returns each body with how many items it holds.
pub(super) fn bodies(
    items: &[Bytes],
    max_bytes: usize,
    prefix: &[u8],
    suffix: &[u8],
) -> Vec<(Bytes, usize)> {
    let mut out = Vec::new();
    let mut body = BytesMut::new();
    let mut n = 0;
    for item in items {
        let size = prefix.len() + item.len() + suffix.len();
        if n > 0 && body.len() + size > max_bytes {
            out.push((std::mem::take(&mut body).freeze(), n));
            n = 0;
        }
        body.reserve(size);
        body.put_slice(prefix);
        body.put_slice(item);
        body.put_slice(suffix);
        n += 1;
    }
    if n > 0 {
        out.push((body.freeze(), n));
    }
    out
}

/// What a backend answered for one item of a request it took as a whole (a bulk request's
/// per-item results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Stored.
    Accepted,
    /// Not now (429, 5xx): sent again alone, with the others that failed so.
    Retry(String),
    /// Never: dropped and counted, the reason (a status and error type) logged.
    Refused(String),
}

/// Send `items` in requests of at most `max_bytes` (each item as `prefix item suffix`), one
/// after the other, through `post`, which answers `Ok(None)` when the upstream took the whole
/// request, `Ok(Some(verdicts))` with one verdict per item, or the request's failure.
///
/// A request refused for good drops its items and the next request is still sent. The first
/// retryable failure (of a request, or of items in it) stops: the error it returns carries a
/// [`Partial`](super::Partial) with what was accepted and dropped so far and, as what is left
/// to retry, the failed items and every item not sent yet, so nothing accepted is sent twice.
pub(super) async fn send_items<F, Fut>(
    items: &Items,
    max_bytes: usize,
    prefix: &[u8],
    suffix: &[u8],
    mut post: F,
) -> Result<u64, SendError>
where
    F: FnMut(Bytes, usize) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Vec<Verdict>>, SendError>>,
{
    let mut accepted = 0u64;
    let mut dropped = Reasons::default();
    let mut retry = Vec::new();
    let mut stop: Option<SendError> = None;
    let mut sent = 0;
    for (body, n) in bodies(&items.0, max_bytes, prefix, suffix) {
        let chunk = &items.0[sent..sent + n];
        sent += n;
        match post(body, n).await {
            Ok(None) => accepted += n as u64,
            Ok(Some(verdicts)) => {
                let mut again = Reasons::default();
                for (i, item) in chunk.iter().enumerate() {
                    // An answer with fewer verdicts than items: the missing ones are retried.
                    let verdict = verdicts
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| Verdict::Retry("no result for the item".into()));
                    match verdict {
                        Verdict::Accepted => accepted += 1,
                        Verdict::Retry(why) => {
                            again.add(why);
                            retry.push(item.clone());
                        }
                        Verdict::Refused(why) => dropped.add(why),
                    }
                }
                if !retry.is_empty() {
                    stop = Some(SendError::retryable(again.summary()));
                    break;
                }
            }
            Err(e) if e.kind == super::Failure::Retryable => {
                retry.extend_from_slice(chunk);
                stop = Some(e);
                break;
            }
            Err(e) => {
                for _ in 0..n {
                    dropped.add(e.reason.clone());
                }
            }
        }
    }
    let partial = |rest: Vec<Bytes>, dropped: &Reasons| {
        Some(Box::new(super::Partial {
            accepted,
            dropped: dropped.total(),
            dropped_reason: dropped.summary(),
            rest: Items(rest),
        }))
    };
    match stop {
        None if dropped.total() == 0 => Ok(0),
        // Settled: what was not accepted is refused for good.
        None => Err(SendError {
            partial: partial(Vec::new(), &Reasons::default()),
            ..SendError::permanent(dropped.summary())
        }),
        Some(mut e) => {
            retry.extend_from_slice(&items.0[sent..]);
            e.partial = partial(retry, &dropped);
            Err(e)
        }
    }
}

/// Failure reasons with how many items each, for one log line.
#[derive(Debug, Default)]
struct Reasons(std::collections::BTreeMap<String, u64>);

impl Reasons {
    fn add(&mut self, reason: String) {
        *self.0.entry(reason).or_default() += 1;
    }

    fn total(&self) -> u64 {
        self.0.values().sum()
    }

    fn summary(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(r, n)| format!("{r} (x{n})")).collect();
        parts.join(", ")
    }
}

/// An OTLP value as JSON: strings, booleans and numbers as themselves, bytes as base64 (as
/// OTLP/JSON writes them), arrays and key-value lists as arrays and objects (a repeated key:
/// the last wins). A double that JSON cannot hold (NaN, infinities) becomes a string.
pub(crate) fn any_to_json(v: &AnyValue) -> Json {
    match &v.value {
        None => Json::Null,
        Some(Value::StringValue(s)) => Json::String(s.clone()),
        Some(Value::BoolValue(b)) => Json::Bool(*b),
        Some(Value::IntValue(i)) => Json::from(*i),
        Some(Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Json::String(d.to_string()), Json::Number),
        Some(Value::BytesValue(b)) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(Value::ArrayValue(a)) => Json::Array(a.values.iter().map(any_to_json).collect()),
        Some(Value::KvlistValue(kv)) => Json::Object(attributes(&kv.values)),
        // An index into a profiles string table: meaningless outside a profile.
        Some(Value::StringValueStrindex(i)) => Json::from(*i),
    }
}

/// Attributes as a JSON object (keys as they are).
pub(crate) fn attributes(kvs: &[KeyValue]) -> Map<String, Json> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map_or(Json::Null, any_to_json),
            )
        })
        .collect()
}

/// The string value of attribute `key`, if it is a non-empty string.
pub(super) fn str_attr<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    kvs.iter().rev().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        }
    })
}

/// A trace or span id as lowercase hex; `None` when absent or all zero (invalid per W3C).
pub(crate) fn hex_id(id: &[u8]) -> Option<String> {
    use std::fmt::Write;
    if id.iter().all(|&b| b == 0) {
        return None;
    }
    let mut out = String::with_capacity(id.len() * 2);
    for b in id {
        let _ = write!(out, "{b:02x}");
    }
    Some(out)
}

/// The record's time in nanoseconds: its own, else when it was observed; `None` if neither.
pub(crate) fn record_time(r: &LogRecord) -> Option<u64> {
    [r.time_unix_nano, r.observed_time_unix_nano]
        .into_iter()
        .find(|&t| t > 0)
}

/// The short name of an OTLP severity number's range (`ERROR` for 17 to 20), for a record
/// that has a number but no text.
pub(crate) fn severity_name(number: i32) -> Option<&'static str> {
    Some(match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => return None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    pub(crate) fn s(v: &str) -> AnyValue {
        AnyValue {
            value: Some(Value::StringValue(v.into())),
        }
    }

    pub(crate) fn kv(k: &str, v: AnyValue) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(v),
            ..Default::default()
        }
    }

    pub(crate) fn v(value: Value) -> AnyValue {
        AnyValue { value: Some(value) }
    }

    #[test]
    fn any_value_to_json() {
        let nested = v(Value::KvlistValue(KeyValueList {
            values: vec![
                kv("a", v(Value::IntValue(-3))),
                kv(
                    "b",
                    v(Value::ArrayValue(ArrayValue {
                        values: vec![
                            v(Value::BoolValue(true)),
                            v(Value::DoubleValue(1.5)),
                            s("x\"\n"),
                        ],
                    })),
                ),
                kv("a", s("later wins")),
            ],
        }));
        assert_eq!(
            any_to_json(&nested),
            serde_json::json!({"a": "later wins", "b": [true, 1.5, "x\"\n"]})
        );
        assert_eq!(any_to_json(&v(Value::BytesValue(b"hi!".to_vec()))), "aGkh");
        assert_eq!(any_to_json(&v(Value::DoubleValue(f64::NAN))), "NaN");
        assert_eq!(any_to_json(&v(Value::DoubleValue(f64::INFINITY))), "inf");
        assert_eq!(any_to_json(&AnyValue { value: None }), Json::Null);
        assert_eq!(
            any_to_json(&v(Value::IntValue(i64::MAX))),
            serde_json::json!(9_223_372_036_854_775_807i64)
        );
    }

    #[test]
    fn ids_times_and_severities() {
        assert_eq!(hex_id(&[0xab, 0x01]), Some("ab01".into()));
        assert_eq!(hex_id(&[0; 16]), None);
        assert_eq!(hex_id(&[]), None);
        let r = LogRecord {
            observed_time_unix_nano: 7,
            ..Default::default()
        };
        assert_eq!(record_time(&r), Some(7));
        let r = LogRecord {
            time_unix_nano: 5,
            observed_time_unix_nano: 7,
            ..Default::default()
        };
        assert_eq!(record_time(&r), Some(5));
        assert_eq!(record_time(&LogRecord::default()), None);
        assert_eq!(severity_name(17), Some("ERROR"));
        assert_eq!(severity_name(9), Some("INFO"));
        assert_eq!(severity_name(0), None);
    }

    #[test]
    fn bodies_respect_max_bytes_and_never_split_an_item() {
        let items: Vec<Bytes> = ["aaaa", "bb", "cccccccccc", "d"]
            .into_iter()
            .map(|s: &'static str| Bytes::from_static(s.as_bytes()))
            .collect();
        let got: Vec<(String, usize)> = bodies(&items, 12, b"<", b">")
            .into_iter()
            .map(|(b, n)| (String::from_utf8(b.to_vec()).unwrap(), n))
            .collect();
        assert_eq!(
            got,
            [
                ("<aaaa><bb>".to_string(), 2),
                ("<cccccccccc>".to_string(), 1),
                ("<d>".to_string(), 1)
            ]
        );
        assert!(bodies(&[], 8, b"", b"").is_empty());
    }
}
