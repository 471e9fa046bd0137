//! Exporters: one task per signal takes redacted batches off its queue lane, groups them
//! (`batch.max_records`, `batch.max_bytes`, `batch.timeout`) and delivers them upstream with
//! up to `upstream.concurrency` requests in flight, retrying retryable failures with
//! exponential back-off.
//!
//! Batching is byte concatenation: the queue holds protobuf-encoded export requests and two
//! concatenated encodings of a message with only repeated fields decode as one request holding
//! both lists, so batches are never decoded again. A batch's queue capacity is released only
//! when the upstream accepted it or it was dropped for good (a permanent error, or
//! `retry.max_elapsed`), each drop counted and logged with the upstream's status.

mod grpc;
mod http;
mod stdout;

use super::payload::Signal;
use super::queue::{Batch, LaneReceivers, Permit};
use super::telemetry::Counters;
use crate::config::serve::{ServeConfig, UpstreamProtocol};
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// A failed upstream request.
#[derive(Debug)]
pub(crate) struct SendError {
    /// Whether the same request may succeed later.
    retryable: bool,
    /// The upstream's `Retry-After`, if it sent one.
    retry_after: Option<Duration>,
    /// Status code and reason, for logs (never record content).
    reason: String,
}

impl SendError {
    fn retryable(reason: String) -> SendError {
        SendError {
            retryable: true,
            retry_after: None,
            reason,
        }
    }

    fn permanent(reason: String) -> SendError {
        SendError {
            retryable: false,
            retry_after: None,
            reason,
        }
    }
}

/// The upstream, by protocol.
pub(crate) enum Upstream {
    Grpc(grpc::GrpcUpstream),
    Http(Box<http::HttpUpstream>),
    Stdout(stdout::StdoutUpstream),
}

impl Upstream {
    /// Build the client for the configured endpoint (connections are made lazily).
    pub(crate) fn build(config: &ServeConfig) -> Result<Upstream, String> {
        let up = &config.upstream;
        let Some(endpoint) = &up.endpoint else {
            return Ok(Upstream::Stdout(stdout::StdoutUpstream));
        };
        Ok(match config.protocol() {
            UpstreamProtocol::Grpc => Upstream::Grpc(grpc::GrpcUpstream::new(endpoint, up)?),
            UpstreamProtocol::HttpProtobuf => {
                Upstream::Http(Box::new(http::HttpUpstream::new(endpoint, up)?))
            }
        })
    }

    /// Send one encoded request; `Ok` carries the number of records the upstream rejected
    /// in a partial success.
    async fn send(&self, signal: Signal, body: Bytes) -> Result<u64, SendError> {
        match self {
            Upstream::Grpc(g) => g.send(signal, body).await,
            Upstream::Http(h) => h.send(signal, body).await,
            Upstream::Stdout(s) => s.send(signal, &body),
        }
    }
}

/// A one-line description of the upstream for the startup log.
pub(crate) fn describe(config: &ServeConfig) -> String {
    match &config.upstream.endpoint {
        Some(e) => format!("{e} ({})", config.protocol()),
        None => "stdout (OTLP/JSON lines; no upstream configured)".to_string(),
    }
}

/// The exporter tasks.
pub(crate) struct Exporting {
    tasks: JoinSet<()>,
}

impl Exporting {
    /// Wait until every lane is closed and every batch delivered or dropped.
    pub(crate) async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Settings every delivery needs.
#[derive(Debug, Clone, Copy)]
struct Delivery {
    timeout: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_elapsed: Option<Duration>,
}

/// Start one exporter task per signal.
pub(crate) fn spawn(
    config: &ServeConfig,
    upstream: Upstream,
    lanes: LaneReceivers,
    counters: Arc<Counters>,
) -> Exporting {
    let upstream = Arc::new(upstream);
    let delivery = Delivery {
        timeout: config.upstream.timeout.0,
        initial_backoff: config.retry.initial_backoff.0,
        max_backoff: config.retry.max_backoff.0,
        max_elapsed: config.retry.max_elapsed.map(|d| d.0),
    };
    let batching = Batching {
        max_records: config.batch.max_records.get(),
        max_bytes: config.batch.max_bytes.as_usize(),
        timeout: config.batch.timeout.0,
        concurrency: config.upstream.concurrency.get(),
    };
    let mut tasks = JoinSet::new();
    for (signal, rx) in Signal::ALL.into_iter().zip(lanes) {
        let lane = Lane {
            signal,
            rx,
            upstream: upstream.clone(),
            counters: counters.clone(),
            delivery,
            batching,
        };
        tasks.spawn(lane.run());
    }
    Exporting { tasks }
}

#[derive(Debug, Clone, Copy)]
struct Batching {
    max_records: usize,
    max_bytes: usize,
    timeout: Duration,
    concurrency: usize,
}

struct Lane {
    signal: Signal,
    rx: mpsc::UnboundedReceiver<Batch>,
    upstream: Arc<Upstream>,
    counters: Arc<Counters>,
    delivery: Delivery,
    batching: Batching,
}

/// Batches being merged into one upstream request.
struct Pending {
    parts: Vec<Bytes>,
    bytes: usize,
    permit: Permit,
}

impl Pending {
    fn new(first: Batch) -> Pending {
        Pending {
            bytes: first.encoded.len(),
            parts: vec![first.encoded],
            permit: first.permit,
        }
    }

    fn push(&mut self, b: Batch) {
        self.bytes += b.encoded.len();
        self.parts.push(b.encoded);
        self.permit.absorb(b.permit);
    }

    /// One encoded request holding every part (no copy when there is only one).
    fn body(&mut self) -> Bytes {
        if self.parts.len() == 1 {
            return self.parts[0].clone();
        }
        let mut out = BytesMut::with_capacity(self.bytes);
        for p in self.parts.drain(..) {
            out.extend_from_slice(&p);
        }
        out.freeze()
    }
}

impl Lane {
    async fn run(mut self) {
        let in_flight = Arc::new(Semaphore::new(self.batching.concurrency));
        let mut sends = JoinSet::new();
        let mut carry: Option<Batch> = None;
        loop {
            let first = match carry.take() {
                Some(b) => b,
                None => match self.rx.recv().await {
                    Some(b) => b,
                    None => break,
                },
            };
            let (mut pending, closed) = self.fill(Pending::new(first), &mut carry).await;
            let Ok(slot) = in_flight.clone().acquire_owned().await else {
                break;
            };
            let body = pending.body();
            let (upstream, counters, delivery, signal) = (
                self.upstream.clone(),
                self.counters.clone(),
                self.delivery,
                self.signal,
            );
            sends.spawn(async move {
                deliver(&upstream, &counters, delivery, signal, body, pending.permit).await;
                drop(slot);
            });
            while sends.try_join_next().is_some() {}
            if closed && carry.is_none() {
                break;
            }
        }
        while sends.join_next().await.is_some() {}
    }

    /// Add queued batches to `pending` until it is full or `batch.timeout` passed. A batch
    /// that would overflow `batch.max_bytes` is left in `carry` for the next request. Returns
    /// whether the lane is closed (shutdown: nothing more will come, so no waiting).
    async fn fill(&mut self, mut pending: Pending, carry: &mut Option<Batch>) -> (Pending, bool) {
        let deadline = Instant::now() + self.batching.timeout;
        while pending.permit.records() < self.batching.max_records {
            let next = tokio::select! {
                next = self.rx.recv() => next,
                () = tokio::time::sleep_until(deadline) => return (pending, false),
            };
            let Some(b) = next else {
                return (pending, true);
            };
            if pending.bytes + b.encoded.len() > self.batching.max_bytes {
                *carry = Some(b);
                break;
            }
            pending.push(b);
        }
        (pending, false)
    }
}

/// Send until accepted, permanently refused, or out of `retry.max_elapsed`. The permit (the
/// records' queue capacity) is released when this returns.
async fn deliver(
    upstream: &Upstream,
    counters: &Counters,
    d: Delivery,
    signal: Signal,
    body: Bytes,
    permit: Permit,
) {
    let records = permit.records() as u64;
    let start = Instant::now();
    let mut backoff = d.initial_backoff;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let error = match tokio::time::timeout(d.timeout, upstream.send(signal, body.clone())).await
        {
            Ok(Ok(rejected)) => {
                let rejected = rejected.min(records);
                counters.delivered(signal, records - rejected, rejected);
                if rejected > 0 {
                    tracing::warn!(
                        signal = signal.name(),
                        rejected,
                        "Upstream rejected part of a batch."
                    );
                }
                if attempt > 1 {
                    tracing::info!(
                        signal = signal.name(),
                        records,
                        attempt,
                        "Upstream accepted a batch after retries."
                    );
                }
                return;
            }
            Ok(Err(e)) => e,
            Err(_) => SendError::retryable(format!("no answer within {:?}", d.timeout)),
        };
        if !error.retryable {
            counters.dropped(signal, records);
            tracing::error!(signal = signal.name(), records, reason = %error.reason, "Upstream refused a batch permanently; dropped.");
            return;
        }
        let wait = error.retry_after.map_or(backoff, |r| r.min(d.max_backoff));
        if d.max_elapsed
            .is_some_and(|max| start.elapsed() + wait > max)
        {
            counters.dropped(signal, records);
            tracing::error!(signal = signal.name(), records, attempt, reason = %error.reason, "Retry time ran out; batch dropped.");
            return;
        }
        counters.retried(signal);
        if attempt == 1 {
            tracing::warn!(signal = signal.name(), records, reason = %error.reason, "Upstream request failed; retrying.");
        } else {
            tracing::debug!(signal = signal.name(), attempt, reason = %error.reason, "Retrying.");
        }
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(d.max_backoff);
    }
}
