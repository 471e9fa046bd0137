//! Pattern packs: detectors as data.
//!
//! A pack is a YAML file (`patterns/*.yaml`) holding detector rules (a trigger, a regex, an
//! optional validator) and key rules (key names whose values are personal whatever they look
//! like). Every rule carries examples that must and must not match; [`crate::engine::Redactor::test_examples`]
//! runs them, so a pack documents and tests itself. The four built-in packs are compiled into
//! the binary with `include_str!`, and also as JSON (see [`builtin_packs`]).

use std::path::{Path, PathBuf};

mod schema;
pub use schema::{Example, Examples, KeyRuleSpec, PackFile, RuleSpec, TriggerKind, ValueShape};

/// The packs compiled into the binary: `(file name, YAML text)`.
pub const BUILTIN_PACKS: &[(&str, &str)] = &[
    ("core.yaml", include_str!("../../patterns/core.yaml")),
    ("secrets.yaml", include_str!("../../patterns/secrets.yaml")),
    ("fr.yaml", include_str!("../../patterns/fr.yaml")),
    ("eu.yaml", include_str!("../../patterns/eu.yaml")),
];

/// A pack that failed to load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The file could not be read.
    #[error("cannot read pattern pack {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML did not match the schema.
    #[error("pattern pack {file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message (position and field).
        message: String,
    },
    /// A rule is invalid.
    #[error("pattern pack {file}, rule {rule}: {message}")]
    Rule {
        /// The file.
        file: String,
        /// The rule id.
        rule: String,
        /// What is wrong.
        message: String,
    },
}

/// A parsed pack with the name of the file it came from.
#[derive(Debug)]
pub struct LoadedPack {
    /// File name for messages.
    pub file: String,
    /// Contents.
    pub pack: PackFile,
}

/// Parse one pack from YAML text.
pub fn parse_pack(file: &str, text: &str) -> Result<LoadedPack, PackError> {
    let pack: PackFile = serde_yaml_ng::from_str(text).map_err(|e| PackError::Parse {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    Ok(LoadedPack {
        file: file.to_string(),
        pack,
    })
}

/// The built-in packs as JSON: `(file name, JSON text)`. `build.rs` parses the YAML of
/// [`BUILTIN_PACKS`] into the same [`PackFile`] and writes it out as JSON, which parses some
/// 30 times faster (the YAML parse was the larger part of start-up); a pack that did not parse
/// there is missing here.
const BUILTIN_JSON: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_packs.rs"));

/// The built-in packs, parsed: from their JSON form, or from the YAML when there is none.
pub fn builtin_packs() -> Result<Vec<LoadedPack>, PackError> {
    BUILTIN_PACKS
        .iter()
        .map(|&(name, yaml)| {
            let json = BUILTIN_JSON.iter().find(|&&(n, _)| n == name);
            match json.and_then(|(_, json)| serde_json::from_str(json).ok()) {
                Some(pack) => Ok(LoadedPack {
                    file: name.to_string(),
                    pack,
                }),
                None => parse_pack(name, yaml),
            }
        })
        .collect()
}

/// Load a pack file, or every `*.yaml`/`*.yml` file of a directory (sorted by name).
pub fn load_path(path: &Path) -> Result<Vec<LoadedPack>, PackError> {
    let io = |source| PackError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(io)? {
            let p = entry.map_err(io)?.path();
            if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|source| PackError::Io {
                path: p.clone(),
                source,
            })?;
            parse_pack(&p.display().to_string(), &text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_packs_parse_from_json_as_from_yaml() {
        assert_eq!(BUILTIN_JSON.len(), BUILTIN_PACKS.len());
        let packs = builtin_packs().unwrap();
        for ((name, yaml), from_json) in BUILTIN_PACKS.iter().zip(&packs) {
            let json = BUILTIN_JSON.iter().find(|(n, _)| n == name).unwrap().1;
            let direct: PackFile = serde_json::from_str(json).unwrap();
            let from_yaml = parse_pack(name, yaml).unwrap();
            assert_eq!(from_json.file, from_yaml.file);
            assert_eq!(
                format!("{:?}", direct),
                format!("{:?}", from_yaml.pack),
                "{name}"
            );
            assert_eq!(
                format!("{:?}", from_json.pack),
                format!("{:?}", from_yaml.pack)
            );
        }
    }
}
