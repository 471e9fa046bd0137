//! How a detector rule's pattern becomes automata: one definition, used by the engine at run
//! time and by `build.rs`, which compiles the built-in packs' dense DFAs ahead of time with it
//! (it includes this file as a module). It depends on `regex_automata` alone, so what the
//! build precompiles is what the engine would build.

use regex_automata::dfa::Automaton;
use regex_automata::{dfa, meta, nfa::thompson, util::syntax, Anchored, Input, Match, PatternID};

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
    /// Forward and reverse DFAs, for unanchored searches over a region; the forward one also
    /// has anchored start states.
    Unanchored(Box<dfa::regex::Regex>),
    /// A forward anchored DFA, for searches that start at a literal (the start is known).
    Anchored(Box<dfa::dense::DFA<Vec<u32>>>),
}

/// Compile a pattern to dense DFAs: anchored and forward-only when the rule is only ever
/// searched at known starts (a literal, a token start). Gives up (`None`) past a size limit,
/// so a pattern whose DFA explodes costs neither start-up time nor memory.
pub(crate) fn build_dense(pattern: &str, anchored: bool) -> Option<Dense> {
    let config = dfa::dense::Config::new()
        // Unanchored rules also get anchored start states: a region usually starts where its
        // match does, and an anchored forward walk from there needs no reverse pass.
        .start_kind(if anchored {
            dfa::StartKind::Anchored
        } else {
            dfa::StartKind::Both
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

/// The leftmost match of `re` in `input`, as `re.try_search` finds it. A match that starts at
/// the input's start is the leftmost one, and the anchored forward walk ends it where the
/// unanchored search would, with no reverse pass to find its start; a region usually starts
/// where its match does. Otherwise (the region begins with bytes no match starts with) the
/// full search. Dense DFA searches cannot fail here: no quit bytes.
#[allow(dead_code)] // build.rs includes this file and never searches
pub(crate) fn find(re: &dfa::regex::Regex, input: &Input<'_>) -> Option<Match> {
    let at_start = input.clone().anchored(Anchored::Yes);
    match re.forward().try_search_fwd(&at_start) {
        Ok(Some(hm)) => Some(Match::new(hm.pattern(), input.start()..hm.offset())),
        _ => re.try_search(input).ok().flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`find`] gives what the plain unanchored search gives, from every start, on inputs
    /// whose matches start at, after and across the start (alternations of different
    /// lengths, where leftmost-first and longest disagree).
    #[test]
    fn find_agrees_with_unanchored_search() {
        let patterns = [
            r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+",
            r"abcd|bc|b",
            r"a+?b|ab+",
            r"(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{1,4}|::[0-9a-f]{1,4}",
        ];
        let haystacks = [
            "to .jean@example.fr now",
            "-x@y.fr,jean@example.fr;..@a.b a@b",
            "abcd bc xbcd aab abbb ab",
            "fe80::1 2a00:1450:4007:80e::200e ::ffff :1:2:3",
            "",
        ];
        let mut found = 0;
        for p in patterns {
            let Some(Dense::Unanchored(re)) = build_dense(p, false) else {
                panic!("{p}: no unanchored DFA");
            };
            for h in haystacks {
                for start in 0..=h.len() {
                    let input = Input::new(h).span(start..h.len());
                    let want = re.try_search(&input).unwrap();
                    found += want.is_some() as usize;
                    assert_eq!(find(&re, &input), want, "{p} on {h:?} from {start}");
                }
            }
        }
        assert!(found > 100, "{found}");
    }
}
