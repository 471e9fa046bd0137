//! Retention classes: which class of storage each record belongs in, decided once per record
//! by a pure function of where the record came from and what the engine found in it.
//!
//! ```text
//!   RetentionConfig ──compile──> RetentionPolicy (immutable, Arc-shared)
//!   (record metadata: RecordView, engine Summary) ──classify──> ClassId ──> RetentionClass
//! ```
//!
//! The policy knows nothing about protocols. A forwarder describes its record through
//! [`RecordView`] (the OTLP proxy over a log record and its resource; [`LineView`] over a JSON
//! or logfmt line in `caviard redact --tag`; later a syslog message, a Loki stream, an Elasticsearch bulk document)
//! and writes the returned [`RetentionClass`] wherever its backend can act on it: an OTLP
//! attribute, a Loki stream label, an index name template (`logs-{retention}-{yyyy.MM.dd}`),
//! syslog structured data, a Splunk HEC index. The class name is restricted to lowercase
//! `[a-z0-9_-]` so every one of those accepts it unchanged.
//!
//! Rules are ordered and the first whose conditions all hold wins; no rule gives the
//! default class. Compilation rejects what would make that order surprising: a rule that an
//! earlier one always pre-empts (including a catch-all that is not last), contradictory
//! ranges, empty value lists, unknown classes and categories. The shadowing check is
//! conservative: it reports a rule only when an earlier one provably covers it.
//!
//! Cost per record: conditions are evaluated cheapest first (counts and severity, then the
//! categories of the summary, then attribute lookups, which are linear scans of the
//! record's attributes); no allocation unless a non-string attribute has to be formatted.
//!
//! Rules see the record as it leaves caviard, after redaction: a retention decision can
//! never depend on a personal value.

mod line;
mod rule;
mod summary;

pub use line::{LineScratch, LineTagger, LineView, FILE_RECEIVER};
pub use summary::{AuditSummary, Pairs, SummaryField, SummaryValue};

use crate::config::retention::{AuditConfig, RetentionConfig, SummaryMode};
use crate::engine::Summary;
use std::borrow::Cow;

/// What the policy may ask about a record. Implemented by each forwarder over its own record
/// type; every method but [`receiver`](RecordView::receiver) may answer "unknown" (`None`),
/// and a condition on an unknown property does not hold.
pub trait RecordView {
    /// The receiver the record came in by (`otlp_grpc`, `otlp_http`, `file`).
    fn receiver(&self) -> &str;
    /// A resource attribute (`service.name`, `k8s.namespace.name`, `k8s.pod.label.app`), as
    /// text; integers and booleans in their usual decimal / `true` form.
    fn resource_attribute(&self, key: &str) -> Option<Cow<'_, str>>;
    /// A field of the record itself: an OTLP log-record attribute, a JSON line's key.
    fn field(&self, key: &str) -> Option<Cow<'_, str>>;
    /// Whether `pred` holds for a resource attribute's text or, when its value is an array,
    /// for the text of any element that is a string, number or boolean. What rules match
    /// on: a list-valued attribute (semantic conventions' `host.ip`) has as many values as
    /// elements, as Elasticsearch reads a keyword array; an empty array has none.
    fn resource_attribute_matches(&self, key: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool {
        self.resource_attribute(key).is_some_and(|v| pred(&v))
    }
    /// [`resource_attribute_matches`](Self::resource_attribute_matches) for a field: ECS
    /// `event.category: ["authentication", "iam"]` matches `authentication`.
    fn field_matches(&self, key: &str, pred: &mut dyn FnMut(&str) -> bool) -> bool {
        self.field(key).is_some_and(|v| pred(&v))
    }
    /// Severity on the OpenTelemetry scale, 1 (trace) to 24 (fatal).
    fn severity(&self) -> Option<u8> {
        None
    }
    /// Syslog facility code (RFC 5424: 4 auth, 10 authpriv, 16..=23 local0..local7).
    fn syslog_facility(&self) -> Option<u8> {
        None
    }
    /// Syslog APP-NAME or tag.
    fn syslog_app_name(&self) -> Option<Cow<'_, str>> {
        None
    }
}

/// The OpenTelemetry severity number of a level name (`WARN`, `warning`, `Error`, `crit`...),
/// from the name's first letters (`Informational`, `critical`), case ignored; `None` for a
/// name of no known level (`verbose`, `30`).
///
/// The syslog names are numbered as the OpenTelemetry log data model maps syslog severities:
/// Notice is INFO2 (10), Critical FATAL2 (22), Alert FATAL3 (23), Emergency FATAL4 (24), so
/// `min_severity: fatal` holds for them and `max_severity: error` does not. The data model's
/// own short names (`INFO2`, `ERROR3`) are numbered as there; any other name (`fatal`,
/// `panic`, `error`) is the lowest number of its level.
pub fn severity_number(text: &str) -> Option<u8> {
    // Name prefixes and their numbers.
    const NAMES: [(&str, u8); 12] = [
        ("trace", 1),
        ("debug", 5),
        ("dbg", 5),
        ("info", 9),
        ("notice", 10),
        ("warn", 13),
        ("err", 17),
        ("fatal", 21),
        ("panic", 21),
        ("crit", 22),
        ("alert", 23),
        ("emerg", 24),
    ];
    // The data model's short names, by level; `INFO2` is the second number of `INFO`.
    const SHORT: [&str; 6] = ["trace", "debug", "info", "warn", "error", "fatal"];
    let t = text.trim().as_bytes();
    if let Some((&digit @ b'1'..=b'4', name)) = t.split_last() {
        if let Some(level) = SHORT
            .iter()
            .position(|s| name.eq_ignore_ascii_case(s.as_bytes()))
        {
            return Some(level as u8 * 4 + (digit - b'0'));
        }
    }
    NAMES
        .iter()
        .find(|(name, _)| {
            t.get(..name.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(name.as_bytes()))
        })
        .map(|&(_, n)| n)
}

/// A retention class: a name the backend routes on, and how long records are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionClass {
    name: String,
    days: u32,
}

impl RetentionClass {
    /// The class name (`security-audit`): lowercase `[a-z0-9_-]`, at most 63 bytes.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Retention in days.
    pub fn days(&self) -> u32 {
        self.days
    }
}

/// Index of a class in [`RetentionPolicy::classes`]: lets callers keep per-class counters in
/// a plain array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClassId(u16);

impl ClassId {
    /// The index into [`RetentionPolicy::classes`].
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A retention policy that could not be compiled: every problem, each with its dotted path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    /// The `retention:` or `audit:` section is invalid.
    #[error("invalid retention policy: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl RetentionError {
    /// The individual problems, each starting with its dotted path.
    pub fn problems(&self) -> &[String] {
        match self {
            RetentionError::Invalid(p) => p,
        }
    }
}

/// The compiled, immutable retention policy. Build once, share (`Arc`) across workers.
#[derive(Debug)]
pub struct RetentionPolicy {
    classes: Vec<RetentionClass>,
    rules: Vec<rule::Rule>,
    default: ClassId,
    class_key: String,
    days_key: String,
}

impl RetentionPolicy {
    /// Compile the `retention:` section. With `categories` (the engine's category names),
    /// category names in rules are checked too.
    pub fn compile(
        config: &RetentionConfig,
        categories: Option<&[String]>,
    ) -> Result<RetentionPolicy, RetentionError> {
        let mut problems = Vec::new();
        let classes = compile_classes(config, &mut problems);
        let class_id = |name: &str| {
            classes
                .iter()
                .position(|c| c.name == name)
                .map(|i| ClassId(i as u16))
        };
        let default = class_id(&config.default_class).unwrap_or_else(|| {
            problems.push(format!(
                "retention.default_class: unknown class {:?} (classes: {})",
                config.default_class,
                names(&classes)
            ));
            ClassId(0)
        });
        let mut rules: Vec<rule::Rule> = Vec::with_capacity(config.rules.len());
        for (i, r) in config.rules.iter().enumerate() {
            let path = format!("retention.rules[{i}]");
            if r.name.trim().is_empty() {
                problems.push(format!("{path}.name: must not be empty"));
            } else if let Some(j) = config.rules[..i].iter().position(|o| o.name == r.name) {
                problems.push(format!(
                    "{path}.name: {:?} is already the name of retention.rules[{j}]",
                    r.name
                ));
            }
            let class = class_id(&r.class).unwrap_or_else(|| {
                problems.push(format!(
                    "{path}.class: unknown class {:?} (classes: {})",
                    r.class,
                    names(&classes)
                ));
                ClassId(0)
            });
            let conditions = rule::compile(&r.when, &format!("{path}.match"), categories);
            let conditions = match conditions {
                Ok(c) => c,
                Err(mut p) => {
                    problems.append(&mut p);
                    continue;
                }
            };
            let compiled = rule::Rule {
                name: r.name.clone(),
                class,
                conditions,
            };
            if let Some(earlier) = rules.iter().find(|e| e.shadows(&compiled)) {
                problems.push(format!(
                    "{path}: never matches: the earlier rule {:?} matches every record this one does (first match wins; move this rule up or narrow the earlier one)",
                    earlier.name
                ));
            }
            rules.push(compiled);
        }
        let attrs = &config.attributes;
        check_keys(
            &[
                ("retention.attributes.class", &attrs.class),
                ("retention.attributes.days", &attrs.days),
            ],
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(RetentionError::Invalid(problems));
        }
        Ok(RetentionPolicy {
            classes,
            rules,
            default,
            class_key: attrs.class.clone(),
            days_key: attrs.days.clone(),
        })
    }

    /// The class of one record: the first rule that matches, else the default class.
    pub fn classify(&self, record: &dyn RecordView, summary: &Summary) -> ClassId {
        self.rules
            .iter()
            .find(|r| r.matches(record, summary))
            .map_or(self.default, |r| r.class)
    }

    /// The name of the rule that decides a record's class (`None`: the default class).
    /// For explaining a decision; the hot path uses [`classify`](Self::classify).
    pub fn deciding_rule(&self, record: &dyn RecordView, summary: &Summary) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.matches(record, summary))
            .map(|r| r.name.as_str())
    }

    /// The class behind an id returned by [`classify`](Self::classify).
    pub fn class(&self, id: ClassId) -> &RetentionClass {
        &self.classes[id.index()]
    }

    /// Every class, in [`ClassId`] order.
    pub fn classes(&self) -> &[RetentionClass] {
        &self.classes
    }

    /// The attribute key (or field name) the class name is written to.
    pub fn class_key(&self) -> &str {
        &self.class_key
    }

    /// The attribute key (or field name) the duration in days is written to.
    pub fn days_key(&self) -> &str {
        &self.days_key
    }
}

fn compile_classes(config: &RetentionConfig, problems: &mut Vec<String>) -> Vec<RetentionClass> {
    if config.classes.is_empty() {
        problems.push("retention.classes: at least one class is required".into());
    }
    if config.classes.len() > usize::from(u16::MAX) {
        problems.push("retention.classes: too many classes".into());
    }
    let mut classes = Vec::with_capacity(config.classes.len());
    for (name, days) in &config.classes {
        let path = format!("retention.classes.{name}");
        if !valid_class_name(name) {
            problems.push(format!(
                "{path}: class names are 1 to 63 characters of lowercase a-z, 0-9, '-' and '_', starting with a letter or digit (they become Loki label values and index names)"
            ));
        }
        if days.0 == 0 || days.0 > 3650 {
            problems.push(format!(
                "{path}: retention must be between 1 day and 3650 days (10y), got {}",
                days.0
            ));
        }
        classes.push(RetentionClass {
            name: name.clone(),
            days: days.0,
        });
    }
    classes
}

fn valid_class_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

fn names(classes: &[RetentionClass]) -> String {
    let v: Vec<&str> = classes.iter().map(|c| c.name.as_str()).collect();
    v.join(", ")
}

/// Output keys must be non-empty, distinct, and valid logfmt keys: `caviard redact --tag
/// --format logfmt` writes them bare before `=` (logfmt has no quoted keys), where whitespace,
/// `=` or `"` would split or end the pair and a control character the line.
fn check_keys(keys: &[(&str, &str)], problems: &mut Vec<String>) {
    for (i, (path, key)) in keys.iter().enumerate() {
        if key.trim().is_empty() {
            problems.push(format!("{path}: must not be empty"));
        } else if key
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '=' || c == '"')
        {
            problems.push(format!(
                "{path}: {key:?} is not a valid logfmt key (`caviard redact --tag` writes it before `=`): no whitespace, `=`, `\"` or control characters"
            ));
        } else if let Some((other, _)) = keys[..i].iter().find(|(_, k)| k == key) {
            problems.push(format!("{path}: {key:?} is also {other}"));
        }
    }
}

/// Every problem of the `retention:` and `audit:` sections, each with its dotted path (what
/// `caviard check` prints).
pub fn problems(
    retention: &RetentionConfig,
    audit: &AuditConfig,
    categories: Option<&[String]>,
) -> Vec<String> {
    let mut problems = match RetentionPolicy::compile(retention, categories) {
        Ok(_) => Vec::new(),
        Err(e) => e.problems().to_vec(),
    };
    if audit.summary == SummaryMode::Off {
        return problems;
    }
    let a = &audit.attributes;
    let mut keys = Vec::new();
    if retention.enabled {
        keys.push((
            "retention.attributes.class",
            retention.attributes.class.as_str(),
        ));
        keys.push((
            "retention.attributes.days",
            retention.attributes.days.as_str(),
        ));
    }
    keys.push(("audit.attributes.count", a.count.as_str()));
    keys.push(("audit.attributes.categories", a.categories.as_str()));
    if audit.summary == SummaryMode::Rules {
        keys.push(("audit.attributes.rules", a.rules.as_str()));
    }
    let mut audit_problems = Vec::new();
    check_keys(&keys, &mut audit_problems);
    // Retention keys against each other are already reported by compile().
    audit_problems.retain(|p| p.starts_with("audit."));
    problems.extend(audit_problems);
    problems
}

#[cfg(test)]
mod tests;
