//! TLS on the receivers: `serve.otlp_grpc.tls`, `serve.otlp_http.tls` and
//! `serve.syslog.tcp_tls`, with the OpenTelemetry Collector's receiver settings (`configtls`
//! server settings) under the same names, so a collector's receiver block carries over.
//!
//! [`server_config`] turns a block into a rustls server configuration. It reads and checks
//! every file, so [`super::ServeConfig::validate`] calls it too: a missing file, one that is not
//! PEM, a key that does not match its certificate or an unknown `min_version` fails `caviard
//! check` and start-up. The receivers call it again when the files change (certificate
//! rotation). Messages name the field and the file, never the file's content.

use super::tls::{read_certs, read_key};
use super::HumanDuration;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::version::{TLS12, TLS13};
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use serde::de::Deserializer;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// TLS settings of one receiver. Set, the receiver accepts TLS only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiverTlsConfig {
    /// PEM file of the server certificate chain, leaf first. Required.
    pub cert_file: Option<PathBuf>,
    /// PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1; RSA, ECDSA or
    /// Ed25519). Required.
    pub key_file: Option<PathBuf>,
    /// PEM file of the CA certificate(s) client certificates must chain to. Set, every client
    /// must present a certificate it signed (mutual TLS); the handshake fails otherwise.
    pub client_ca_file: Option<PathBuf>,
    /// Oldest TLS version accepted: `"1.2"` (the default) or `"1.3"`.
    pub min_version: Option<VersionText>,
    /// How often the files are checked for changes. Changed files (cert-manager renewing the
    /// certificate of a mounted Secret) are loaded for the next handshakes; files that do not
    /// load keep the previous certificate, with a warning.
    pub reload_interval: HumanDuration,
    /// Longest time a client may take to complete its handshake; a slower one is disconnected
    /// so it cannot hold a connection slot.
    pub handshake_timeout: HumanDuration,
}

impl ReceiverTlsConfig {
    /// The files the configuration is built from, in a fixed order (for change detection).
    pub fn files(&self) -> [Option<&Path>; 3] {
        [
            self.cert_file.as_deref(),
            self.key_file.as_deref(),
            self.client_ca_file.as_deref(),
        ]
    }
}

impl Default for ReceiverTlsConfig {
    fn default() -> Self {
        ReceiverTlsConfig {
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            min_version: None,
            reload_interval: HumanDuration(Duration::from_secs(30)),
            handshake_timeout: HumanDuration(Duration::from_secs(10)),
        }
    }
}

/// A TLS version as written: a YAML string (`"1.2"`) or, unquoted, a number (`1.2`).
/// Checked by [`server_config`], so a bad one is reported with its dotted path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionText(pub String);

impl<'de> Deserialize<'de> for VersionText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Str(String),
            Num(f64),
        }
        Ok(VersionText(match Raw::deserialize(d)? {
            Raw::Str(s) => s,
            Raw::Num(n) => n.to_string(),
        }))
    }
}

/// The protocol versions from `min_version` on; `None` for an unknown version.
fn versions(min: Option<&VersionText>) -> Option<&'static [&'static SupportedProtocolVersion]> {
    static FROM_12: [&SupportedProtocolVersion; 2] = [&TLS13, &TLS12];
    static FROM_13: [&SupportedProtocolVersion; 1] = [&TLS13];
    match min.map(|v| v.0.trim()) {
        None | Some("1.2") => Some(&FROM_12),
        Some("1.3") => Some(&FROM_13),
        Some(_) => None,
    }
}

/// The rustls server configuration of a receiver's `tls:` block, `path` its dotted path
/// (`serve.otlp_http.tls`): the ring provider, the versions from `min_version`, the client
/// verifier when `client_ca_file` is set, and no ALPN (the receiver sets it). Returns every
/// problem, each starting with its field's dotted path.
pub fn server_config(path: &str, tls: &ReceiverTlsConfig) -> Result<ServerConfig, Vec<String>> {
    server_config_and_leaf(path, tls).map(|(config, _)| config)
}

/// [`server_config`] and the certificate it presents (the first of `cert_file`): what the
/// expiry gauge reads.
pub fn server_config_and_leaf(
    path: &str,
    tls: &ReceiverTlsConfig,
) -> Result<(ServerConfig, CertificateDer<'static>), Vec<String>> {
    let mut problems = Vec::new();
    let versions = versions(tls.min_version.as_ref()).unwrap_or_else(|| {
        let v = tls.min_version.as_ref().map_or("", |v| v.0.as_str());
        problems.push(format!(
            "{path}.min_version: {v:?} is not supported (expected \"1.2\" or \"1.3\")"
        ));
        &[]
    });
    for (field, d) in [
        ("reload_interval", tls.reload_interval),
        ("handshake_timeout", tls.handshake_timeout),
    ] {
        if d.0.is_zero() {
            problems.push(format!("{path}.{field}: must be above zero"));
        }
    }
    let required = |field: &str, value: &Option<PathBuf>, problems: &mut Vec<String>| {
        if value.is_none() {
            problems.push(format!(
                "{path}.{field}: required (a PEM file) when {path} is set"
            ));
        }
        value.clone()
    };
    let cert = required("cert_file", &tls.cert_file, &mut problems);
    let key = required("key_file", &tls.key_file, &mut problems);
    let cert_field = format!("{path}.cert_file");
    let chain = cert.and_then(|c| read_certs(&cert_field, &c, &mut problems));
    let key_field = format!("{path}.key_file");
    let key = key.and_then(|k| read_key(&key_field, &k, &mut problems));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = tls.client_ca_file.as_ref().and_then(|ca| {
        let field = format!("{path}.client_ca_file");
        let mut roots = RootCertStore::empty();
        for (i, cert) in read_certs(&field, ca, &mut problems)?
            .into_iter()
            .enumerate()
        {
            if let Err(e) = roots.add(cert) {
                problems.push(format!(
                    "{field}: certificate {} in {} is not usable as a CA ({e})",
                    i + 1,
                    ca.display()
                ));
            }
        }
        WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .map_err(|e| problems.push(format!("{field}: {e}")))
            .ok()
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    let (Some(chain), Some(key)) = (chain, key) else {
        return Err(problems);
    };
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| vec![format!("{path}: {e}")])?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let leaf = chain[0].clone();
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        vec![format!(
            "{key_field}: unusable with {cert_field} (does the key belong to the certificate? {e})"
        )]
    })?;
    Ok((config, leaf))
}

#[cfg(test)]
mod tests {
    use crate::config::serve::test_pki::pki;
    use crate::config::serve::ServeConfig;
    use std::path::Path;

    /// The problems of a config with `tls` (a YAML flow mapping, `{dir}` the PKI directory) on
    /// each receiver in turn, with the dotted path each is reported under.
    fn problems(dir: &Path, tls: &str) -> Vec<(String, Vec<String>)> {
        let tls = tls.replace("{dir}", &dir.display().to_string());
        [
            ("serve.otlp_grpc.tls", format!("otlp_grpc: {{tls: {tls}}}")),
            ("serve.otlp_http.tls", format!("otlp_http: {{tls: {tls}}}")),
            (
                "serve.syslog.tcp_tls",
                format!("syslog: {{tcp_listen: '127.0.0.1:0', tcp_tls: {tls}}}"),
            ),
        ]
        .into_iter()
        .map(|(path, yaml)| {
            let c: ServeConfig = serde_yaml_ng::from_str(&yaml).unwrap();
            (path.to_string(), c.validate())
        })
        .collect()
    }

    #[test]
    fn valid_blocks_pass_on_every_receiver() {
        let dir = pki();
        for tls in [
            "{cert_file: '{dir}/leaf.pem', key_file: '{dir}/leaf.key'}",
            "{cert_file: '{dir}/leaf.pem', key_file: '{dir}/leaf.key', client_ca_file: '{dir}/ca.pem', min_version: 1.3, reload_interval: 5s, handshake_timeout: 2s}",
            "{cert_file: '{dir}/leaf.pem', key_file: '{dir}/leaf.key', min_version: '1.2'}",
        ] {
            for (path, p) in problems(dir.path(), tls) {
                assert_eq!(p, Vec::<String>::new(), "{path} {tls}");
            }
        }
    }

    #[test]
    fn each_bad_setting_is_named_with_its_receiver() {
        let dir = pki();
        let ok = "cert_file: '{dir}/leaf.pem', key_file: '{dir}/leaf.key'";
        let table = [
            (
                "{key_file: '{dir}/leaf.key'}".to_string(),
                ".cert_file: required",
            ),
            (
                "{cert_file: '{dir}/leaf.pem'}".to_string(),
                ".key_file: required",
            ),
            (
                "{cert_file: '{dir}/missing.pem', key_file: '{dir}/leaf.key'}".to_string(),
                ".cert_file: cannot read",
            ),
            (
                "{cert_file: '{dir}/leaf.key', key_file: '{dir}/leaf.key'}".to_string(),
                ".cert_file: no PEM certificate in",
            ),
            (
                "{cert_file: '{dir}/leaf.pem', key_file: '{dir}/leaf.pem'}".to_string(),
                ".key_file: no PEM private key",
            ),
            (
                "{cert_file: '{dir}/leaf.pem', key_file: '{dir}/other.key'}".to_string(),
                ".key_file: unusable with serve.",
            ),
            (
                "{cert_file: '{dir}/leaf.pem', key_file: '{dir}/broken.key'}".to_string(),
                ".key_file: ",
            ),
            (
                format!("{{{ok}, min_version: 1.1}}"),
                ".min_version: \"1.1\" is not supported",
            ),
            (
                format!("{{{ok}, min_version: TLSv1.3}}"),
                ".min_version: \"TLSv1.3\"",
            ),
            (
                format!("{{{ok}, client_ca_file: '{{dir}}/missing.pem'}}"),
                ".client_ca_file: cannot read",
            ),
            (
                format!("{{{ok}, client_ca_file: '{{dir}}/leaf.key'}}"),
                ".client_ca_file: no PEM certificate",
            ),
            (
                format!("{{{ok}, reload_interval: 0s}}"),
                ".reload_interval: must be above zero",
            ),
            (
                format!("{{{ok}, handshake_timeout: 0s}}"),
                ".handshake_timeout: must be above zero",
            ),
        ];
        for (tls, want) in table {
            for (path, p) in problems(dir.path(), &tls) {
                let want = format!("{path}{want}");
                assert!(
                    p.iter().any(|p| p.starts_with(&want)),
                    "{tls}: want {want:?}, got {p:?}"
                );
                assert!(!p.iter().any(|p| p.contains("SECRETKEYMATERIAL")), "{p:?}");
            }
        }
    }

    #[test]
    fn syslog_tls_needs_the_tcp_receiver() {
        let dir = pki();
        let yaml = format!(
            "syslog: {{udp_listen: '127.0.0.1:0', tcp_tls: {{cert_file: '{0}/leaf.pem', key_file: '{0}/leaf.key'}}}}",
            dir.path().display()
        );
        let c: ServeConfig = serde_yaml_ng::from_str(&yaml).unwrap();
        assert!(
            c.validate()
                .iter()
                .any(|p| p.starts_with("serve.syslog.tcp_tls: set without serve.syslog.tcp_listen")),
            "{:?}",
            c.validate()
        );
    }

    #[test]
    fn unknown_keys_fail_at_load() {
        for yaml in [
            "otlp_http: {tls: {cert_file: a, key_file: b, ca_file: c}}",
            "syslog: {tcp_listen: '127.0.0.1:1', tcp_tls: {client_ca: c}}",
        ] {
            let err = serde_yaml_ng::from_str::<ServeConfig>(yaml).unwrap_err();
            assert!(err.to_string().contains("unknown field"), "{err}");
        }
    }
}
