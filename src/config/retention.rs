//! The `retention:` and `audit:` sections: which retention class each record is tagged with,
//! and what caviard says about what it redacted.
//!
//! These are the raw, parsed values; [`crate::retention::RetentionPolicy::compile`] checks
//! them (every problem with its dotted path) and builds the immutable matcher the hot path
//! uses. `caviard check` runs that same compilation.
//!
//! The shipped default policy is derived from the CNIL recommendation on logging
//! (délibération n° 2021-122 of 14 October 2021: logs kept six months to one year as a
//! rule); see `docs/retention.md` for the reasoning behind each class.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `retention:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Tag records with a retention class. Default: true. Off, records leave untagged and
    /// the backend's own default retention applies.
    pub enabled: bool,
    /// Where the class is written.
    pub attributes: RetentionAttributes,
    /// The class of records no rule matches. Must be one of `classes`.
    pub default_class: String,
    /// Every class a rule may assign: name -> duration (`365d`, `26w`, `1y`). Names are
    /// lowercase `[a-z0-9-_]`, so they can be a Loki label value, part of an Elasticsearch
    /// index name or a Splunk index name unchanged.
    pub classes: BTreeMap<String, Days>,
    /// Ordered rules: the first rule whose `match` holds gives the class.
    pub rules: Vec<RetentionRuleConfig>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: true,
            attributes: RetentionAttributes::default(),
            default_class: "standard".to_string(),
            classes: default_classes(),
            rules: default_rules(),
        }
    }
}

/// The shipped classes (see docs/retention.md).
pub fn default_classes() -> BTreeMap<String, Days> {
    [
        // CNIL 2021-122: up to one year for logs that secure access to personal data.
        ("security-audit", 365),
        // CNIL 2021-122: six months, the lower bound of the general rule.
        ("standard", 180),
        // Records that carried personal data (now masked or pseudonymised): the same six
        // months, under their own name so a DPO can shorten them without touching the rest.
        ("pii-pseudonymized", 180),
        // Debug output serves troubleshooting only; it is not an access log.
        ("app-debug", 30),
    ]
    .into_iter()
    .map(|(n, d)| (n.to_string(), Days(d)))
    .collect()
}

/// The shipped rules, in order (see docs/retention.md).
pub fn default_rules() -> Vec<RetentionRuleConfig> {
    let rule = |name: &str, class: &str, when: MatchConfig| RetentionRuleConfig {
        name: name.to_string(),
        class: class.to_string(),
        when,
        description: None,
    };
    vec![
        rule(
            "auth-syslog",
            "security-audit",
            MatchConfig {
                syslog_facility: Some(vec![
                    Facility::parse("auth").expect("known facility"),
                    Facility::parse("authpriv").expect("known facility"),
                ]),
                ..MatchConfig::default()
            },
        ),
        rule(
            "security-events",
            "security-audit",
            MatchConfig {
                fields: [(
                    "event.category".to_string(),
                    vec!["authentication".to_string(), "iam".to_string()],
                )]
                .into(),
                ..MatchConfig::default()
            },
        ),
        rule(
            "debug",
            "app-debug",
            MatchConfig {
                max_severity: Some(SeverityName::Debug),
                ..MatchConfig::default()
            },
        ),
        rule(
            "personal-data",
            "pii-pseudonymized",
            MatchConfig {
                min_redactions: Some(1),
                ..MatchConfig::default()
            },
        ),
    ]
}

/// Attribute keys (OTLP) or field names the class is written to. Like the `audit:` keys, they
/// must be valid logfmt keys (no whitespace, `=`, `"` or control characters): `caviard
/// redact --tag --format logfmt` writes them bare.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionAttributes {
    /// The class name. Default: `retention.class`.
    pub class: String,
    /// The duration in days (an integer). Default: `retention.days`.
    pub days: String,
}

impl Default for RetentionAttributes {
    fn default() -> Self {
        RetentionAttributes {
            class: "retention.class".to_string(),
            days: "retention.days".to_string(),
        }
    }
}

/// One rule: a name (for `check` messages and docs), the class, and the conditions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRuleConfig {
    /// Unique name of the rule.
    pub name: String,
    /// The class assigned when the rule matches; one of `retention.classes`.
    pub class: String,
    /// Conditions, all of which must hold; none means "every record" (a catch-all, only
    /// allowed as the last rule).
    #[serde(rename = "match", default)]
    pub when: MatchConfig,
    /// Why the rule exists (for the DPO reading the config).
    #[serde(default)]
    pub description: Option<String>,
}

/// The conditions of a rule. Every condition set must hold; within a list, any value may
/// match. Values are exact strings, or have one leading or trailing `*` (`auth-*`, `*-prod`);
/// `"*"` alone means "present with any value". A field or resource attribute that is an array
/// matches when any of its string, number or boolean elements does, as Elasticsearch matches
/// a keyword array (ECS `event.category: ["authentication", "iam"]`); an empty array has no
/// value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// The receiver the record came in by: `otlp_grpc`, `otlp_http`, `file` (`caviard redact
    /// --tag`, files and stdin alike).
    pub receiver: Option<Vec<String>>,
    /// Resource attribute `service.name`.
    pub service: Option<Vec<String>>,
    /// Resource attribute `k8s.namespace.name`.
    pub namespace: Option<Vec<String>>,
    /// Pod labels: resource attributes `k8s.pod.label.<name>` (as the Collector's
    /// k8sattributes processor writes them).
    pub pod_labels: BTreeMap<String, Vec<String>>,
    /// Any other resource attribute, by key.
    pub resource: BTreeMap<String, Vec<String>>,
    /// Fields of the record: OTLP log-record attributes (then top-level keys of a map body),
    /// or top-level / dotted keys of a JSON line.
    pub fields: BTreeMap<String, Vec<String>>,
    /// Severity at least this (`trace`, `debug`, `info`, `warn`, `error`, `fatal`). Severity
    /// texts are read as the OpenTelemetry log data model maps syslog's: `notice` is info,
    /// `critical`, `alert` and `emergency` are fatal.
    pub min_severity: Option<SeverityName>,
    /// Severity at most this.
    pub max_severity: Option<SeverityName>,
    /// Syslog facility by name (`auth`, `authpriv`, `local0`...).
    pub syslog_facility: Option<Vec<Facility>>,
    /// Syslog APP-NAME (RFC 5424) or tag (RFC 3164).
    pub syslog_app_name: Option<Vec<String>>,
    /// The engine detected at least one of these categories in the record.
    pub categories: Option<Vec<String>>,
    /// At least this many values were redacted in the record.
    pub min_redactions: Option<u32>,
    /// At most this many values were redacted (`0`: records with no personal data found).
    pub max_redactions: Option<u32>,
}

/// A retention duration in whole days: `365d`, `26w`, `1y` (365 days) or a bare integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Days(pub u32);

impl Days {
    /// Parse `<integer>[d|w|y]`.
    pub fn parse(s: &str) -> Option<Days> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (n, unit) = s.split_at(split);
        let n: u32 = n.parse().ok()?;
        let mul = match unit.trim() {
            "" | "d" => 1,
            "w" => 7,
            "y" => 365,
            _ => return None,
        };
        n.checked_mul(mul).map(Days)
    }
}

impl<'de> Deserialize<'de> for Days {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u32),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Days(n)),
            Raw::Str(s) => Days::parse(&s).ok_or_else(|| {
                de::Error::custom(format!(
                    "invalid retention duration {s:?}: expected e.g. 30d, 26w, 1y"
                ))
            }),
        }
    }
}

/// A severity level by name, on the OpenTelemetry scale (each name covers four numbers:
/// `debug` is 5..=8, `error` 17..=20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityName {
    /// 1..=4.
    Trace,
    /// 5..=8.
    Debug,
    /// 9..=12 (syslog Notice is 10).
    Info,
    /// 13..=16.
    #[serde(alias = "warning")]
    Warn,
    /// 17..=20.
    Error,
    /// 21..=24 (syslog Critical is 22, Alert 23, Emergency 24).
    Fatal,
}

impl SeverityName {
    /// The lowest OpenTelemetry severity number of the level.
    pub fn lowest(self) -> u8 {
        (self as u8) * 4 + 1
    }
    /// The highest OpenTelemetry severity number of the level.
    pub fn highest(self) -> u8 {
        (self as u8) * 4 + 4
    }
}

/// A syslog facility (RFC 5424 table 1), by name in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facility(pub u8);

/// Facility names, by code. `security` (13, "log audit") and `console` (14) follow the
/// names rsyslog and the Collector's syslog parser use.
pub const FACILITY_NAMES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

impl Facility {
    /// A facility by its name (`auth`) or code (`4`).
    pub fn parse(s: &str) -> Option<Facility> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u8>() {
            return (usize::from(n) < FACILITY_NAMES.len()).then_some(Facility(n));
        }
        FACILITY_NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .map(|i| Facility(i as u8))
    }
}

impl<'de> Deserialize<'de> for Facility {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u8),
            Str(String),
        }
        let s = match Raw::deserialize(d)? {
            Raw::Int(n) => n.to_string(),
            Raw::Str(s) => s,
        };
        Facility::parse(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown syslog facility {s:?}: expected one of {}",
                FACILITY_NAMES.join(", ")
            ))
        })
    }
}

/// The `audit:` section: the redaction summary written on each record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// What each record that had something redacted says about it.
    pub summary: SummaryMode,
    /// The attribute keys (OTLP) or field names used.
    pub attributes: AuditAttributes,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            summary: SummaryMode::Categories,
            attributes: AuditAttributes::default(),
        }
    }
}

/// How much of the engine's [`Summary`](crate::engine::Summary) a record carries. Never a
/// value: only counts, category names and rule ids, which come from the pattern packs and
/// the policy, never from the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SummaryMode {
    /// Nothing.
    Off,
    /// `redaction.count` (total) and `redaction.categories` (`email:2,phone:1`).
    #[default]
    Categories,
    /// As `categories`, plus `redaction.rules` (`core.email:2,fr.phone:1`).
    Rules,
}

/// Keys of the summary attributes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditAttributes {
    /// Total redactions in the record (an integer). Default: `redaction.count`.
    pub count: String,
    /// `category:count` pairs, sorted by name. Default: `redaction.categories`.
    pub categories: String,
    /// `rule:count` pairs, sorted by rule id. Default: `redaction.rules`.
    pub rules: String,
}

impl Default for AuditAttributes {
    fn default() -> Self {
        AuditAttributes {
            count: "redaction.count".to_string(),
            categories: "redaction.categories".to_string(),
            rules: "redaction.rules".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days() {
        for (s, d) in [("30d", 30), ("26w", 182), ("1y", 365), ("90", 90)] {
            assert_eq!(Days::parse(s), Some(Days(d)), "{s}");
        }
        for bad in ["", "d", "1.5y", "-1d", "3mo", "99999999999d"] {
            assert_eq!(Days::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn severities_cover_the_otel_scale() {
        assert_eq!(
            (SeverityName::Trace.lowest(), SeverityName::Trace.highest()),
            (1, 4)
        );
        assert_eq!(
            (SeverityName::Error.lowest(), SeverityName::Error.highest()),
            (17, 20)
        );
        assert_eq!(SeverityName::Fatal.highest(), 24);
    }

    #[test]
    fn facilities() {
        assert_eq!(Facility::parse("auth"), Some(Facility(4)));
        assert_eq!(Facility::parse("AUTHPRIV"), Some(Facility(10)));
        assert_eq!(Facility::parse("local7"), Some(Facility(23)));
        assert_eq!(Facility::parse("10"), Some(Facility(10)));
        assert_eq!(Facility::parse("24"), None);
        assert_eq!(Facility::parse("kernel"), None);
    }

    #[test]
    fn sections_parse_and_reject_unknown_keys() {
        let yaml = "enabled: true\nclasses: {short: 7d}\ndefault_class: short\nrules:\n  - name: a\n    class: short\n    match: {service: [x], min_severity: warning}\n";
        let c: RetentionConfig = serde_yaml_ng::from_str(yaml).unwrap();
        assert_eq!(c.rules[0].when.min_severity, Some(SeverityName::Warn));
        let bad = "rules:\n  - name: a\n    class: short\n    match: {servce: [x]}\n";
        let e = serde_yaml_ng::from_str::<RetentionConfig>(bad).unwrap_err();
        assert!(e.to_string().contains("servce"), "{e}");
        let a: AuditConfig = serde_yaml_ng::from_str("summary: rules").unwrap();
        assert_eq!(a.summary, SummaryMode::Rules);
    }
}
