//! Prepares the built-in packs at build time, so that start-up neither parses their YAML nor
//! determinizes their DFAs (together some 100M instructions, every time the filter, the
//! proxy or a test starts).
//!
//! - Each pack is parsed with the engine's schema (`src/engine/pack/schema.rs`, shared) and
//!   written out as JSON into `$OUT_DIR/builtin_packs.rs`, which `src/engine/pack.rs` includes:
//!   JSON parses far faster than YAML.
//! - Each rule's dense DFAs are built exactly as the engine builds them
//!   (`src/engine/automata.rs`, shared), serialized in the target's byte order into
//!   `$OUT_DIR/dense_dfas.bin`, and listed by pattern in `$OUT_DIR/dense_dfas.rs`, which
//!   `src/engine/precompiled.rs` includes, with what the engine would otherwise learn from the
//!   pattern's meta regex (its shortest match, whether it has a group `v`). The engine looks a
//!   rule's pattern up there and deserializes (and validates) its DFAs; a pattern that is not
//!   there (a user pack, a pack edited since the build) is compiled at run time as before.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

#[path = "src/engine/automata.rs"]
mod automata;
// The whole schema, of which this script reads only some fields.
#[allow(dead_code)]
#[path = "src/engine/pack/schema.rs"]
mod schema;

use automata::Dense;

/// The built-in packs, as listed in `pack::BUILTIN_PACKS`, in `patterns/`.
const PACKS: &[&str] = &["core.yaml", "secrets.yaml", "fr.yaml", "eu.yaml"];

fn main() {
    for file in [
        "build.rs",
        "src/engine/automata.rs",
        "src/engine/pack/schema.rs",
    ] {
        println!("cargo:rerun-if-changed={file}");
    }
    let big_endian = match std::env::var("CARGO_CFG_TARGET_ENDIAN").as_deref() {
        Ok("big") => true,
        Ok("little") => false,
        other => panic!("unexpected CARGO_CFG_TARGET_ENDIAN {other:?}"),
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    // (pattern, anchored), sorted, so the engine can binary-search the table.
    let mut wanted = BTreeSet::new();
    let mut packs = String::from("&[\n");
    for name in PACKS {
        let file = format!("patterns/{name}");
        println!("cargo:rerun-if-changed={file}");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        // A pack that does not parse is reported by the engine (its tests, `patterns test`),
        // which parses its YAML then: here it only has nothing to prepare.
        let pack: schema::PackFile = match serde_yaml_ng::from_str(&text) {
            Ok(p) => p,
            Err(e) => {
                println!("cargo:warning={file}: {e}; it will be parsed and compiled at run time");
                continue;
            }
        };
        let json = serde_json::to_string(&pack).expect("a pack serializes");
        writeln!(packs, "    ({name:?}, {json:?}),").unwrap();
        for r in pack.rules {
            let anchored = automata::anchored_trigger(r.trigger.name());
            wanted.insert((r.pattern, anchored));
        }
    }
    packs.push(']');
    std::fs::write(out.join("builtin_packs.rs"), packs).expect("write builtin_packs.rs");
    let mut blob = Vec::new();
    let mut table = String::from("&[\n");
    for (pattern, anchored) in wanted {
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
    std::fs::write(out.join("dense_dfas.bin"), blob).expect("write dense_dfas.bin");
    std::fs::write(out.join("dense_dfas.rs"), table).expect("write dense_dfas.rs");
}
