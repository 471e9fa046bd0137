//! Unit tests of a line as a record: field lookup, severity, and what tagging writes.

use super::*;
use crate::config::retention::{AuditConfig, RetentionConfig};
use crate::engine::{Redactor, Scratch};

fn with_json<T>(line: &str, f: impl FnOnce(Option<&LineView>) -> T) -> T {
    let mut scratch = LineScratch::default();
    f(LineView::json(line.as_bytes(), &mut scratch).as_ref())
}

fn field(line: &str, key: &str) -> Option<String> {
    with_json(line, |v| {
        v.expect("a JSON object").field(key).map(|c| c.into_owned())
    })
}

#[test]
fn fields_are_top_level_members_as_text() {
    let line = r#"{"s":"a b","n":1.50,"i":-3,"t":true,"z":null,"o":{"k":"v"},"a":["x"],"e":"caf\u00e9 \"q\"","dup":"first","dup":"last","event.category":"flat","event":{"category":"nested","deep":{"x":"y"}}}"#;
    for (key, want) in [
        ("s", Some("a b")),
        ("n", Some("1.50")),
        ("i", Some("-3")),
        ("t", Some("true")),
        ("z", None),
        ("o", None),
        ("a", None),
        ("e", Some("café \"q\"")),
        ("dup", Some("last")),
        ("missing", None),
        // The member named with the dot comes first, then the path through objects.
        ("event.category", Some("flat")),
        ("event.deep.x", Some("y")),
        ("event.missing", None),
        // Only top-level members are fields: `k` is inside `o`.
        ("k", None),
    ] {
        assert_eq!(field(line, key).as_deref(), want, "{key}");
    }
    assert_eq!(
        field(r#"{"event":{"category":"iam"}}"#, "event.category").as_deref(),
        Some("iam")
    );
}

#[test]
fn receiver_is_file_and_there_are_no_resource_attributes() {
    with_json(r#"{"service.name":"api"}"#, |v| {
        let v = v.unwrap();
        assert_eq!(v.receiver(), "file");
        assert_eq!(v.resource_attribute("service.name"), None);
        assert_eq!(v.syslog_facility(), None);
    });
}

#[test]
fn severity_from_level_members() {
    for (line, want) in [
        (r#"{"level":"debug"}"#, Some(5)),
        (r#"{"level":"DEBUG"}"#, Some(5)),
        (r#"{"level":"trace"}"#, Some(1)),
        (r#"{"level":"info"}"#, Some(9)),
        (r#"{"level":"Information"}"#, Some(9)),
        (r#"{"severity":"WARNING"}"#, Some(13)),
        (r#"{"lvl":"warn"}"#, Some(13)),
        (r#"{"level":"error"}"#, Some(17)),
        (r#"{"level":"critical"}"#, Some(22)),
        (r#"{"level":"crit"}"#, Some(22)),
        (r#"{"severity":"notice"}"#, Some(10)),
        (r#"{"severity":"alert"}"#, Some(23)),
        (r#"{"severity":"emerg"}"#, Some(24)),
        (r#"{"level":"fatal"}"#, Some(21)),
        (r#"{"log.level":"debug"}"#, Some(5)),
        (r#"{"log":{"level":"error"}}"#, Some(17)),
        // The first member that names a level decides.
        (r#"{"level":"verbose","severity":"error"}"#, Some(17)),
        (r#"{"severity":"info","level":"debug"}"#, Some(5)),
        // Numbers mean different levels to different loggers: not read.
        (r#"{"level":30}"#, None),
        (r#"{"msg":"error"}"#, None),
        (r#"{"level":{"name":"error"}}"#, None),
        ("{}", None),
    ] {
        assert_eq!(with_json(line, |v| v.unwrap().severity()), want, "{line}");
    }
}

#[test]
fn only_valid_json_objects_are_records() {
    for line in [
        "",
        "plain text",
        "{broken",
        r#"{"a":tru}"#,
        r#"{"a":1} trailing"#,
        r#"[{"a":1}]"#,
        r#"{"a":1}{"b":2}"#,
        "{\"a\":\"x\" [TRUNCATED]",
    ] {
        assert!(with_json(line, |v| v.is_none()), "{line}");
    }
    for line in ["{}", " { } ", "\t{\"a\":{}}  "] {
        assert!(with_json(line, |v| v.is_some()), "{line}");
    }
}

#[test]
fn logfmt_fields() {
    let line = br#"ts=1 level=debug msg="a \"b\" c" flag event.category=iam"#;
    let mut scratch = LineScratch::default();
    let v = LineView::logfmt(line, &mut scratch).unwrap();
    assert_eq!(v.field("msg").as_deref(), Some("a \"b\" c"));
    assert_eq!(v.field("event.category").as_deref(), Some("iam"));
    assert_eq!(v.field("flag").as_deref(), Some(""));
    assert_eq!(v.field("nope"), None);
    assert_eq!(v.severity(), Some(5));
    assert!(LineView::logfmt(b"  ", &mut scratch).is_none());
}

fn tagger(retention: &str, audit: &str) -> LineTagger {
    let r: RetentionConfig = serde_yaml_ng::from_str(retention).unwrap();
    let a: AuditConfig = serde_yaml_ng::from_str(audit).unwrap();
    let policy = r
        .enabled
        .then(|| RetentionPolicy::compile(&r, None).unwrap());
    LineTagger::new(policy, AuditSummary::from_config(&a))
}

fn default_tagger() -> LineTagger {
    tagger("{}", "{}")
}

/// Redact `line` with the built-in policy, then tag it as `format`.
fn redact_and_tag(t: &LineTagger, line: &str, format: Format) -> String {
    let r = Redactor::builtin().unwrap();
    let mut summary = Summary::default();
    let mut buf = b"previous line\n".to_vec();
    let start = buf.len();
    r.redact_into(
        line.as_bytes(),
        format,
        &mut Scratch::default(),
        &mut summary,
        &mut buf,
    );
    t.tag(
        &mut buf,
        start,
        format,
        &summary,
        &mut LineScratch::default(),
    );
    let s = String::from_utf8(buf).unwrap();
    s.strip_prefix("previous line\n").unwrap().to_string()
}

#[test]
fn json_members_go_before_the_closing_brace() {
    let t = default_tagger();
    let std = r#""retention.class":"standard","retention.days":180"#;
    for (line, want) in [
        ("{}".to_string(), format!("{{{std}}}")),
        ("{ }  ".to_string(), format!("{{ {std}}}  ")),
        (
            r#"{"level":"info", "msg":"ok"} "#.to_string(),
            format!(r#"{{"level":"info", "msg":"ok",{std}}} "#),
        ),
        (
            r#"{ "n" : 1 }"#.to_string(),
            format!(r#"{{ "n" : 1,{std} }}"#),
        ),
        (
            r#"{"level":"debug","msg":"cache miss"}"#.to_string(),
            r#"{"level":"debug","msg":"cache miss","retention.class":"app-debug","retention.days":30}"#.to_string(),
        ),
        (
            r#"{"msg":"login","event":{"category":"authentication"}}"#.to_string(),
            r#"{"msg":"login","event":{"category":"authentication"},"retention.class":"security-audit","retention.days":365}"#.to_string(),
        ),
        (
            r#"{"msg":"to jean.dupont@example.fr","level":"debug"}"#.to_string(),
            r#"{"msg":"to [EMAIL]","level":"debug","retention.class":"app-debug","retention.days":30,"redaction.count":1,"redaction.categories":"email:1"}"#.to_string(),
        ),
        (
            r#"{"msg":"jean@example.fr +33 6 12 34 56 78 bob@example.com"}"#.to_string(),
            r#"{"msg":"[EMAIL] [PHONE] [EMAIL]","retention.class":"pii-pseudonymized","retention.days":180,"redaction.count":3,"redaction.categories":"email:2,phone:1"}"#.to_string(),
        ),
    ] {
        let got = redact_and_tag(&t, &line, Format::Auto);
        assert_eq!(got, want, "{line}");
        serde_json::from_str::<serde_json::Value>(&got).expect("still JSON");
    }
}

#[test]
fn nested_objects_are_untouched() {
    let t = default_tagger();
    let line = r#"{"a":{"retention.class":"x","b":{}},"c":[{"d":"}"}],"e":"{\"f\":1}"}"#;
    let got = redact_and_tag(&t, line, Format::Json);
    assert_eq!(
        got,
        r#"{"a":{"retention.class":"x","b":{}},"c":[{"d":"}"}],"e":"{\"f\":1}","retention.class":"standard","retention.days":180}"#
    );
    // A nested member is no field of its own name.
    assert_eq!(field(line, "retention.class"), None);
    assert_eq!(field(line, "a.retention.class").as_deref(), Some("x"));
}

#[test]
fn members_caviard_writes_are_replaced_not_duplicated() {
    let t = default_tagger();
    for (line, want) in [
        (
            r#"{"retention.class":"forever","a":1,"retention\u002edays":99999, "redaction.count":0}"#,
            r#"{"a":1,"retention.class":"standard","retention.days":180}"#,
        ),
        (
            r#"{ "retention.class" : "forever" }"#,
            r#"{  "retention.class":"standard","retention.days":180}"#,
        ),
        (
            r#"{"a":1 , "retention.days":1}"#,
            r#"{"a":1,"retention.class":"standard","retention.days":180}"#,
        ),
    ] {
        let got = redact_and_tag(&t, line, Format::Auto);
        assert_eq!(got, want, "{line}");
        serde_json::from_str::<serde_json::Value>(&got).expect("still JSON");
    }
    // A line tagged twice carries one class: the second pass's, which found nothing left to
    // redact (as for an OTLP record passing two caviards).
    let once = redact_and_tag(&t, r#"{"msg":"mail a.b@example.org"}"#, Format::Auto);
    assert!(once.ends_with(r#""retention.class":"pii-pseudonymized","retention.days":180,"redaction.count":1,"redaction.categories":"email:1"}"#), "{once}");
    assert_eq!(
        redact_and_tag(&t, &once, Format::Auto),
        r#"{"msg":"mail [EMAIL]","retention.class":"standard","retention.days":180}"#
    );
}

#[test]
fn logfmt_pairs_are_appended() {
    let t = default_tagger();
    for (line, want) in [
        (
            "level=debug msg=\"cache miss\"  ",
            "level=debug msg=\"cache miss\" retention.class=app-debug retention.days=30  ",
        ),
        (
            "retention.class=forever level=error user=jean@example.fr",
            "level=error user=[EMAIL] retention.class=pii-pseudonymized retention.days=180 redaction.count=1 redaction.categories=email:1",
        ),
        ("retention.class=forever", "retention.class=standard retention.days=180"),
        ("", ""),
        ("   ", "   "),
    ] {
        assert_eq!(redact_and_tag(&t, line, Format::Logfmt), want, "{line}");
    }
}

#[test]
fn text_lines_and_invalid_json_are_left_unchanged() {
    let t = default_tagger();
    for (line, format) in [
        ("mail jean@example.fr now", Format::Auto),
        (r#"{"a":"jean@example.fr"}"#, Format::Text),
        (r#"{"a":"jean@example.fr""#, Format::Json),
        (r#"[{"a":1}]"#, Format::Auto),
    ] {
        let got = redact_and_tag(&t, line, format);
        let r = Redactor::builtin().unwrap();
        let plain = r.redact_line(
            line.as_bytes(),
            format,
            &mut Scratch::default(),
            &mut Summary::default(),
        );
        assert_eq!(got.as_bytes(), &plain[..], "{line}");
    }
}

#[test]
fn configured_keys_and_modes() {
    let t = tagger(
        "attributes: {class: ret, days: ret.days}\ndefault_class: keep\nclasses: {keep: 2y}\nrules: []",
        "summary: rules\nattributes: {count: n, categories: c, rules: r}",
    );
    assert_eq!(
        redact_and_tag(&t, r#"{"m":"a@example.org","n":5}"#, Format::Auto),
        r#"{"m":"[EMAIL]","ret":"keep","ret.days":730,"n":1,"c":"email:1","r":"core.email:1"}"#
    );
    assert_eq!(
        redact_and_tag(&t, "m=a@example.org", Format::Logfmt),
        "m=[EMAIL] ret=keep ret.days=730 n=1 c=email:1 r=core.email:1"
    );
    // Retention off and summary off: nothing is written, and nothing is removed.
    let off = tagger("enabled: false", "summary: off");
    let line = r#"{"retention.class":"x","m":"a@example.org"}"#;
    assert_eq!(
        redact_and_tag(&off, line, Format::Auto),
        r#"{"retention.class":"x","m":"[EMAIL]"}"#
    );
}

#[test]
fn validator_agrees_with_serde_json() {
    // serde_json does not check UTF-8 inside a string it skips; RFC 8259 requires it.
    let serde_says = |s: &[u8]| {
        std::str::from_utf8(s).is_ok()
            && s.trim_ascii().first() == Some(&b'{')
            && serde_json::from_slice::<serde::de::IgnoredAny>(s).is_ok()
    };
    for s in [
        &br#"{"a":[1,-0.5e+3,true,false,null,{"b":"\u00e9\n"}]}"#[..],
        br#" {"a":01}"#,
        br#"{"a":1.}"#,
        br#"{"a":-}"#,
        br#"{"a":"\x"}"#,
        b"{\"a\":\"\x01\"}",
        b"{\"a\":\"\xff\"}",
        b"{\"a\":1}\x0c",
        br#"{"a":[1,]}"#,
        br#"{"a":1,}"#,
        br#"{,}"#,
        br#"{"a" "b"}"#,
        br#"{"a":truex}"#,
    ] {
        assert_eq!(
            scan::json_object(s, &mut Vec::new()),
            serde_says(s),
            "{}",
            String::from_utf8_lossy(s)
        );
    }
    let deep = |n: usize| format!("{}{}", "{\"a\":".repeat(n), "}".repeat(n)).replace(":}", ":1}");
    assert!(scan::json_object(deep(128).as_bytes(), &mut Vec::new()));
    assert!(!scan::json_object(deep(129).as_bytes(), &mut Vec::new()));
    // Bytes, and tokens (which make valid objects often enough to test both verdicts).
    proptest::proptest!(|(s in r#"[ {}\[\]":,0-9.eE+\-tfnrula\\/]{0,24}"#)| {
        let s = format!("{{{s}");
        proptest::prop_assert_eq!(scan::json_object(s.as_bytes(), &mut Vec::new()), serde_says(s.as_bytes()), "{}", s);
    });
    // Objects built from a few tokens, then maybe one token inserted or one byte removed:
    // valid and nearly valid lines, in about equal numbers.
    const TOKENS: [&str; 17] = [
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        " ",
        "\"k\"",
        "\"\\u00e9\\\"\"",
        "\"\\x\"",
        "0",
        "-1.5e3",
        "01",
        "1.",
        "true",
        "nul",
        "null",
    ];
    use proptest::prelude::*;
    let leaf =
        proptest::sample::select(&["0", "-1.5e3", "true", "null", "\"k\"", "\"\\u00e9\\\"\""][..])
            .prop_map(str::to_string);
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        let list = proptest::collection::vec(inner, 0..4);
        prop_oneof![
            list.clone().prop_map(|v| format!("[{}]", v.join(","))),
            list.prop_map(|v| object(&v)),
        ]
    });
    let line = (
        proptest::collection::vec(value, 0..4),
        0..3u8,
        any::<usize>(),
        proptest::sample::select(&TOKENS[..]),
    )
        .prop_map(|(members, edit, at, token)| {
            let mut s = object(&members);
            match edit {
                1 => {
                    s.remove(at % s.len());
                }
                2 => s.insert_str(at % (s.len() + 1), token),
                _ => {}
            }
            s
        });
    let t = default_tagger();
    proptest::proptest!(|(s in line)| {
        let mut members = Vec::new();
        let valid = scan::json_object(s.as_bytes(), &mut members);
        proptest::prop_assert_eq!(valid, serde_says(s.as_bytes()), "{}", s);
        if valid {
            // The light walk (after a removal) finds the members validation recorded.
            let mut walked = Vec::new();
            scan::members(s.as_bytes(), scan::Syntax::Json, &mut walked);
            proptest::prop_assert_eq!(&walked, &members, "{}", s);
        }
        // What is tagged stays valid JSON, with the class as a top-level member.
        let mut buf = s.clone().into_bytes();
        let tagged = t.tag(&mut buf, 0, Format::Json, &Summary::default(), &mut LineScratch::default());
        proptest::prop_assert_eq!(tagged, valid);
        if valid {
            let v: serde_json::Value = serde_json::from_slice(&buf).expect("tagged line is JSON");
            proptest::prop_assert_eq!(&v["retention.class"], "standard", "{}", s);
        } else {
            proptest::prop_assert_eq!(buf, s.as_bytes());
        }
    });
}

#[test]
fn plain_run_stops_at_the_first_quote_backslash_or_control_byte() {
    // A run of bytes that do not stop it (ASCII, UTF-8 bytes, DEL, space), maybe a byte that
    // does, then anything: every stop position within and across eight-byte words.
    const GO: [u8; 6] = [b'a', b' ', 0x7f, 0xc3, 0xa9, 0xff];
    const STOP: [u8; 5] = [b'"', b'\\', 0x1f, 0x00, b'\n'];
    let s = (
        proptest::collection::vec(proptest::sample::select(&GO[..]), 0..30),
        proptest::option::of(proptest::sample::select(&STOP[..])),
        proptest::collection::vec(proptest::num::u8::ANY, 0..10),
    );
    proptest::proptest!(|((run, stop, rest) in s)| {
        let mut line = run.clone();
        line.extend(stop);
        line.extend(&rest);
        let naive = line
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            .unwrap_or(line.len());
        proptest::prop_assert_eq!(scan::plain_run(&line), naive, "{:?}", line);
        if stop.is_some() {
            proptest::prop_assert_eq!(naive, run.len());
        }
    });
}

/// `{"k0" : v0 ,"k1" : v1}`: spaced so a removed byte can be a space.
fn object(values: &[String]) -> String {
    let members: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("\"k{i}\" : {v}"))
        .collect();
    format!("{{{}}}", members.join(" ,"))
}

#[test]
fn syslog_level_names_fall_in_their_opentelemetry_ranges() {
    // `fatal` covers 21..=24: Critical, Alert and Emergency are on the FATAL side of the
    // OpenTelemetry scale, not errors; Notice (INFO2) is still info.
    let t = tagger(
        "default_class: keep\nclasses: {keep: 180d, page: 2y, chatter: 7d}\nrules:
  - {name: fatal, class: page, match: {min_severity: fatal}}
  - {name: chatter, class: chatter, match: {max_severity: info}}",
        "{}",
    );
    for (level, want) in [
        ("critical", "page"),
        ("CRIT", "page"),
        ("alert", "page"),
        ("emergency", "page"),
        ("fatal", "page"),
        ("error", "keep"),
        ("warning", "keep"),
        ("notice", "chatter"),
        ("info", "chatter"),
    ] {
        let got = redact_and_tag(&t, &format!(r#"{{"level":"{level}"}}"#), Format::Json);
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["retention.class"], want, "{level}");
    }
}

#[test]
fn array_fields_match_when_any_element_does() {
    let t = default_tagger();
    // ECS keyword arrays (`event.category` is one): rule `security-events` matches when any
    // element is `authentication` or `iam`, as Elasticsearch's term query does.
    for (line, want) in [
        (
            r#"{"msg":"login","event":{"category":["authentication","session"]}}"#,
            "security-audit",
        ),
        (
            r#"{"msg":"login","event.category":["web", "iam"]}"#,
            "security-audit",
        ),
        (r#"{"event":{"category":[ "iam" ]}}"#, "security-audit"),
        // No element matches, or none is a scalar: no value.
        (r#"{"event":{"category":["web","network"]}}"#, "standard"),
        (r#"{"event":{"category":[]}}"#, "standard"),
        (
            r#"{"event":{"category":[["iam"],{"a":"iam"},null]}}"#,
            "standard",
        ),
    ] {
        let got = redact_and_tag(&t, line, Format::Json);
        let v: serde_json::Value = serde_json::from_str(&got).expect("still JSON");
        assert_eq!(v["retention.class"], want, "{line}");
    }
    // Elements are read as scalar members are: numbers and booleans as written, escapes
    // decoded; `*` asks for at least one element.
    let p = |m: &str| {
        tagger(
            &format!("default_class: keep\nclasses: {{keep: 180d, hit: 7d}}\nrules:\n  - {{name: r, class: hit, match: {{fields: {m}}}}}"),
            "{}",
        )
    };
    for (rule, line, hit) in [
        ("{ports: ['443']}", r#"{"ports":[80,443]}"#, true),
        ("{flags: ['true']}", r#"{"flags":[false,true]}"#, true),
        ("{tags: ['caf*']}", r#"{"tags":["x","caf\u00e9"]}"#, true),
        ("{tags: ['*']}", r#"{"tags":["x"]}"#, true),
        ("{tags: ['*']}", r#"{"tags":[]}"#, false),
        ("{tags: ['*']}", r#"{"tags":[null]}"#, false),
    ] {
        let got = redact_and_tag(&p(rule), line, Format::Json);
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["retention.class"] == "hit", hit, "{rule} on {line}");
    }
}
