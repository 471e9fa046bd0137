//! The redaction engine (API stub; being written).
use std::borrow::Cow;

/// Errors building a [`Redactor`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A policy problem.
    #[error("{0}")]
    Policy(String),
}

/// Per-worker mutable scratch space.
#[derive(Default)]
pub struct Scratch {}

/// What was redacted in one record: counts per category, never values.
#[derive(Default, Debug, Clone)]
pub struct Summary {
    counts: Vec<(String, u32)>,
}

impl Summary {
    /// Total redactions.
    pub fn total(&self) -> u32 {
        self.counts.iter().map(|c| c.1).sum()
    }
    /// Counts per category name.
    pub fn categories(&self) -> impl Iterator<Item = (&str, u32)> {
        self.counts.iter().map(|(n, c)| (n.as_str(), *c))
    }
    /// Reset for the next record.
    pub fn clear(&mut self) {
        self.counts.clear()
    }
}

/// Outcome of redacting one key/value field.
pub enum FieldOutcome<'a> {
    /// Leave the field as it is.
    Keep,
    /// Replace the value.
    Replace(Cow<'a, str>),
    /// Remove the field.
    Drop,
}

/// Line format hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Detect per line.
    #[default]
    Auto,
    /// Plain text.
    Text,
    /// JSON object per line.
    Json,
    /// logfmt pairs.
    Logfmt,
}

/// The compiled, immutable redaction engine.
pub struct Redactor {}

impl Redactor {
    /// The built-in default policy.
    pub fn builtin() -> Result<Redactor, EngineError> {
        Ok(Redactor {})
    }
    /// Redact one log line.
    pub fn redact_line<'a>(
        &self,
        line: &'a [u8],
        _format: Format,
        _scratch: &mut Scratch,
        _summary: &mut Summary,
    ) -> Cow<'a, [u8]> {
        Cow::Borrowed(line)
    }
    /// Redact free text (a log body string, a span name).
    pub fn redact_text<'a>(
        &self,
        text: &'a str,
        _scratch: &mut Scratch,
        _summary: &mut Summary,
    ) -> Cow<'a, str> {
        Cow::Borrowed(text)
    }
    /// Redact one attribute: key-aware.
    pub fn redact_field<'a>(
        &self,
        _key: &str,
        _value: &'a str,
        _scratch: &mut Scratch,
        _summary: &mut Summary,
    ) -> FieldOutcome<'a> {
        FieldOutcome::Keep
    }
}
