//! TLS in front of a receiver's TCP listener (`serve.otlp_grpc.tls`, `serve.otlp_http.tls`,
//! `serve.syslog.tcp_tls`).
//!
//! Each accepted connection is handshaken in its own task, never in the accept loop, under
//! `handshake_timeout`: a client that sends nothing, or plaintext, or no (or an unknown)
//! client certificate, costs one task for at most that long and is counted in
//! `caviard_tls_handshake_failures_total{receiver}`; the listener keeps serving. Failures are
//! logged at debug level with rustls' reason and the peer address, never with what was sent.
//!
//! Rotation (`reload_interval`, shared with the upstream's TLS: see
//! [`crate::serve::tls_files`]): changed files are loaded for the next handshakes
//! (connections already open keep theirs); a change that does not load keeps the previous
//! certificate, with a warning naming the fields and files, never their content.

use super::stopped;
use crate::config::serve::receiver_tls::{server_config_and_leaf, ReceiverTlsConfig};
use crate::serve::telemetry::Counters;
use crate::serve::tls_files::{Loaded, Reloading, Role};
use crate::serve::ServeError;
use rustls::ServerConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// ALPN of the OTLP/HTTP receiver (h2 first, as clients that offer both prefer it).
pub(super) const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];
/// ALPN of the gRPC receiver: gRPC is HTTP/2 only.
pub(super) const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// Syslog over TLS (RFC 5425) names no application protocol.
pub(super) const ALPN_NONE: &[&[u8]] = &[];

/// One receiver's TLS: the server configuration in force, rebuilt when its files change.
pub(super) struct Tls {
    /// Receiver name, the metric label (`otlp_http`).
    receiver: &'static str,
    handshake_timeout: Duration,
    config: Arc<Reloading<ServerConfig>>,
    counters: Arc<Counters>,
}

impl Tls {
    /// Load the files and build the first configuration; a problem is a configuration error
    /// (they were checked by `validate` moments ago, so this only fails on a race).
    pub(super) fn new(
        receiver: &'static str,
        path: &'static str,
        settings: &ReceiverTlsConfig,
        alpn: &'static [&'static [u8]],
        counters: Arc<Counters>,
    ) -> Result<Arc<Tls>, ServeError> {
        let owned = settings.clone();
        let config = Reloading::new(
            (Role::Receiver(receiver), path),
            &settings.files(),
            settings.cert_file.as_deref(),
            settings.reload_interval.0,
            counters.clone(),
            Box::new(move || build(path, &owned, alpn)),
        )
        .map_err(ServeError::Config)?;
        counters.register_tls(receiver);
        tracing::info!(
            receiver,
            cert_file = %settings.cert_file.as_deref().unwrap_or(std::path::Path::new("")).display(),
            client_certificates = if settings.client_ca_file.is_some() { "required" } else { "not requested" },
            "TLS on."
        );
        Ok(Arc::new(Tls {
            receiver,
            handshake_timeout: settings.handshake_timeout.0,
            config,
            counters,
        }))
    }

    /// Handshake `tcp` with the configuration in force; `None` (counted, logged at debug
    /// level) when it fails or takes longer than `handshake_timeout`.
    pub(super) async fn accept(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
    ) -> Option<TlsStream<TcpStream>> {
        let handshake = TlsAcceptor::from(self.config.current()).accept(tcp);
        let receiver = self.receiver;
        match tokio::time::timeout(self.handshake_timeout, handshake).await {
            Ok(Ok(stream)) => return Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(receiver, %peer, error = %e, "TLS handshake failed; connection closed.");
            }
            Err(_) => {
                tracing::debug!(receiver, %peer, "TLS handshake timed out; connection closed.");
            }
        }
        self.counters.tls_handshake_failed(receiver);
        None
    }

    /// Check the files every `reload_interval` until `stop`, reloading them when they change.
    pub(super) fn spawn_reload(&self, tasks: &mut JoinSet<()>, stop: watch::Receiver<bool>) {
        self.config.spawn_reload(tasks, stopped(stop));
    }
}

/// The server configuration with the receiver's ALPN, and its certificate.
fn build(
    path: &str,
    settings: &ReceiverTlsConfig,
    alpn: &[&[u8]],
) -> Result<Loaded<ServerConfig>, Vec<String>> {
    let (mut config, leaf) = server_config_and_leaf(path, settings)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Loaded {
        value: config,
        leaf: Some(leaf),
    })
}

/// A handshaken connection as tonic serves it: the TLS stream, with the TCP connection's
/// addresses as its connect info.
pub(super) struct TlsConn(pub TlsStream<TcpStream>);

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.get_ref().0.connect_info()
    }
}

impl tokio::io::AsyncRead for TlsConn {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsConn {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
