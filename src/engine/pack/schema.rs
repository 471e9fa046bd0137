//! The schema of a pattern pack, as written in its YAML file. It depends on `serde` alone:
//! `build.rs` includes it as a module to parse the built-in packs (see
//! [`super::builtin_packs`]).

use serde::{Deserialize, Serialize};

/// One pattern pack file as written.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PackFile {
    /// Pack name (`core`, `secrets`, ...).
    pub pack: String,
    /// What the pack covers.
    #[serde(default)]
    pub description: Option<String>,
    /// Detector rules.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// Key rules.
    #[serde(default)]
    pub key_rules: Vec<KeyRuleSpec>,
}

/// Where the scanner looks for candidates of a rule before running its regex.
///
/// The trigger is what keeps the engine from running every regex over every byte: a rule's
/// regex only runs on the small region around a candidate of its trigger kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// Runs of alphanumeric tokens that contain digits, joined by single separators
    /// (`+33 (0)6 12 34 56 78`, `FR76 3000 ...`, `159.35.214.68`).
    Number,
    /// An `@` (or its encoded forms `%40`, `\u0040`): the region is the e-mail-shaped run around it.
    At,
    /// A `:` between hexadecimal digits: the region is the run of hex digits, colons and dots.
    Colon,
    /// One of the rule's `literals`: the regex runs anchored at the literal.
    Literal,
}

impl TriggerKind {
    /// The name as written in a pack (`trigger: number`).
    pub fn name(self) -> &'static str {
        match self {
            TriggerKind::Number => "number",
            TriggerKind::At => "at",
            TriggerKind::Colon => "colon",
            TriggerKind::Literal => "literal",
        }
    }
}

/// A detector rule as written in a pack.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique dotted id (`core.email`), used in summaries and per-rule actions.
    pub id: String,
    /// Category (`email`, `phone`, ...): selects the action and the marker.
    pub category: String,
    /// What the rule finds, for humans.
    #[serde(default)]
    pub description: Option<String>,
    /// Candidate kind.
    pub trigger: TriggerKind,
    /// Literal prefixes for `trigger: literal`.
    #[serde(default)]
    pub literals: Vec<String>,
    /// Whether literals match ASCII case-insensitively.
    #[serde(default)]
    pub case_insensitive: bool,
    /// The regex (byte-oriented, ASCII classes). A group named `v` limits the redaction to it.
    pub pattern: String,
    /// Optional validator name run on the match (or on group `v`).
    #[serde(default)]
    pub validator: Option<String>,
    /// `trigger: number` only: skip regions with fewer digits.
    #[serde(default)]
    pub min_digits: Option<u8>,
    /// Higher wins when spans of different categories overlap (default 50).
    #[serde(default)]
    pub priority: Option<i32>,
    /// Whether the match must not touch a letter, digit or `_` on either side (default true).
    #[serde(default)]
    pub boundary: Option<bool>,
    /// `trigger: number` only: the match must not be a piece of a longer run of digit groups
    /// (after a group with digits, before a digit group, or after an IBAN-shaped prefix).
    /// Phone rules set it; without it `ES10 7113 0979 0807...` holds a "phone number".
    #[serde(default)]
    pub standalone: bool,
    /// Longest match in bytes for literal rules (default 4096).
    #[serde(default)]
    pub max_len: Option<usize>,
    /// Examples that are tested.
    #[serde(default)]
    pub examples: Examples,
}

/// What a value must look like for a key rule to redact it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValueShape {
    /// Any non-empty scalar (not `true`, `false`, `null`, not an object or array).
    #[default]
    Any,
    /// A person's name: starts with a capital letter, letters, spaces, `-`, `'`, `.`, no digits.
    NameLike,
    /// A postal address: has a letter and a space, and is not an IP address or host name.
    Postal,
    /// A secret-looking string (length, entropy, mixed classes): the generic assignment gate.
    Random,
}

/// A key rule as written in a pack.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRuleSpec {
    /// Unique dotted id (`keys.password`).
    pub id: String,
    /// Category of the values.
    pub category: String,
    /// Why these keys are personal, for humans.
    #[serde(default)]
    pub description: Option<String>,
    /// Key names; matched after lower-casing and removing `_`, `-`, `.` and spaces, so
    /// `first_name` also matches `firstName` and `First-Name`. A leading or trailing `*`
    /// matches any prefix or suffix (`*password*`).
    pub keys: Vec<String>,
    /// What the value must look like (default: any).
    #[serde(default)]
    pub value: ValueShape,
    /// Optional validator the value must also pass: a key named `nir` or `iban` holding a value
    /// with a wrong checksum is not personal data (it is a rejected input being logged).
    #[serde(default)]
    pub validator: Option<String>,
    /// Examples that are tested.
    #[serde(default)]
    pub examples: Examples,
}

/// Examples attached to a rule.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    /// Lines in which the rule must find the given value (or the whole string).
    #[serde(default, rename = "match")]
    pub must_match: Vec<Example>,
    /// Lines in which the rule must find nothing.
    #[serde(default)]
    pub no_match: Vec<String>,
}

/// One must-match example.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Example {
    /// The whole string must be found.
    Whole(String),
    /// `value` must be found inside `text`.
    Part {
        /// The line.
        text: String,
        /// The substring that must be redacted.
        value: String,
    },
}

impl Example {
    /// The line and the expected value.
    pub fn parts(&self) -> (&str, &str) {
        match self {
            Example::Whole(s) => (s, s),
            Example::Part { text, value } => (text, value),
        }
    }
}
