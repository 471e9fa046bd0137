//! Retention class and redaction summary on a redacted log line (`caviard redact --tag`).
//!
//! A line that is one JSON object gets them as members after its last member (before its
//! closing `}`); a logfmt line (`--format logfmt`) as ` key=value` pairs at its end.
//! Everything else in the line stays byte for byte. A plain text line has no field to put a
//! class in: it is left unchanged, and so is a line that is not a valid JSON object (RFC
//! 8259, UTF-8, nested at most 128 deep), so tagging never turns valid JSON into invalid JSON.
//!
//! Keys and summary mode are those `caviard serve` writes on OTLP log records
//! (`retention.class`, `retention.days`, `redaction.count`, `redaction.categories`,
//! `redaction.rules` by default), and as there, members of those names already in the line
//! are removed first: a line carries one class, caviard's, and a line passed through twice
//! is tagged once. Appending a second member of the same name would be legal JSON, but
//! parsers disagree on which one counts (most take the last, Elasticsearch rejects the
//! document), so the producer of the line could choose its own class for some of them.
//!
//! Cost, only with `--tag`: on a JSON-looking line, one validating pass and one walk over its
//! top-level members (kept in a [`LineScratch`], which every rule's field lookup and the
//! removal of forged keys reuse); the members are written into the output buffer.
//! Nothing is allocated once the scratch has grown (`tests/alloc.rs`), but when a rule asks
//! for a field whose value has a JSON escape, or a key with an escape is compared (both
//! decoded by serde_json).

mod scan;
#[cfg(test)]
mod tests;

use super::{severity_number, ClassId, RecordView, RetentionPolicy, SummaryField};
use crate::engine::{Format, Summary};
use crate::retention::AuditSummary;
use scan::{Member, Syntax};
use std::borrow::Cow;
use std::io::Write;

/// The receiver name of a line read by `caviard redact` (from a file or stdin), as a
/// `receiver:` condition names it.
pub const FILE_RECEIVER: &str = "file";

/// Members a line's severity is read from, in this order: the first whose value names a level
/// (`debug`, `INFO`, `warning`, `Error`, `critical`, `fatal`...) gives it. A number is not read:
/// loggers disagree on its scale (`30` is info for pino and bunyan, `3` is error in syslog).
const SEVERITY_KEYS: [&str; 4] = ["level", "severity", "lvl", "log.level"];

/// Per-worker buffers of the tagger, reused from line to line.
#[derive(Debug, Default)]
pub struct LineScratch {
    members: Vec<Member>,
}

/// A redacted line as the retention policy sees it: receiver [`FILE_RECEIVER`], fields from
/// its top-level members, severity from its level member. No resource attributes, no syslog
/// facility or app name.
#[derive(Debug)]
pub struct LineView<'a> {
    line: &'a [u8],
    syntax: Syntax,
    members: &'a [Member],
}

impl<'a> LineView<'a> {
    /// `line` (without its newline), if it is one valid JSON object.
    pub fn json(line: &'a [u8], scratch: &'a mut LineScratch) -> Option<LineView<'a>> {
        let t = line.trim_ascii();
        if t.first() != Some(&b'{') || t.last() != Some(&b'}') {
            return None;
        }
        scan::json_object(line, &mut scratch.members).then_some(LineView {
            line,
            syntax: Syntax::Json,
            members: &scratch.members,
        })
    }

    /// `line` (without its newline) as logfmt, unless it is blank.
    pub fn logfmt(line: &'a [u8], scratch: &'a mut LineScratch) -> Option<LineView<'a>> {
        if line.trim_ascii().is_empty() {
            return None;
        }
        scan::members(line, Syntax::Logfmt, &mut scratch.members);
        Some(LineView {
            line,
            syntax: Syntax::Logfmt,
            members: &scratch.members,
        })
    }
}

impl RecordView for LineView<'_> {
    fn receiver(&self) -> &str {
        FILE_RECEIVER
    }

    fn resource_attribute(&self, _key: &str) -> Option<Cow<'_, str>> {
        None
    }

    /// A top-level member as text: a string's contents, a number or boolean as written;
    /// `None` for null, objects and arrays (a rule reads an array's elements, through
    /// [`field_matches`](Self::field_matches)). In JSON, the last member of that name, and a
    /// dotted key also reaches into nested objects (`event.category` is
    /// `{"event":{"category":...}}` when there is no `"event.category"` member). In logfmt,
    /// the first pair of that name.
    fn field(&self, key: &str) -> Option<Cow<'_, str>> {
        match self.syntax {
            Syntax::Json => scan::json_text(scan::json_lookup(self.line, self.members, key)?),
            Syntax::Logfmt => {
                let m = self
                    .members
                    .iter()
                    .find(|m| m.key_is(self.line, Syntax::Logfmt, key))?;
                scan::logfmt_text(self.line.get(m.value.clone())?)
            }
        }
    }

    /// The member as [`field`](Self::field) finds it; in JSON, an array's string, number and
    /// boolean elements each (not those of an array nested in it).
    fn field_matches(&self, key: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool {
        match self.syntax {
            Syntax::Json => scan::json_lookup(self.line, self.members, key)
                .is_some_and(|raw| scan::json_texts(raw).any(|t| pred(&t))),
            Syntax::Logfmt => self.field(key).is_some_and(|v| pred(&v)),
        }
    }

    /// From the first of `level`, `severity`, `lvl`, `log.level` that names a level, on the
    /// OpenTelemetry scale as OTLP severity texts are read ([`severity_number`]).
    fn severity(&self) -> Option<u8> {
        SEVERITY_KEYS
            .iter()
            .find_map(|k| severity_number(&self.field(k)?))
    }
}

/// Writes the retention class and the redaction summary into redacted lines. Built once from
/// the configuration, shared by every worker.
#[derive(Debug)]
pub struct LineTagger {
    policy: Option<RetentionPolicy>,
    audit: AuditSummary,
    /// Every key the tagger may write: members of these names are removed from a line first.
    keys: Vec<String>,
}

impl LineTagger {
    /// `policy: None` writes no class (`retention.enabled: false`); `audit` in mode `off`
    /// writes no summary.
    pub fn new(policy: Option<RetentionPolicy>, audit: AuditSummary) -> LineTagger {
        let mut keys: Vec<String> = policy
            .iter()
            .flat_map(|p| [p.class_key().to_string(), p.days_key().to_string()])
            .collect();
        keys.extend(audit.keys().map(str::to_string));
        LineTagger {
            policy,
            audit,
            keys,
        }
    }

    /// Tag the redacted line `buf[start..]` (no newline) in place, given what was redacted in
    /// it. `format` is how the line was read: `Json` and `Auto` tag JSON objects, `Logfmt` any
    /// line that is not blank, `Text` nothing. Returns whether the line was tagged.
    pub fn tag(
        &self,
        buf: &mut Vec<u8>,
        start: usize,
        format: Format,
        summary: &Summary,
        scratch: &mut LineScratch,
    ) -> bool {
        let line = &buf[start..];
        let view = match format {
            Format::Auto | Format::Json => LineView::json(line, scratch),
            Format::Logfmt => LineView::logfmt(line, scratch),
            Format::Text => None,
        };
        let Some(view) = view else {
            return false;
        };
        let syntax = view.syntax;
        let class = self.policy.as_ref().map(|p| p.classify(&view, summary));
        self.remove_ours(buf, start, syntax, scratch);
        self.insert(buf, start, syntax, class, summary, scratch);
        true
    }

    fn is_ours(&self, line: &[u8], m: &Member, syntax: Syntax) -> bool {
        self.keys.iter().any(|k| m.key_is(line, syntax, k))
    }

    /// Remove the members the tagger writes, one at a time, walking the line again after each
    /// (the common line has none, and costs one pass over its member list).
    fn remove_ours(&self, buf: &mut Vec<u8>, start: usize, syntax: Syntax, s: &mut LineScratch) {
        while let Some(i) = s
            .members
            .iter()
            .position(|m| self.is_ours(&buf[start..], m, syntax))
        {
            let cut = scan::removal(&s.members, i);
            buf.drain(start + cut.start..start + cut.end);
            scan::members(&buf[start..], syntax, &mut s.members);
        }
    }

    /// Write the class, its days and the summary at the end of the line's members (`s` holds
    /// the members after [`remove_ours`](Self::remove_ours)).
    fn insert(
        &self,
        buf: &mut Vec<u8>,
        start: usize,
        syntax: Syntax,
        class: Option<ClassId>,
        summary: &Summary,
        s: &LineScratch,
    ) {
        let content = start + buf[start..].trim_ascii_end().len();
        let at = match (syntax, s.members.last()) {
            // Right after the last member, so `{ "a": 1 }` keeps its spacing.
            (Syntax::Json, Some(last)) => start + last.value.end,
            // Before the closing brace (a valid object ends with it).
            (Syntax::Json, None) => content - 1,
            (Syntax::Logfmt, _) => content,
        };
        let tail = buf.len() - at;
        let mut first = match syntax {
            Syntax::Json => s.members.is_empty(),
            Syntax::Logfmt => buf[start..at].trim_ascii().is_empty(),
        };
        let mut put = |key: &str, value: Value| {
            put_member(buf, syntax, first, key, value);
            first = false;
        };
        if let (Some(policy), Some(id)) = (&self.policy, class) {
            let c = policy.class(id);
            put(policy.class_key(), Value::Text(c.name()));
            put(policy.days_key(), Value::Int(i64::from(c.days())));
        }
        self.audit.fields(summary, |key, field| match field {
            SummaryField::Int(n) => put(key, Value::Int(n)),
            SummaryField::Pairs(p) => put(key, Value::Pairs(p)),
        });
        // The members went to the end of the buffer: move the line's tail (from the closing
        // brace or the trailing whitespace on) after them, in place.
        buf[at..].rotate_left(tail);
    }
}

/// A value the tagger writes.
#[derive(Clone, Copy)]
enum Value<'a> {
    Text(&'a str),
    Int(i64),
    Pairs(super::Pairs<'a>),
}

/// Append one member (with its separator unless `first`) to `buf`.
fn put_member(buf: &mut Vec<u8>, syntax: Syntax, first: bool, key: &str, value: Value) {
    match syntax {
        Syntax::Json => {
            if !first {
                buf.push(b',');
            }
            json_string(buf, key);
            buf.push(b':');
        }
        Syntax::Logfmt => {
            if !first {
                buf.push(b' ');
            }
            // Bare: the configuration check rejects keys logfmt cannot hold as they are.
            buf.extend_from_slice(key.as_bytes());
            buf.push(b'=');
        }
    }
    // Writing to a Vec cannot fail.
    let _ = match value {
        Value::Int(n) => {
            buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            Ok(())
        }
        Value::Text(t) => put_text(buf, syntax, format_args!("{t}")),
        Value::Pairs(p) => put_text(buf, syntax, format_args!("{p}")),
    };
}

/// Append a text value: a JSON string, or a logfmt value, quoted only when it has to be.
fn put_text(buf: &mut Vec<u8>, syntax: Syntax, text: std::fmt::Arguments) -> std::io::Result<()> {
    let json = syntax == Syntax::Json;
    if json {
        buf.push(b'"');
    }
    let start = buf.len();
    buf.write_fmt(text)?;
    let written = &buf[start..];
    // Class names and summaries never need escaping, nor quoting in logfmt; a configured
    // name that does gets it here.
    let plain = if json {
        !needs_escape(written)
    } else {
        !written.is_empty()
            && !written
                .iter()
                .any(|&b| b == b' ' || b == b'=' || escaped(b))
    };
    if plain {
        if json {
            buf.push(b'"');
        }
        return Ok(());
    }
    let owned = String::from_utf8_lossy(written).into_owned();
    buf.truncate(start - usize::from(json));
    json_string(buf, &owned);
    Ok(())
}

fn escaped(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

fn needs_escape(s: &[u8]) -> bool {
    s.iter().any(|&b| escaped(b))
}

/// `s` as a JSON string (also a valid logfmt quoted value).
fn json_string(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    if !needs_escape(s.as_bytes()) {
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
        return;
    }
    for &b in s.as_bytes() {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            0..=0x1f => {
                let _ = write!(buf, "\\u{b:04x}");
            }
            _ => buf.push(b),
        }
    }
    buf.push(b'"');
}
