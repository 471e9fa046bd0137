//! Unit tests of the parent module, table-driven where the cases are alike.

use super::*;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList};
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, number_data_point, Gauge, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

const BODY: &str = "payment failed for jean.dupont@example.fr card 4111 1111 1111 1111";
const PII: &[&str] = &["jean.dupont", "a.b@example.com", "4111"];

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::StringValue(v.into())),
    })
}
fn i(v: i64) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::IntValue(v)),
    })
}
fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
        ..Default::default()
    }
}
fn kvlist(items: Vec<KeyValue>) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::KvlistValue(KeyValueList { values: items })),
    })
}
fn array(items: Vec<Option<AnyValue>>) -> Option<AnyValue> {
    let values = items.into_iter().map(|v| v.unwrap()).collect();
    Some(AnyValue {
        value: Some(Value::ArrayValue(ArrayValue { values })),
    })
}
fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}
fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", s("shop"))],
        ..Default::default()
    })
}

fn logs(records: Vec<LogRecord>) -> Request {
    Request::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

fn run(request: &mut Request) -> Report {
    let redactor = Redactor::builtin().unwrap();
    redact(&redactor, &mut Scratch::default(), request)
}

fn assert_clean(request: &Request) {
    let debug = format!("{request:?}");
    for p in PII {
        assert!(!debug.contains(p), "{p:?} left in {debug}");
    }
}

fn record() -> LogRecord {
    LogRecord {
        time_unix_nano: 1_700_000_000_000_000_001,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: s(BODY),
        trace_id: vec![7; 16],
        span_id: vec![9; 8],
        flags: 1,
        attributes: vec![
            kv("user.email", s("a.b@example.com")),
            kv("http.status_code", i(500)),
            kv("http.route", s("/pay/{id}")),
        ],
        ..Default::default()
    }
}

#[test]
fn log_record_values_change_structure_does_not() {
    let mut req = logs(vec![record()]);
    let report = run(&mut req);
    assert_clean(&req);
    assert_eq!(report.rejected, 0);
    assert!(report.redactions >= 3, "{report:?}");
    let Request::Logs(r) = &req else {
        unreachable!()
    };
    let rec = &r.resource_logs[0].scope_logs[0].log_records[0];
    let want = record();
    assert_eq!(
        (
            rec.time_unix_nano,
            rec.severity_number,
            &rec.severity_text,
            &rec.trace_id,
            &rec.span_id,
            rec.flags
        ),
        (
            want.time_unix_nano,
            want.severity_number,
            &want.severity_text,
            &want.trace_id,
            &want.span_id,
            want.flags
        )
    );
    let Some(Value::StringValue(body)) = rec.body.as_ref().and_then(|b| b.value.as_ref()) else {
        panic!()
    };
    assert!(body.starts_with("payment failed for "), "{body}");
    assert_eq!(
        get(&rec.attributes, "http.status_code"),
        Some(&Value::IntValue(500))
    );
    assert_eq!(
        get(&rec.attributes, "http.route"),
        Some(&Value::StringValue("/pay/{id}".into()))
    );
    assert_eq!(rec.attributes.len(), 3);
    let res = r.resource_logs[0].resource.as_ref().unwrap();
    assert_eq!(
        get(&res.attributes, "service.name"),
        Some(&Value::StringValue("shop".into()))
    );
}

#[test]
fn clean_request_is_untouched() {
    let mut rec = record();
    rec.body = s("GET /health 200 in 3ms");
    rec.attributes.retain(|kv| kv.key != "user.email");
    let mut req = logs(vec![rec]);
    let before = req.clone();
    let report = run(&mut req);
    assert_eq!(report, Report::default());
    assert_eq!(req, before);
}

#[test]
fn structured_body_is_walked_with_keys() {
    let mut rec = record();
    rec.body = kvlist(vec![
        kv(
            "user",
            kvlist(vec![
                kv("email", s("jean.dupont@example.fr")),
                kv("plan", s("pro")),
            ]),
        ),
        kv("msg", s("sent to jean.dupont@example.fr")),
        kv("tries", i(3)),
        kv("cards", array(vec![s("4111 1111 1111 1111"), s("none")])),
    ]);
    rec.attributes.push(kv(
        "user.email",
        array(vec![s("a.b@example.com"), s("a.b@example.com")]),
    ));
    rec.attributes
        .push(kv("order.note", i(4_111_111_111_111_111)));
    let mut req = logs(vec![rec]);
    run(&mut req);
    assert_clean(&req);
    let Request::Logs(r) = &req else {
        unreachable!()
    };
    let rec = &r.resource_logs[0].scope_logs[0].log_records[0];
    let Some(Value::KvlistValue(body)) = rec.body.as_ref().and_then(|b| b.value.as_ref()) else {
        panic!()
    };
    assert_eq!(get(&body.values, "tries"), Some(&Value::IntValue(3)));
    let Some(Value::KvlistValue(user)) = get(&body.values, "user") else {
        panic!("{body:?}")
    };
    assert_eq!(
        get(&user.values, "plan"),
        Some(&Value::StringValue("pro".into()))
    );
    let Some(Value::ArrayValue(cards)) = get(&body.values, "cards") else {
        panic!()
    };
    assert_eq!(cards.values.len(), 2);
    assert_eq!(
        cards.values[1].value,
        Some(Value::StringValue("none".into()))
    );
    assert!(
        matches!(
            get(&rec.attributes, "order.note"),
            Some(Value::StringValue(_))
        ),
        "card-like int replaced"
    );
}

#[test]
fn too_deep_record_is_rejected_alone() {
    let mut deep = s("jean.dupont@example.fr");
    for _ in 0..=MAX_DEPTH {
        deep = array(vec![deep]);
    }
    let mut bad = record();
    bad.body = deep;
    let mut req = logs(vec![bad, record()]);
    let report = run(&mut req);
    assert_eq!(report.rejected, 1);
    assert_eq!(req.records(), 1);
    assert_clean(&req);
}

#[test]
fn spans_names_events_links_status() {
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "charge jean.dupont@example.fr".into(),
        kind: 2,
        start_time_unix_nano: 10,
        end_time_unix_nano: 20,
        attributes: vec![
            kv("enduser.id", s("a.b@example.com")),
            kv("http.status_code", i(500)),
        ],
        events: vec![Event {
            name: "mail to jean.dupont@example.fr".into(),
            attributes: vec![kv("card", s("4111 1111 1111 1111"))],
            ..Default::default()
        }],
        links: vec![Link {
            trace_id: vec![3; 16],
            span_id: vec![4; 8],
            attributes: vec![kv("peer.mail", s("a.b@example.com"))],
            ..Default::default()
        }],
        status: Some(Status {
            message: "declined for jean.dupont@example.fr".into(),
            code: 2,
        }),
        ..Default::default()
    };
    let mut req = Request::Traces(ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans: vec![span.clone()],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    run(&mut req);
    assert_clean(&req);
    let Request::Traces(r) = &req else {
        unreachable!()
    };
    let got = &r.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        (&got.trace_id, &got.span_id, got.kind),
        (&span.trace_id, &span.span_id, span.kind)
    );
    assert_eq!((got.start_time_unix_nano, got.end_time_unix_nano), (10, 20));
    assert_eq!(&got.links[0].span_id, &span.links[0].span_id);
    assert_eq!(got.status.as_ref().unwrap().code, 2);
    assert!(got.name.starts_with("charge "));
}

#[test]
fn metric_point_and_exemplar_attributes() {
    let point = NumberDataPoint {
        attributes: vec![
            kv("user.email", s("a.b@example.com")),
            kv("http.status_code", i(500)),
        ],
        exemplars: vec![Exemplar {
            filtered_attributes: vec![kv("client", s("jean.dupont@example.fr"))],
            span_id: vec![5; 8],
            value: Some(exemplar::Value::AsInt(1)),
            ..Default::default()
        }],
        value: Some(number_data_point::Value::AsInt(42)),
        ..Default::default()
    };
    let metric = Metric {
        name: "http.server.requests".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![point],
        })),
        ..Default::default()
    };
    let mut req = Request::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    run(&mut req);
    assert_clean(&req);
    assert_eq!(req.records(), 1);
}

#[test]
fn drop_action_removes_the_attribute() {
    let config = crate::config::Config::parse("policy:\n  actions:\n    email: drop\n").unwrap();
    let redactor = Redactor::from_config(&config.policy).unwrap();
    let mut req = logs(vec![record()]);
    redact(&redactor, &mut Scratch::default(), &mut req);
    assert_clean(&req);
    let Request::Logs(r) = &req else {
        unreachable!()
    };
    let rec = &r.resource_logs[0].scope_logs[0].log_records[0];
    assert!(
        get(&rec.attributes, "user.email").is_none(),
        "{:?}",
        rec.attributes
    );
    assert_eq!(
        get(&rec.attributes, "http.status_code"),
        Some(&Value::IntValue(500))
    );
}

#[test]
fn kept_values_memo_gives_the_engines_result() {
    let redactor = Redactor::builtin().unwrap();
    let request = || {
        let mut r = record();
        r.attributes.extend([
            kv("http.method", s("GET")),
            kv("note", s("call +33 6 12 34 56 78")),
            kv("user.email", s("GET")),
            kv("count", i(4111111111111111)),
        ]);
        logs(vec![r.clone(), r])
    };
    let mut fresh = request();
    let want = redact(&redactor, &mut Scratch::default(), &mut fresh);
    // The same worker memo over several requests: every one comes out as without it.
    let (mut scratch, mut kept) = (Scratch::default(), KeptValues::default());
    for _ in 0..3 {
        let mut again = request();
        let got = redact_and_tag(&redactor, None, "test", &mut scratch, &mut kept, &mut again).0;
        assert_eq!(got, want);
        assert_eq!(again, fresh);
    }
    assert!(kept.seen("http.method", "GET"));
    assert!(!kept.seen("user.email", "GET"), "remembered per key");
    assert!(
        !kept.seen("note", "call +33 6 12 34 56 78"),
        "changed values are not kept"
    );
}

#[test]
fn kept_values_memo_is_bounded() {
    let mut kept = KeptValues::default();
    let mut hits = 0;
    for n in 0..3 * KEPT_SLOTS {
        let v = n.to_string();
        assert!(!kept.seen("k", &v));
        kept.remember("k", &v);
        assert!(kept.seen("k", &v));
        assert_eq!(kept.slots.len(), KEPT_SLOTS);
        assert_eq!(kept.bytes.len(), KEPT_SLOTS * KEPT_MAX_LEN);
    }
    // Recent pairs are still there (most of them: collisions evict older ones).
    for n in 2 * KEPT_SLOTS..3 * KEPT_SLOTS {
        hits += kept.seen("k", &n.to_string()) as usize;
    }
    assert!(hits > KEPT_SLOTS / 2, "{hits} of {KEPT_SLOTS}");
    let long = "x".repeat(KEPT_MAX_LEN);
    assert!(!kept.seen("k", &long));
    kept.remember("k", &long);
    assert!(!kept.seen("k", &long));
    let fits = "x".repeat(KEPT_MAX_LEN - 2);
    assert!(!kept.seen("k", &fits));
    kept.remember("k", &fits);
    assert!(kept.seen("k", &fits));
    // The separator keeps a pair from matching another split of the same bytes.
    assert!(!kept.seen("ab", "c"));
    kept.remember("ab", "c");
    assert!(kept.seen("ab", "c"));
    assert!(!kept.seen("a", "bc"));
    assert!(!kept.seen("abc", ""));
}

/// Two pairs whose hashes name the same slot: the second replaces the first, and the first is
/// then a miss, never confused with the second.
#[test]
fn kept_values_memo_collisions_evict() {
    let mut kept = KeptValues::default();
    assert!(!kept.seen("k", "first"));
    let (slot, _, _) = kept.last.expect("looked up");
    kept.remember("k", "first");
    let other = (0..100_000)
        .map(|n| format!("v{n}"))
        .find(|v| {
            kept.seen("k", v);
            kept.last.is_some_and(|(s, _, _)| s == slot)
        })
        .expect("some value shares the slot");
    kept.remember("k", &other);
    assert!(kept.seen("k", &other));
    assert!(!kept.seen("k", "first"));
}

#[test]
fn free_text_is_rewritten_in_place_as_redact_text_returns_it() {
    let redactor = Redactor::builtin().unwrap();
    let texts = [
        BODY,
        "no personal data here, order 42 shipped",
        "x",
        "mail a.b@example.com",
        "card 4111 1111 1111 1111 then jean.dupont@example.fr then +33 6 12 34 56 78",
        "refund to IBAN FR76 3000 6000 0112 3456 7890 189 order 7",
        "é à ü jean.dupont@example.fr ✓ 4111 1111 1111 1111",
        "",
    ];
    let records = texts
        .iter()
        .map(|t| LogRecord {
            body: s(t),
            event_name: (*t).into(),
            ..Default::default()
        })
        .collect();
    let mut request = logs(records);
    run(&mut request);
    let Request::Logs(r) = &request else {
        unreachable!()
    };
    let got = &r.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(got.len(), texts.len());
    for (rec, t) in got.iter().zip(texts) {
        let mut summary = Summary::default();
        let want = redactor.redact_text(t, &mut Scratch::default(), &mut summary);
        assert_eq!(rec.body, s(&want), "{t:?}");
        assert_eq!(rec.event_name, want, "{t:?}");
    }
}
