//! One compiled retention rule: its conditions, how they match a record, and when an earlier
//! rule makes a later one unreachable.

use super::{ClassId, RecordView};
use crate::config::retention::MatchConfig;
use crate::engine::Summary;

/// A rule after compilation: conditions sorted cheapest first.
#[derive(Debug)]
pub(super) struct Rule {
    pub(super) name: String,
    pub(super) class: ClassId,
    pub(super) conditions: Vec<Condition>,
}

/// One condition of a rule; a rule matches when all hold.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Condition {
    /// Number of redactions in `min..=max`.
    Redactions { min: u32, max: u32 },
    /// Severity number in `min..=max` (unknown severity: does not hold).
    Severity { min: u8, max: u8 },
    /// Syslog facility in the bit set.
    Facility(u32),
    /// Receiver name.
    Receiver(Values),
    /// At least one of these categories was detected.
    Categories(Vec<String>),
    /// Syslog app name.
    AppName(Values),
    /// A resource attribute.
    Resource { key: String, values: Values },
    /// A record field.
    Field { key: String, values: Values },
}

/// Any-of a list of patterns.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Values(Vec<Pattern>);

#[derive(Debug, Clone, PartialEq)]
enum Pattern {
    /// `*`: present, any value.
    Any,
    Exact(String),
    /// `abc*`
    Prefix(String),
    /// `*abc`
    Suffix(String),
    /// `*abc*`
    Contains(String),
}

impl Pattern {
    fn parse(s: &str) -> Result<Pattern, &'static str> {
        if s == "*" {
            return Ok(Pattern::Any);
        }
        let (lead, trail) = (s.starts_with('*'), s.ends_with('*'));
        let core = s.trim_start_matches('*').trim_end_matches('*');
        if core.contains('*') || s.len() - core.len() > usize::from(lead) + usize::from(trail) {
            return Err("only one leading and/or one trailing `*` is supported");
        }
        Ok(match (lead, trail) {
            (false, false) => Pattern::Exact(core.to_string()),
            (false, true) => Pattern::Prefix(core.to_string()),
            (true, false) => Pattern::Suffix(core.to_string()),
            (true, true) => Pattern::Contains(core.to_string()),
        })
    }

    fn matches(&self, v: &str) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(p) => v == p,
            Pattern::Prefix(p) => v.starts_with(p.as_str()),
            Pattern::Suffix(p) => v.ends_with(p.as_str()),
            Pattern::Contains(p) => v.contains(p.as_str()),
        }
    }

    /// Whether every value `self` matches is matched by `other`.
    fn within(&self, other: &Pattern) -> bool {
        match (self, other) {
            (_, Pattern::Any) => true,
            (Pattern::Exact(v), o) => o.matches(v),
            (Pattern::Prefix(a), Pattern::Prefix(b)) => a.starts_with(b.as_str()),
            (Pattern::Suffix(a), Pattern::Suffix(b)) => a.ends_with(b.as_str()),
            (
                Pattern::Prefix(a) | Pattern::Suffix(a) | Pattern::Contains(a),
                Pattern::Contains(b),
            ) => a.contains(b.as_str()),
            _ => false,
        }
    }
}

impl Values {
    fn matches(&self, v: Option<&str>) -> bool {
        v.is_some_and(|v| self.0.iter().any(|p| p.matches(v)))
    }

    fn within(&self, other: &Values) -> bool {
        self.0.iter().all(|p| other.0.iter().any(|o| p.within(o)))
    }
}

impl Condition {
    fn matches(&self, r: &dyn RecordView, summary: &Summary) -> bool {
        match self {
            Condition::Redactions { min, max } => (*min..=*max).contains(&summary.total()),
            Condition::Severity { min, max } => {
                r.severity().is_some_and(|s| (*min..=*max).contains(&s))
            }
            Condition::Facility(set) => r
                .syslog_facility()
                .is_some_and(|f| f < 32 && set & (1 << f) != 0),
            Condition::Receiver(v) => v.matches(Some(r.receiver())),
            Condition::Categories(want) => summary
                .categories()
                .any(|(c, _)| want.iter().any(|w| w == c)),
            Condition::AppName(v) => v.matches(r.syslog_app_name().as_deref()),
            // An array matches when any element does (see `RecordView::field_matches`).
            Condition::Resource { key, values } => {
                r.resource_attribute_matches(key, &mut |v| values.matches(Some(v)))
            }
            Condition::Field { key, values } => {
                r.field_matches(key, &mut |v| values.matches(Some(v)))
            }
        }
    }

    /// Whether every record satisfying `self` also satisfies `other` (conservative: `false`
    /// when unsure).
    fn implies(&self, other: &Condition) -> bool {
        use Condition as C;
        match (self, other) {
            (C::Redactions { min: a, max: b }, C::Redactions { min: c, max: d }) => {
                c <= a && b <= d
            }
            (C::Severity { min: a, max: b }, C::Severity { min: c, max: d }) => c <= a && b <= d,
            (C::Facility(a), C::Facility(b)) => a & !b == 0,
            (C::Receiver(a), C::Receiver(b)) | (C::AppName(a), C::AppName(b)) => a.within(b),
            (C::Categories(a), C::Categories(b)) => a.iter().all(|c| b.contains(c)),
            // A detected category means at least one redaction.
            (C::Categories(_), C::Redactions { min, max }) => *min <= 1 && *max == u32::MAX,
            (C::Resource { key: k1, values: a }, C::Resource { key: k2, values: b })
            | (C::Field { key: k1, values: a }, C::Field { key: k2, values: b }) => {
                // Also for arrays: the element that matches `a` matches `b`.
                k1 == k2 && a.within(b)
            }
            _ => false,
        }
    }

    /// Evaluation order: counts, then the summary, then attribute lookups.
    fn cost(&self) -> u8 {
        match self {
            Condition::Redactions { .. } | Condition::Severity { .. } | Condition::Facility(_) => 0,
            Condition::Receiver(_) => 1,
            Condition::Categories(_) => 2,
            Condition::AppName(_) => 3,
            Condition::Resource { .. } | Condition::Field { .. } => 4,
        }
    }
}

impl Rule {
    pub(super) fn matches(&self, r: &dyn RecordView, summary: &Summary) -> bool {
        self.conditions.iter().all(|c| c.matches(r, summary))
    }

    /// Whether `self`, placed earlier, matches every record `later` matches.
    pub(super) fn shadows(&self, later: &Rule) -> bool {
        self.conditions
            .iter()
            .all(|mine| later.conditions.iter().any(|theirs| theirs.implies(mine)))
    }
}

/// Compile the `match:` block at `path`; every problem, with its path.
pub(super) fn compile(
    m: &MatchConfig,
    path: &str,
    categories: Option<&[String]>,
) -> Result<Vec<Condition>, Vec<String>> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    let values = |field: &str, list: &[String], problems: &mut Vec<String>| -> Values {
        if list.is_empty() {
            problems.push(format!(
                "{path}.{field}: empty list never matches; remove the condition or list values"
            ));
        }
        let mut v = Vec::with_capacity(list.len());
        for (i, s) in list.iter().enumerate() {
            match Pattern::parse(s) {
                Ok(p) => v.push(p),
                Err(why) => problems.push(format!("{path}.{field}[{i}]: {why}")),
            }
        }
        Values(v)
    };
    if let Some(list) = &m.receiver {
        out.push(Condition::Receiver(values("receiver", list, &mut problems)));
    }
    for (field, key, list) in [
        ("service", "service.name", &m.service),
        ("namespace", "k8s.namespace.name", &m.namespace),
    ] {
        if let Some(list) = list {
            let values = values(field, list, &mut problems);
            out.push(Condition::Resource {
                key: key.to_string(),
                values,
            });
        }
    }
    for (label, list) in &m.pod_labels {
        let field = format!("pod_labels.{label}");
        if label.trim().is_empty() {
            problems.push(format!("{path}.pod_labels: empty label name"));
        }
        let values = values(&field, list, &mut problems);
        out.push(Condition::Resource {
            key: format!("k8s.pod.label.{label}"),
            values,
        });
    }
    for (key, list) in &m.resource {
        let values = values(&format!("resource.{key}"), list, &mut problems);
        out.push(Condition::Resource {
            key: key.clone(),
            values,
        });
    }
    for (key, list) in &m.fields {
        let values = values(&format!("fields.{key}"), list, &mut problems);
        out.push(Condition::Field {
            key: key.clone(),
            values,
        });
    }
    if let Some(list) = &m.syslog_app_name {
        out.push(Condition::AppName(values(
            "syslog_app_name",
            list,
            &mut problems,
        )));
    }
    severity(m, path, &mut out, &mut problems);
    if let Some(list) = &m.syslog_facility {
        if list.is_empty() {
            problems.push(format!("{path}.syslog_facility: empty list never matches"));
        }
        out.push(Condition::Facility(
            list.iter().fold(0u32, |set, f| set | (1 << f.0)),
        ));
    }
    redactions(m, path, categories, &mut out, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    out.sort_by_key(Condition::cost);
    Ok(out)
}

fn severity(m: &MatchConfig, path: &str, out: &mut Vec<Condition>, problems: &mut Vec<String>) {
    if m.min_severity.is_none() && m.max_severity.is_none() {
        return;
    }
    let min = m.min_severity.map_or(1, |s| s.lowest());
    let max = m.max_severity.map_or(24, |s| s.highest());
    if min > max {
        problems.push(format!(
            "{path}.min_severity: above {path}.max_severity; the rule never matches"
        ));
    }
    out.push(Condition::Severity { min, max });
}

fn redactions(
    m: &MatchConfig,
    path: &str,
    categories: Option<&[String]>,
    out: &mut Vec<Condition>,
    problems: &mut Vec<String>,
) {
    if let Some(list) = &m.categories {
        if list.is_empty() {
            problems.push(format!("{path}.categories: empty list never matches"));
        }
        for (i, c) in list.iter().enumerate() {
            if categories.is_some_and(|known| !known.iter().any(|k| k == c)) {
                problems.push(format!(
                    "{path}.categories[{i}]: unknown category {c:?} (`caviard patterns list` shows them)"
                ));
            }
        }
        out.push(Condition::Categories(list.clone()));
    }
    if m.min_redactions.is_some() || m.max_redactions.is_some() {
        let min = m.min_redactions.unwrap_or(0);
        let max = m.max_redactions.unwrap_or(u32::MAX);
        if min > max {
            problems.push(format!(
                "{path}.min_redactions: above {path}.max_redactions; the rule never matches"
            ));
        }
        if m.categories.is_some() && max == 0 {
            problems.push(format!(
                "{path}.max_redactions: 0 contradicts {path}.categories; the rule never matches"
            ));
        }
        out.push(Condition::Redactions { min, max });
    }
}
