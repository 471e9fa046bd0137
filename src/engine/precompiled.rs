//! The built-in packs' dense DFAs, compiled by `build.rs` and embedded in the binary.
//!
//! Each entry names a pattern and whether its DFA is anchored (see [`super::automata`]),
//! where its serialized DFAs lie in one aligned blob, and what the engine would otherwise
//! learn from the pattern's meta regex. Deserializing (`DFA::from_bytes`) validates the bytes,
//! so a corrupt or foreign entry is an error, and the caller compiles the pattern instead.

use super::automata::Dense;
use regex_automata::dfa::{dense, regex};
use std::ops::Range;

/// Bytes aligned to 4, as `DFA::from_bytes` requires.
#[repr(C)]
struct Aligned<T: ?Sized> {
    _align: [u32; 0],
    bytes: T,
}

static BLOB: &Aligned<[u8]> = &Aligned {
    _align: [],
    bytes: *include_bytes!(concat!(env!("OUT_DIR"), "/dense_dfas.bin")),
};

/// A precompiled pattern.
struct Entry {
    pattern: &'static str,
    anchored: bool,
    /// The forward DFA, and for an unanchored pattern the reverse DFA, as ranges of [`BLOB`]
    /// (each starting 4-byte aligned).
    forward: Range<usize>,
    reverse: Option<Range<usize>>,
    /// The shortest match, in bytes ([`super::automata::min_len`]).
    min_len: usize,
    /// Whether the pattern has a group `v` ([`super::automata::has_value_group`]).
    value_group: bool,
}

/// Sorted by `(pattern, anchored)`. Every listed pattern's meta regex builds.
static TABLE: &[Entry] = include!(concat!(env!("OUT_DIR"), "/dense_dfas.rs"));

/// A precompiled pattern, deserialized.
pub(crate) struct Precompiled {
    pub dense: Dense,
    pub min_len: usize,
    pub value_group: bool,
}

/// The precompiled DFAs of `pattern`: `None` when it is not in the table, `Some(Err)` when
/// its bytes do not deserialize (not expected: the caller compiles the pattern then).
pub(crate) fn lookup(pattern: &str, anchored: bool) -> Option<Result<Precompiled, String>> {
    let i = TABLE
        .binary_search_by(|e| (e.pattern, e.anchored).cmp(&(pattern, anchored)))
        .ok()?;
    let e = &TABLE[i];
    Some(deserialize(e).map(|dense| Precompiled {
        dense,
        min_len: e.min_len,
        value_group: e.value_group,
    }))
}

fn deserialize(e: &Entry) -> Result<Dense, String> {
    let dfa = |r: &Range<usize>| -> Result<dense::DFA<Vec<u32>>, String> {
        let bytes = BLOB.bytes.get(r.clone()).ok_or("range out of the blob")?;
        let (dfa, _) = dense::DFA::from_bytes(bytes).map_err(|e| e.to_string())?;
        Ok(dfa.to_owned())
    };
    let forward = dfa(&e.forward)?;
    Ok(match &e.reverse {
        None => Dense::Anchored(Box::new(forward)),
        Some(r) => Dense::Unanchored(Box::new(
            regex::Builder::new().build_from_dfas(forward, dfa(r)?),
        )),
    })
}

/// How many patterns are precompiled.
#[cfg(test)]
pub(crate) fn len() -> usize {
    TABLE.len()
}
