//! Unit tests of the retention policy: matching, first-match-wins, and what compilation rejects.

use super::*;
use crate::engine::{Format, Redactor, Scratch};
use std::collections::HashMap;

/// A record as a plain map: `r.<key>` resource attributes, `f.<key>` fields.
struct Rec {
    receiver: &'static str,
    attrs: HashMap<String, String>,
    severity: Option<u8>,
    facility: Option<u8>,
}

impl Rec {
    fn new(pairs: &[(&str, &str)]) -> Rec {
        Rec {
            receiver: "otlp_grpc",
            attrs: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            severity: None,
            facility: None,
        }
    }
}

impl RecordView for Rec {
    fn receiver(&self) -> &str {
        self.receiver
    }
    fn resource_attribute(&self, key: &str) -> Option<Cow<'_, str>> {
        self.attrs.get(&format!("r.{key}")).map(|s| s.into())
    }
    fn field(&self, key: &str) -> Option<Cow<'_, str>> {
        self.attrs.get(&format!("f.{key}")).map(|s| s.into())
    }
    fn severity(&self) -> Option<u8> {
        self.severity
    }
    fn syslog_facility(&self) -> Option<u8> {
        self.facility
    }
}

fn policy(yaml: &str) -> Result<RetentionPolicy, Vec<String>> {
    let config: RetentionConfig = serde_yaml_ng::from_str(yaml).unwrap();
    let cats: Vec<String> = Redactor::builtin()
        .unwrap()
        .categories()
        .map(str::to_string)
        .collect();
    RetentionPolicy::compile(&config, Some(&cats)).map_err(|e| e.problems().to_vec())
}

fn summary_of(line: &str) -> Summary {
    let r = Redactor::builtin().unwrap();
    let mut s = Summary::default();
    let _ = r.redact_line(
        line.as_bytes(),
        Format::Text,
        &mut Scratch::default(),
        &mut s,
    );
    s
}

const CLASSES: &str = "
default_class: standard
classes: {standard: 180d, security-audit: 365d, app-debug: 30d, pii-pseudonymized: 180d, frontend: 7d}
";

fn class_of(p: &RetentionPolicy, r: &Rec, s: &Summary) -> String {
    p.class(p.classify(r, s)).name().to_string()
}

#[test]
fn first_matching_rule_wins() {
    let p = policy(&format!(
        "{CLASSES}rules:
  - {{name: security-ns, class: security-audit, match: {{namespace: [security]}}}}
  - {{name: debug, class: app-debug, match: {{max_severity: debug}}}}
  - {{name: pii, class: pii-pseudonymized, match: {{categories: [email, phone]}}}}
  - {{name: frontend, class: frontend, match: {{pod_labels: {{tier: [front*]}}}}}}
"
    ))
    .unwrap();
    let email = summary_of("mail to jean.dupont@example.fr");
    let clean = summary_of("nothing here");
    let mut sec = Rec::new(&[("r.k8s.namespace.name", "security")]);
    sec.severity = Some(5);
    assert_eq!(class_of(&p, &sec, &email), "security-audit");
    let mut dbg = Rec::new(&[("r.k8s.namespace.name", "shop")]);
    dbg.severity = Some(7);
    assert_eq!(class_of(&p, &dbg, &email), "app-debug");
    assert_eq!(p.deciding_rule(&dbg, &email), Some("debug"));
    let mut info = Rec::new(&[("r.k8s.pod.label.tier", "frontend")]);
    info.severity = Some(9);
    assert_eq!(class_of(&p, &info, &email), "pii-pseudonymized");
    assert_eq!(class_of(&p, &info, &clean), "frontend");
    let none = Rec::new(&[]);
    assert_eq!(class_of(&p, &none, &clean), "standard");
    assert_eq!(p.deciding_rule(&none, &clean), None);
    assert_eq!(p.class(p.classify(&none, &clean)).days(), 180);
}

#[test]
fn conditions_table() {
    let mut auth = Rec::new(&[("f.event.category", "authentication")]);
    auth.facility = Some(10);
    let cases: &[(&str, &Rec, bool)] = &[
        ("{syslog_facility: [auth, authpriv]}", &auth, true),
        ("{syslog_facility: [local0]}", &auth, false),
        ("{fields: {event.category: [auth*]}}", &auth, true),
        ("{fields: {event.category: ['*']}}", &auth, true),
        ("{fields: {missing: ['*']}}", &auth, false),
        ("{receiver: [otlp_grpc]}", &auth, true),
        ("{receiver: [otlp_http]}", &auth, false),
        ("{resource: {service.name: ['*-api']}}", &auth, false),
        ("{min_severity: info}", &auth, false),
        ("{max_redactions: 0}", &auth, true),
    ];
    let clean = summary_of("nothing");
    for (when, rec, want) in cases {
        let p = policy(&format!(
            "{CLASSES}rules:\n  - {{name: r, class: frontend, match: {when}}}\n"
        ))
        .unwrap();
        assert_eq!(class_of(&p, rec, &clean) == "frontend", *want, "{when}");
    }
}

#[test]
fn check_rejects_invalid_and_ambiguous_rules() {
    let cases: &[(&str, &str)] = &[
        (
            "  - {name: a, class: nope}\n",
            "retention.rules[0].class: unknown class \"nope\"",
        ),
        (
            "  - {name: a, class: frontend}\n  - {name: b, class: standard, match: {service: [x]}}\n",
            "retention.rules[1]: never matches: the earlier rule \"a\"",
        ),
        (
            "  - {name: a, class: frontend, match: {service: [api-*]}}\n  - {name: b, class: standard, match: {service: [api-eu], namespace: [x]}}\n",
            "retention.rules[1]: never matches: the earlier rule \"a\"",
        ),
        (
            "  - {name: a, class: frontend, match: {min_redactions: 1}}\n  - {name: b, class: standard, match: {categories: [email]}}\n",
            "retention.rules[1]: never matches",
        ),
        (
            "  - {name: a, class: frontend, match: {max_severity: info}}\n  - {name: b, class: standard, match: {max_severity: debug}}\n",
            "retention.rules[1]: never matches",
        ),
        (
            "  - {name: a, class: frontend, match: {categories: [emial]}}\n",
            "retention.rules[0].match.categories[0]: unknown category \"emial\"",
        ),
        (
            "  - {name: a, class: frontend, match: {service: []}}\n",
            "retention.rules[0].match.service: empty list never matches",
        ),
        (
            "  - {name: a, class: frontend, match: {service: [a*b]}}\n",
            "retention.rules[0].match.service[0]: only one leading",
        ),
        (
            "  - {name: a, class: frontend, match: {min_severity: error, max_severity: info}}\n",
            "retention.rules[0].match.min_severity: above",
        ),
        (
            "  - {name: a, class: frontend, match: {service: [x]}}\n  - {name: a, class: standard, match: {service: [y]}}\n",
            "retention.rules[1].name: \"a\" is already the name of retention.rules[0]",
        ),
    ];
    for (rules, want) in cases {
        let problems = policy(&format!("{CLASSES}rules:\n{rules}")).unwrap_err();
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "{rules}: want {want:?}, got {problems:#?}"
        );
    }
    // Narrower first, then broader: fine.
    policy(&format!(
        "{CLASSES}rules:\n  - {{name: a, class: frontend, match: {{service: [api-eu]}}}}\n  - {{name: b, class: standard, match: {{service: [api-*]}}}}\n  - {{name: c, class: app-debug}}\n"
    ))
    .unwrap();
}

#[test]
fn check_rejects_bad_classes_and_keys() {
    for (yaml, want) in [
        (
            "classes: {Security: 365d}\ndefault_class: Security\nrules: []\n",
            "retention.classes.Security: class names",
        ),
        (
            "classes: {short: 0d}\ndefault_class: short\nrules: []\n",
            "retention.classes.short: retention must be between",
        ),
        (
            "classes: {short: 7d}\ndefault_class: long\nrules: []\n",
            "retention.default_class: unknown class \"long\"",
        ),
        (
            "attributes: {class: x, days: x}\n",
            "retention.attributes.days: \"x\" is also retention.attributes.class",
        ),
    ] {
        let problems = policy(yaml).unwrap_err();
        assert!(
            problems.iter().any(|p| p.starts_with(want)),
            "{yaml}: want {want:?}, got {problems:#?}"
        );
    }
    let audit: AuditConfig =
        serde_yaml_ng::from_str("attributes: {count: retention.class}").unwrap();
    let p = problems(&RetentionConfig::default(), &audit, None);
    assert_eq!(
        p,
        vec!["audit.attributes.count: \"retention.class\" is also retention.attributes.class"]
    );
}

#[test]
fn check_rejects_keys_that_would_break_logfmt() {
    // `caviard redact --tag --format logfmt` writes each key bare, before `=`: a space, `=`,
    // `"` or control character in it would split or end the pair.
    let why = "is not a valid logfmt key";
    for (yaml, want) in [
        (
            "attributes: {class: retention class}",
            "retention.attributes.class: \"retention class\"",
        ),
        (
            "attributes: {days: \"days=n\"}",
            "retention.attributes.days: \"days=n\"",
        ),
        (
            "attributes: {class: 'say\"x'}",
            "retention.attributes.class: \"say\\\"x\"",
        ),
        (
            "attributes: {days: \"retention\\tdays\"}",
            "retention.attributes.days: \"retention\\tdays\"",
        ),
        (
            "attributes: {days: \"days\\u0085\"}",
            "retention.attributes.days: \"days\\u{85}\"",
        ),
    ] {
        let problems = policy(yaml).unwrap_err();
        let want = format!("{want} {why}");
        assert!(
            problems.iter().any(|p| p.starts_with(&want)),
            "{yaml}: want {want:?}, got {problems:#?}"
        );
    }
    for (yaml, want) in [
        (
            "attributes: {count: red count}",
            "audit.attributes.count: \"red count\"",
        ),
        (
            "summary: rules\nattributes: {rules: \"r\\x7f\"}",
            "audit.attributes.rules: \"r\\u{7f}\"",
        ),
    ] {
        let audit: AuditConfig = serde_yaml_ng::from_str(yaml).unwrap();
        let p = problems(&RetentionConfig::default(), &audit, None);
        let want = format!("{want} {why}");
        assert!(
            p.iter().any(|p| p.starts_with(&want)),
            "{yaml}: want {want:?}, got {p:#?}"
        );
    }
    // Dots, dashes, slashes and non-ASCII letters are fine.
    policy("attributes: {class: k8s.io/retention-class, days: durée_jours}").unwrap();
}

#[test]
fn default_policy_is_valid_and_ordered() {
    let p = policy("{}").unwrap();
    let names: Vec<_> = p.classes().iter().map(|c| (c.name(), c.days())).collect();
    assert!(names.contains(&("security-audit", 365)));
    assert!(names.contains(&("app-debug", 30)));
    let mut auth = Rec::new(&[]);
    auth.facility = Some(4);
    auth.severity = Some(5);
    let email = summary_of("jean.dupont@example.fr");
    assert_eq!(class_of(&p, &auth, &email), "security-audit");
    let mut dbg = Rec::new(&[]);
    dbg.severity = Some(5);
    assert_eq!(class_of(&p, &dbg, &email), "app-debug");
    let info = Rec::new(&[]);
    assert_eq!(class_of(&p, &info, &email), "pii-pseudonymized");
    assert_eq!(class_of(&p, &info, &summary_of("ok")), "standard");
}

#[test]
fn summary_attributes_carry_counts_never_values() {
    let s = summary_of("jean.dupont@example.fr wrote to a.b@example.com");
    for (mode, want) in [
        ("off", vec![]),
        (
            "categories",
            vec![
                ("redaction.count", SummaryValue::Int(2)),
                ("redaction.categories", SummaryValue::Text("email:2".into())),
            ],
        ),
    ] {
        let a: AuditConfig = serde_yaml_ng::from_str(&format!("summary: {mode}")).unwrap();
        let mut got = Vec::new();
        AuditSummary::from_config(&a).write(&s, |k, v| got.push((k.to_string(), v)));
        let want: Vec<_> = want.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        assert_eq!(got, want, "{mode}");
    }
    let a: AuditConfig = serde_yaml_ng::from_str("summary: rules").unwrap();
    let mut got = Vec::new();
    AuditSummary::from_config(&a).write(&s, |k, v| got.push((k.to_string(), v)));
    assert_eq!(got.len(), 3);
    let text = format!("{got:?}");
    assert!(
        !text.contains("jean") && !text.contains("example"),
        "{text}"
    );
    let mut none = Vec::new();
    AuditSummary::from_config(&a).write(&summary_of("ok"), |k, v| none.push((k.to_string(), v)));
    assert!(none.is_empty());
}

#[test]
fn severity_names_on_the_opentelemetry_scale() {
    for (text, want) in [
        ("trace", Some(1)),
        ("DEBUG", Some(5)),
        ("dbg", Some(5)),
        ("info", Some(9)),
        ("Informational", Some(9)),
        ("  Warn ", Some(13)),
        ("warning", Some(13)),
        ("err", Some(17)),
        ("error", Some(17)),
        ("FATAL", Some(21)),
        ("panic", Some(21)),
        // The syslog severities, as the OpenTelemetry log data model maps them: Notice is
        // INFO2, Critical FATAL2, Alert FATAL3, Emergency FATAL4.
        ("Notice", Some(10)),
        ("critical", Some(22)),
        ("CRIT", Some(22)),
        ("alert", Some(23)),
        ("emerg", Some(24)),
        ("Emergency", Some(24)),
        // The data model's own short names.
        ("INFO2", Some(10)),
        ("ERROR3", Some(19)),
        ("fatal4", Some(24)),
        ("TRACE1", Some(1)),
        ("verbose", None),
        ("30", None),
        ("", None),
        // Cutting five bytes off this text is in the middle of a character: it panicked
        // before the prefix was taken with `get`.
        ("ééé", None),
    ] {
        assert_eq!(severity_number(text), want, "{text:?}");
    }
}

#[test]
fn summary_pairs_are_sorted_by_name() {
    let s = summary_of("jean@example.fr +33 6 12 34 56 78 bob@example.com");
    let a: AuditConfig = serde_yaml_ng::from_str("summary: categories").unwrap();
    let mut got = Vec::new();
    AuditSummary::from_config(&a).write(&s, |k, v| got.push((k.to_string(), v)));
    assert_eq!(
        got[1],
        (
            "redaction.categories".to_string(),
            SummaryValue::Text("email:2,phone:1".into())
        )
    );
}
