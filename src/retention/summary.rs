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
        self.fields(summary, |key, field| {
            emit(
                key,
                match field {
                    SummaryField::Int(n) => SummaryValue::Int(n),
                    SummaryField::Pairs(p) => SummaryValue::Text(p.to_string()),
                },
            )
        });
    }

    /// [`write`](Self::write) without formatting: the text values come as [`Pairs`], which a
    /// caller writing into its own buffer (a log line) formats there without allocating.
    pub fn fields(&self, summary: &Summary, mut emit: impl FnMut(&str, SummaryField<'_>)) {
        let total = summary.total();
        if self.mode == SummaryMode::Off || total == 0 {
            return;
        }
        emit(&self.count, SummaryField::Int(i64::from(total)));
        let pairs = |rules| SummaryField::Pairs(Pairs { summary, rules });
        emit(&self.categories, pairs(false));
        if self.mode == SummaryMode::Rules {
            emit(&self.rules, pairs(true));
        }
    }
}

/// One summary attribute value, borrowed from the record's [`Summary`].
#[derive(Debug, Clone, Copy)]
pub enum SummaryField<'a> {
    /// A count.
    Int(i64),
    /// `name:count` pairs.
    Pairs(Pairs<'a>),
}

/// The `name:count` pairs of a summary's categories or rules, comma-separated and sorted by
/// name (`email:2,phone:1`); `Display` writes them without allocating.
#[derive(Debug, Clone, Copy)]
pub struct Pairs<'a> {
    summary: &'a Summary,
    rules: bool,
}

impl std::fmt::Display for Pairs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.rules {
            write_sorted(|| self.summary.rules(), f)
        } else {
            write_sorted(|| self.summary.categories(), f)
        }
    }
}

/// Write `name:count` pairs in name order, picking the next name each time: no buffer to sort,
/// and a record has only a few categories with a non-zero count.
fn write_sorted<'a, I>(pairs: impl Fn() -> I, f: &mut impl Write) -> std::fmt::Result
where
    I: Iterator<Item = (&'a str, u32)>,
{
    let mut last: Option<&str> = None;
    while let Some((name, n)) = pairs()
        .filter(|(name, _)| last.is_none_or(|l| *name > l))
        .min_by_key(|(name, _)| *name)
    {
        if last.is_some() {
            f.write_char(',')?;
        }
        write!(f, "{name}:{n}")?;
        last = Some(name);
    }
    Ok(())
}
