//! TLS in front of a receiver's TCP listener (`serve.otlp_grpc.tls`, `serve.otlp_http.tls`,
//! `serve.syslog.tcp_tls`).
//!
//! Each accepted connection is handshaken in its own task, never in the accept loop, under
//! `handshake_timeout`: a client that sends nothing, or plaintext, or no (or an unknown)
//! client certificate, costs one task for at most that long and is counted in
//! `caviard_tls_handshake_failures_total{receiver}`; the listener keeps serving. Failures are
//! logged at debug level with rustls' reason and the peer address, never with what was sent.
//!
//! Rotation: every `reload_interval` the files are read and hashed; when the hash changed the
//! server configuration is rebuilt with the same checks as at start-up and used for the next
//! handshakes (connections already open keep theirs). A change that does not load (a key
//! written before its certificate, a truncated file) keeps the previous configuration and is
//! logged once as a warning naming the fields and files, never their content; the next
//! change is tried again.

use super::stopped;
use crate::config::serve::receiver_tls::{server_config, ReceiverTlsConfig};
use crate::serve::telemetry::Counters;
use crate::serve::ServeError;
use rustls::ServerConfig;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
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

/// One receiver's TLS: the server configuration in force and what is needed to rebuild it.
pub(super) struct Tls {
    /// Receiver name, the metric label (`otlp_http`).
    receiver: &'static str,
    /// Dotted path of the settings (`serve.otlp_http.tls`), for messages.
    path: &'static str,
    settings: ReceiverTlsConfig,
    alpn: &'static [&'static [u8]],
    current: RwLock<Arc<ServerConfig>>,
    /// The files' hash when `current` was first built.
    loaded: [u8; 32],
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
        let loaded = fingerprint(settings);
        let config = build(path, settings, alpn).map_err(ServeError::Config)?;
        counters.register_tls(receiver);
        tracing::info!(
            receiver,
            cert_file = %settings.cert_file.as_deref().unwrap_or(std::path::Path::new("")).display(),
            client_certificates = if settings.client_ca_file.is_some() { "required" } else { "not requested" },
            "TLS on."
        );
        Ok(Arc::new(Tls {
            receiver,
            path,
            settings: settings.clone(),
            alpn,
            current: RwLock::new(Arc::new(config)),
            loaded,
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
        let config = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let handshake = TlsAcceptor::from(config).accept(tcp);
        let receiver = self.receiver;
        match tokio::time::timeout(self.settings.handshake_timeout.0, handshake).await {
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
    pub(super) fn spawn_reload(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        stop: watch::Receiver<bool>,
    ) {
        let tls = self.clone();
        tasks.spawn(async move {
            let mut seen = tls.loaded;
            let mut tick = tokio::time::interval(tls.settings.reload_interval.0);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let stopping = stopped(stop);
            tokio::pin!(stopping);
            loop {
                tokio::select! {
                    () = &mut stopping => return,
                    _ = tick.tick() => {}
                }
                let check = tls.clone();
                match tokio::task::spawn_blocking(move || check.reload_if_changed(seen)).await {
                    Ok(now) => seen = now,
                    Err(e) => tracing::warn!(error = %e, "TLS reload check failed."),
                }
            }
        });
    }

    /// Rebuild the configuration if the files' hash differs from `seen`; the hash now.
    fn reload_if_changed(&self, seen: [u8; 32]) -> [u8; 32] {
        let now = fingerprint(&self.settings);
        if now == seen {
            return now;
        }
        match build(self.path, &self.settings, self.alpn) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
                tracing::info!(
                    receiver = self.receiver,
                    "TLS files changed; reloaded for new connections."
                );
            }
            Err(problems) => tracing::warn!(
                receiver = self.receiver,
                problems = %problems.join("; "),
                "TLS files changed but do not load; keeping the previous certificate."
            ),
        }
        now
    }
}

/// The server configuration with the receiver's ALPN.
fn build(
    path: &str,
    settings: &ReceiverTlsConfig,
    alpn: &[&[u8]],
) -> Result<ServerConfig, Vec<String>> {
    let mut config = server_config(path, settings)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// SHA-256 over the three files' contents (an unreadable file hashes as its error kind), so
/// any change is seen whatever the file system's timestamps do, including the symbolic-link
/// swap of a Kubernetes Secret volume.
fn fingerprint(settings: &ReceiverTlsConfig) -> [u8; 32] {
    let mut h = Sha256::new();
    for file in [
        &settings.cert_file,
        &settings.key_file,
        &settings.client_ca_file,
    ] {
        match file.as_deref().map(std::fs::read) {
            None => h.update([0]),
            Some(Ok(bytes)) => {
                h.update([1]);
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
            Some(Err(e)) => {
                h.update([2]);
                h.update(e.kind().to_string().as_bytes());
            }
        }
    }
    h.finalize().into()
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
