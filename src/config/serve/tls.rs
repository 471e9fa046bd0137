//! `serve.upstream.tls`: TLS towards an `https://` upstream, with the settings of the
//! OpenTelemetry Collector's exporters (`configtls` client settings) under the same names, so a
//! collector's exporter block carries over.
//!
//! [`client_config`] turns the block into the rustls client configuration both exporters use.
//! It reads and checks every file, so [`super::ServeConfig::validate`] calls it too: a missing
//! file, one that is not PEM or a key that does not match its certificate fails `caviard check`
//! and start-up, not the first export. The exporters call it again when the files change
//! (rotation, every `reload_interval`). Error messages name the field and the file, never the
//! file's content (a key file's lines are secrets).

use super::HumanDuration;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// TLS settings of the upstream connection. Only allowed with an `https://` endpoint, which
/// gets TLS with the default settings without this block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM file of the CA certificate(s) the upstream's certificate must chain to, for a
    /// private CA. Set, it replaces the public roots (as in the Collector): only this CA is
    /// trusted, unless `include_system_ca_certs_pool` adds them back.
    pub ca_file: Option<PathBuf>,
    /// With `ca_file`, trust the public roots as well.
    pub include_system_ca_certs_pool: bool,
    /// PEM file of the client certificate chain, for an upstream that requires mutual TLS.
    /// Needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1). Needs
    /// `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate: encrypted, but open to a man in the middle. For a test
    /// bench only; logged as a warning at start-up.
    pub insecure_skip_verify: bool,
    /// Name the server certificate is checked against, and sent as SNI, instead of the
    /// endpoint's host (an upstream reached by IP, or through a tunnel).
    /// `server_name_override` is accepted too, the Collector's spelling.
    #[serde(alias = "server_name_override")]
    pub server_name: Option<String>,
    /// How often `ca_file`, `cert_file` and `key_file` are checked for changes. Changed files
    /// (cert-manager renewing a mounted Secret) are used for new connections; files that do
    /// not load keep the previous ones, with a warning.
    pub reload_interval: HumanDuration,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_file: None,
            include_system_ca_certs_pool: false,
            cert_file: None,
            key_file: None,
            insecure_skip_verify: false,
            server_name: None,
            reload_interval: HumanDuration(Duration::from_secs(30)),
        }
    }
}

impl TlsConfig {
    /// The files the configuration is built from, in a fixed order (for change detection).
    pub fn files(&self) -> [Option<&Path>; 3] {
        [
            self.ca_file.as_deref(),
            self.cert_file.as_deref(),
            self.key_file.as_deref(),
        ]
    }
}

/// The rustls client configuration for the upstream: the ring provider, TLS 1.2 and 1.3, the
/// roots (see [`roots`]), the client certificate if any, and no ALPN (the connector sets it).
/// `tls` is `None` for an `https://` endpoint without a `tls:` block. Returns every problem,
/// each starting with its dotted path.
pub fn client_config(tls: Option<&TlsConfig>) -> Result<ClientConfig, Vec<String>> {
    client_config_and_leaf(tls).map(|(config, _)| config)
}

/// [`client_config`] and the client certificate it presents (the first of `cert_file`), if
/// any: what the expiry gauge reads.
pub fn client_config_and_leaf(
    tls: Option<&TlsConfig>,
) -> Result<(ClientConfig, Option<CertificateDer<'static>>), Vec<String>> {
    let default = TlsConfig::default();
    let tls = tls.unwrap_or(&default);
    let mut problems = Vec::new();
    if tls.reload_interval.0.is_zero() {
        problems.push("serve.upstream.tls.reload_interval: must be above zero".into());
    }
    // Named explicitly rather than taken from rustls' process default, which a dependency
    // could set to another provider.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| vec![format!("serve.upstream.tls: {e}")])?;
    let roots = roots(tls, &mut problems);
    if let Some(name) = &tls.server_name {
        if ServerName::try_from(name.as_str()).is_err() {
            problems.push(format!(
                "serve.upstream.tls.server_name: {name:?} is not a DNS name or IP address"
            ));
        }
    }
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        builder.with_root_certificates(roots)
    };
    let config = match (&tls.cert_file, &tls.key_file) {
        (None, None) => Some((builder.with_no_client_auth(), None)),
        (Some(cert), Some(key)) => {
            let chain = read_certs("serve.upstream.tls.cert_file", cert, &mut problems);
            let key = read_key("serve.upstream.tls.key_file", key, &mut problems);
            match (chain, key) {
                (Some(chain), Some(key)) => match builder.with_client_auth_cert(chain.clone(), key)
                {
                    Ok(c) => Some((c, chain.into_iter().next())),
                    Err(e) => {
                        problems.push(format!(
                            "serve.upstream.tls.key_file: unusable with serve.upstream.tls.cert_file ({e})"
                        ));
                        None
                    }
                },
                _ => None,
            }
        }
        (Some(_), None) => {
            problems.push(
                "serve.upstream.tls.cert_file: set without serve.upstream.tls.key_file; set both or neither"
                    .into(),
            );
            None
        }
        (None, Some(_)) => {
            problems.push(
                "serve.upstream.tls.key_file: set without serve.upstream.tls.cert_file; set both or neither"
                    .into(),
            );
            None
        }
    };
    match config {
        Some(c) if problems.is_empty() => Ok(c),
        _ => Err(problems),
    }
}

/// The trust anchors: `ca_file` alone when it is set (a private CA: nothing else may vouch
/// for the upstream), otherwise the public roots. The public roots are Mozilla's, compiled in
/// through webpki-roots so they exist in a distroless or scratch image without
/// `/etc/ssl/certs`, plus the system's store where there is one (rustls-native-certs), so a CA
/// installed system-wide is trusted as it is by other programs. A system store that is absent
/// or has unreadable entries is not an error: the compiled-in roots remain.
fn roots(tls: &TlsConfig, problems: &mut Vec<String>) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    if let Some(path) = &tls.ca_file {
        for (i, cert) in read_certs("serve.upstream.tls.ca_file", path, problems)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Err(e) = roots.add(cert) {
                problems.push(format!(
                    "serve.upstream.tls.ca_file: certificate {} in {} is not usable as a CA ({e})",
                    i + 1,
                    path.display()
                ));
            }
        }
        if !tls.include_system_ca_certs_pool {
            return roots;
        }
    }
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

/// Every certificate of a PEM file; `None` (and a problem) if there is none or the file cannot
/// be read.
pub(super) fn read_certs(
    field: &str,
    path: &Path,
    problems: &mut Vec<String>,
) -> Option<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_problem(field, path, "certificate", e));
    match certs {
        Ok(c) if !c.is_empty() => Some(c),
        Ok(_) => {
            problems.push(pem_problem(
                field,
                path,
                "certificate",
                pem::Error::NoItemsFound,
            ));
            None
        }
        Err(p) => {
            problems.push(p);
            None
        }
    }
}

/// The first private key of a PEM file; `field` is the setting's dotted path.
pub(super) fn read_key(
    field: &str,
    path: &Path,
    problems: &mut Vec<String>,
) -> Option<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| {
            problems.push(pem_problem(
                field,
                path,
                "private key (PKCS#8, PKCS#1 or SEC1)",
                e,
            ))
        })
        .ok()
}

/// A PEM error as a message. Only I/O errors keep their detail: the parser's quote lines of
/// the file, which may be key material.
fn pem_problem(field: &str, path: &Path, what: &str, e: pem::Error) -> String {
    let path = path.display();
    match e {
        pem::Error::Io(e) => format!("{field}: cannot read {path}: {e}"),
        pem::Error::NoItemsFound => format!("{field}: no PEM {what} in {path}"),
        _ => format!("{field}: {path} is not valid PEM"),
    }
}

/// `insecure_skip_verify`: accepts any certificate for any name, but still checks the
/// handshake signatures, so the connection is at least bound to the key the server showed.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::serve::test_pki::pki;
    use crate::config::serve::ServeConfig;

    /// The problems of a `serve:` section whose upstream is `endpoint` with `tls` (a YAML
    /// flow mapping; `{dir}` stands for the PKI directory).
    fn problems(dir: &Path, endpoint: &str, tls: &str) -> Vec<String> {
        let tls = tls.replace("{dir}", &dir.display().to_string());
        let yaml = format!("upstream: {{endpoint: '{endpoint}', tls: {tls}}}");
        serde_yaml_ng::from_str::<ServeConfig>(&yaml)
            .unwrap()
            .validate()
    }

    #[test]
    fn valid_blocks_pass() {
        let dir = pki();
        for tls in [
            "{}",
            "{ca_file: '{dir}/ca.pem'}",
            "{ca_file: '{dir}/ca.pem', include_system_ca_certs_pool: true}",
            "{cert_file: '{dir}/leaf.pem', key_file: '{dir}/leaf.key'}",
            "{ca_file: '{dir}/ca.pem', cert_file: '{dir}/leaf.pem', key_file: '{dir}/leaf.key', server_name: collector.internal}",
            "{insecure_skip_verify: true}",
            "{server_name_override: 10.0.0.7}",
            "{ca_file: '{dir}/ca.pem', reload_interval: 250ms}",
        ] {
            assert_eq!(
                problems(dir.path(), "https://c:4317", tls),
                Vec::<String>::new(),
                "{tls}"
            );
        }
        // No block at all: https alone is valid, on port 443 by default.
        let c: ServeConfig = serde_yaml_ng::from_str("upstream: {endpoint: 'https://c'}").unwrap();
        assert_eq!(c.validate(), Vec::<String>::new());
        assert_eq!(
            crate::config::serve::parse_endpoint("https://c"),
            Ok(("c".to_string(), 443))
        );
        assert!(crate::config::serve::is_https("HTTPS://c"));
    }

    #[test]
    fn each_bad_setting_is_named() {
        let dir = pki();
        let table = [
            (
                "http://c:4317",
                "{}",
                "serve.upstream.tls: set, but serve.upstream.endpoint is not https://",
            ),
            (
                "https://c",
                "{ca_file: '{dir}/missing.pem'}",
                "serve.upstream.tls.ca_file: cannot read",
            ),
            (
                "https://c",
                "{ca_file: '{dir}/text.pem'}",
                "serve.upstream.tls.ca_file: no PEM certificate in",
            ),
            (
                "https://c",
                "{ca_file: '{dir}/broken.pem'}",
                "serve.upstream.tls.ca_file: ",
            ),
            (
                "https://c",
                "{ca_file: '{dir}/leaf.key'}",
                "serve.upstream.tls.ca_file: no PEM certificate in",
            ),
            (
                "https://c",
                "{cert_file: '{dir}/leaf.pem'}",
                "serve.upstream.tls.cert_file: set without serve.upstream.tls.key_file",
            ),
            (
                "https://c",
                "{key_file: '{dir}/leaf.key'}",
                "serve.upstream.tls.key_file: set without serve.upstream.tls.cert_file",
            ),
            (
                "https://c",
                "{cert_file: '{dir}/leaf.pem', key_file: '{dir}/ca.pem'}",
                "serve.upstream.tls.key_file: no PEM private key",
            ),
            (
                "https://c",
                "{cert_file: '{dir}/leaf.pem', key_file: '{dir}/other.key'}",
                "serve.upstream.tls.key_file: unusable with serve.upstream.tls.cert_file",
            ),
            (
                "https://c",
                "{reload_interval: 0s}",
                "serve.upstream.tls.reload_interval: must be above zero",
            ),
            (
                "https://c",
                "{server_name: 'not a name'}",
                "serve.upstream.tls.server_name: \"not a name\" is not a DNS name",
            ),
        ];
        for (endpoint, tls, want) in table {
            let p = problems(dir.path(), endpoint, tls);
            assert!(
                p.iter().any(|p| p.starts_with(want)),
                "{endpoint} {tls}: want {want:?}, got {p:?}"
            );
        }
        // A broken PEM file is named, its lines are not quoted.
        let p = problems(dir.path(), "https://c", "{ca_file: '{dir}/broken.pem'}");
        assert!(p[0].ends_with("broken.pem is not valid PEM"), "{p:?}");
        assert!(!p[0].contains("%%%%"), "{p:?}");
    }

    #[test]
    fn unknown_tls_keys_fail_at_load() {
        let err = serde_yaml_ng::from_str::<ServeConfig>(
            "upstream: {endpoint: 'https://c', tls: {ca_pem: x}}",
        )
        .unwrap_err();
        assert!(err.to_string().contains("ca_pem"), "{err}");
    }
}
