//! The redaction engine: finds personal data in a record and rewrites only what it finds.
//!
//! A [`Redactor`] is built once from a policy (pattern packs, key rules, actions) and is
//! immutable, `Send + Sync`, shared by every worker. Each worker owns a [`Scratch`] (regex
//! caches, span list, buffers) reused from record to record, so a record with nothing to
//! redact is scanned without allocating, and one with something to redact reuses buffers.
//!
//! One record costs one pass (see `scan.rs`): the line is classified into bit masks eight
//! bytes at a time, then only marked places are looked at: digit runs open number regions,
//! `@` an e-mail region, `:` between hex digits an IPv6 region, a token start whose first two
//! bytes begin a literal (`eyJ`, `AKIA`, `Bearer `...) a literal-prefixed rule, and a key
//! separator (`=`, `:`, `>`) the key before it, looked up by name. Regexes and validators run
//! on those regions only.
//!
//! The built-in packs' dense DFAs are compiled by `build.rs` and embedded in the binary
//! (`precompiled.rs`), so start-up deserializes them instead of determinizing them; a user
//! pack's patterns are compiled at start-up.

pub mod action;
mod automata;
mod classify;
mod keys;
mod literals;
pub mod pack;
mod precompiled;
mod scan;
pub mod validate;

use action::{write_replacement, CategoryOut, Normalize};
pub use action::{Action, PseudonymKey};
pub(crate) use automata::Dense;
use keys::KeyMatcher;
use literals::LiteralIndex;
use pack::{KeyRuleSpec, LoadedPack, TriggerKind, ValueShape};
use validate::Validator;

use crate::config::PolicyConfig;
use regex_automata::dfa::Automaton;
use regex_automata::{meta, util::captures::Captures, Input};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;

/// Errors building a [`Redactor`]: every problem found, each naming its field or rule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The policy or a pattern pack is invalid.
    #[error("invalid policy: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl EngineError {
    /// The individual problems, each starting with its dotted path or pack/rule.
    pub fn problems(&self) -> &[String] {
        match self {
            EngineError::Invalid(p) => p,
        }
    }
}

/// Line format hint for [`Redactor::redact_line`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// JSON when the line looks like a JSON object or array, text otherwise.
    #[default]
    Auto,
    /// Plain text (logfmt, `k=v`, access logs, syslog...).
    Text,
    /// A JSON document per line: redacted numbers are written as strings, dropped members
    /// take their comma with them, so the output stays valid JSON with the same keys.
    Json,
    /// logfmt pairs: dropped pairs take a separating space with them.
    Logfmt,
}

/// Outcome of redacting one key/value field (an OTLP attribute, a map entry).
#[derive(Debug, PartialEq, Eq)]
pub enum FieldOutcome<'a> {
    /// Leave the field as it is.
    Keep,
    /// Replace the value.
    Replace(Cow<'a, str>),
    /// Remove the field.
    Drop,
}

/// A compiled detector rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub id: String,
    pub category: u16,
    pub trigger: TriggerKind,
    pub regex: RuleRegex,
    /// The same pattern as a fully compiled DFA (no cache, no lazy determinization on the hot
    /// path): anchored-only for literal rules. `None` when it would be too large; the lazy
    /// DFA of `regex` is used then.
    pub dense: Option<Dense>,
    /// Whether `dense` came precompiled with the binary (a built-in pattern) rather than
    /// compiled at start-up.
    pub precompiled: bool,
    /// Bytes that can start a match (from the anchored DFA's start state): a token start whose
    /// first byte is not one of them is skipped without a search.
    pub first_bytes: [bool; 256],
    /// The anchored DFA's start states by what precedes the search (see [`LookBehind`]), so
    /// a search at a token start is a plain table walk.
    pub starts: [regex_automata::util::primitives::StateID; LookBehind::COUNT],
    /// The shortest match the pattern can produce, in bytes.
    pub min_len: usize,
    pub value_group: bool,
    pub validator: Option<Validator>,
    pub min_digits: u8,
    pub priority: i32,
    pub boundary: bool,
    pub standalone: bool,
    pub max_len: usize,
    pub action: Action,
}

/// A compiled key rule.
#[derive(Debug)]
pub(crate) struct KeyRule {
    pub id: String,
    pub category: u16,
    pub shape: ValueShape,
    pub validator: Option<Validator>,
    pub action: Action,
}

/// What a literal found at a token start stands for.
#[derive(Debug, Clone, Copy)]
enum LiteralTarget {
    /// A literal prefix of a detector rule.
    Rule(usize),
    /// An encoded `@` (`%40`, `\u0040`).
    EncodedAt,
}

/// A detector rule or a key rule, by index.
#[derive(Debug, Clone, Copy)]
enum RuleRef {
    Detector(usize),
    Key(usize),
}

/// Key rules rank above every detector when spans overlap: the key says what the value is.
const KEY_PRIORITY: i32 = 1000;

/// A range of the line to replace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub start: usize,
    pub end: usize,
    pub category: u16,
    pub priority: i32,
    pub action: Action,
    /// Index into rules, or `rules.len() + key rule index`.
    pub rule: u32,
    /// For key rules: the whole field (`"key": "value"`), removed by [`Action::Drop`].
    pub field: Option<(usize, usize)>,
}

impl Span {
    pub(crate) fn detected(start: usize, end: usize, rule: &Rule, ri: usize) -> Span {
        Span {
            start,
            end,
            category: rule.category,
            priority: rule.priority,
            action: rule.action,
            rule: ri as u32,
            field: None,
        }
    }
}

/// Per-rule regex state, owned by a [`Scratch`]: made on first use, so a rule that is
/// searched by its dense DFAs alone never builds its meta regex.
#[derive(Debug)]
pub(crate) struct RuleCache {
    pub cache: OnFirstUse<meta::Cache>,
    pub caps: OnFirstUse<Captures>,
}

/// A rule's meta regex: captures (group `v`), and the search of a rule without a dense DFA.
///
/// A built-in rule whose DFAs came precompiled is searched by them, and needs its meta regex
/// only for the group `v` of a match, if it has one: it is built then, on first use (building
/// them all cost 17M instructions, more than half of start-up once the DFAs came
/// precompiled). `build.rs` lists only patterns whose meta regex builds. Every other rule's
/// is built with the rule, where an error is reported.
#[derive(Clone)]
pub(crate) struct RuleRegex(Arc<LazyRegex>);

struct LazyRegex {
    pattern: Box<str>,
    regex: OnceLock<meta::Regex>,
}

impl RuleRegex {
    fn built(pattern: &str, regex: meta::Regex) -> RuleRegex {
        let r = RuleRegex::on_first_use(pattern);
        let _ = r.0.regex.set(regex);
        r
    }

    fn on_first_use(pattern: &str) -> RuleRegex {
        RuleRegex(Arc::new(LazyRegex {
            pattern: pattern.into(),
            regex: OnceLock::new(),
        }))
    }

    fn is_built(&self) -> bool {
        self.0.regex.get().is_some()
    }
}

impl Deref for RuleRegex {
    type Target = meta::Regex;

    fn deref(&self) -> &meta::Regex {
        self.0.regex.get_or_init(|| {
            automata::meta_regex(&self.0.pattern)
                .expect("the meta regex of a precompiled pattern builds (build.rs built it)")
        })
    }
}

impl std::fmt::Debug for RuleRegex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleRegex")
            .field("pattern", &self.0.pattern)
            .field("built", &self.is_built())
            .finish()
    }
}

/// A value made from a rule's meta regex (a cache, captures) the first time it is used.
pub(crate) struct OnFirstUse<T> {
    regex: RuleRegex,
    make: fn(&meta::Regex) -> T,
    // A `OnceLock` rather than a `OnceCell`: a `Scratch` stays `Sync`.
    value: OnceLock<T>,
}

impl<T> OnFirstUse<T> {
    fn new(regex: &RuleRegex, make: fn(&meta::Regex) -> T) -> Self {
        OnFirstUse {
            regex: regex.clone(),
            make,
            value: OnceLock::new(),
        }
    }
}

impl<T> Deref for OnFirstUse<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value.get_or_init(|| (self.make)(&self.regex))
    }
}

impl<T> DerefMut for OnFirstUse<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.get_or_init(|| (self.make)(&self.regex));
        self.value.get_mut().expect("initialized above")
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for OnFirstUse<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

/// Per-worker mutable state: regex caches and buffers, reused across records.
///
/// A `Scratch` may be used with any `Redactor`; it rebuilds its caches when it meets a new one.
#[derive(Debug, Default)]
pub struct Scratch {
    owner: u64,
    caches: Vec<RuleCache>,
    spans: Vec<Span>,
    keys: keys::KeyMemo,
    blocks: Vec<classify::Block>,
    tmp: Vec<u8>,
    out: Vec<u8>,
}

impl Scratch {
    fn prepare(&mut self, r: &Redactor) {
        if self.owner != r.id {
            self.caches = r
                .rules
                .iter()
                .map(|rule| RuleCache {
                    cache: OnFirstUse::new(&rule.regex, meta::Regex::create_cache),
                    caps: OnFirstUse::new(&rule.regex, meta::Regex::create_captures),
                })
                .collect();
            self.keys.clear();
            self.owner = r.id;
        }
        self.spans.clear();
    }
}

/// What was redacted in one record: counts per category and per rule, never values.
#[derive(Default, Debug, Clone)]
pub struct Summary {
    counts: Vec<u32>,
    rule_counts: Vec<u32>,
    names: Option<Arc<Names>>,
}

/// Category and rule names, shared by every summary of a redactor.
#[derive(Debug)]
struct Names {
    categories: Vec<String>,
    rules: Vec<String>,
}

impl Summary {
    /// Total number of redacted spans.
    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }
    /// `(category, count)` for every category with a non-zero count.
    pub fn categories(&self) -> impl Iterator<Item = (&str, u32)> {
        let names = self.names.as_deref();
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .filter_map(move |(i, &c)| Some((names?.categories.get(i)?.as_str(), c)))
    }
    /// `(rule id, count)` for every rule with a non-zero count.
    pub fn rules(&self) -> impl Iterator<Item = (&str, u32)> {
        let names = self.names.as_deref();
        self.rule_counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .filter_map(move |(i, &c)| Some((names?.rules.get(i)?.as_str(), c)))
    }
    /// Reset the counts for the next record (keeps the allocation).
    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.rule_counts.iter_mut().for_each(|c| *c = 0);
    }
    /// Add another summary's counts (same redactor).
    pub fn merge(&mut self, other: &Summary) {
        if self.names.is_none() {
            self.names.clone_from(&other.names);
        }
        grow_add(&mut self.counts, &other.counts);
        grow_add(&mut self.rule_counts, &other.rule_counts);
    }
    fn add(&mut self, r: &Redactor, category: u16, rule: u32) {
        if self.counts.len() != r.names.categories.len() {
            self.counts.resize(r.names.categories.len(), 0);
            self.rule_counts.resize(r.names.rules.len(), 0);
            self.names = Some(r.names.clone());
        }
        self.counts[category as usize] += 1;
        if let Some(c) = self.rule_counts.get_mut(rule as usize) {
            *c += 1;
        }
    }
}

fn grow_add(into: &mut Vec<u32>, from: &[u32]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    into.iter_mut().zip(from).for_each(|(a, b)| *a += b);
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The compiled, immutable redaction engine. Build once, share (`Arc`) across threads.
#[derive(Debug)]
pub struct Redactor {
    id: u64,
    categories: Vec<CategoryOut>,
    rules: Vec<Rule>,
    key_rules: Vec<KeyRule>,
    number_rules: Vec<usize>,
    at_rules: Vec<usize>,
    colon_rules: Vec<usize>,
    /// For a number region with `d` digits (capped at 31), the shortest region some number
    /// rule can match in; `usize::MAX` when no rule takes that few digits.
    number_min_len: [usize; 32],
    /// For a region with `d` digits (capped at 31), the number rules that take that many, as
    /// positions in `number_rules`, in priority order.
    number_rules_for: Vec<Vec<usize>>,
    /// Which number rules may start at a byte, and with a digit run of a length: bit `k` for
    /// the `k`-th of `number_rules` (bit 63 is shared by the 64th and later, and always set).
    /// A token start of a number region keeps the rules of `number_first[byte] &
    /// number_runs[run]`, so a rule that none of the region's starts keeps costs nothing.
    number_first: Box<[u64; 256]>,
    number_runs: [u64; 64],
    /// The bit of each rule in those masks (0 for rules that are not number rules).
    number_bit: Vec<u64>,
    literals: LiteralIndex<LiteralTarget>,
    /// Byte classes of the byte pass (see `scan.rs`).
    classes: classify::Classes,
    keys: KeyMatcher,
    pseudonym: Option<PseudonymKey>,
    names: Arc<Names>,
    examples: Vec<(RuleRef, pack::Examples)>,
}

impl Redactor {
    /// The built-in default policy: every built-in pack, every category masked.
    pub fn builtin() -> Result<Redactor, EngineError> {
        Redactor::from_config(&PolicyConfig::default())
    }

    /// Build from a policy. Reads the pseudonym key and extra packs it names.
    pub fn from_config(policy: &PolicyConfig) -> Result<Redactor, EngineError> {
        Redactor::from_config_threads(policy, 1)
    }

    /// [`Redactor::from_config`], compiling the rules' automata on `threads` threads: most of
    /// start-up is spent there, and a filter asked to use N cores can use them from the start.
    pub fn from_config_threads(
        policy: &PolicyConfig,
        threads: usize,
    ) -> Result<Redactor, EngineError> {
        let mut problems = Vec::new();
        let mut packs = Vec::new();
        if policy.builtin_packs {
            match pack::builtin_packs() {
                Ok(p) => packs.extend(p),
                Err(e) => problems.push(e.to_string()),
            }
        }
        for (i, path) in policy.packs.iter().enumerate() {
            match pack::load_path(path) {
                Ok(p) => packs.extend(p),
                Err(e) => problems.push(format!("policy.packs[{i}]: {e}")),
            }
        }
        let pseudonym = match &policy.pseudonym {
            Some(p) => match p.read_key().and_then(|k| PseudonymKey::new(&p.key_id, &k)) {
                Ok(k) => Some(k),
                Err(e) => {
                    problems.push(format!("policy.pseudonym: {e}"));
                    None
                }
            },
            None => None,
        };
        let r = Builder::new(policy, pseudonym, &mut problems).build(&packs, &policy.keys, threads);
        if problems.is_empty() {
            Ok(r)
        } else {
            Err(EngineError::Invalid(problems))
        }
    }

    /// Category names known to this redactor.
    pub fn categories(&self) -> impl Iterator<Item = &str> {
        self.categories.iter().map(|c| c.name.as_str())
    }

    /// Number of detector rules and key rules.
    pub fn rule_counts(&self) -> (usize, usize) {
        (self.rules.len(), self.key_rules.len())
    }

    /// Redact one line, appending the result to `out`. Returns whether anything changed.
    /// Allocation-free once `scratch` and `out` have grown to the record size.
    pub fn redact_into(
        &self,
        line: &[u8],
        format: Format,
        scratch: &mut Scratch,
        summary: &mut Summary,
        out: &mut Vec<u8>,
    ) -> bool {
        scratch.prepare(self);
        self.find_spans(line, scratch);
        if scratch.spans.is_empty() {
            out.extend_from_slice(line);
            return false;
        }
        let json = match format {
            Format::Json => true,
            Format::Auto => looks_like_json(line),
            Format::Text | Format::Logfmt => false,
        };
        self.rewrite(line, json, scratch, summary, out);
        true
    }

    /// Redact one log line; borrows the input when nothing is found.
    pub fn redact_line<'a>(
        &self,
        line: &'a [u8],
        format: Format,
        scratch: &mut Scratch,
        summary: &mut Summary,
    ) -> Cow<'a, [u8]> {
        let mut out = std::mem::take(&mut scratch.out);
        out.clear();
        let changed = self.redact_into(line, format, scratch, summary, &mut out);
        if changed {
            Cow::Owned(out)
        } else {
            scratch.out = out;
            Cow::Borrowed(line)
        }
    }

    /// Redact free text (a log body string, a span name).
    pub fn redact_text<'a>(
        &self,
        text: &'a str,
        scratch: &mut Scratch,
        summary: &mut Summary,
    ) -> Cow<'a, str> {
        match self.redact_line(text.as_bytes(), Format::Text, scratch, summary) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(v) => Cow::Owned(
                String::from_utf8(v)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }

    /// Redact one attribute or map entry: a key rule on `key` redacts the whole value,
    /// otherwise the value is scanned as text.
    pub fn redact_field<'a>(
        &self,
        key: &str,
        value: &'a str,
        scratch: &mut Scratch,
        summary: &mut Summary,
    ) -> FieldOutcome<'a> {
        scratch.prepare(self);
        if let Some(kr) = self.key_rule_for(key, value.as_bytes(), &mut scratch.keys) {
            let rule = &self.key_rules[kr];
            summary.add(self, rule.category, (self.rules.len() + kr) as u32);
            if rule.action == Action::Drop {
                return FieldOutcome::Drop;
            }
            let mut out = Vec::new();
            let cat = &self.categories[rule.category as usize];
            write_replacement(
                rule.action,
                cat,
                value.as_bytes(),
                self.pseudonym.as_ref(),
                &mut scratch.tmp,
                &mut out,
            );
            return FieldOutcome::Replace(Cow::Owned(String::from_utf8_lossy(&out).into_owned()));
        }
        match self.redact_text(value, scratch, summary) {
            Cow::Borrowed(_) => FieldOutcome::Keep,
            owned => FieldOutcome::Replace(owned),
        }
    }

    /// The key rule that redacts `value` under `key`, if any.
    fn key_rule_for(&self, key: &str, value: &[u8], memo: &mut keys::KeyMemo) -> Option<usize> {
        let kr = memo.classify(&self.keys, key.as_bytes())?;
        self.key_value_ok(kr, value, true).then_some(kr)
    }

    /// Find every span in `line` into `scratch.spans` (unsorted, overlapping).
    fn find_spans(&self, line: &[u8], scratch: &mut Scratch) {
        let Scratch {
            caches,
            spans,
            keys,
            blocks,
            ..
        } = scratch;
        self.scan_bytes(line, caches, spans, keys, blocks);
    }

    /// The key at `hs..he` (found before a separator): if it has a value and names personal
    /// data, push the value's span.
    pub(crate) fn key_span(
        &self,
        line: &[u8],
        (hs, he): (usize, usize),
        memo: &mut keys::KeyMemo,
        spans: &mut Vec<Span>,
    ) {
        let Some(mut kr) = memo.classify(&self.keys, &line[hs..he]) else {
            return;
        };
        let Some((ks, ke, kv)) = keys::key_value_at(line, hs, he) else {
            return;
        };
        if (ks, ke) != (hs, he) {
            match memo.classify(&self.keys, &line[ks..ke]) {
                Some(k) => kr = k,
                None => return,
            }
        }
        let rule = &self.key_rules[kr];
        let mut value = kv.value;
        if !kv.quoted {
            value = match self.categories[rule.category as usize].name.as_str() {
                "secret" => keys::extend_auth_scheme(line, value),
                "person_name" => keys::extend_name(line, value),
                _ => value,
            };
        }
        if !self.key_value_ok(kr, &line[value.0..value.1], kv.quoted) {
            return;
        }
        spans.push(Span {
            start: value.0,
            end: value.1,
            category: rule.category,
            priority: KEY_PRIORITY,
            action: rule.action,
            rule: (self.rules.len() + kr) as u32,
            field: Some((kv.field_start, kv.field_end.max(value.1))),
        });
    }

    /// Whether a value under key rule `kr` has the rule's shape and passes its validator.
    fn key_value_ok(&self, kr: usize, value: &[u8], quoted: bool) -> bool {
        let rule = &self.key_rules[kr];
        keys::shape_ok(rule.shape, value, quoted) && rule.validator.is_none_or(|v| v.check(value))
    }

    /// Merge overlapping spans and write the redacted line.
    fn rewrite(
        &self,
        line: &[u8],
        json: bool,
        scratch: &mut Scratch,
        summary: &mut Summary,
        out: &mut Vec<u8>,
    ) {
        let Scratch { spans, tmp, .. } = scratch;
        for s in spans.iter_mut() {
            if let (Action::Drop, Some(field)) = (s.action, s.field) {
                (s.start, s.end) = field_extent(line, field, json);
            }
        }
        merge_spans(spans);
        let mut cursor = JsonCursor::default();
        let mut last = 0;
        for s in spans.iter() {
            let (mut start, mut end, mut quote) = (s.start, s.end, false);
            if json
                && s.field.is_none_or(|_| s.action != Action::Drop)
                && !cursor.in_string_at(line, start)
            {
                (start, end) = bare_token(line, start, end);
                quote = s.action != Action::Drop;
            }
            if start < last {
                continue;
            }
            out.extend_from_slice(&line[last..start]);
            if quote {
                out.push(b'"');
            }
            let cat = &self.categories[s.category as usize];
            write_replacement(
                s.action,
                cat,
                &line[start..end],
                self.pseudonym.as_ref(),
                tmp,
                out,
            );
            if quote {
                out.push(b'"');
            }
            last = end;
            summary.add(self, s.category, s.rule);
        }
        out.extend_from_slice(&line[last..]);
    }

    /// Run every example of every rule; returns one message per failure.
    pub fn test_examples(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let mut scratch = Scratch::default();
        for (rr, ex) in &self.examples {
            let ri = match *rr {
                RuleRef::Detector(i) => i,
                RuleRef::Key(k) => self.rules.len() + k,
            };
            let id = self.rule_id(ri);
            for e in &ex.must_match {
                let (text, value) = e.parts();
                let found = self.rule_spans(ri, text.as_bytes(), &mut scratch);
                let hit = found
                    .iter()
                    .any(|&(s, e)| &text.as_bytes()[s..e] == value.as_bytes());
                if !hit {
                    let got: Vec<_> = found.iter().map(|&(s, e)| &text[s..e]).collect();
                    failures.push(format!(
                        "{id}: must match {value:?} in {text:?}, found {got:?}"
                    ));
                }
            }
            for text in &ex.no_match {
                let found = self.rule_spans(ri, text.as_bytes(), &mut scratch);
                if !found.is_empty() {
                    let got: Vec<_> = found.iter().map(|&(s, e)| &text[s..e]).collect();
                    failures.push(format!("{id}: must not match {text:?}, found {got:?}"));
                }
            }
        }
        failures
    }

    /// One line per rule: id, category, kind, action.
    pub fn describe_rules(&self) -> Vec<String> {
        let cat = |c: u16| self.categories[c as usize].name.as_str();
        let mut out: Vec<String> = self
            .rules
            .iter()
            .map(|r| {
                let kib = match &r.dense {
                    Some(Dense::Anchored(d)) => d.memory_usage() >> 10,
                    Some(Dense::Unanchored(d)) => {
                        (d.forward().memory_usage() + d.reverse().memory_usage()) >> 10
                    }
                    None => 0,
                };
                let dfa = match (&r.dense, r.precompiled) {
                    (None, _) => "lazy-dfa".to_string(),
                    (Some(_), false) => format!("dense-dfa {kib} KiB"),
                    (Some(_), true) => format!("dense-dfa {kib} KiB, precompiled"),
                };
                format!(
                    "{}\t{}\t{:?}\t{:?}\t{dfa}",
                    r.id,
                    cat(r.category),
                    r.trigger,
                    r.action
                )
            })
            .collect();
        out.extend(self.key_rules.iter().map(|r| {
            format!(
                "{}\t{}\tkey({:?})\t{:?}",
                r.id,
                cat(r.category),
                r.shape,
                r.action
            )
        }));
        out
    }

    /// Number of examples attached to the rules.
    pub fn example_count(&self) -> usize {
        self.examples
            .iter()
            .map(|(_, e)| e.must_match.len() + e.no_match.len())
            .sum()
    }

    fn rule_id(&self, ri: usize) -> &str {
        match self.rules.get(ri) {
            Some(r) => &r.id,
            None => &self.key_rules[ri - self.rules.len()].id,
        }
    }

    /// The spans one rule finds in `text` (before merging).
    fn rule_spans(&self, ri: usize, text: &[u8], scratch: &mut Scratch) -> Vec<(usize, usize)> {
        scratch.prepare(self);
        self.find_spans(text, scratch);
        scratch
            .spans
            .iter()
            .filter(|s| s.rule as usize == ri)
            .map(|s| (s.start, s.end))
            .collect()
    }
}

/// Sort spans and merge overlapping ones; the merged span takes the category and action of
/// the highest-priority (then longest) member.
fn merge_spans(spans: &mut Vec<Span>) {
    spans.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut w = 0;
    for i in 1..spans.len() {
        let s = spans[i];
        let cur = &mut spans[w];
        if s.start < cur.end {
            let s_wins = (s.priority, s.end - s.start) > (cur.priority, cur.end - cur.start);
            let end = cur.end.max(s.end);
            if s_wins {
                let start = cur.start;
                *cur = s;
                cur.start = start;
            }
            cur.end = end;
        } else {
            w += 1;
            spans[w] = s;
        }
    }
    spans.truncate(w + 1);
}

/// The bytes a dropped field takes with it: a comma (JSON) or a space (logfmt) on one side.
fn field_extent(line: &[u8], (fs, fe): (usize, usize), json: bool) -> (usize, usize) {
    let n = line.len();
    let mut k = fe;
    while k < n && line[k] == b' ' {
        k += 1;
    }
    if k < n && (line[k] == b',' || (!json && line[k] == b'&')) {
        let mut e = k + 1;
        while e < n && line[e] == b' ' {
            e += 1;
        }
        return (fs, e);
    }
    let mut k = fs;
    while k > 0 && line[k - 1] == b' ' {
        k -= 1;
    }
    if k > 0 && line[k - 1] == b',' {
        return (k - 1, fe);
    }
    if !json && k < fs {
        return (k, fe);
    }
    (fs, fe)
}

/// Whether the line looks like a JSON object or array.
fn looks_like_json(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    matches!(
        (t.first(), t.last()),
        (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']'))
    )
}

/// Extend a span outside any JSON string to the whole bare token (a number).
fn bare_token(line: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    let tok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.');
    while s > 0 && tok(line[s - 1]) {
        s -= 1;
    }
    while e < line.len() && tok(line[e]) {
        e += 1;
    }
    (s, e)
}

/// Tracks whether a position of a JSON line is inside a string, moving forward only.
#[derive(Default)]
struct JsonCursor {
    pos: usize,
    in_string: bool,
}

impl JsonCursor {
    fn in_string_at(&mut self, line: &[u8], to: usize) -> bool {
        // A byte loop: quotes come every few bytes in JSON, where a `memchr2` call per quote
        // cost more than the bytes it skipped.
        let (mut pos, mut in_string) = (self.pos, self.in_string);
        while pos < to {
            match line[pos] {
                b'"' => in_string = !in_string,
                // An escape inside a string hides the byte after it.
                b'\\' => pos += in_string as usize,
                _ => {}
            }
            pos += 1;
        }
        (self.pos, self.in_string) = (pos, in_string);
        in_string
    }
}

/// A rule's pattern, compiled.
struct Compiled {
    regex: RuleRegex,
    dense: Option<Dense>,
    /// Whether `dense` came from the precompiled table.
    precompiled: bool,
    /// The shortest match the pattern can produce, in bytes.
    min_len: usize,
    /// Whether the pattern has a group named `v`.
    value_group: bool,
}

/// Compile a rule's pattern; the error names what is wrong with it. A built-in pattern's
/// dense DFAs are taken from the table `build.rs` made, with what the engine would learn
/// from its meta regex, which is built the first time the rule is searched with it (a match
/// of a rule with a group `v`), if ever. Other patterns (and one whose precompiled bytes would
/// not deserialize) are compiled here.
fn compile(spec: &pack::RuleSpec) -> Result<Compiled, String> {
    let pattern = spec.pattern.as_str();
    let anchored = automata::anchored_trigger(spec.trigger.name());
    if let Some(Ok(p)) = precompiled::lookup(pattern, anchored) {
        return Ok(Compiled {
            regex: RuleRegex::on_first_use(pattern),
            dense: Some(p.dense),
            precompiled: true,
            min_len: p.min_len,
            value_group: p.value_group,
        });
    }
    let regex = automata::meta_regex(pattern)?;
    Ok(Compiled {
        value_group: automata::has_value_group(&regex),
        min_len: automata::min_len(pattern),
        regex: RuleRegex::built(pattern, regex),
        dense: automata::build_dense(pattern, anchored),
        precompiled: false,
    })
}

/// Compile the rules given (`None`: a rule the policy turns off), in order, on up to
/// `threads` threads taking rules from a shared counter.
fn compile_all(
    specs: &[Option<&pack::RuleSpec>],
    threads: usize,
) -> Vec<Option<Result<Compiled, String>>> {
    let threads = threads.min(specs.len());
    if threads <= 1 {
        return specs.iter().map(|s| s.map(compile)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(spec) = specs.get(i) else {
                return done;
            };
            done.push((i, spec.map(compile)));
        }
    };
    let mut out: Vec<Option<Result<Compiled, String>>> = specs.iter().map(|_| None).collect();
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mine = work();
        for (i, c) in helpers
            .into_iter()
            .flat_map(|h| h.join().expect("rule compilation does not panic"))
            .chain(mine)
        {
            out[i] = c;
        }
    });
    out
}

/// The bytes on which an anchored DFA leaves its start state for a live state; every byte
/// when the rule has no anchored DFA.
fn first_bytes(dense: Option<&Dense>) -> [bool; 256] {
    let Some(Dense::Anchored(dfa)) = dense else {
        return [true; 256];
    };
    let mut out = [false; 256];
    // Start states differ by what precedes the match (look-behind assertions such as `\b`):
    // the union over a word byte, a non-word byte, a line end and the start of the text.
    for (hay, at) in [(&b"a"[..], 1), (b" ", 1), (b"\n", 1), (b"", 0)] {
        let input = Input::new(hay)
            .span(at..hay.len())
            .anchored(regex_automata::Anchored::Yes);
        let Ok(start) = dfa.start_state_forward(&input) else {
            return [true; 256];
        };
        for (b, slot) in out.iter_mut().enumerate() {
            *slot |= !dfa.is_dead_state(dfa.next_state(start, b as u8));
        }
    }
    out
}

/// The lengths of the digit run a match of an anchored DFA may start with, as a bit set: bit
/// `k` (`k < 63`) for a run of exactly `k` digits, bit 63 for 63 or more; every length when
/// the rule has no anchored DFA.
///
/// Length `k` is allowed when, after `k` digits from some start state, the DFA has reached a
/// match (a match may then end inside a longer run) or some non-digit byte, or the end of
/// the text, keeps it alive. The states after `k` digits are followed as a set, for every
/// digit, so the test holds whatever the digits are: a token start whose run length fails
/// it cannot match.
fn digit_runs(dense: Option<&Dense>) -> u64 {
    let Some(Dense::Anchored(dfa)) = dense else {
        return u64::MAX;
    };
    let mut states: Vec<_> = start_states(dense).to_vec();
    states.sort_unstable();
    states.dedup();
    states.retain(|&s| !dfa.is_dead_state(s));
    let mut allowed = 0u64;
    let mut matched = false;
    for k in 0..63 {
        let goes_on = |s| {
            dfa.is_match_state(dfa.next_eoi_state(s))
                || (0..=255u8)
                    .filter(|b| !b.is_ascii_digit())
                    .any(|b| !dfa.is_dead_state(dfa.next_state(s, b)))
        };
        if matched || states.iter().any(|&s| goes_on(s)) {
            allowed |= 1 << k;
        }
        let mut next: Vec<_> = states
            .iter()
            .flat_map(|&s| (b'0'..=b'9').map(move |d| dfa.next_state(s, d)))
            .filter(|&s| !dfa.is_dead_state(s))
            .collect();
        next.sort_unstable();
        next.dedup();
        matched |= next.iter().any(|&s| dfa.is_match_state(s));
        states = next;
        if states.is_empty() && !matched {
            return allowed;
        }
    }
    allowed | 1 << 63
}

/// What precedes an anchored search, as far as a DFA's start state can tell (look-behind
/// assertions such as `\b` or `^` make the start state depend on it).
#[derive(Debug, Clone, Copy)]
pub(crate) enum LookBehind {
    Text,
    Word,
    NonWord,
    Lf,
    Cr,
}

impl LookBehind {
    pub(crate) const COUNT: usize = 5;

    #[inline]
    pub(crate) fn of(line: &[u8], at: usize) -> LookBehind {
        match at.checked_sub(1).map(|i| line[i]) {
            None => LookBehind::Text,
            Some(b'\n') => LookBehind::Lf,
            Some(b'\r') => LookBehind::Cr,
            Some(b) if b.is_ascii_alphanumeric() || b == b'_' => LookBehind::Word,
            Some(_) => LookBehind::NonWord,
        }
    }
}

/// The anchored DFA's start state for each [`LookBehind`]; dead states without one.
fn start_states(
    dense: Option<&Dense>,
) -> [regex_automata::util::primitives::StateID; LookBehind::COUNT] {
    use regex_automata::util::start;
    let mut out = [regex_automata::util::primitives::StateID::ZERO; LookBehind::COUNT];
    let Some(Dense::Anchored(dfa)) = dense else {
        return out;
    };
    for (slot, behind) in
        out.iter_mut()
            .zip([None, Some(b'a'), Some(b' '), Some(b'\n'), Some(b'\r')])
    {
        let config = start::Config::new()
            .anchored(regex_automata::Anchored::Yes)
            .look_behind(behind);
        if let Ok(sid) = dfa.start_state(&config) {
            *slot = sid;
        }
    }
    out
}

/// Collects categories, rules and literals while building a [`Redactor`].
struct Builder<'p> {
    policy: &'p PolicyConfig,
    pseudonym: Option<PseudonymKey>,
    problems: &'p mut Vec<String>,
    cat_index: HashMap<String, u16>,
    categories: Vec<CategoryOut>,
    rules: Vec<Rule>,
    key_rules: Vec<KeyRule>,
    keys: KeyMatcher,
    literals: LiteralIndex<LiteralTarget>,
    ids: HashSet<String>,
    examples: Vec<(RuleRef, pack::Examples)>,
    disabled: HashSet<&'p str>,
}

impl<'p> Builder<'p> {
    fn new(
        policy: &'p PolicyConfig,
        pseudonym: Option<PseudonymKey>,
        problems: &'p mut Vec<String>,
    ) -> Self {
        Builder {
            policy,
            pseudonym,
            problems,
            cat_index: HashMap::new(),
            categories: Vec::new(),
            rules: Vec::new(),
            key_rules: Vec::new(),
            keys: KeyMatcher::default(),
            literals: LiteralIndex::default(),
            ids: HashSet::new(),
            examples: Vec::new(),
            disabled: policy.disable.iter().map(String::as_str).collect(),
        }
    }

    fn category(&mut self, name: &str) -> u16 {
        if let Some(&i) = self.cat_index.get(name) {
            return i;
        }
        let i = self.categories.len() as u16;
        self.categories.push(CategoryOut {
            name: name.to_string(),
            marker: name.to_ascii_uppercase(),
            normalize: Normalize::for_category(name),
        });
        self.cat_index.insert(name.to_string(), i);
        i
    }

    fn action_for(&self, id: &str, category: &str) -> Action {
        self.policy
            .rule_actions
            .get(id)
            .or_else(|| self.policy.actions.get(category))
            .copied()
            .unwrap_or(self.policy.default_action)
    }

    fn build(
        mut self,
        packs: &[LoadedPack],
        extra_keys: &[KeyRuleSpec],
        threads: usize,
    ) -> Redactor {
        // Rules the policy turns off are not compiled (`admit` drops them below).
        let specs: Vec<Option<&pack::RuleSpec>> = packs
            .iter()
            .flat_map(|p| &p.pack.rules)
            .map(|r| {
                let off = self.disabled.contains(r.id.as_str())
                    || self.disabled.contains(r.category.as_str());
                (!off).then_some(r)
            })
            .collect();
        let mut compiled = compile_all(&specs, threads).into_iter();
        for p in packs {
            for spec in &p.pack.rules {
                let c = compiled.next().expect("one compiled entry per rule");
                self.add_rule(&p.file, spec, c);
            }
            for spec in &p.pack.key_rules {
                self.add_key_rule(&p.file, spec);
            }
        }
        for spec in extra_keys {
            self.add_key_rule("policy.keys", spec);
        }
        for enc in ["%40", "\\u0040"] {
            if let Err(e) = self
                .literals
                .add(enc.as_bytes(), false, LiteralTarget::EncodedAt)
            {
                self.problems.push(e);
            }
        }
        self.check_policy_names();
        if let Err(e) = self.keys.finish() {
            self.problems.push(e);
        }
        let by = |t: TriggerKind, rules: &[Rule]| -> Vec<usize> {
            let mut v: Vec<usize> = (0..rules.len())
                .filter(|&i| rules[i].trigger == t)
                .collect();
            v.sort_by_key(|&i| std::cmp::Reverse(rules[i].priority));
            v
        };
        let number_rules = by(TriggerKind::Number, &self.rules);
        let number_rules_for: Vec<Vec<usize>> = (0..32usize)
            .map(|d| {
                number_rules
                    .iter()
                    .copied()
                    .filter(|&i| self.rules[i].min_digits as usize <= d || d == 31)
                    .collect()
            })
            .collect();
        let (mut number_first, mut number_runs) = (Box::new([1u64 << 63; 256]), [1u64 << 63; 64]);
        let mut number_bit = vec![0u64; self.rules.len()];
        for (k, &ri) in number_rules.iter().enumerate() {
            let rule = &self.rules[ri];
            let bit = 1u64 << k.min(63);
            number_bit[ri] = bit;
            if k >= 63 {
                continue;
            }
            for (b, slot) in number_first.iter_mut().enumerate() {
                *slot |= if rule.first_bytes[b] { bit } else { 0 };
            }
            // A token start whose digit run the rule never starts with is not walked
            // (`721998` for an IPv4 address or a card).
            let runs = digit_runs(rule.dense.as_ref());
            for (run, slot) in number_runs.iter_mut().enumerate() {
                *slot |= if runs >> run & 1 != 0 { bit } else { 0 };
            }
        }
        let mut number_min_len = [usize::MAX; 32];
        for (slot, rules) in number_min_len.iter_mut().zip(&number_rules_for) {
            *slot = rules
                .iter()
                .map(|&i| self.rules[i].min_len)
                .min()
                .unwrap_or(usize::MAX);
        }
        let mut rule_names: Vec<String> = self.rules.iter().map(|r| r.id.clone()).collect();
        rule_names.extend(self.key_rules.iter().map(|r| r.id.clone()));
        Redactor {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            names: Arc::new(Names {
                categories: self.categories.iter().map(|c| c.name.clone()).collect(),
                rules: rule_names,
            }),
            at_rules: by(TriggerKind::At, &self.rules),
            colon_rules: by(TriggerKind::Colon, &self.rules),
            number_rules,
            number_min_len,
            number_rules_for,
            number_first,
            number_runs,
            number_bit,
            classes: scan::byte_classes(&self.literals),
            literals: self.literals,
            categories: self.categories,
            rules: self.rules,
            key_rules: self.key_rules,
            keys: self.keys,
            pseudonym: self.pseudonym,
            examples: self.examples,
        }
    }

    /// Unknown names in `actions`, `rule_actions` and `disable`, and a missing pseudonym key.
    fn check_policy_names(&mut self) {
        let policy = self.policy;
        for cat in policy.actions.keys() {
            if !self.cat_index.contains_key(cat) {
                self.problems
                    .push(format!("policy.actions.{cat}: unknown category"));
            }
        }
        for id in policy.rule_actions.keys() {
            if !self.ids.contains(id) {
                self.problems
                    .push(format!("policy.rule_actions.{id}: unknown rule id"));
            }
        }
        for (i, d) in policy.disable.iter().enumerate() {
            if !self.ids.contains(d) && !self.cat_index.contains_key(d) {
                self.problems.push(format!(
                    "policy.disable[{i}]: {d:?} is neither a category nor a rule id"
                ));
            }
        }
        let pseudo = self
            .rules
            .iter()
            .map(|r| r.action)
            .chain(self.key_rules.iter().map(|r| r.action));
        if self.pseudonym.is_none() && pseudo.into_iter().any(|a| a == Action::Pseudonymize) {
            self.problems.push(
                "policy.pseudonym: an action is `pseudonymize` but no key is configured (set key_env or key_file)"
                    .to_string(),
            );
        }
    }

    fn check_id(&mut self, file: &str, id: &str) -> bool {
        if !self.ids.insert(id.to_string()) {
            self.problems
                .push(format!("pattern pack {file}, rule {id}: duplicate rule id"));
            return false;
        }
        true
    }

    /// Register a rule's id and category; `None` when the id is a duplicate or the policy
    /// disables the rule or its category (the category is still known to the policy).
    fn admit(&mut self, file: &str, id: &str, category: &str) -> Option<u16> {
        if !self.check_id(file, id) {
            return None;
        }
        let cat = self.category(category);
        let off = self.disabled.contains(id) || self.disabled.contains(category);
        (!off).then_some(cat)
    }

    /// Parse an optional validator name; an unknown name is a problem naming the rule.
    fn validator(
        &mut self,
        file: &str,
        id: &str,
        name: Option<&str>,
    ) -> Result<Option<Validator>, ()> {
        match name.map(|n| (n, Validator::from_name(n))) {
            None => Ok(None),
            Some((_, Some(v))) => Ok(Some(self.ip_scope(v))),
            Some((n, None)) => {
                self.problems.push(format!(
                    "pattern pack {file}, rule {id}: unknown validator {n:?}"
                ));
                Err(())
            }
        }
    }

    fn add_rule(
        &mut self,
        file: &str,
        spec: &pack::RuleSpec,
        compiled: Option<Result<Compiled, String>>,
    ) {
        let Some(category) = self.admit(file, &spec.id, &spec.category) else {
            return;
        };
        let compiled = compiled.expect("an admitted rule is compiled");
        let fail = |msg: String| format!("pattern pack {file}, rule {}: {msg}", spec.id);
        let Compiled {
            regex,
            dense,
            precompiled,
            min_len,
            value_group,
        } = match compiled {
            Ok(c) => c,
            Err(e) => return self.problems.push(fail(format!("pattern: {e}"))),
        };
        let Ok(validator) = self.validator(file, &spec.id, spec.validator.as_deref()) else {
            return;
        };
        if (spec.trigger == TriggerKind::Literal) == spec.literals.is_empty() {
            return self.problems.push(fail(
                "`literals` is required with trigger literal, and only then".into(),
            ));
        }
        let ri = self.rules.len();
        for lit in &spec.literals {
            if let Err(e) = self.literals.add(
                lit.as_bytes(),
                spec.case_insensitive,
                LiteralTarget::Rule(ri),
            ) {
                return self.problems.push(fail(e));
            }
        }
        self.rules.push(Rule {
            starts: start_states(dense.as_ref()),
            min_len,
            id: spec.id.clone(),
            category,
            trigger: spec.trigger,
            regex,
            first_bytes: first_bytes(dense.as_ref()),
            dense,
            precompiled,
            value_group,
            validator,
            min_digits: spec.min_digits.unwrap_or(1),
            priority: spec.priority.unwrap_or(50),
            boundary: spec.boundary.unwrap_or(true),
            standalone: spec.standalone,
            max_len: spec.max_len.unwrap_or(4096),
            action: self.action_for(&spec.id, &spec.category),
        });
        self.examples
            .push((RuleRef::Detector(ri), spec.examples.clone()));
    }

    /// Public-only IP validators become any-IP ones when the policy redacts private addresses.
    fn ip_scope(&self, v: Validator) -> Validator {
        match (v, self.policy.redact_private_ips) {
            (Validator::Ipv4Public, true) => Validator::Ipv4Any,
            (Validator::Ipv6Public, true) => Validator::Ipv6Any,
            _ => v,
        }
    }

    fn add_key_rule(&mut self, file: &str, spec: &KeyRuleSpec) {
        let Some(category) = self.admit(file, &spec.id, &spec.category) else {
            return;
        };
        let Ok(validator) = self.validator(file, &spec.id, spec.validator.as_deref()) else {
            return;
        };
        let kr = self.key_rules.len();
        for k in &spec.keys {
            if let Err(e) = self.keys.add(k, kr) {
                self.problems
                    .push(format!("pattern pack {file}, rule {}: {e}", spec.id));
            }
        }
        self.key_rules.push(KeyRule {
            id: spec.id.clone(),
            category,
            shape: spec.value,
            validator,
            action: self.action_for(&spec.id, &spec.category),
        });
        self.examples
            .push((RuleRef::Key(kr), spec.examples.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_run_lengths_from_the_dfa() {
        let runs = |p: &str| digit_runs(automata::build_dense(p, true).as_ref());
        let bits = |ks: &[u32]| ks.iter().fold(0u64, |m, &k| m | 1 << k);
        assert_eq!(runs(r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b"), bits(&[1, 2, 3]));
        assert_eq!(runs(r"\b[0-9]{8}[A-Z]\b"), bits(&[8]));
        // A match that may end inside a longer run allows every longer run.
        assert_eq!(runs(r"[0-9]{2}"), !0b11);
        // Letters first: only the empty digit run.
        assert_eq!(runs(r"[A-Z]{2}[0-9]{2}"), 1);
        // No anchored DFA: everything.
        assert_eq!(digit_runs(None), u64::MAX);
    }

    fn builtin_specs() -> Vec<pack::RuleSpec> {
        pack::builtin_packs()
            .unwrap()
            .into_iter()
            .flat_map(|p| p.pack.rules)
            .collect()
    }

    #[test]
    fn builtin_rules_take_their_dfas_from_the_precompiled_table() {
        let r = Redactor::builtin().unwrap();
        assert!(r.rules.len() > 30 && precompiled::len() > 30);
        for rule in &r.rules {
            assert!(rule.precompiled, "{}: compiled at start-up", rule.id);
            assert!(rule.dense.is_some(), "{}", rule.id);
            // Searched by its DFAs: its meta regex is not built at start-up.
            assert!(!rule.regex.is_built(), "{}: meta regex built", rule.id);
        }
        // Built on first use, for a rule's group `v` (`Bearer <token>`).
        let mut scratch = Scratch::default();
        let mut summary = Summary::default();
        let line = "sent with Bearer abcdefgh12345678 upstream";
        let out = r.redact_text(line, &mut scratch, &mut summary);
        assert_eq!(out, "sent with Bearer [SECRET] upstream");
        let bearer = r.rules.iter().find(|r| r.value_group && r.regex.is_built());
        assert!(bearer.is_some(), "the matching rule built its meta regex");
    }

    #[test]
    fn a_pattern_not_in_the_table_is_compiled_at_run_time() {
        let text = r#"
pack: user
rules:
  - id: user.employee
    category: employee_id
    trigger: number
    pattern: 'EMP-(?P<v>[0-9]{6})'
  - id: user.broken
    category: employee_id
    trigger: number
    pattern: 'EMP-[0-9'
"#;
        let pack = pack::parse_pack("user.yaml", text).unwrap();
        let (good, bad) = (&pack.pack.rules[0], &pack.pack.rules[1]);
        assert!(precompiled::lookup(&good.pattern, true).is_none());
        let c = compile(good).unwrap();
        assert!(!c.precompiled && c.regex.is_built() && c.value_group);
        assert!(matches!(c.dense, Some(Dense::Anchored(_))));
        assert_eq!(c.min_len, 10);
        // An invalid pattern is reported when the rule is loaded.
        assert!(compile(bad).is_err());
        // A built-in pattern asked for with another anchoring is not in the table either.
        let email = builtin_specs()
            .into_iter()
            .find(|s| s.id == "core.email")
            .unwrap();
        assert!(precompiled::lookup(&email.pattern, true).is_none());
    }

    #[test]
    fn engine_types_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Redactor>();
        send_sync::<Scratch>();
    }

    #[test]
    fn trigger_names_are_the_pack_names() {
        for t in [
            TriggerKind::Number,
            TriggerKind::At,
            TriggerKind::Colon,
            TriggerKind::Literal,
        ] {
            let parsed: TriggerKind = serde_yaml_ng::from_str(t.name()).unwrap();
            assert_eq!(parsed, t);
        }
    }

    #[test]
    fn precompiled_dfas_are_the_dfas_built_at_run_time() {
        use regex_automata::Anchored;
        let mut inputs: Vec<String> = [
            "",
            "mail jane.doe@example.com or +33 6 12 34 56 78, card 4111 1111 1111 1111",
            "ip 159.35.214.68 and 2a00:1450:4007:80e::200e; FR76 3000 6000 0112 3456 7890 189",
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU",
        ]
        .map(String::from)
        .into();
        for spec in builtin_specs() {
            for e in &spec.examples.must_match {
                inputs.push(e.parts().0.to_string());
            }
            inputs.extend(spec.examples.no_match.iter().cloned());
        }
        for spec in builtin_specs() {
            let anchored = automata::anchored_trigger(spec.trigger.name());
            let p = precompiled::lookup(&spec.pattern, anchored)
                .expect("every built-in pattern is in the table")
                .expect("and deserializes");
            let fresh = automata::build_dense(&spec.pattern, anchored).unwrap();
            let regex = automata::meta_regex(&spec.pattern).unwrap();
            assert_eq!(p.min_len, automata::min_len(&spec.pattern), "{}", spec.id);
            assert_eq!(
                p.value_group,
                automata::has_value_group(&regex),
                "{}",
                spec.id
            );
            match (p.dense, fresh) {
                (Dense::Anchored(pre), Dense::Anchored(new)) => {
                    assert_eq!(pre.to_bytes_native_endian(), new.to_bytes_native_endian());
                    for text in &inputs {
                        for at in 0..=text.len() {
                            let input = Input::new(text).range(at..).anchored(Anchored::Yes);
                            assert_eq!(
                                pre.try_search_fwd(&input).unwrap(),
                                new.try_search_fwd(&input).unwrap(),
                                "{} on {text:?} at {at}",
                                spec.id
                            );
                        }
                    }
                }
                (Dense::Unanchored(pre), Dense::Unanchored(new)) => {
                    for (a, b) in [
                        (pre.forward(), new.forward()),
                        (pre.reverse(), new.reverse()),
                    ] {
                        assert_eq!(a.to_bytes_native_endian(), b.to_bytes_native_endian());
                    }
                    for text in &inputs {
                        let found = |r: &regex_automata::dfa::regex::Regex| -> Vec<_> {
                            r.find_iter(text).collect()
                        };
                        assert_eq!(found(&pre), found(&new), "{} on {text:?}", spec.id);
                    }
                }
                _ => panic!("{}: anchored and unanchored DFAs", spec.id),
            }
        }
    }
}
