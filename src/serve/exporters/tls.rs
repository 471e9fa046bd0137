//! The connector every network exporter dials the upstream with: hyper's TCP connector,
//! wrapped by hyper-rustls for an `https://` endpoint with the client configuration of
//! [`crate::config::serve::tls`]. The HTTP client (OTLP/HTTP, Splunk HEC, Elasticsearch) uses
//! it for every endpoint (TLS only happens for `https://`); the gRPC exporter hands it to tonic
//! as a custom connector for `https://` only, so one TLS implementation and one set of settings
//! serve every protocol.
//!
//! Rotation: [`Connector`] holds the hyper-rustls connector built from the TLS files in force
//! and rebuilds it when they change (every `serve.upstream.tls.reload_interval`, see
//! [`crate::serve::tls_files`]). Each new connection takes the connector in force when it is
//! dialled; connections already open (pooled HTTP/1.1 connections, the HTTP/2 connection a
//! gRPC channel or HTTP client multiplexes over) stay on the configuration they were made with
//! until they close. Each rebuild has its own session cache, so no connection made after a
//! rotation resumes a session of the old files.

use crate::config::serve::{is_https, tls, TlsConfig, UpstreamConfig};
use crate::serve::telemetry::Counters;
use crate::serve::tls_files::{Loaded, Reloading, Role};
use http::Uri;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::task::JoinSet;
use tower_service::Service;

/// HTTP versions to offer in ALPN.
#[derive(Debug, Clone, Copy)]
pub(super) enum Alpn {
    /// `h2` and `http/1.1`: OTLP/HTTP works over either; the server picks.
    Http1And2,
    /// `h2` only: gRPC needs HTTP/2, and gRPC servers may refuse a handshake without it.
    Http2,
}

type Https = HttpsConnector<HttpConnector>;

/// The upstream connector: the hyper-rustls connector built from the TLS files in force.
#[derive(Clone)]
pub(crate) struct Connector(Arc<Reloading<Https>>);

impl Connector {
    /// Reload the TLS files when they change, in a task on `tasks` (until it is aborted).
    /// Nothing to do for a plain endpoint or one without TLS files.
    pub(super) fn spawn_reload(&self, tasks: &mut JoinSet<()>) {
        self.0.spawn_reload(tasks, std::future::pending());
    }
}

impl Service<Uri> for Connector {
    type Response = <Https as Service<Uri>>::Response;
    type Error = <Https as Service<Uri>>::Error;
    type Future = <Https as Service<Uri>>::Future;

    /// Always ready, as hyper's TCP connector (and so hyper-rustls's) is.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // A clone of the connector in force: Arcs of its TLS configuration and resolvers.
        let mut https = (*self.0.current()).clone();
        https.call(uri)
    }
}

/// The connector for `endpoint`, connecting within the upstream timeout with Nagle off, with
/// `alpn`. Loads the TLS files (and registers the reload and expiry metrics in `counters`).
pub(super) fn connector(
    endpoint: &str,
    config: &UpstreamConfig,
    alpn: Alpn,
    counters: Arc<Counters>,
) -> Result<Connector, String> {
    let https = is_https(endpoint);
    let settings = if https { config.tls.clone() } else { None };
    if settings.as_ref().is_some_and(|t| t.insecure_skip_verify) {
        tracing::warn!(
            "serve.upstream.tls.insecure_skip_verify is on: the upstream's certificate is not verified, so anyone on the path can read and alter the records."
        );
    }
    let block = settings.clone().unwrap_or_default();
    let timeout = config.timeout.0;
    Reloading::new(
        (Role::Upstream, "serve.upstream.tls"),
        &block.files(),
        block.cert_file.as_deref(),
        block.reload_interval.0,
        counters,
        Box::new(move || build(https, settings.as_ref(), timeout, alpn)),
    )
    .map(Connector)
    .map_err(|p| p.join("; "))
}

/// The hyper-rustls connector over a fresh TCP connector, and the client certificate it
/// presents.
fn build(
    https: bool,
    settings: Option<&TlsConfig>,
    timeout: Duration,
    alpn: Alpn,
) -> Result<Loaded<Https>, Vec<String>> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(timeout));
    // Let `https://` URIs through to the TLS layer.
    http.enforce_http(false);
    let (tls, leaf) = if https {
        tls::client_config_and_leaf(settings)?
    } else {
        // Never used: the endpoint is fixed and plain, so no connection takes the TLS path.
        // Built rather than loaded, so a plain upstream reads no CA files.
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| vec![e.to_string()])?
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth();
        (config, None)
    };
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let builder = match settings.and_then(|t| t.server_name.clone()) {
        Some(name) => {
            let name = ServerName::try_from(name).map_err(|_| {
                vec!["serve.upstream.tls.server_name: not a DNS name or IP address".to_string()]
            })?;
            builder.with_server_name_resolver(FixedServerNameResolver::new(name))
        }
        None => builder,
    };
    let value = match alpn {
        Alpn::Http1And2 => builder.enable_all_versions().wrap_connector(http),
        Alpn::Http2 => builder.enable_http2().wrap_connector(http),
    };
    Ok(Loaded { value, leaf })
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
