//! How a detector rule's pattern becomes automata: one definition, used by the engine at run
//! time and by `build.rs`, which compiles the built-in packs' dense DFAs ahead of time with it
//! (it includes this file as a module). It depends on `regex_automata` alone, so what the
//! build precompiles is what the engine would build.

use regex_automata::{dfa, meta, nfa::thompson, util::syntax, PatternID};

/// Patterns are byte-oriented: ASCII classes, and bytes >= 0x80 matched as bytes (UTF-8 or not).
pub(crate) fn regex_syntax() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

/// Whether a rule of this trigger (as named in a pack: `literal`, `number`, `at`, `colon`) is
/// only searched anchored, at a known start, so one forward anchored DFA serves it.
pub(crate) fn anchored_trigger(trigger: &str) -> bool {
    matches!(trigger, "literal" | "number")
}

/// The rule's meta regex: used for capture groups and for rules without a dense DFA, always
/// on a short region, so no prefilter and no full DFA of its own (both would be built at
/// start-up for nothing; the dense DFAs do the searching).
pub(crate) fn meta_regex(pattern: &str) -> Result<meta::Regex, String> {
    meta::Regex::builder()
        .syntax(regex_syntax())
        .configure(
            meta::Regex::config()
                .utf8_empty(false)
                .auto_prefilter(false)
                .dfa(false)
                .hybrid_cache_capacity(8 << 20),
        )
        .build(pattern)
        .map_err(|e| e.to_string())
}

/// Whether the pattern has a group named `v`, which limits the redaction to it.
pub(crate) fn has_value_group(regex: &meta::Regex) -> bool {
    regex.group_info().to_index(PatternID::ZERO, "v").is_some()
}

/// The shortest match the pattern can produce, in bytes (0 when unknown).
pub(crate) fn min_len(pattern: &str) -> usize {
    syntax::parse_with(pattern, &regex_syntax())
        .ok()
        .and_then(|hir| hir.properties().minimum_len())
        .unwrap_or(0)
}

/// A rule's pattern as fully compiled DFAs.
#[derive(Debug)]
pub(crate) enum Dense {
    /// Forward and reverse DFAs, for unanchored searches over a region.
    Unanchored(Box<dfa::regex::Regex>),
    /// A forward anchored DFA, for searches that start at a literal (the start is known).
    Anchored(Box<dfa::dense::DFA<Vec<u32>>>),
}

/// Compile a pattern to dense DFAs: anchored and forward-only when the rule is only ever
/// searched at known starts (a literal, a token start). Gives up (`None`) past a size limit,
/// so a pattern whose DFA explodes costs neither start-up time nor memory.
pub(crate) fn build_dense(pattern: &str, anchored: bool) -> Option<Dense> {
    let config = dfa::dense::Config::new()
        .start_kind(if anchored {
            dfa::StartKind::Anchored
        } else {
            dfa::StartKind::Unanchored
        })
        .minimize(false)
        .dfa_size_limit(Some(2 << 20))
        .determinize_size_limit(Some(8 << 20));
    let thompson = thompson::Config::new().utf8(false);
    if anchored {
        return dfa::dense::Builder::new()
            .configure(config)
            .syntax(regex_syntax())
            .thompson(thompson)
            .build(pattern)
            .ok()
            .map(|d| Dense::Anchored(Box::new(d)));
    }
    dfa::regex::Regex::builder()
        .dense(config)
        .syntax(regex_syntax())
        .thompson(thompson)
        .build(pattern)
        .ok()
        .map(|r| Dense::Unanchored(Box::new(r)))
}
