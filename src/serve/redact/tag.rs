//! Retention class and redaction summary on OTLP records, after redaction.
//!
//! | signal | retention class | redaction summary |
//! | --- | --- | --- |
//! | logs | log-record attributes | log-record attributes |
//! | traces | resource attributes (class of the resource's spans together) | span attributes |
//! | metrics | resource attributes | none: a data-point attribute would split time series |
//!
//! Keys the policy writes are first removed from the record, so a client can neither choose
//! its own class nor forge a summary, and a record that passes two caviards is tagged once.
//!
//! PERF: tagging allocates the attribute keys and values (prost `String`s) for every record;
//! `Arc<str>`-backed attributes would need a different generated type.

use super::super::Tags;
use crate::engine::Summary;
use crate::retention::{ClassId, RecordView, RetentionPolicy, SummaryValue};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::borrow::Cow;

/// Per-request totals, for the process-wide counters.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    /// Every redaction of the request, by category and rule.
    pub(crate) summary: Summary,
    /// Records per retention class ([`ClassId`] index).
    pub(crate) classes: Vec<u64>,
}

impl Tally {
    pub(crate) fn count_class(&mut self, id: ClassId, records: u64) {
        let i = id.index();
        if self.classes.len() <= i {
            self.classes.resize(i + 1, 0);
        }
        self.classes[i] += records;
    }
}

/// A log record and its resource, as the retention policy sees them.
pub(super) struct LogView<'a> {
    pub(super) receiver: &'a str,
    pub(super) resource: &'a [KeyValue],
    pub(super) record: &'a LogRecord,
}

/// A resource alone (traces and metrics are classified per resource).
pub(super) struct ResourceView<'a> {
    pub(super) receiver: &'a str,
    pub(super) resource: &'a [KeyValue],
}

impl LogView<'_> {
    /// The field `key`: the record's attribute, else the map body's member, whichever holds
    /// a scalar or an array.
    fn field_value(&self, key: &str) -> Option<&Value> {
        let usable = |v: &&Value| {
            matches!(
                v,
                Value::StringValue(_)
                    | Value::BoolValue(_)
                    | Value::IntValue(_)
                    | Value::DoubleValue(_)
                    | Value::ArrayValue(_)
            )
        };
        value(&self.record.attributes, key)
            .filter(usable)
            .or_else(|| match self.record.body.as_ref()?.value.as_ref()? {
                Value::KvlistValue(kv) => value(&kv.values, key).filter(usable),
                _ => None,
            })
    }
}

impl RecordView for LogView<'_> {
    fn receiver(&self) -> &str {
        self.receiver
    }
    fn resource_attribute(&self, key: &str) -> Option<Cow<'_, str>> {
        lookup(self.resource, key)
    }
    fn field(&self, key: &str) -> Option<Cow<'_, str>> {
        scalar(self.field_value(key)?)
    }
    fn resource_attribute_matches(&self, key: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool {
        value(self.resource, key).is_some_and(|v| any_text(v, pred))
    }
    fn field_matches(&self, key: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool {
        self.field_value(key).is_some_and(|v| any_text(v, pred))
    }
    fn severity(&self) -> Option<u8> {
        severity(self.record)
    }
    /// The names the OpenTelemetry Collector's syslog parser writes: `facility` (code) and
    /// `appname`.
    fn syslog_facility(&self) -> Option<u8> {
        let f = lookup(&self.record.attributes, "facility")?;
        crate::config::retention::Facility::parse(&f).map(|f| f.0)
    }
    fn syslog_app_name(&self) -> Option<Cow<'_, str>> {
        lookup(&self.record.attributes, "appname")
    }
}

impl RecordView for ResourceView<'_> {
    fn receiver(&self) -> &str {
        self.receiver
    }
    fn resource_attribute(&self, key: &str) -> Option<Cow<'_, str>> {
        lookup(self.resource, key)
    }
    fn field(&self, _key: &str) -> Option<Cow<'_, str>> {
        None
    }
    fn resource_attribute_matches(&self, key: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool {
        value(self.resource, key).is_some_and(|v| any_text(v, pred))
    }
}

/// An attribute's value; `None` when absent or empty.
fn value<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

/// An attribute as text; `None` when absent or not a scalar.
fn lookup<'a>(attrs: &'a [KeyValue], key: &str) -> Option<Cow<'a, str>> {
    scalar(value(attrs, key)?)
}

/// Whether `pred` holds for a scalar's text, or for any scalar element's of an array (not
/// those of an array or map nested in it), as `RecordView::field_matches` reads arrays.
fn any_text(v: &Value, pred: &mut dyn FnMut(&str) -> bool) -> bool {
    match v {
        Value::ArrayValue(a) => a
            .values
            .iter()
            .filter_map(|e| scalar(e.value.as_ref()?))
            .any(|t| pred(&t)),
        v => scalar(v).is_some_and(|t| pred(&t)),
    }
}

/// A scalar value as text; `None` for arrays, maps and bytes.
fn scalar(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::StringValue(s) => Some(Cow::Borrowed(s)),
        Value::IntValue(i) => Some(Cow::Owned(i.to_string())),
        Value::BoolValue(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::DoubleValue(d) => Some(Cow::Owned(d.to_string())),
        _ => None,
    }
}

/// The OpenTelemetry severity number, or one derived from the severity text when the number
/// is unset (`WARN`, `warning`, `Error`...).
fn severity(r: &LogRecord) -> Option<u8> {
    if (1..=24).contains(&r.severity_number) {
        return u8::try_from(r.severity_number).ok();
    }
    crate::retention::severity_number(&r.severity_text)
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Remove every attribute `keys` names.
fn remove(attrs: &mut Vec<KeyValue>, keys: &[&str]) {
    if attrs.iter().any(|kv| keys.contains(&kv.key.as_str())) {
        attrs.retain(|kv| !keys.contains(&kv.key.as_str()));
    }
}

fn push_class(attrs: &mut Vec<KeyValue>, policy: &RetentionPolicy, id: ClassId) {
    let class = policy.class(id);
    remove(attrs, &[policy.class_key(), policy.days_key()]);
    attrs.push(kv(
        policy.class_key(),
        Value::StringValue(class.name().to_string()),
    ));
    attrs.push(kv(
        policy.days_key(),
        Value::IntValue(i64::from(class.days())),
    ));
}

fn push_summary(attrs: &mut Vec<KeyValue>, tags: &Tags, summary: &Summary) {
    let keys: Vec<&str> = tags.audit.keys().collect();
    if keys.is_empty() {
        return;
    }
    remove(attrs, &keys);
    tags.audit.write(summary, |key, value| {
        let v = match value {
            SummaryValue::Int(n) => Value::IntValue(n),
            SummaryValue::Text(s) => Value::StringValue(s),
        };
        attrs.push(kv(key, v));
    });
}

/// Tag one redacted log record: class and summary as record attributes.
pub(super) fn log(
    tags: &Tags,
    receiver: &str,
    resource: &[KeyValue],
    record: &mut LogRecord,
    summary: &Summary,
    tally: &mut Tally,
) {
    if let Some(policy) = tags.retention.as_deref() {
        let view = LogView {
            receiver,
            resource,
            record,
        };
        let id = policy.classify(&view, summary);
        push_class(&mut record.attributes, policy, id);
        tally.count_class(id, 1);
    }
    push_summary(&mut record.attributes, tags, summary);
}

/// Tag one redacted span with its summary. Its class goes on the resource; a class a client
/// put on the span itself is removed so it cannot be mistaken for ours.
pub(super) fn span(tags: &Tags, attrs: &mut Vec<KeyValue>, summary: &Summary) {
    if let Some(policy) = tags.retention.as_deref() {
        remove(attrs, &[policy.class_key(), policy.days_key()]);
    }
    push_summary(attrs, tags, summary);
}

/// Tag a resource of spans or metrics with the class of all its records together.
pub(super) fn resource(
    tags: &Tags,
    receiver: &str,
    resource: &mut Option<Resource>,
    summary: &Summary,
    records: u64,
    tally: &mut Tally,
) {
    let Some(policy) = tags.retention.as_deref() else {
        return;
    };
    let attrs = resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
    let id = policy.classify(
        &ResourceView {
            receiver,
            resource: attrs,
        },
        summary,
    );
    let r = resource.get_or_insert_with(Resource::default);
    push_class(&mut r.attributes, policy, id);
    tally.count_class(id, records);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_from_number_or_text() {
        let rec = |n: i32, t: &str| LogRecord {
            severity_number: n,
            severity_text: t.into(),
            ..Default::default()
        };
        for (n, t, want) in [
            (17, "", Some(17)),
            (0, "WARNING", Some(13)),
            (0, "debug", Some(5)),
            (0, "Error", Some(17)),
            (0, "CRITICAL", Some(22)),
            (0, "notice", Some(10)),
            (0, "", None),
            (0, "verbose", None),
            (99, "info", Some(9)),
        ] {
            assert_eq!(severity(&rec(n, t)), want, "{n} {t}");
        }
    }

    fn text(s: &str) -> AnyValue {
        AnyValue {
            value: Some(Value::StringValue(s.into())),
        }
    }

    fn array(items: Vec<AnyValue>) -> Value {
        Value::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue { values: items })
    }

    /// The class `serve` writes on a record with these attributes and body.
    fn class_of(policy: RetentionPolicy, attributes: Vec<KeyValue>, body: Option<Value>) -> String {
        let tags = Tags::new(
            Some(std::sync::Arc::new(policy)),
            crate::retention::AuditSummary::from_config(&Default::default()),
        );
        let mut record = LogRecord {
            attributes,
            body: body.map(|v| AnyValue { value: Some(v) }),
            ..Default::default()
        };
        let mut tally = Tally::default();
        log(
            &tags,
            "otlp_grpc",
            &[],
            &mut record,
            &Summary::default(),
            &mut tally,
        );
        match lookup(&record.attributes, "retention.class") {
            Some(c) => c.into_owned(),
            None => panic!("no class written"),
        }
    }

    #[test]
    fn array_attributes_match_when_any_element_does() {
        let default = || RetentionPolicy::compile(&Default::default(), None).unwrap();
        let category = |items: &[&str]| array(items.iter().map(|s| text(s)).collect());
        // ECS `event.category` as an array attribute, or a member of a map body: the shipped
        // rule `security-events` holds when any element is `authentication` or `iam`.
        for (items, want) in [
            (&["authentication", "session"][..], "security-audit"),
            (&["web", "iam"], "security-audit"),
            (&["web"], "standard"),
            (&[], "standard"),
        ] {
            let attr = vec![kv("event.category", category(items))];
            assert_eq!(class_of(default(), attr, None), want, "attribute {items:?}");
            let body = Value::KvlistValue(opentelemetry_proto::tonic::common::v1::KeyValueList {
                values: vec![kv("event.category", category(items))],
            });
            assert_eq!(
                class_of(default(), vec![], Some(body)),
                want,
                "body {items:?}"
            );
        }
        // Elements are read as scalar attributes are; a nested array or map is no value.
        let config: crate::config::retention::RetentionConfig = serde_yaml_ng::from_str(
            "default_class: keep\nclasses: {keep: 180d, hit: 7d}\nrules:\n  - {name: r, class: hit, match: {fields: {ports: ['443']}}}",
        )
        .unwrap();
        let custom = || RetentionPolicy::compile(&config, None).unwrap();
        let int = |i| AnyValue {
            value: Some(Value::IntValue(i)),
        };
        let ports = |v: Value| vec![kv("ports", v)];
        assert_eq!(
            class_of(custom(), ports(array(vec![int(80), int(443)])), None),
            "hit"
        );
        assert_eq!(
            class_of(custom(), ports(array(vec![int(80)])), None),
            "keep"
        );
        let nested = array(vec![AnyValue {
            value: Some(array(vec![int(443)])),
        }]);
        assert_eq!(class_of(custom(), ports(nested), None), "keep");
    }
}
