//! Compiles the dense DFAs of the built-in packs' detector rules ahead of time.
//!
//! Determinizing them at start-up cost two thirds of it (some 90M instructions, every time the
//! filter, the proxy or a test starts). Here each rule's DFAs are built exactly as the engine
//! builds them (`src/engine/automata.rs`, shared), serialized in the target's byte order
//! into `$OUT_DIR/dense_dfas.bin`, and listed by pattern in `$OUT_DIR/dense_dfas.rs`, which
//! `src/engine/precompiled.rs` includes, with what the engine would otherwise learn from the
//! pattern's meta regex (its shortest match, whether it has a group `v`). The engine looks a
//! rule's pattern up there and deserializes (and validates) its DFAs; a pattern that is not
//! there (a user pack, a pack edited since the build) is compiled at run time as before.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

#[path = "src/engine/automata.rs"]
mod automata;

use automata::Dense;

/// The built-in packs, as listed in `pack::BUILTIN_PACKS`.
const PACKS: &[&str] = &[
    "patterns/core.yaml",
    "patterns/secrets.yaml",
    "patterns/fr.yaml",
    "patterns/eu.yaml",
];

/// The fields of a pack this script needs; the engine checks the rest.
#[derive(serde::Deserialize)]
struct Pack {
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(serde::Deserialize)]
struct Rule {
    trigger: String,
    pattern: String,
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/engine/automata.rs");
    let big_endian = match std::env::var("CARGO_CFG_TARGET_ENDIAN").as_deref() {
        Ok("big") => true,
        Ok("little") => false,
        other => panic!("unexpected CARGO_CFG_TARGET_ENDIAN {other:?}"),
    };
    // (pattern, anchored), sorted, so the engine can binary-search the table.
    let mut wanted = BTreeMap::new();
    for file in PACKS {
        println!("cargo:rerun-if-changed={file}");
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        // A pack that does not parse is reported by the engine (its tests, `patterns test`),
        // with the engine's own message: here it only has nothing to precompile.
        let pack: Pack = match serde_yaml_ng::from_str(&text) {
            Ok(p) => p,
            Err(e) => {
                println!("cargo:warning={file}: {e}; its DFAs will be compiled at run time");
                continue;
            }
        };
        for r in pack.rules {
            let anchored = automata::anchored_trigger(&r.trigger);
            wanted.insert((r.pattern, anchored), ());
        }
    }
    let mut blob = Vec::new();
    let mut table = String::from("&[\n");
    for (pattern, anchored) in wanted.into_keys() {
        // Invalid, or too large for a dense DFA: not listed, so the engine compiles it at run
        // time (and reports the error) as it would without this table. A listed pattern's
        // meta regex is known to build: the engine builds it only when it needs it.
        let Ok(regex) = automata::meta_regex(&pattern) else {
            continue;
        };
        let Some(built) = automata::build_dense(&pattern, anchored) else {
            continue;
        };
        let mut add = |dfa: &regex_automata::dfa::dense::DFA<Vec<u32>>| {
            let (bytes, pad) = if big_endian {
                dfa.to_bytes_big_endian()
            } else {
                dfa.to_bytes_little_endian()
            };
            // Every DFA starts 4-byte aligned within the (aligned) blob.
            while blob.len() % 4 != 0 {
                blob.push(0);
            }
            let start = blob.len();
            blob.extend_from_slice(&bytes[pad..]);
            format!("{start}..{}", blob.len())
        };
        let (forward, reverse) = match &built {
            Dense::Anchored(d) => (add(d), "None".to_string()),
            Dense::Unanchored(r) => {
                let f = add(r.forward());
                (f, format!("Some({})", add(r.reverse())))
            }
        };
        writeln!(
            table,
            "    Entry {{ pattern: {pattern:?}, anchored: {anchored}, forward: {forward}, \
             reverse: {reverse}, min_len: {}, value_group: {} }},",
            automata::min_len(&pattern),
            automata::has_value_group(&regex),
        )
        .unwrap();
    }
    table.push(']');
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    std::fs::write(out.join("dense_dfas.bin"), blob).expect("write dense_dfas.bin");
    std::fs::write(out.join("dense_dfas.rs"), table).expect("write dense_dfas.rs");
}
