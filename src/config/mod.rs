//! The configuration file: one YAML document shared by `caviard redact`, `serve` and `check`.
//!
//! Every section has defaults, so an empty file (or none) runs the built-in policy. Unknown
//! keys are rejected at load, so a typo fails at start rather than silently disabling a rule.

pub mod retention;
#[cfg(feature = "serve")]
pub mod serve;

use crate::engine::pack::KeyRuleSpec;
use crate::engine::Action;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What is redacted and how.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Limits on input records.
    #[serde(default)]
    pub input: InputConfig,
    /// The retention class each record is tagged with.
    #[serde(default)]
    pub retention: retention::RetentionConfig,
    /// The redaction summary written on each record.
    #[serde(default)]
    pub audit: retention::AuditConfig,
    /// The OTLP proxy (`caviard serve`): listeners, upstream, queue, retries.
    #[cfg(feature = "serve")]
    #[serde(default)]
    pub serve: serve::ServeConfig,
}

/// The redaction policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Use the packs compiled into the binary (core, secrets, fr, eu).
    pub builtin_packs: bool,
    /// Extra pattern pack files or directories.
    pub packs: Vec<PathBuf>,
    /// Action for categories not listed in `actions`.
    pub default_action: Action,
    /// Action per category (`email: pseudonymize`).
    pub actions: BTreeMap<String, Action>,
    /// Action per rule id, overriding the category's (`keys.password: drop`).
    pub rule_actions: BTreeMap<String, Action>,
    /// Categories or rule ids switched off.
    pub disable: Vec<String>,
    /// Extra key rules (same schema as `key_rules` in a pack).
    pub keys: Vec<KeyRuleSpec>,
    /// Redact private, loopback and link-local IP addresses too (default: kept, they
    /// identify machines, not people).
    pub redact_private_ips: bool,
    /// The pseudonymisation key; required when any action is `pseudonymize`.
    pub pseudonym: Option<PseudonymConfig>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            builtin_packs: true,
            packs: Vec::new(),
            default_action: Action::Mask,
            actions: BTreeMap::new(),
            rule_actions: BTreeMap::new(),
            disable: Vec::new(),
            keys: Vec::new(),
            redact_private_ips: false,
            pseudonym: None,
        }
    }
}

/// Where the HMAC key comes from. The key itself is never written in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PseudonymConfig {
    /// Short id written into every pseudonym (`k1`), so a rotated key is visible.
    pub key_id: String,
    /// Environment variable holding the key.
    #[serde(default)]
    pub key_env: Option<String>,
    /// File holding the key (trailing newline ignored).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl PseudonymConfig {
    /// Read the key bytes. Errors name the field, never the key.
    pub fn read_key(&self) -> Result<Vec<u8>, String> {
        read_secret(
            "policy.pseudonym",
            ("key_env", self.key_env.as_deref()),
            ("key_file", self.key_file.as_deref()),
        )
    }
}

/// Read a secret (a key, a token, a password) from exactly one of an environment variable and
/// a file, never from the config itself; a file's trailing whitespace (its newline) is ignored.
/// `section` is the dotted path of the block, `env` and `file` each a field name and value.
/// Errors name the field and the variable or file, never the secret.
pub fn read_secret(
    section: &str,
    (env_key, env): (&str, Option<&str>),
    (file_key, file): (&str, Option<&Path>),
) -> Result<Vec<u8>, String> {
    match (env, file) {
        (Some(var), None) => std::env::var_os(var)
            .map(|v| v.into_encoded_bytes())
            .ok_or_else(|| format!("{section}.{env_key}: environment variable {var} is not set")),
        (None, Some(path)) => {
            let mut k = std::fs::read(path).map_err(|e| {
                format!("{section}.{file_key}: cannot read {}: {e}", path.display())
            })?;
            while k.last().is_some_and(|b| b.is_ascii_whitespace()) {
                k.pop();
            }
            Ok(k)
        }
        _ => Err(format!(
            "{section}: set exactly one of {env_key} and {file_key}"
        )),
    }
}

/// Limits on input lines.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// Longest line processed; longer lines are cut (at a token boundary) and marked.
    pub max_line_bytes: usize,
    /// Appended to a cut line.
    pub truncation_marker: String,
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            max_line_bytes: 1 << 20,
            truncation_marker: "[TRUNCATED]".to_string(),
        }
    }
}

/// A configuration file that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Unreadable file.
    #[error("cannot read config {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not valid YAML for the schema.
    #[error("config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parser message with the field and position.
        message: String,
    },
}

impl Config {
    /// Load and parse a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parse YAML text (an empty document gives the defaults).
    pub fn parse(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
    }

    /// Every semantic problem, each with its dotted path. Building the policy
    /// ([`crate::engine::Redactor::from_config`]) checks the policy section.
    pub fn validate(&self) -> Vec<String> {
        match self.checked_redactor(1) {
            Ok(_) => Vec::new(),
            Err(errs) => errs,
        }
    }

    /// Validate the whole configuration and return the policy's redactor, built once (building
    /// it is most of start-up: the detectors' DFAs, compiled on `threads` threads), or every
    /// problem found.
    pub fn checked_redactor(&self, threads: usize) -> Result<crate::engine::Redactor, Vec<String>> {
        let mut errs = Vec::new();
        if self.input.max_line_bytes < 1024 {
            errs.push("input.max_line_bytes: must be at least 1024".to_string());
        }
        let redactor = crate::engine::Redactor::from_config_threads(&self.policy, threads)
            .map_err(|e| errs.extend(e.problems().iter().cloned()))
            .ok();
        let categories: Option<Vec<String>> = redactor
            .as_ref()
            .map(|r| r.categories().map(str::to_string).collect());
        errs.extend(crate::retention::problems(
            &self.retention,
            &self.audit,
            categories.as_deref(),
        ));
        #[cfg(feature = "serve")]
        errs.extend(self.serve.validate());
        match redactor {
            Some(r) if errs.is_empty() => Ok(r),
            _ => Err(errs),
        }
    }
}
