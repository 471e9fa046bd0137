//! Exporters: one task per signal takes redacted batches off its queue lane, groups them
//! (`batch.max_records`, `batch.max_bytes`, `batch.timeout`) and delivers them upstream with
//! up to `upstream.concurrency` requests in flight, retrying retryable failures with
//! exponential back-off and jitter (see [`Backoff`]).
//!
//! Batching is byte concatenation: the queue holds protobuf-encoded export requests and two
//! concatenated encodings of a message with only repeated fields decode as one request holding
//! both lists, so batches are never decoded again. A batch's queue capacity is released only
//! when the upstream accepted it or it was dropped for good (a permanent error, or
//! `retry.max_elapsed`), each drop counted and logged with the upstream's status.
//!
//! One failure stops the proxy instead: the stdout exporter's reader went away (`EPIPE`, Rust
//! ignoring `SIGPIPE`, or a socket's `ECONNRESET`). Nothing can ever be written again, so retrying would only fill the queue
//! and refuse every client for good while the process looked alive. The first delivery that
//! finds it sets [`Closed`]; every batch from then on is dropped and counted unsent, and
//! `serve::run` drains and fails, so the process exits non-zero and its supervisor restarts it.

mod elastic;
mod grpc;
mod hec;
mod http;
mod json;
mod stdout;
mod tls;

use super::payload::Signal;
use super::queue::{Batch, LaneReceivers, Permit};
use super::telemetry::Counters;
use crate::config::serve::{ServeConfig, UpstreamProtocol};
use bytes::{Bytes, BytesMut};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// A failed upstream request.
#[derive(Debug)]
pub(crate) struct SendError {
    kind: Failure,
    /// The upstream's `Retry-After`, if it sent one.
    retry_after: Option<Duration>,
    /// Status code and reason, for logs (never record content).
    reason: String,
    /// Part of the batch this attempt settled (the JSON upstreams send a batch in several
    /// requests, and a bulk request's items succeed or fail one by one). `kind` then applies
    /// to `rest` only.
    partial: Option<Box<Partial>>,
}

/// What an attempt settled before failing: records accepted, records refused for good, and
/// what is left (the only records sent again).
#[derive(Debug)]
pub(crate) struct Partial {
    accepted: u64,
    dropped: u64,
    /// Statuses and error types of the dropped records, never their content.
    dropped_reason: String,
    rest: json::Items,
}

/// What a delivery sends, made once per batch: the queued OTLP encoding as is, or the records
/// encoded for a JSON upstream (which a partial failure narrows down).
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Otlp(Bytes),
    Items(json::Items),
}

/// What a failed request means for the batch and the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The same request may succeed later: retried with back-off.
    Retryable,
    /// This request will never succeed: the batch is dropped.
    Permanent,
    /// No request will ever succeed again: the output is gone (stdout's reader went away).
    /// The batch is dropped and the proxy stops (see [`Closed`]).
    Closed,
}

impl SendError {
    fn retryable(reason: String) -> SendError {
        SendError {
            kind: Failure::Retryable,
            retry_after: None,
            reason,
            partial: None,
        }
    }

    fn permanent(reason: String) -> SendError {
        SendError {
            kind: Failure::Permanent,
            retry_after: None,
            reason,
            partial: None,
        }
    }

    fn closed(reason: String) -> SendError {
        SendError {
            kind: Failure::Closed,
            retry_after: None,
            reason,
            partial: None,
        }
    }
}

/// The upstream, by protocol.
pub(crate) enum Upstream {
    Grpc(grpc::GrpcUpstream),
    Http(Box<http::HttpUpstream>),
    Hec(Box<hec::HecUpstream>),
    Elastic(Box<elastic::ElasticUpstream>),
    Stdout(stdout::StdoutUpstream),
}

impl Upstream {
    /// Build the client for the configured endpoint (connections are made lazily). The TLS
    /// files are loaded here, their metrics registered in `counters`.
    pub(crate) fn build(
        config: &ServeConfig,
        counters: &Arc<Counters>,
    ) -> Result<Upstream, String> {
        let up = &config.upstream;
        let Some(endpoint) = &up.endpoint else {
            return Ok(Upstream::Stdout(stdout::StdoutUpstream::new()?));
        };
        let protocol = config.protocol();
        // gRPC is HTTP/2 only; the HTTP upstreams take either.
        let alpn = match protocol {
            UpstreamProtocol::Grpc => tls::Alpn::Http2,
            _ => tls::Alpn::Http1And2,
        };
        let connector = tls::connector(endpoint, up, alpn, counters.clone())?;
        let max_bytes = config.batch.max_bytes.as_usize();
        Ok(match protocol {
            UpstreamProtocol::Grpc => {
                Upstream::Grpc(grpc::GrpcUpstream::new(endpoint, up, connector)?)
            }
            UpstreamProtocol::HttpProtobuf => {
                Upstream::Http(Box::new(http::HttpUpstream::new(endpoint, up, connector)?))
            }
            UpstreamProtocol::SplunkHec => Upstream::Hec(Box::new(hec::HecUpstream::new(
                endpoint, up, max_bytes, connector,
            )?)),
            UpstreamProtocol::Elasticsearch => Upstream::Elastic(Box::new(
                elastic::ElasticUpstream::new(endpoint, up, max_bytes, connector)?,
            )),
        })
    }

    /// The network connector, whose TLS files are reloaded; `None` for stdout.
    fn connector(&self) -> Option<&tls::Connector> {
        match self {
            Upstream::Grpc(g) => Some(g.connector()),
            Upstream::Http(h) => Some(h.connector()),
            Upstream::Hec(h) => Some(h.connector()),
            Upstream::Elastic(e) => Some(e.connector()),
            Upstream::Stdout(_) => None,
        }
    }

    /// Make a queued batch into what is sent, once per delivery. Returns the payload and how
    /// many records the upstream cannot take at all (a HEC event needs a body), to be counted
    /// as dropped.
    async fn prepare(&self, signal: Signal, body: Bytes) -> Result<(Payload, u64), SendError> {
        if !self.accepts(signal) {
            // The receivers refuse traces and metrics for these upstreams; never queued.
            return Err(SendError::permanent(format!(
                "{} cannot be sent to this upstream (logs only)",
                signal.name()
            )));
        }
        match self {
            Upstream::Hec(h) => {
                let (items, skipped) = h.encode(body).await?;
                Ok((Payload::Items(items), skipped))
            }
            Upstream::Elastic(e) => {
                let (items, skipped) = e.encode(body).await?;
                Ok((Payload::Items(items), skipped))
            }
            Upstream::Grpc(_) | Upstream::Http(_) | Upstream::Stdout(_) => {
                Ok((Payload::Otlp(body), 0))
            }
        }
    }

    /// Send the payload, one attempt of `delivery`; `Ok` carries the number of records the
    /// upstream rejected in a partial success.
    async fn send(
        &self,
        signal: Signal,
        payload: &Payload,
        delivery: DeliveryId,
    ) -> Result<u64, SendError> {
        match (self, payload) {
            (Upstream::Grpc(g), Payload::Otlp(body)) => g.send(signal, body.clone()).await,
            (Upstream::Http(h), Payload::Otlp(body)) => h.send(signal, body.clone()).await,
            (Upstream::Stdout(s), Payload::Otlp(body)) => {
                s.send(signal, body.clone(), delivery).await
            }
            (Upstream::Hec(h), Payload::Items(items)) => h.send(items).await,
            (Upstream::Elastic(e), Payload::Items(items)) => e.send(items).await,
            _ => Err(SendError::permanent(
                "internal error: payload made for another upstream".into(),
            )),
        }
    }

    /// Whether the upstream takes `signal` (the JSON backends take logs only).
    pub(crate) fn accepts(&self, signal: Signal) -> bool {
        match self {
            Upstream::Hec(_) | Upstream::Elastic(_) => signal == Signal::Logs,
            Upstream::Grpc(_) | Upstream::Http(_) | Upstream::Stdout(_) => true,
        }
    }

    /// How long an attempt may take (`upstream.timeout`), if it may be abandoned at all. A
    /// stdout write may not: it cannot be cancelled (it goes on in the writer thread), so
    /// abandoning it and retrying would print its line twice. A slow reader of stdout makes
    /// the exporter wait, as a pipe should, instead.
    fn timeout(&self, configured: Duration) -> Option<Duration> {
        match self {
            Upstream::Stdout(_) => None,
            Upstream::Grpc(_) | Upstream::Http(_) | Upstream::Hec(_) | Upstream::Elastic(_) => {
                Some(configured)
            }
        }
    }
}

/// One batch's delivery, the same across its attempts: lets the stdout exporter resume a line
/// it wrote in part instead of writing it again (see `stdout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeliveryId(u64);

impl DeliveryId {
    fn next() -> DeliveryId {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        DeliveryId(NEXT.fetch_add(1, Ordering::Relaxed))
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
    /// The upstream TLS files' reload task, aborted when this is dropped (after the lanes
    /// drained, in [`Exporting::join`]).
    reload: JoinSet<()>,
    closed: Arc<Closed>,
}

impl Exporting {
    /// Wait until every lane is closed and every batch delivered or dropped; then stop
    /// reloading the TLS files.
    pub(crate) async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
        self.reload.shutdown().await;
    }

    /// Whether (and when) the output went away for good.
    pub(crate) fn closed(&self) -> Arc<Closed> {
        self.closed.clone()
    }
}

/// Set once the output is gone for good ([`Failure::Closed`]: stdout's reader went away);
/// counts the records dropped unwritten because of it.
#[derive(Debug)]
pub(crate) struct Closed {
    set: watch::Sender<bool>,
    lost: AtomicU64,
}

impl Closed {
    fn new() -> Closed {
        Closed {
            set: watch::Sender::new(false),
            lost: AtomicU64::new(0),
        }
    }

    /// Mark the output gone. The first caller only runs `first` (its log line), before
    /// `serve::run` is woken to stop, so the cause is logged ahead of the shutdown.
    fn close(&self, first: impl FnOnce()) {
        self.set.send_if_modified(|closed| {
            if *closed {
                return false;
            }
            first();
            *closed = true;
            true
        });
    }

    fn is_closed(&self) -> bool {
        *self.set.borrow()
    }

    /// Count records dropped unsent because the output is gone.
    fn lose(&self, records: u64) {
        self.lost.fetch_add(records, Ordering::Relaxed);
    }

    /// Resolves once the output is gone; never otherwise.
    pub(crate) async fn wait(&self) {
        let mut rx = self.set.subscribe();
        // The sender lives in `self`, so this only returns once the value is true.
        let _ = rx.wait_for(|&closed| closed).await;
    }

    /// The records dropped because the output was gone, if it is.
    pub(crate) fn lost_records(&self) -> Option<u64> {
        self.is_closed().then(|| self.lost.load(Ordering::Relaxed))
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
    let mut reload = JoinSet::new();
    if let Some(c) = upstream.connector() {
        c.spawn_reload(&mut reload);
    }
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
    let closed = Arc::new(Closed::new());
    let mut tasks = JoinSet::new();
    for (signal, rx) in Signal::ALL.into_iter().zip(lanes) {
        let lane = Lane {
            signal,
            rx,
            upstream: upstream.clone(),
            counters: counters.clone(),
            closed: closed.clone(),
            delivery,
            batching,
        };
        tasks.spawn(lane.run());
    }
    Exporting {
        tasks,
        reload,
        closed,
    }
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
    closed: Arc<Closed>,
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
            let (upstream, counters, gone, delivery, signal) = (
                self.upstream.clone(),
                self.counters.clone(),
                self.closed.clone(),
                self.delivery,
                self.signal,
            );
            sends.spawn(async move {
                deliver(
                    &upstream,
                    &counters,
                    &gone,
                    delivery,
                    signal,
                    body,
                    pending.permit,
                )
                .await;
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
/// records' queue capacity) is released when this returns. Once the output is gone for good
/// ([`Closed`]) nothing is sent: the records are dropped and counted. An attempt that settled
/// part of the batch ([`Partial`]) has it counted at once, and only the rest is sent again.
async fn deliver(
    upstream: &Upstream,
    counters: &Counters,
    closed: &Closed,
    d: Delivery,
    signal: Signal,
    body: Bytes,
    permit: Permit,
) {
    let records = permit.records() as u64;
    // Records neither accepted nor dropped yet.
    let mut remaining = records;
    let id = DeliveryId::next();
    let start = Instant::now();
    let mut backoff = Backoff::new(d.initial_backoff, d.max_backoff);
    let mut attempt: u32 = 0;
    let mut payload = match upstream.prepare(signal, body).await {
        Ok((payload, skipped)) => {
            if skipped > 0 {
                let skipped = skipped.min(remaining);
                counters.dropped(signal, skipped);
                remaining -= skipped;
                tracing::warn!(
                    signal = signal.name(),
                    records = skipped,
                    "Records the upstream cannot take (no body) dropped."
                );
            }
            payload
        }
        Err(error) => {
            counters.dropped(signal, remaining);
            tracing::error!(signal = signal.name(), records, reason = %error.reason, "Batch could not be encoded for the upstream; dropped.");
            return;
        }
    };
    loop {
        if closed.is_closed() {
            counters.dropped(signal, remaining);
            closed.lose(remaining);
            return;
        }
        attempt += 1;
        let attempt_sent = upstream.send(signal, &payload, id);
        let sent = match upstream.timeout(d.timeout) {
            Some(t) => tokio::time::timeout(t, attempt_sent).await,
            None => Ok(attempt_sent.await),
        };
        let mut error = match sent {
            Ok(Ok(rejected)) => {
                let rejected = rejected.min(remaining);
                counters.delivered(signal, remaining - rejected, rejected);
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
        if let Some(p) = error.partial.take() {
            let accepted = p.accepted.min(remaining);
            counters.delivered(signal, accepted, 0);
            remaining -= accepted;
            if p.dropped > 0 {
                let dropped = p.dropped.min(remaining);
                counters.dropped(signal, dropped);
                remaining -= dropped;
                tracing::error!(signal = signal.name(), records = dropped, reason = %p.dropped_reason, "Upstream refused records permanently; dropped.");
            }
            payload = Payload::Items(p.rest);
        }
        match error.kind {
            Failure::Retryable if remaining > 0 => {}
            Failure::Retryable => return,
            Failure::Permanent => {
                counters.dropped(signal, remaining);
                tracing::error!(signal = signal.name(), records = remaining, reason = %error.reason, "Upstream refused a batch permanently; dropped.");
                return;
            }
            Failure::Closed => {
                counters.dropped(signal, remaining);
                closed.lose(remaining);
                closed.close(|| {
                    tracing::error!(signal = signal.name(), records = remaining, reason = %error.reason, "Output closed for good; batch dropped. Stopping: nothing more can be written.");
                });
                return;
            }
        }
        let wait = backoff.next(error.retry_after);
        if d.max_elapsed
            .is_some_and(|max| start.elapsed() + wait > max)
        {
            counters.dropped(signal, remaining);
            tracing::error!(signal = signal.name(), records = remaining, attempt, reason = %error.reason, "Retry time ran out; batch dropped.");
            return;
        }
        counters.retried(signal);
        if attempt == 1 {
            tracing::warn!(signal = signal.name(), records = remaining, reason = %error.reason, "Upstream request failed; retrying.");
        } else {
            tracing::debug!(signal = signal.name(), attempt, reason = %error.reason, "Retrying.");
        }
        tokio::time::sleep(wait).await;
    }
}

/// The waits between the attempts of one delivery: a ceiling that starts at
/// `retry.initial_backoff` and doubles after every failure up to `retry.max_backoff`, and a
/// wait drawn at random in `[ceiling / 2, ceiling]` ("equal jitter").
///
/// Without jitter every exporter (each lane's concurrent requests, every replica of a
/// sidecar) that failed in the same outage retries at the same instants, so the recovering
/// upstream gets the whole fleet's backlog in synchronised waves. Equal jitter rather than
/// "full jitter" (`[0, ceiling]`): the wait never drops to near zero, so a failing upstream is
/// not hit again at once and the back-off still grows with every failure; the wait never
/// exceeds `max_backoff`, the documented bound; and a spread of half the ceiling already
/// de-synchronises retries (at a 5 s ceiling they spread over 2.5 s).
///
/// An upstream's `Retry-After` is the server's own schedule: it is used as given (capped at
/// `max_backoff`), never shortened by jitter.
#[derive(Debug)]
struct Backoff {
    ceiling: Duration,
    max: Duration,
    rng: SplitMix64,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            ceiling: initial.min(max),
            max,
            rng: SplitMix64::seeded(),
        }
    }

    /// The wait before the next attempt; doubles the ceiling for the one after.
    fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let wait = match retry_after {
            Some(r) => r.min(self.max),
            None => {
                let half = self.ceiling / 2;
                let span = u64::try_from((self.ceiling - half).as_nanos()).unwrap_or(u64::MAX);
                half + Duration::from_nanos(self.rng.below_or_eq(span))
            }
        };
        self.ceiling = self.ceiling.saturating_mul(2).min(self.max);
        wait
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny non-cryptographic generator, plenty for
/// spreading retries (the `rand` crate would be a dependency for one line of arithmetic).
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeded from std's per-process random hash keys, which also differ at every call: every
    /// delivery of every replica gets its own sequence.
    fn seeded() -> SplitMix64 {
        SplitMix64(
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
        )
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `[0, n]` (modulo bias about n / 2^64: under 10^-6 for any span below 5 hours
    /// of nanoseconds).
    fn below_or_eq(&mut self, n: u64) -> u64 {
        match n.checked_add(1) {
            Some(m) => self.next_u64() % m,
            None => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_waits_are_jittered_within_half_to_whole_ceiling_and_double_to_the_cap() {
        // Ceilings 100, 200, 400, 800, 1000, 1000 ms.
        let ceilings = [100, 200, 400, 800, 1000, 1000].map(|n| n * MS);
        let mut draws: Vec<Vec<Duration>> = vec![Vec::new(); ceilings.len()];
        for _ in 0..500 {
            let mut b = Backoff::new(100 * MS, 1000 * MS);
            for (i, ceiling) in ceilings.iter().enumerate() {
                let w = b.next(None);
                assert!(
                    w >= *ceiling / 2 && w <= *ceiling,
                    "attempt {i}: {w:?} outside [{:?}, {ceiling:?}]",
                    *ceiling / 2
                );
                draws[i].push(w);
            }
        }
        for (i, d) in draws.iter().enumerate() {
            let (lo, hi) = (d.iter().min().unwrap(), d.iter().max().unwrap());
            // 500 uniform draws span most of the interval; lockstep waits would not differ.
            assert!(
                *hi - *lo > ceilings[i] / 4,
                "attempt {i}: waits {lo:?}..{hi:?} are not spread"
            );
        }
        // Two deliveries that fail together do not wait alike.
        let mut a = Backoff::new(100 * MS, 1000 * MS);
        let mut b = Backoff::new(100 * MS, 1000 * MS);
        let same = (0..8).filter(|_| a.next(None) == b.next(None)).count();
        assert!(same < 8, "two deliveries waited in lockstep");
    }

    #[test]
    fn retry_after_is_used_as_given_capped_at_max_backoff() {
        let mut b = Backoff::new(100 * MS, 5000 * MS);
        assert_eq!(b.next(Some(3000 * MS)), 3000 * MS);
        assert_eq!(b.next(Some(MS)), MS);
        assert_eq!(b.next(Some(60_000 * MS)), 5000 * MS);
        assert_eq!(b.next(Some(Duration::ZERO)), Duration::ZERO);
        // The ceiling kept doubling meanwhile: 100 -> 1600 ms after four failures.
        let w = b.next(None);
        assert!(w >= 800 * MS && w <= 1600 * MS, "{w:?}");
    }

    #[test]
    fn tiny_backoffs_and_a_cap_below_initial_stay_in_bounds() {
        let mut b = Backoff::new(Duration::from_nanos(1), Duration::from_nanos(3));
        for _ in 0..10 {
            assert!(b.next(None) <= Duration::from_nanos(3));
        }
        let mut b = Backoff::new(10 * MS, 4 * MS);
        assert!(b.next(None) <= 4 * MS);
    }

    #[test]
    fn closed_is_set_once_and_counts_its_losses() {
        let c = Closed::new();
        assert_eq!(c.lost_records(), None);
        let mut firsts = 0;
        c.close(|| firsts += 1);
        c.close(|| firsts += 1);
        assert_eq!(firsts, 1);
        c.lose(3);
        assert_eq!(c.lost_records(), Some(3));
        // Already set: `wait` returns at once.
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(c.wait());
    }
}
