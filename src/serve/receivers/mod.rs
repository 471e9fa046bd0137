//! The receivers: OTLP over gRPC (tonic, generated services) and HTTP (hyper), and syslog
//! over UDP and TCP. They bind, accept, check and hand requests to the pipeline; they never
//! redact and never queue (syslog messages are parsed into OTLP records first). Each TCP
//! receiver can take TLS (`tls.rs`).

mod grpc;
mod http;
mod syslog;
mod tls;

use super::pipeline::Pipeline;
use super::{Listening, ServeError};
use crate::config::serve::{ReceiverTlsConfig, ServeConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The per-request bounds both receivers enforce.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_body: usize,
    max_decompressed: usize,
    max_concurrent: usize,
    timeout: Duration,
}

/// The running servers.
pub(crate) struct Servers {
    tasks: JoinSet<()>,
}

impl Servers {
    /// Wait until both servers stopped accepting and answered their in-flight requests.
    pub(crate) async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Bind the enabled receivers and start serving; they stop gracefully when `stop` turns true.
pub(crate) async fn start(
    config: &ServeConfig,
    pipeline: Pipeline,
    stop: watch::Receiver<bool>,
) -> Result<(Listening, Servers), ServeError> {
    let limits = Limits {
        max_body: config.limits.max_body_bytes.as_usize(),
        max_decompressed: config.limits.max_decompressed_bytes.as_usize(),
        max_concurrent: config.limits.max_concurrent_requests.get(),
        timeout: config.limits.request_timeout.0,
    };
    let mut tasks = JoinSet::new();
    let mut listening = Listening {
        otlp_grpc: None,
        otlp_http: None,
        syslog_udp: None,
        syslog_tcp: None,
    };
    let sys = &config.syslog;
    if sys.enabled() {
        let udp = match &sys.udp_listen {
            Some(listen) => {
                let addr = parse_listen("syslog.udp_listen", listen)?;
                let socket =
                    tokio::net::UdpSocket::bind(addr)
                        .await
                        .map_err(|source| ServeError::Bind {
                            receiver: "syslog_udp",
                            addr,
                            source,
                        })?;
                listening.syslog_udp = socket.local_addr().ok();
                Some(socket)
            }
            None => None,
        };
        let tcp = match &sys.tcp_listen {
            Some(listen) => {
                let listener = bind("syslog_tcp", "syslog.tcp_listen", listen).await?;
                listening.syslog_tcp = listener.local_addr().ok();
                Some(listener)
            }
            None => None,
        };
        let settings = syslog::Settings {
            max_message: sys.max_message_bytes.as_usize(),
            max_batch: sys.max_batch_records,
            max_delay: sys.max_batch_delay.0,
            max_connections: sys.max_connections,
        };
        let tls = start_tls(
            &mut tasks,
            ("syslog_tcp", "serve.syslog.tcp_tls"),
            sys.tcp_tls.as_ref(),
            tls::ALPN_NONE,
            &pipeline,
            &stop,
        )?;
        syslog::spawn(
            &mut tasks,
            udp,
            tcp.map(|l| (l, tls)),
            settings,
            pipeline.clone(),
            stop.clone(),
        );
    }
    if config.otlp_grpc.enabled {
        let listener = bind("otlp_grpc", "otlp_grpc.listen", &config.otlp_grpc.listen).await?;
        listening.otlp_grpc = listener.local_addr().ok();
        let tls = start_tls(
            &mut tasks,
            ("otlp_grpc", "serve.otlp_grpc.tls"),
            config.otlp_grpc.tls.as_ref(),
            tls::ALPN_GRPC,
            &pipeline,
            &stop,
        )?;
        tasks.spawn(grpc::serve(
            listener,
            tls,
            limits,
            pipeline.clone(),
            stop.clone(),
        ));
    }
    // The HTTP port always serves /healthz and /readyz; `enabled` only gates the OTLP paths.
    let listener = bind("otlp_http", "otlp_http.listen", &config.otlp_http.listen).await?;
    listening.otlp_http = listener.local_addr().ok();
    let tls = start_tls(
        &mut tasks,
        ("otlp_http", "serve.otlp_http.tls"),
        config.otlp_http.tls.as_ref(),
        tls::ALPN_HTTP,
        &pipeline,
        &stop,
    )?;
    tasks.spawn(http::serve(
        listener,
        tls,
        limits,
        config.otlp_http.enabled,
        pipeline,
        stop,
    ));
    Ok((listening, Servers { tasks }))
}

/// A receiver's TLS, with its reload task on `tasks`, when `settings` are given; `names` are
/// the receiver (metric label) and the settings' dotted path.
fn start_tls(
    tasks: &mut JoinSet<()>,
    (receiver, path): (&'static str, &'static str),
    settings: Option<&ReceiverTlsConfig>,
    alpn: &'static [&'static [u8]],
    pipeline: &Pipeline,
    stop: &watch::Receiver<bool>,
) -> Result<Option<Arc<tls::Tls>>, ServeError> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    let tls = tls::Tls::new(receiver, path, settings, alpn, pipeline.shared_counters())?;
    tls.spawn_reload(tasks, stop.clone());
    Ok(Some(tls))
}

/// Parse a listen address; `path` is its place under `serve.`.
fn parse_listen(path: &str, listen: &str) -> Result<SocketAddr, ServeError> {
    listen
        .parse()
        .map_err(|_| ServeError::Config(vec![format!("serve.{path}: not an IP:port address")]))
}

async fn bind(receiver: &'static str, path: &str, listen: &str) -> Result<TcpListener, ServeError> {
    let addr = parse_listen(path, listen)?;
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            receiver,
            addr,
            source,
        })
}

/// The next connection of `listener` (receiver `receiver`), with `TCP_NODELAY` set. Accept
/// errors (out of file descriptors and the like) are logged and waited out briefly instead of
/// spinning.
async fn accept(listener: &TcpListener, receiver: &str) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return (stream, peer);
            }
            Err(e) => {
                tracing::warn!(receiver, error = %e, "Accept failed.");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Resolve when `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
