//! `caviard serve`: an OTLP proxy that redacts logs, traces and metrics on their way to the
//! real backend.
//!
//! ```text
//!  OTLP/gRPC ─┐                      ┌─ worker ─┐                        ┌─ exporter (logs)    ─┐
//!             ├─ admit ─> job queue ─┼─ worker ─┼─> bounded queue ───────┼─ exporter (traces)  ─┼─> upstream
//!  OTLP/HTTP ─┘   (busy?)  (bounded) └─ worker ─┘   (records + bytes)    └─ exporter (metrics) ─┘   (gRPC or
//!                                     decode, redact,  acknowledged here     batch, retry, back-off  HTTP/protobuf)
//!                                     encode
//! ```
//!
//! * [`receivers`] only move bytes: they check the request (path, content type, size), ask
//!   the pipeline for admission and answer with the OTLP status the pipeline decides.
//! * The pipeline's workers are dedicated OS threads, one [`Scratch`](crate::engine::Scratch)
//!   each: decompression, decoding, [`redact`]ion and re-encoding never run on the async
//!   reactor. A record is acknowledged to the client only after its redacted encoding is in the
//!   queue; nothing unredacted is ever queued, and a record the engine fails on is dropped,
//!   counted and reported as rejected, never forwarded raw.
//! * The queue counts a record from acknowledgement until the upstream accepted it, so an
//!   upstream outage fills it and the receivers then answer with retryable statuses
//!   (backpressure) instead of losing records.
//! * The [`exporters`] batch queued requests by concatenating their encodings (protobuf merges
//!   concatenated repeated fields), retry retryable failures with exponential back-off and
//!   jitter, and drop, count and log permanent ones. With no upstream they write to stdout; a
//!   closed stdout stops the proxy with [`ServeError::StdoutClosed`].
//!
//! Memory is bounded by `limits.max_concurrent_requests × limits.max_decompressed_bytes` (bodies
//! being decoded) plus `queue.max_bytes` (redacted records), whatever the load.

mod civil;
mod exporters;
mod payload;
mod pipeline;
mod queue;
mod receivers;
mod redact;
mod telemetry;
mod tls_files;

use crate::config::serve::ServeConfig;
use crate::engine::Redactor;
use crate::retention::{AuditSummary, RetentionPolicy};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub use payload::Signal;

/// What the workers do to each record.
#[derive(Clone)]
#[non_exhaustive]
pub enum Processing {
    /// Redact every text-bearing field with this engine; records leave untagged.
    Redact(Arc<Redactor>),
    /// Redact, then tag each record with its retention class and redaction summary (what
    /// `caviard serve` runs).
    RedactAndTag(Arc<Redactor>, Arc<Tags>),
    /// Forward records unchanged. Exists only as the baseline of the proxy benchmark, so the
    /// cost of redaction can be quoted as a ratio against the same proxy without it.
    Passthrough,
}

/// The [`Processing`] the workers apply, which can be replaced while the proxy runs (a policy
/// reload: `caviard serve` on SIGHUP or when its config file changes).
///
/// Each worker keeps its own copy and compares one atomic generation number per request, so
/// the common path takes no lock. A worker that picks up a new policy also forgets the values
/// it had found clean under the old one. A request a worker has started finishes under the
/// policy it started with; every later one is redacted with the new policy.
pub struct PolicyHandle {
    generation: std::sync::atomic::AtomicU64,
    current: std::sync::RwLock<(u64, Processing)>,
    counters: std::sync::OnceLock<Arc<telemetry::Counters>>,
}

impl PolicyHandle {
    /// A handle holding `processing`.
    pub fn new(processing: Processing) -> Arc<PolicyHandle> {
        Arc::new(PolicyHandle {
            generation: std::sync::atomic::AtomicU64::new(0),
            current: std::sync::RwLock::new((0, processing)),
            counters: std::sync::OnceLock::new(),
        })
    }

    /// Replace the processing; requests the workers take from now on use it. Counted in
    /// `caviard_config_reloads_total{result="success"}` once the proxy runs.
    pub fn replace(&self, processing: Processing) {
        if let Some(c) = self.counters.get() {
            register(c, &processing);
        }
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let generation = current.0 + 1;
        *current = (generation, processing);
        self.generation
            .store(generation, std::sync::atomic::Ordering::Release);
        drop(current);
        if let Some(c) = self.counters.get() {
            c.config_reloaded(true);
        }
    }

    /// Count a reload that failed (the running policy stays), in
    /// `caviard_config_reloads_total{result="failure"}`.
    pub fn reload_failed(&self) {
        if let Some(c) = self.counters.get() {
            c.config_reloaded(false);
        }
    }

    /// The current generation, without a lock.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The current processing and its generation.
    pub(crate) fn current(&self) -> (u64, Processing) {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// Make the categories and retention classes of `processing` appear in `/metrics` at zero.
fn register(counters: &telemetry::Counters, processing: &Processing) {
    if let Processing::RedactAndTag(redactor, tags) = processing {
        counters.register(redactor, tags.retention.as_deref());
    }
}

/// What is written on each record after redaction: its retention class (when a policy is
/// set) and its redaction summary. Immutable; shared by every worker.
#[derive(Debug)]
pub struct Tags {
    retention: Option<Arc<RetentionPolicy>>,
    audit: AuditSummary,
}

impl Tags {
    /// `retention: None` writes no class (retention disabled in the config).
    pub fn new(retention: Option<Arc<RetentionPolicy>>, audit: AuditSummary) -> Tags {
        Tags { retention, audit }
    }
}

/// Errors starting the proxy, and the one failure that stops it ([`ServeError::StdoutClosed`]).
/// Other errors while running are handled inside (retried, answered to the client, counted)
/// and never stop it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration has problems (each with its dotted path).
    #[error("invalid serve configuration: {}", .0.join("; "))]
    Config(Vec<String>),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr} ({receiver})")]
    Bind {
        /// `otlp_grpc` or `otlp_http`.
        receiver: &'static str,
        /// The address from the configuration.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The upstream exporter could not be built.
    #[error("serve.upstream: {0}")]
    Upstream(String),
    /// A worker thread could not be spawned.
    #[error("cannot spawn worker thread")]
    Spawn(#[source] std::io::Error),
    /// With no upstream configured records go to stdout, and its reader went away: nothing
    /// can be written any more, so the proxy stopped (refusing new requests as shutting down,
    /// then draining) rather than refusing every client for good while looking alive. The
    /// caller should exit with a failure so a supervisor restarts it.
    #[error(
        "stdout closed by its reader; stopped with {lost_records} acknowledged record(s) not written"
    )]
    StdoutClosed {
        /// Records acknowledged to clients and never written (also counted in
        /// `caviard_export_dropped_records_total`, or still queued at the drain timeout).
        lost_records: u64,
    },
}

/// Where a started proxy listens (the real ports when the configuration asked for port 0).
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    /// The OTLP/gRPC address, if that receiver is enabled.
    pub otlp_grpc: Option<SocketAddr>,
    /// The HTTP address (OTLP/HTTP and health endpoints).
    pub otlp_http: Option<SocketAddr>,
    /// The syslog UDP address, if configured.
    pub syslog_udp: Option<SocketAddr>,
    /// The syslog TCP address, if configured.
    pub syslog_tcp: Option<SocketAddr>,
}

/// What became of the queue at shutdown.
#[derive(Debug, Clone, Copy, Default)]
pub struct DrainReport {
    /// Records still queued when the drain timeout ran out (acknowledged, never delivered).
    pub lost_records: u64,
    /// Records the upstream accepted over the whole run.
    pub exported_records: u64,
}

/// Run the proxy until `shutdown` completes, then drain: stop accepting, flush the queue to the
/// upstream within `shutdown.drain_timeout`, and return what was lost. `on_listening` is
/// called once both receivers are bound, before any request is served.
///
/// With no upstream, a stdout closed by its reader stops the proxy the same way (it drains
/// what it can, i.e. counts the rest as dropped) and returns [`ServeError::StdoutClosed`].
///
/// The configuration must already have its flag and environment overrides applied; it is
/// validated again here so a library caller cannot skip that.
pub async fn run(
    config: ServeConfig,
    processing: Processing,
    shutdown: impl Future<Output = ()> + Send,
    on_listening: impl FnOnce(Listening),
) -> Result<DrainReport, ServeError> {
    run_reloadable(
        config,
        PolicyHandle::new(processing),
        shutdown,
        on_listening,
    )
    .await
}

/// [`run`] with a policy that can be replaced while it runs, through `policy`.
pub async fn run_reloadable(
    config: ServeConfig,
    policy: Arc<PolicyHandle>,
    shutdown: impl Future<Output = ()> + Send,
    on_listening: impl FnOnce(Listening),
) -> Result<DrainReport, ServeError> {
    let problems = config.validate();
    if !problems.is_empty() {
        return Err(ServeError::Config(problems));
    }
    let config = Arc::new(config);
    let counters = Arc::new(telemetry::Counters::default());
    register(&counters, &policy.current().1);
    // A handle given to a second proxy keeps reporting to the first one's counters.
    let _ = policy.counters.set(counters.clone());
    let capacity = Arc::new(queue::Capacity::new(&config.queue));
    let (lanes, lane_rx) = queue::Lanes::new();
    let upstream = exporters::Upstream::build(&config, &counters).map_err(ServeError::Upstream)?;
    let signals = Signal::ALL.map(|s| upstream.accepts(s));
    if signals.contains(&false) {
        tracing::info!(
            protocol = %config.protocol(),
            "The upstream takes logs only: OTLP traces and metrics are refused (HTTP 404, gRPC UNIMPLEMENTED) and counted in caviard_refused_requests_total{{reason=\"unsupported_signal\"}}."
        );
    }
    let exporting = exporters::spawn(&config, upstream, lane_rx, counters.clone());
    let (pipeline, workers) = pipeline::Pipeline::start(
        &config,
        policy,
        capacity.clone(),
        lanes,
        counters.clone(),
        signals,
    )
    .map_err(ServeError::Spawn)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let (listening, servers) = receivers::start(&config, pipeline.clone(), stop_rx).await?;
    drop(pipeline);
    tracing::info!(
        otlp_grpc = ?listening.otlp_grpc,
        otlp_http = ?listening.otlp_http,
        syslog_udp = ?listening.syslog_udp,
        syslog_tcp = ?listening.syslog_tcp,
        upstream = %exporters::describe(&config),
        "Listening."
    );
    on_listening(listening);

    let closed = exporting.closed();
    tokio::select! {
        () = shutdown => {}
        () = closed.wait() => {}
    }
    tracing::info!(drain_timeout = ?config.shutdown.drain_timeout.0, "Shutting down: draining the queue.");
    counters.set_shutting_down();
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + config.shutdown.drain_timeout.0;
    drain(servers, workers, exporting, deadline).await;

    let report = DrainReport {
        lost_records: capacity.used_records() as u64,
        exported_records: counters.exported(),
    };
    if let Some(dropped) = closed.lost_records() {
        return Err(ServeError::StdoutClosed {
            lost_records: dropped + report.lost_records,
        });
    }
    if report.lost_records > 0 {
        tracing::error!(
            lost_records = report.lost_records,
            "Drain timeout ran out; queued records were not delivered."
        );
    } else {
        tracing::info!(exported_records = report.exported_records, "Drained.");
    }
    Ok(report)
}

/// Wait, until `deadline`, for the receivers to finish their requests, the workers to empty
/// the job queue and the exporters to deliver everything queued.
async fn drain(
    servers: receivers::Servers,
    workers: pipeline::Workers,
    exporting: exporters::Exporting,
    deadline: tokio::time::Instant,
) {
    let all = async {
        servers.join().await;
        workers.join().await;
        exporting.join().await;
    };
    if tokio::time::timeout_at(deadline, all).await.is_err() {
        tracing::warn!("Drain timeout reached.");
    }
}

/// How long clients are told to wait before retrying (HTTP `Retry-After`).
const RETRY_AFTER: Duration = Duration::from_secs(1);
