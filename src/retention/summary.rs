//! The redaction summary a record carries: counts, category names and rule ids from the
//! engine's [`Summary`], never a value and never a key taken from the record (a JSON key can
//! itself be personal, e.g. an e-mail address used as a map key).

use crate::config::retention::{AuditConfig, SummaryMode};
use crate::engine::Summary;
use std::fmt::Write;

/// The configured summary: mode and keys. Immutable, built once.
#[derive(Debug, Clone)]
pub struct AuditSummary {
    mode: SummaryMode,
    count: String,
    categories: String,
    rules: String,
}

/// One summary attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryValue {
    /// A count.
    Int(i64),
    /// `name:count` pairs, comma-separated, sorted by name.
    Text(String),
}

impl AuditSummary {
    /// Build from the `audit:` section (keys are checked by
    /// [`problems`](super::problems)).
    pub fn from_config(config: &AuditConfig) -> AuditSummary {
        AuditSummary {
            mode: config.summary,
            count: config.attributes.count.clone(),
            categories: config.attributes.categories.clone(),
            rules: config.attributes.rules.clone(),
        }
    }

    /// The configured mode.
    pub fn mode(&self) -> SummaryMode {
        self.mode
    }

    /// Every key this summary may write: a forwarder removes them from incoming records first,
    /// so a client can neither forge nor duplicate them.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        let n = match self.mode {
            SummaryMode::Off => 0,
            SummaryMode::Categories => 2,
            SummaryMode::Rules => 3,
        };
        [
            self.count.as_str(),
            self.categories.as_str(),
            self.rules.as_str(),
        ]
        .into_iter()
        .take(n)
    }

    /// Call `emit(key, value)` for each attribute of a record's summary; nothing for a record
    /// with nothing redacted, or in mode `off`.
    pub fn write(&self, summary: &Summary, mut emit: impl FnMut(&str, SummaryValue)) {
        let total = summary.total();
        if self.mode == SummaryMode::Off || total == 0 {
            return;
        }
        emit(&self.count, SummaryValue::Int(i64::from(total)));
        emit(
            &self.categories,
            SummaryValue::Text(pairs(summary.categories())),
        );
        if self.mode == SummaryMode::Rules {
            emit(&self.rules, SummaryValue::Text(pairs(summary.rules())));
        }
    }
}

/// `a:2,b:1`, sorted by name.
pub(crate) fn pairs<'a>(it: impl Iterator<Item = (&'a str, u32)>) -> String {
    let mut v: Vec<(&str, u32)> = it.collect();
    v.sort_unstable();
    let mut out = String::with_capacity(v.len() * 16);
    for (i, (name, n)) in v.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}:{n}");
    }
    out
}
