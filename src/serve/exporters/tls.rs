//! The connector both network exporters dial the upstream with: hyper's TCP connector, wrapped
//! by hyper-rustls for an `https://` endpoint with the client configuration of
//! [`crate::config::serve::tls`]. The HTTP exporter's client uses it for every endpoint (TLS
//! only happens for `https://`); the gRPC exporter hands it to tonic as a custom connector for
//! `https://` only, so one TLS implementation and one set of settings serve both protocols.

use crate::config::serve::{is_https, tls, UpstreamConfig};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use std::sync::Arc;

/// HTTP versions to offer in ALPN.
#[derive(Debug, Clone, Copy)]
pub(super) enum Alpn {
    /// `h2` and `http/1.1`: OTLP/HTTP works over either; the server picks.
    Http1And2,
    /// `h2` only: gRPC needs HTTP/2, and gRPC servers may refuse a handshake without it.
    Http2,
}

/// The connector for `endpoint`, connecting within the upstream timeout with Nagle off.
pub(super) fn connector(
    endpoint: &str,
    config: &UpstreamConfig,
    alpn: Alpn,
) -> Result<HttpsConnector<HttpConnector>, String> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(config.timeout.0));
    // Let `https://` URIs through to the TLS layer.
    http.enforce_http(false);
    let tls = if is_https(endpoint) {
        if config.tls.as_ref().is_some_and(|t| t.insecure_skip_verify) {
            tracing::warn!(
                "serve.upstream.tls.insecure_skip_verify is on: the upstream's certificate is not verified, so anyone on the path can read and alter the records."
            );
        }
        tls::client_config(config.tls.as_ref()).map_err(|p| p.join("; "))?
    } else {
        // Never used: the endpoint is fixed and plain, so no connection takes the TLS path.
        // Built rather than loaded, so a plain upstream reads no CA files.
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth()
    };
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let builder = match config.tls.as_ref().and_then(|t| t.server_name.clone()) {
        Some(name) => {
            let name = ServerName::try_from(name)
                .map_err(|_| "tls.server_name: not a DNS name or IP address".to_string())?;
            builder.with_server_name_resolver(FixedServerNameResolver::new(name))
        }
        None => builder,
    };
    Ok(match alpn {
        Alpn::Http1And2 => builder.enable_all_versions().wrap_connector(http),
        Alpn::Http2 => builder.enable_http2().wrap_connector(http),
    })
}

/// A connection error with its causes (`client error (Connect): invalid peer certificate:
/// UnknownIssuer`): hyper's and tonic's own messages name no cause, and a certificate that
/// does not verify must be told apart from a refused connection in the retry log.
pub(super) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        // Wrappers often repeat their source's message.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}
