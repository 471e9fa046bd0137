//! Apply the engine to every text-bearing field of an OTLP request, in place.
//!
//! Only values change: ids, timestamps, severities, kinds, flags, counts and the shape of
//! the request are left alone. What is visited:
//!
//! | where | field | engine call |
//! | --- | --- | --- |
//! | resource, scope (all signals) | attributes | `redact_field` |
//! | log record | body (string, or any `AnyValue`, walked) | `redact_text`; map entries `redact_field` |
//! | log record | attributes; `event_name` | `redact_field`; `redact_text` |
//! | span | name, `status.message`; attributes | `redact_text`; `redact_field` |
//! | span event | name; attributes | `redact_text`; `redact_field` |
//! | span link | attributes | `redact_field` |
//! | metric | metadata, data point and exemplar attributes | `redact_field` |
//!
//! Attribute values are handled by type: strings through the engine's key-aware
//! `redact_field`; integers as their decimal digits (a card number fits in an `i64`) and
//! replaced by a string if the engine changes them; bytes as text when they are UTF-8, else
//! through `redact_line`; arrays element by element under the parent key; maps recursively
//! under their own keys. Booleans and doubles carry no text and are kept.
//!
//! Failure is contained per record: a record the engine panics on, or whose values nest deeper
//! than [`MAX_DEPTH`], is removed from the request and counted as rejected, never forwarded
//! as it was. A resource or scope whose attributes fail takes its records with it.

use crate::engine::{FieldOutcome, Format, Redactor, Scratch, Summary};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::{Exemplar, Metric};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::payload::{data_points as points, Request};
use super::Tags;

mod tag;

pub(crate) use tag::Tally;

/// Deepest nesting of arrays and maps inside one value that is walked. Decoders already
/// bound nesting (prost at 100 messages, serde_json at 128 levels); this keeps the walker's
/// own recursion far from the stack limit. Deeper records are rejected, not forwarded.
pub(crate) const MAX_DEPTH: usize = 32;

/// Attribute values the engine kept unchanged, with their key, so that a value seen again
/// (an HTTP method, a route, a status code, a user agent, a feature flag: most attributes
/// have few distinct values) skips the engine. Only `Keep` outcomes are remembered: the engine
/// is a pure function of key and value, and a kept value adds nothing to the summary, so the
/// result is the same as calling it. One per worker, like the engine's scratch space.
///
/// A direct-mapped cache: [`KEPT_SLOTS`] slots of at most [`KEPT_MAX_LEN`] bytes in one flat
/// buffer, each pair going to the slot its hash names and replacing what was there. A lookup
/// is one hash and one comparison, and remembering a pair copies it into its slot: nothing is
/// allocated after the first use, and values that never come back (request ids, URLs with
/// ids) only evict one slot each instead of filling a set that then had to be emptied. This
/// halved the memo's cost per record against a `HashSet<Box<[u8]>>` (callgrind, the proxy
/// bench's records: about 1.9k instructions per record before).
///
/// Hashed with foldhash, seeded at random per process and per cache, not the standard
/// library's SipHash (twice the cost on these short keys). Clients never see hash values, so
/// they cannot aim collisions; a collision costs one eviction, never a wrong answer, since the
/// slot's bytes are compared in full.
#[derive(Debug, Default)]
pub(crate) struct KeptValues {
    /// `KEPT_SLOTS * KEPT_MAX_LEN` bytes once used: slot `i` holds `key`, 0xFF (never in
    /// UTF-8), `value`, from byte `i * KEPT_MAX_LEN`.
    bytes: Vec<u8>,
    /// Per slot: the pair's hash and its length (0: empty).
    slots: Vec<(u64, u16)>,
    state: foldhash::fast::RandomState,
    /// The slot, hash and length of the pair looked up last, for [`Self::remember`].
    last: Option<(usize, u64, u16)>,
}

const KEPT_SLOTS: usize = 1024;
const KEPT_MAX_LEN: usize = 256;

impl KeptValues {
    /// Whether `value` under `key` is known to be kept; remembers it for [`Self::remember`].
    fn seen(&mut self, key: &str, value: &str) -> bool {
        use std::hash::{BuildHasher, Hasher};
        self.last = None;
        let len = key.len() + 1 + value.len();
        if len > KEPT_MAX_LEN {
            return false;
        }
        let mut h = self.state.build_hasher();
        h.write(key.as_bytes());
        h.write_u8(0xFF);
        h.write(value.as_bytes());
        let hash = h.finish();
        let slot = (hash >> 32) as usize % KEPT_SLOTS;
        let len = len as u16;
        self.last = Some((slot, hash, len));
        if self.slots.get(slot) != Some(&(hash, len)) {
            return false;
        }
        let stored = &self.bytes[slot * KEPT_MAX_LEN..][..len as usize];
        let (k, rest) = stored.split_at(key.len());
        k == key.as_bytes() && rest[0] == 0xFF && &rest[1..] == value.as_bytes()
    }

    /// Remember the pair last passed to [`Self::seen`] as kept, in place of its slot's pair.
    fn remember(&mut self, key: &str, value: &str) {
        let Some((slot, hash, len)) = self.last.take() else {
            return;
        };
        if self.slots.is_empty() {
            self.slots = vec![(0, 0); KEPT_SLOTS];
            self.bytes = vec![0; KEPT_SLOTS * KEPT_MAX_LEN];
        }
        let at = &mut self.bytes[slot * KEPT_MAX_LEN..][..len as usize];
        let (k, rest) = at.split_at_mut(key.len());
        k.copy_from_slice(key.as_bytes());
        rest[0] = 0xFF;
        rest[1..].copy_from_slice(value.as_bytes());
        self.slots[slot] = (hash, len);
    }
}

/// A record that cannot be redacted safely.
#[derive(Debug)]
struct Unprocessable;

type Walk = Result<(), Unprocessable>;

/// What redacting one request did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Report {
    /// Records removed because they could not be redacted.
    pub(crate) rejected: u64,
    /// Values the engine changed or dropped.
    pub(crate) redactions: u64,
}

/// Redact a whole request in place.
#[cfg(test)]
pub(crate) fn redact(redactor: &Redactor, scratch: &mut Scratch, request: &mut Request) -> Report {
    let mut kept = KeptValues::default();
    redact_and_tag(redactor, None, "test", scratch, &mut kept, request).0
}

/// Redact a whole request in place, then (with `tags`) write each record's retention class
/// and redaction summary (see [`tag`]). `receiver` names where the request came in. `kept`
/// must only ever have been used with this `redactor`.
pub(crate) fn redact_and_tag(
    redactor: &Redactor,
    tags: Option<&Tags>,
    receiver: &str,
    scratch: &mut Scratch,
    kept: &mut KeptValues,
    request: &mut Request,
) -> (Report, Tally) {
    let mut w = Walker {
        redactor,
        scratch,
        kept,
        summary: Summary::default(),
        report: Report::default(),
        tags,
        receiver,
        tally: Tally::default(),
        resource_summary: Summary::default(),
        out: Vec::new(),
    };
    match request {
        Request::Logs(r) => w.logs(r),
        Request::Traces(r) => w.traces(r),
        Request::Metrics(r) => w.metrics(r),
    }
    (w.report, w.tally)
}

struct Walker<'a> {
    redactor: &'a Redactor,
    scratch: &'a mut Scratch,
    kept: &'a mut KeptValues,
    summary: Summary,
    report: Report,
    tags: Option<&'a Tags>,
    receiver: &'a str,
    tally: Tally,
    /// Redactions in the records of the current resource (traces, metrics).
    resource_summary: Summary,
    /// The engine's output for free text, reused for every value of the request.
    out: Vec<u8>,
}

impl Walker<'_> {
    /// Run `f` on one unit (a record, or a resource/scope header); report whether it succeeded.
    /// A panic resets the scratch space, which may be half-written.
    fn guarded(&mut self, f: impl FnOnce(&mut Self) -> Walk) -> bool {
        let ok = match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(Ok(())) => true,
            Ok(Err(Unprocessable)) => false,
            Err(_) => {
                *self.scratch = Scratch::default();
                tracing::debug!("Engine panicked on a record; record rejected.");
                false
            }
        };
        if ok {
            let total = self.summary.total();
            self.report.redactions += u64::from(total);
            if total > 0 && self.tags.is_some() {
                self.tally.summary.merge(&self.summary);
                self.resource_summary.merge(&self.summary);
            }
        }
        self.summary.clear();
        ok
    }

    fn logs(&mut self, req: &mut ExportLogsServiceRequest) {
        for rl in &mut req.resource_logs {
            let n = rl
                .scope_logs
                .iter()
                .map(|s| s.log_records.len())
                .sum::<usize>();
            if !self.guarded(|w| w.resource(rl.resource.as_mut())) {
                self.reject(&mut rl.scope_logs, n);
                continue;
            }
            let resource = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for sl in &mut rl.scope_logs {
                if !self.guarded(|w| w.scope(sl.scope.as_mut())) {
                    let n = sl.log_records.len();
                    self.reject(&mut sl.log_records, n);
                    continue;
                }
                let mut rejected = 0;
                sl.log_records.retain_mut(|r| {
                    let ok = self.guarded(|w| {
                        w.log_record(r)?;
                        if let Some(tags) = w.tags {
                            tag::log(tags, w.receiver, resource, r, &w.summary, &mut w.tally);
                        }
                        Ok(())
                    });
                    rejected += u64::from(!ok);
                    ok
                });
                self.report.rejected += rejected;
            }
        }
    }

    fn traces(&mut self, req: &mut ExportTraceServiceRequest) {
        for rs in &mut req.resource_spans {
            self.resource_summary.clear();
            let n = rs.scope_spans.iter().map(|s| s.spans.len()).sum::<usize>();
            if !self.guarded(|w| w.resource(rs.resource.as_mut())) {
                self.reject(&mut rs.scope_spans, n);
                continue;
            }
            for ss in &mut rs.scope_spans {
                if !self.guarded(|w| w.scope(ss.scope.as_mut())) {
                    let n = ss.spans.len();
                    self.reject(&mut ss.spans, n);
                    continue;
                }
                self.each(&mut ss.spans, |w, span| {
                    w.span(span)?;
                    if let Some(tags) = w.tags {
                        tag::span(tags, &mut span.attributes, &w.summary);
                    }
                    Ok(())
                });
            }
            if let Some(tags) = self.tags {
                let n = rs.scope_spans.iter().map(|s| s.spans.len()).sum::<usize>();
                self.tag_resource(tags, &mut rs.resource, n);
            }
        }
    }

    fn metrics(&mut self, req: &mut ExportMetricsServiceRequest) {
        for rm in &mut req.resource_metrics {
            self.resource_summary.clear();
            let n = rm
                .scope_metrics
                .iter()
                .flat_map(|s| &s.metrics)
                .map(points)
                .sum::<usize>();
            if !self.guarded(|w| w.resource(rm.resource.as_mut())) {
                self.reject(&mut rm.scope_metrics, n);
                continue;
            }
            for sm in &mut rm.scope_metrics {
                if !self.guarded(|w| w.scope(sm.scope.as_mut())) {
                    let n = sm.metrics.iter().map(points).sum();
                    self.reject(&mut sm.metrics, n);
                    continue;
                }
                // A metric is the unit here: its data points share name and metadata.
                let mut rejected = 0;
                sm.metrics.retain_mut(|m| {
                    let ok = self.guarded(|w| w.metric(m));
                    if !ok {
                        rejected += points(m) as u64;
                    }
                    ok
                });
                self.report.rejected += rejected;
            }
            if let Some(tags) = self.tags {
                let n = rm
                    .scope_metrics
                    .iter()
                    .flat_map(|s| &s.metrics)
                    .map(points)
                    .sum::<usize>();
                self.tag_resource(tags, &mut rm.resource, n);
            }
        }
    }

    /// Write the class of a resource's records (traces, metrics) on the resource.
    fn tag_resource(&mut self, tags: &Tags, resource: &mut Option<Resource>, records: usize) {
        if records == 0 {
            return;
        }
        let summary = std::mem::take(&mut self.resource_summary);
        tag::resource(
            tags,
            self.receiver,
            resource,
            &summary,
            records as u64,
            &mut self.tally,
        );
        self.resource_summary = summary;
        self.resource_summary.clear();
    }

    /// Redact every record of a list, removing the ones that fail.
    fn each<T>(&mut self, records: &mut Vec<T>, f: fn(&mut Self, &mut T) -> Walk) {
        let mut rejected = 0;
        records.retain_mut(|r| {
            let ok = self.guarded(|w| f(w, r));
            rejected += u64::from(!ok);
            ok
        });
        self.report.rejected += rejected;
    }

    fn reject<T>(&mut self, items: &mut Vec<T>, records: usize) {
        items.clear();
        self.report.rejected += records as u64;
    }

    fn resource(&mut self, r: Option<&mut Resource>) -> Walk {
        r.map_or(Ok(()), |r| self.attributes(&mut r.attributes, 0))
    }

    fn scope(&mut self, s: Option<&mut InstrumentationScope>) -> Walk {
        s.map_or(Ok(()), |s| self.attributes(&mut s.attributes, 0))
    }

    fn log_record(&mut self, rec: &mut LogRecord) -> Walk {
        if let Some(body) = rec.body.as_mut() {
            self.free(&mut body.value, 0)?;
        }
        self.text(&mut rec.event_name);
        self.attributes(&mut rec.attributes, 0)
    }

    fn span(&mut self, span: &mut Span) -> Walk {
        self.text(&mut span.name);
        self.attributes(&mut span.attributes, 0)?;
        for event in &mut span.events {
            self.text(&mut event.name);
            self.attributes(&mut event.attributes, 0)?;
        }
        for link in &mut span.links {
            self.attributes(&mut link.attributes, 0)?;
        }
        if let Some(status) = span.status.as_mut() {
            self.text(&mut status.message);
        }
        Ok(())
    }

    fn metric(&mut self, m: &mut Metric) -> Walk {
        self.attributes(&mut m.metadata, 0)?;
        match &mut m.data {
            Some(Data::Gauge(g)) => {
                for p in &mut g.data_points {
                    self.attributes(&mut p.attributes, 0)?;
                    self.exemplars(&mut p.exemplars)?;
                }
            }
            Some(Data::Sum(s)) => {
                for p in &mut s.data_points {
                    self.attributes(&mut p.attributes, 0)?;
                    self.exemplars(&mut p.exemplars)?;
                }
            }
            Some(Data::Histogram(h)) => {
                for p in &mut h.data_points {
                    self.attributes(&mut p.attributes, 0)?;
                    self.exemplars(&mut p.exemplars)?;
                }
            }
            Some(Data::ExponentialHistogram(h)) => {
                for p in &mut h.data_points {
                    self.attributes(&mut p.attributes, 0)?;
                    self.exemplars(&mut p.exemplars)?;
                }
            }
            Some(Data::Summary(s)) => {
                for p in &mut s.data_points {
                    self.attributes(&mut p.attributes, 0)?;
                }
            }
            None => {}
        }
        Ok(())
    }

    fn exemplars(&mut self, exemplars: &mut [Exemplar]) -> Walk {
        exemplars
            .iter_mut()
            .try_for_each(|e| self.attributes(&mut e.filtered_attributes, 0))
    }

    /// Free text: the whole string goes through the engine. The result is written into
    /// the walker's buffer, then over the string in place (no allocation when it fits), as
    /// [`Redactor::redact_text`] would return it.
    fn text(&mut self, s: &mut String) {
        if s.is_empty() {
            return;
        }
        self.out.clear();
        let changed = self.redactor.redact_into(
            s.as_bytes(),
            Format::Text,
            self.scratch,
            &mut self.summary,
            &mut self.out,
        );
        if changed {
            match std::str::from_utf8(&self.out) {
                Ok(new) => {
                    s.clear();
                    s.push_str(new);
                }
                Err(_) => *s = String::from_utf8_lossy(&self.out).into_owned(),
            }
        }
    }

    /// Key/value pairs: each value under its key; values the engine drops are removed.
    fn attributes(&mut self, attrs: &mut Vec<KeyValue>, depth: usize) -> Walk {
        let mut result = Ok(());
        attrs.retain_mut(|kv| {
            if result.is_err() {
                return true;
            }
            let Some(value) = kv.value.as_mut() else {
                return true;
            };
            match self.keyed(&kv.key, &mut value.value, depth) {
                Ok(keep) => keep,
                Err(e) => {
                    result = Err(e);
                    true
                }
            }
        });
        result
    }

    /// One value under `key`; `Ok(false)` means remove it.
    fn keyed(
        &mut self,
        key: &str,
        value: &mut Option<Value>,
        depth: usize,
    ) -> Result<bool, Unprocessable> {
        let Some(v) = value else { return Ok(true) };
        let outcome = match v {
            Value::StringValue(s) => {
                let outcome = self.field(key, s);
                return Ok(apply_to_string(outcome, s));
            }
            Value::IntValue(i) => {
                let mut buf = itoa::Buffer::new();
                self.field(key, buf.format(*i))
            }
            Value::BytesValue(b) => return Ok(self.keyed_bytes(key, b)),
            Value::ArrayValue(a) => {
                let depth = deeper(depth)?;
                let mut result = Ok(());
                a.values
                    .retain_mut(|e| match self.keyed(key, &mut e.value, depth) {
                        Ok(keep) => keep,
                        Err(err) => {
                            result = Err(err);
                            true
                        }
                    });
                result?;
                return Ok(true);
            }
            Value::KvlistValue(kv) => {
                self.attributes(&mut kv.values, deeper(depth)?)?;
                return Ok(true);
            }
            Value::BoolValue(_) | Value::DoubleValue(_) | Value::StringValueStrindex(_) => {
                return Ok(true)
            }
        };
        Ok(match outcome {
            Owned::Keep => true,
            Owned::Replace(new) => {
                *v = Value::StringValue(new);
                true
            }
            Owned::Drop => false,
        })
    }

    /// The engine's outcome for `value` under `key`, skipping the engine for a pair it kept
    /// before.
    fn field(&mut self, key: &str, value: &str) -> Owned {
        if self.kept.seen(key, value) {
            return Owned::Keep;
        }
        let outcome =
            into_owned(
                self.redactor
                    .redact_field(key, value, self.scratch, &mut self.summary),
            );
        if matches!(outcome, Owned::Keep) {
            self.kept.remember(key, value);
        }
        outcome
    }

    fn keyed_bytes(&mut self, key: &str, b: &mut Vec<u8>) -> bool {
        let outcome = match std::str::from_utf8(b) {
            Ok(s) => {
                into_owned(
                    self.redactor
                        .redact_field(key, s, self.scratch, &mut self.summary),
                )
            }
            Err(_) => {
                match self
                    .redactor
                    .redact_line(b, Format::Text, self.scratch, &mut self.summary)
                {
                    Cow::Borrowed(_) => Owned::Keep,
                    Cow::Owned(new) => Owned::Replace(String::from_utf8_lossy(&new).into_owned()),
                }
            }
        };
        match outcome {
            Owned::Keep => true,
            Owned::Replace(new) => {
                *b = new.into_bytes();
                true
            }
            Owned::Drop => false,
        }
    }

    /// A value with no key (a log body, an array element in a body): text redaction only,
    /// maps inside it switch back to key-aware redaction.
    fn free(&mut self, value: &mut Option<Value>, depth: usize) -> Walk {
        let Some(v) = value else { return Ok(()) };
        match v {
            Value::StringValue(s) => self.text(s),
            Value::IntValue(i) => {
                let mut buf = itoa::Buffer::new();
                let digits = buf.format(*i);
                if let Cow::Owned(new) =
                    self.redactor
                        .redact_text(digits, self.scratch, &mut self.summary)
                {
                    *v = Value::StringValue(new);
                }
            }
            Value::BytesValue(b) => {
                if let Cow::Owned(new) =
                    self.redactor
                        .redact_line(b, Format::Text, self.scratch, &mut self.summary)
                {
                    *b = new;
                }
            }
            Value::ArrayValue(a) => {
                let depth = deeper(depth)?;
                for e in &mut a.values {
                    self.free(&mut e.value, depth)?;
                }
            }
            Value::KvlistValue(kv) => self.attributes(&mut kv.values, deeper(depth)?)?,
            Value::BoolValue(_) | Value::DoubleValue(_) | Value::StringValueStrindex(_) => {}
        }
        Ok(())
    }
}

/// A [`FieldOutcome`] detached from the value it borrowed.
enum Owned {
    Keep,
    Replace(String),
    Drop,
}

fn into_owned(outcome: FieldOutcome<'_>) -> Owned {
    match outcome {
        FieldOutcome::Keep => Owned::Keep,
        FieldOutcome::Replace(new) => Owned::Replace(new.into_owned()),
        FieldOutcome::Drop => Owned::Drop,
    }
}

/// Apply an outcome to the string it was computed from; `false` means remove the field.
fn apply_to_string(outcome: Owned, s: &mut String) -> bool {
    match outcome {
        Owned::Keep => true,
        Owned::Replace(new) => {
            *s = new;
            true
        }
        Owned::Drop => false,
    }
}

fn deeper(depth: usize) -> Result<usize, Unprocessable> {
    if depth >= MAX_DEPTH {
        return Err(Unprocessable);
    }
    Ok(depth + 1)
}

#[cfg(test)]
mod tests;
