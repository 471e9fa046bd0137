//! Syslog message to OTLP log record: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID
//! [SD] MSG`) and RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`), as the OpenTelemetry
//! Collector's syslog receiver maps them: severity by the data model's syslog table, header
//! fields as `syslog.*` attributes, structured data as `syslog.sd.<id>.<param>` attributes,
//! host and application name as the resource's `host.name` and `service.name`.
//!
//! Fail closed: a message that fits neither format is kept whole as the body (after its
//! `<PRI>`, if any), so the engine still sees and redacts every byte of it. Bytes that are not
//! UTF-8 are replaced (U+FFFD) before anything else: an OTLP string must be UTF-8.

use crate::serve::civil::{civil_from_days, days_from_civil};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;

/// One parsed message: its record, and the resource it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Message {
    pub record: LogRecord,
    pub host: Option<String>,
    pub app: Option<String>,
}

/// The data model's numbers and short names for syslog severities 0 (emergency) to 7.
const SEVERITIES: [(i32, &str); 8] = [
    (24, "emerg"),
    (23, "alert"),
    (22, "crit"),
    (17, "err"),
    (13, "warning"),
    (10, "notice"),
    (9, "info"),
    (5, "debug"),
];

pub(super) fn kv(key: impl Into<String>, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn text(s: &str) -> Value {
    Value::StringValue(s.to_string())
}

/// Parse one message (without its framing). `now` is the receive time in Unix nanoseconds
/// (the observed time; also the year of an RFC 3164 timestamp, which has none).
pub(crate) fn parse(raw: &[u8], now: u64) -> Message {
    let line = String::from_utf8_lossy(raw);
    let line = line.trim_end_matches(['\n', '\r', '\0']);
    let mut record = LogRecord {
        observed_time_unix_nano: now,
        ..LogRecord::default()
    };
    let (pri, rest) = priority(line);
    if let Some(pri) = pri {
        let (number, name) = SEVERITIES[(pri % 8) as usize];
        record.severity_number = number;
        record.severity_text = name.to_string();
        record
            .attributes
            .push(kv("syslog.facility", Value::IntValue((pri / 8) as i64)));
    }
    let parsed =
        pri.and_then(|_| rfc5424(rest, &mut record).or_else(|| rfc3164(rest, now, &mut record)));
    let (host, app) = match parsed {
        Some(header) => header,
        None => {
            // Neither format: the whole text is the body, redacted like any other.
            record.body = Some(AnyValue {
                value: Some(text(rest)),
            });
            (None, None)
        }
    };
    Message { record, host, app }
}

/// `<PRI>` (0 to 191) and what follows it.
fn priority(line: &str) -> (Option<u32>, &str) {
    let Some(inner) = line.strip_prefix('<') else {
        return (None, line);
    };
    let Some(close) = inner.find('>').filter(|&c| (1..=3).contains(&c)) else {
        return (None, line);
    };
    match inner[..close].parse::<u32>() {
        Ok(p) if p <= 191 && inner[..close].bytes().all(|b| b.is_ascii_digit()) => {
            (Some(p), &inner[close + 1..])
        }
        _ => (None, line),
    }
}

/// Split off the next space-delimited field.
fn field(s: &str) -> Option<(&str, &str)> {
    let end = s.find(' ')?;
    Some((&s[..end], &s[end + 1..]))
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// RFC 5424 after the `<PRI>`: fills the record, returns host and app name.
fn rfc5424(s: &str, record: &mut LogRecord) -> Option<(Option<String>, Option<String>)> {
    let rest = s.strip_prefix("1 ")?;
    let (timestamp, rest) = field(rest)?;
    let (host, rest) = field(rest)?;
    let (app, rest) = field(rest)?;
    let (procid, rest) = field(rest)?;
    let (msgid, rest) = field(rest).unwrap_or((rest, ""));
    let time = match nil(timestamp) {
        Some(t) => Some(rfc3339_nanos(t)?),
        None => None,
    };
    let (sd, msg) = structured_data(rest)?;
    record.time_unix_nano = time.unwrap_or(0);
    record
        .attributes
        .push(kv("syslog.version", Value::IntValue(1)));
    if let Some(p) = nil(procid) {
        record.attributes.push(kv("syslog.procid", text(p)));
    }
    if let Some(m) = nil(msgid) {
        record.attributes.push(kv("syslog.msgid", text(m)));
    }
    record.attributes.extend(sd);
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    record.body = Some(AnyValue {
        value: Some(text(msg)),
    });
    Some((nil(host).map(str::to_string), nil(app).map(str::to_string)))
}

/// `-` or `[id k="v" ...]...`, then an optional space and the message. Values unescape
/// `\"`, `\\` and `\]`.
fn structured_data(s: &str) -> Option<(Vec<KeyValue>, &str)> {
    if let Some(rest) = s.strip_prefix('-') {
        return Some((Vec::new(), rest.strip_prefix(' ').unwrap_or(rest)));
    }
    let mut attrs = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while bytes.get(i) == Some(&b'[') {
        i += 1;
        let id_end = i + s[i..].find([' ', ']'])?;
        let id = &s[i..id_end];
        i = id_end;
        loop {
            match bytes.get(i)? {
                b']' => {
                    i += 1;
                    break;
                }
                b' ' => i += 1,
                _ => {
                    let eq = i + s[i..].find('=')?;
                    let name = &s[i..eq];
                    if bytes.get(eq + 1) != Some(&b'"') {
                        return None;
                    }
                    let mut value = String::new();
                    let mut j = eq + 2;
                    loop {
                        let c = s[j..].chars().next()?;
                        match c {
                            '"' => break,
                            '\\' if matches!(bytes.get(j + 1), Some(b'"' | b'\\' | b']')) => {
                                value.push(bytes[j + 1] as char);
                                j += 2;
                                continue;
                            }
                            _ => value.push(c),
                        }
                        j += c.len_utf8();
                    }
                    attrs.push(kv(
                        format!("syslog.sd.{id}.{name}"),
                        Value::StringValue(value),
                    ));
                    i = j + 1;
                }
            }
        }
    }
    if i == 0 {
        return None;
    }
    let rest = &s[i..];
    Some((attrs, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// RFC 3164 after the `<PRI>`: `Mmm dd hh:mm:ss HOST TAG[PID]: MSG`. The timestamp's year is
/// the receive time's.
fn rfc3164(s: &str, now: u64, record: &mut LogRecord) -> Option<(Option<String>, Option<String>)> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = s.as_bytes();
    if b.len() < 16
        || b[3] != b' '
        || b[6] != b' '
        || b[9] != b':'
        || b[12] != b':'
        || b[15] != b' '
    {
        return None;
    }
    let month = MONTHS.iter().position(|m| s.get(..3) == Some(*m))? as u32 + 1;
    let num = |r: std::ops::Range<usize>| s.get(r)?.trim_start().parse::<u32>().ok();
    let (day, h, m, sec) = (num(4..6)?, num(7..9)?, num(10..12)?, num(13..15)?);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let year = civil_from_days((now / 1_000_000_000 / 86_400) as i64).0;
    let secs =
        |year: i32| days_from_civil(year, month, day) * 86_400 + i64::from(h * 3600 + m * 60 + sec);
    // No year in the header: the receive year, unless that puts the message more than a day
    // in the future (sent on 31 December, received on 1 January): then the year before.
    let mut t = secs(year);
    if t > (now / 1_000_000_000) as i64 + 86_400 {
        t = secs(year - 1);
    }
    record.time_unix_nano = (t.max(0) as u64).saturating_mul(1_000_000_000);
    let rest = &s[16..];
    let (host, rest) = match field(rest) {
        // A host name has no colon at its end; `app: msg` right after the time has no host.
        Some((h, r)) if !h.ends_with(':') && !h.contains('[') => (Some(h), r),
        _ => (None, rest),
    };
    // The tag: up to 32 alphanumerics and `-_./`, then `[pid]` and `:`.
    let tag_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_./".contains(c)))
        .unwrap_or(rest.len());
    let mut app = None;
    let mut msg = rest;
    if tag_end > 0 && tag_end <= 48 {
        let after = &rest[tag_end..];
        let (pid, after) = match after.strip_prefix('[').and_then(|a| a.split_once(']')) {
            Some((p, a)) if p.bytes().all(|c| c.is_ascii_digit()) => (Some(p), a),
            _ => (None, after),
        };
        if let Some(m) = after.strip_prefix(':') {
            app = Some(rest[..tag_end].to_string());
            if let Some(p) = pid {
                record.attributes.push(kv("syslog.procid", text(p)));
            }
            msg = m.strip_prefix(' ').unwrap_or(m);
        }
    }
    record.body = Some(AnyValue {
        value: Some(text(msg)),
    });
    Some((host.map(str::to_string), app))
}

/// RFC 3339 (`2024-12-08T06:19:18.123456Z`, `...+01:00`) to Unix nanoseconds.
fn rfc3339_nanos(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d, h, mi, s) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                frac = frac * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start).min(9)..9 {
            frac *= 10;
        }
    }
    let offset = match t.get(i..)? {
        "Z" | "z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) && &z[3..4] == ":" => {
            let (oh, om) = (n(i + 1..i + 3)?, n(i + 4..i + 6)?);
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs =
        days_from_civil(y as i32, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + s - offset;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(frac as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr<'a>(r: &'a LogRecord, k: &str) -> Option<&'a Value> {
        r.attributes
            .iter()
            .find(|a| a.key == k)?
            .value
            .as_ref()?
            .value
            .as_ref()
    }

    fn body(r: &LogRecord) -> &str {
        match r.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(Value::StringValue(s)) => s,
            other => panic!("body {other:?}"),
        }
    }

    const NOW: u64 = 1_733_640_000_000_000_000; // 2024-12-08T06:40:00Z

    #[test]
    fn rfc5424_with_structured_data() {
        let raw = [
            &br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="App\"lication"][x@1 a="b"] "#[..],
            b"\xEF\xBB\xBFAn application event",
        ]
        .concat();
        let m = parse(&raw, NOW);
        let r = &m.record;
        assert_eq!(m.host.as_deref(), Some("mymachine.example.com"));
        assert_eq!(m.app.as_deref(), Some("evntslog"));
        assert_eq!(
            (r.severity_number, r.severity_text.as_str()),
            (10, "notice")
        );
        assert_eq!(attr(r, "syslog.facility"), Some(&Value::IntValue(20)));
        assert_eq!(attr(r, "syslog.procid"), Some(&text("1234")));
        assert_eq!(attr(r, "syslog.msgid"), Some(&text("ID47")));
        assert_eq!(
            attr(r, "syslog.sd.exampleSDID@32473.eventSource"),
            Some(&text("App\"lication"))
        );
        assert_eq!(attr(r, "syslog.sd.x@1.a"), Some(&text("b")));
        assert_eq!(r.time_unix_nano, 1_065_910_455_003_000_000);
        assert_eq!(r.observed_time_unix_nano, NOW);
        assert_eq!(body(r), "An application event");
    }

    #[test]
    fn rfc5424_nil_fields_and_offsets() {
        let m = parse(b"<14>1 2024-12-08T07:19:18+01:00 - - - - - hello", NOW);
        assert_eq!((m.host, m.app), (None, None));
        assert_eq!(m.record.time_unix_nano, 1_733_638_758_000_000_000);
        assert_eq!(body(&m.record), "hello");
        assert!(attr(&m.record, "syslog.procid").is_none());
        // No message at all.
        let m = parse(b"<14>1 - host app - - -", NOW);
        assert_eq!(body(&m.record), "");
        assert_eq!(m.record.time_unix_nano, 0);
    }

    #[test]
    fn rfc3164() {
        let m = parse(b"<38>Dec  8 06:19:18 bastion sshd[2211]: Accepted publickey for alice from 203.0.113.45", NOW);
        let r = &m.record;
        assert_eq!(m.host.as_deref(), Some("bastion"));
        assert_eq!(m.app.as_deref(), Some("sshd"));
        assert_eq!(attr(r, "syslog.procid"), Some(&text("2211")));
        assert_eq!(
            (r.severity_number, attr(r, "syslog.facility")),
            (9, Some(&Value::IntValue(4)))
        );
        assert_eq!(r.time_unix_nano, 1_733_638_758_000_000_000);
        assert_eq!(body(r), "Accepted publickey for alice from 203.0.113.45");
        // `logger --rfc3164` to a socket: no host name.
        let m = parse(b"<13>Dec  8 06:19:18 root: hello there", NOW);
        assert_eq!((m.host.as_deref(), m.app.as_deref()), (None, Some("root")));
        assert_eq!(body(&m.record), "hello there");
    }

    #[test]
    fn rfc3164_sent_last_year() {
        // Received 2025-01-01T00:00:30Z, sent 2024-12-31T23:59:59Z.
        let m = parse(b"<13>Dec 31 23:59:59 h app: x", 1_735_689_630_000_000_000);
        assert_eq!(m.record.time_unix_nano, 1_735_689_599_000_000_000);
    }

    #[test]
    fn anything_else_is_kept_whole_as_the_body() {
        for (raw, want) in [
            (
                &b"no priority jean@example.fr"[..],
                "no priority jean@example.fr",
            ),
            (b"<999>1 bad pri", "<999>1 bad pri"),
            (b"<13>1 not-a-time h a - - - x", "1 not-a-time h a - - - x"),
            (
                b"<13>1 2024-12-08T06:19:18Z h a - - [broken sd",
                "1 2024-12-08T06:19:18Z h a - - [broken sd",
            ),
            (b"<13>Foo  8 06:19:18 h a: m", "Foo  8 06:19:18 h a: m"),
            (b"<13>bad \xff\xfe utf8\n", "bad \u{fffd}\u{fffd} utf8"),
        ] {
            let m = parse(raw, NOW);
            assert_eq!(body(&m.record), want, "{}", String::from_utf8_lossy(raw));
        }
        assert_eq!(parse(b"plain", NOW).record.severity_number, 0);
    }
}
