//! The OTLP receivers: gRPC (tonic, generated services) and HTTP (hyper). They bind, accept,
//! check and hand requests to the pipeline; they never decode on their own (except tonic's
//! built-in protobuf decoding), never redact and never queue.

mod grpc;
mod http;

use super::pipeline::Pipeline;
use super::{Listening, ServeError};
use crate::config::serve::ServeConfig;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
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
    };
    if config.otlp_grpc.enabled {
        let listener = bind("otlp_grpc", &config.otlp_grpc.listen).await?;
        listening.otlp_grpc = listener.local_addr().ok();
        tasks.spawn(grpc::serve(
            listener,
            limits,
            pipeline.clone(),
            stop.clone(),
        ));
    }
    // The HTTP port always serves /healthz and /readyz; `enabled` only gates the OTLP paths.
    let listener = bind("otlp_http", &config.otlp_http.listen).await?;
    listening.otlp_http = listener.local_addr().ok();
    tasks.spawn(http::serve(
        listener,
        limits,
        config.otlp_http.enabled,
        pipeline,
        stop,
    ));
    Ok((listening, Servers { tasks }))
}

async fn bind(receiver: &'static str, listen: &str) -> Result<TcpListener, ServeError> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        ServeError::Config(vec![format!(
            "serve.{receiver}.listen: not an IP:port address"
        )])
    })?;
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            receiver,
            addr,
            source,
        })
}

/// Resolve when `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
