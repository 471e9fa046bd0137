//! The settings of the upstreams that do not speak OTLP: Splunk's HTTP Event Collector
//! (`serve.upstream.splunk_hec`) and Elasticsearch's bulk API (`serve.upstream.elasticsearch`).
//! Both take logs only. Credentials are read from an environment variable or a file
//! ([`crate::config::read_secret`]), never from the config, and never logged.

use super::UpstreamProtocol;
use crate::config::read_secret;
use serde::Deserialize;
use std::path::PathBuf;

/// `protocol: splunk_hec`: events POSTed to `<endpoint>/services/collector/event`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplunkHecConfig {
    /// Environment variable holding the HEC token (sent as `Authorization: Splunk <token>`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding the HEC token (trailing newline ignored).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The events' `sourcetype` unless a record or its resource sets `com.splunk.sourcetype`.
    #[serde(default = "default_sourcetype")]
    pub sourcetype: String,
    /// The events' `source` unless set by `com.splunk.source`; unset, HEC's default for the
    /// token applies.
    #[serde(default)]
    pub source: Option<String>,
    /// The events' `index` unless set by `com.splunk.index`; unset, the token's default index.
    #[serde(default)]
    pub index: Option<String>,
}

fn default_sourcetype() -> String {
    "otel".to_string()
}

/// `protocol: elasticsearch`: documents POSTed to `<endpoint>/_bulk` as `create` actions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    /// The data stream (or index) written to. `create` is the only action a data stream takes.
    #[serde(default = "default_index")]
    pub index: String,
    /// Environment variable holding an API key (sent as `Authorization: ApiKey <key>`, the
    /// base64 `id:api_key` form Elasticsearch returns as `encoded`).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// File holding the API key.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// User name for HTTP basic authentication, with `password_env` or `password_file`.
    #[serde(default)]
    pub user: Option<String>,
    /// Environment variable holding the basic-authentication password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the basic-authentication password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

fn default_index() -> String {
    "logs-generic-default".to_string()
}

/// How requests to Elasticsearch authenticate.
#[derive(Clone, PartialEq, Eq)]
pub enum ElasticAuth {
    /// No `Authorization` header (a proxy in front authenticates, or security is off).
    None,
    /// `Authorization: ApiKey <key>`.
    ApiKey(String),
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for ElasticAuth {
    /// Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ElasticAuth::None => "None",
            ElasticAuth::ApiKey(_) => "ApiKey(..)",
            ElasticAuth::Basic { .. } => "Basic(..)",
        })
    }
}

impl SplunkHecConfig {
    /// The token, checked to be usable in a header. Errors name the field, never the token.
    pub fn token(&self) -> Result<String, String> {
        let path = "serve.upstream.splunk_hec";
        let raw = read_secret(
            path,
            ("token_env", self.token_env.as_deref()),
            ("token_file", self.token_file.as_deref()),
        )?;
        let field = if self.token_env.is_some() {
            "token_env"
        } else {
            "token_file"
        };
        header_secret(raw, &format!("{path}.{field}"), "Splunk ")
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if let Err(p) = self.token() {
            problems.push(p);
        }
        if let Some(index) = &self.index {
            if let Err(why) = splunk_index_problem(index) {
                problems.push(format!("serve.upstream.splunk_hec.index: {why}"));
            }
        }
        if self.sourcetype.is_empty() {
            problems.push("serve.upstream.splunk_hec.sourcetype: must not be empty".into());
        }
    }
}

impl ElasticsearchConfig {
    /// The credentials, checked to be usable in a header. Errors name the field, never the
    /// secret.
    pub fn auth(&self) -> Result<ElasticAuth, String> {
        let path = "serve.upstream.elasticsearch";
        let api_key = self.api_key_env.is_some() || self.api_key_file.is_some();
        let password = self.password_env.is_some() || self.password_file.is_some();
        match (api_key, self.user.as_deref(), password) {
            (false, None, false) => Ok(ElasticAuth::None),
            (true, None, false) => {
                let raw = read_secret(
                    path,
                    ("api_key_env", self.api_key_env.as_deref()),
                    ("api_key_file", self.api_key_file.as_deref()),
                )?;
                let field = if self.api_key_env.is_some() {
                    "api_key_env"
                } else {
                    "api_key_file"
                };
                header_secret(raw, &format!("{path}.{field}"), "ApiKey ").map(ElasticAuth::ApiKey)
            }
            (false, Some(user), true) => {
                let raw = read_secret(
                    path,
                    ("password_env", self.password_env.as_deref()),
                    ("password_file", self.password_file.as_deref()),
                )?;
                let password = String::from_utf8(raw).map_err(|_| {
                    format!("{path}: the password is not UTF-8 (value not shown)")
                })?;
                if user.contains(':') || user.is_empty() {
                    return Err(format!(
                        "{path}.user: must be non-empty and hold no ':' (basic authentication)"
                    ));
                }
                Ok(ElasticAuth::Basic {
                    user: user.to_string(),
                    password,
                })
            }
            (false, Some(_), false) => Err(format!(
                "{path}.user: set without password_env or password_file"
            )),
            (false, None, true) => Err(format!(
                "{path}: password_env or password_file set without user"
            )),
            (true, _, _) => Err(format!(
                "{path}: set either an API key (api_key_env, api_key_file) or user and password, not both"
            )),
        }
    }

    fn validate(&self, problems: &mut Vec<String>) {
        if let Err(p) = self.auth() {
            problems.push(p);
        }
        if let Err(why) = elastic_index_problem(&self.index) {
            problems.push(format!("serve.upstream.elasticsearch.index: {why}"));
        }
    }
}

/// A secret as text that fits in an `Authorization` header after `scheme`.
fn header_secret(raw: Vec<u8>, field: &str, scheme: &str) -> Result<String, String> {
    let text = String::from_utf8(raw)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{field}: the value is empty or not UTF-8 (value not shown)"))?;
    if http::HeaderValue::from_str(&format!("{scheme}{text}")).is_err() {
        return Err(format!(
            "{field}: the value cannot be sent in an HTTP header (value not shown)"
        ));
    }
    Ok(text)
}

/// Elasticsearch's rules for an index or data stream name: lowercase; none of
/// `\ / * ? " < > | , #`, space or `:`; not starting with `-`, `_` or `+`; not `.` or `..`;
/// at most 255 bytes.
pub fn elastic_index_problem(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 255 {
        return Err("longer than 255 bytes".into());
    }
    if name == "." || name == ".." {
        return Err("cannot be . or ..".into());
    }
    if name.starts_with(['-', '_', '+']) {
        return Err(format!("{name:?} starts with -, _ or +"));
    }
    if name.chars().any(char::is_uppercase) {
        return Err(format!("{name:?} has upper-case letters"));
    }
    if let Some(c) = name.chars().find(|c| {
        matches!(
            c,
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ' ' | ',' | '#' | ':'
        )
    }) {
        return Err(format!("{name:?} contains {c:?}"));
    }
    Ok(())
}

/// Splunk's rules for an index name: lowercase ASCII letters, digits, `_` and `-`, not
/// starting with `_` or `-`.
pub fn splunk_index_problem(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.starts_with(['-', '_']) {
        return Err(format!("{name:?} starts with - or _"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(format!(
            "{name:?} contains {c:?} (lowercase letters, digits, _ and - only)"
        ));
    }
    Ok(())
}

/// Check the backend blocks against the protocol: the block of the protocol in force must be
/// there and valid, the other must not be set (it would be silently ignored).
pub(super) fn validate(
    protocol: UpstreamProtocol,
    hec: Option<&SplunkHecConfig>,
    es: Option<&ElasticsearchConfig>,
    problems: &mut Vec<String>,
) {
    match (protocol, hec) {
        (UpstreamProtocol::SplunkHec, Some(h)) => h.validate(problems),
        (UpstreamProtocol::SplunkHec, None) => problems.push(
            "serve.upstream.splunk_hec: required with protocol splunk_hec (token_env or token_file)"
                .into(),
        ),
        (_, Some(_)) => problems.push(format!(
            "serve.upstream.splunk_hec: set, but serve.upstream.protocol is {protocol}"
        )),
        (_, None) => {}
    }
    match (protocol, es) {
        (UpstreamProtocol::Elasticsearch, Some(e)) => e.validate(problems),
        (UpstreamProtocol::Elasticsearch, None) => {
            // Every field has a default: an absent block is an unauthenticated cluster.
        }
        (_, Some(_)) => problems.push(format!(
            "serve.upstream.elasticsearch: set, but serve.upstream.protocol is {protocol}"
        )),
        (_, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elastic_index_names() {
        for ok in ["logs-generic-default", "logs-app.v1-prod", "a", "日本"] {
            assert_eq!(elastic_index_problem(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "Logs", "-logs", "_logs", "+logs", "logs app", "logs,x", "logs#1", "a/b", "a\\b",
            "a*", "a?", "a\"", "a<", "a>", "a|", "a:b", ".", "..",
        ] {
            assert!(elastic_index_problem(bad).is_err(), "{bad:?}");
        }
        assert!(elastic_index_problem(&"a".repeat(256)).is_err());
    }

    #[test]
    fn splunk_index_names() {
        for ok in ["main", "app_logs", "prod-2"] {
            assert_eq!(splunk_index_problem(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Main", "_internal", "-x", "a b", "a.b"] {
            assert!(splunk_index_problem(bad).is_err(), "{bad:?}");
        }
    }
}
