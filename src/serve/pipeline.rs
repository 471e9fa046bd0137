//! Admission, the redaction workers, and the answer each request gets.
//!
//! A receiver first asks [`Pipeline::admit`] (cheap: refuses when shutting down, when
//! `limits.max_concurrent_requests` are already in progress, or when the queue is full), then
//! hands the request to [`Pipeline::submit`], which waits for a worker's verdict. Workers are
//! dedicated OS threads, so decompression, decoding, redaction and encoding never block the
//! async reactor; each owns one engine [`Scratch`], reused for every record.

use super::payload::{decode_body, DecodeError, Encoding, Request, Signal};
use super::queue::{Batch, Capacity, Lanes, ReserveError};
use super::redact;
use super::telemetry::Counters;
use super::{PolicyHandle, Processing};
use crate::config::serve::ServeConfig;
use crate::engine::Scratch;
use bytes::Bytes;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// What a receiver hands to the workers.
#[derive(Debug)]
pub(crate) enum Body {
    /// Already decoded (gRPC: tonic decoded it).
    Decoded(Request),
    /// An OTLP/HTTP body as received.
    Encoded {
        signal: Signal,
        encoding: Encoding,
        gzip: bool,
        bytes: Bytes,
    },
}

/// The request was queued; `rejected` of its records were dropped because they could not be
/// redacted (reported to the client as partial success).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub(crate) rejected: u64,
}

/// Why a request was not (entirely) queued. Each variant maps to one OTLP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SubmitError {
    /// `limits.max_concurrent_requests` reached. Retryable.
    #[error("too many concurrent requests; retry later")]
    Busy,
    /// The queue is full because the upstream is slow or down. Retryable.
    #[error("queue full, upstream is not keeping up; retry later")]
    QueueFull,
    /// The proxy is shutting down. Retryable (on another instance).
    #[error("shutting down")]
    ShuttingDown,
    /// The request did not get an answer within `limits.request_timeout`. Retryable.
    #[error("request timed out in the proxy")]
    Timeout,
    /// The request alone is larger than the whole queue. Permanent.
    #[error("request of {records} records and {bytes} bytes exceeds the queue capacity")]
    TooLarge { records: usize, bytes: usize },
    /// The body could not be decoded. Permanent.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// No record of the request could be redacted. Permanent: a retry would fail the same way.
    #[error("no record could be redacted; all {records} dropped")]
    Unprocessable { records: u64 },
    /// The upstream takes logs only (Splunk HEC, Elasticsearch). Permanent.
    #[error(
        "this proxy forwards logs only (its upstream takes no {signal}); {signal} are not accepted"
    )]
    Unsupported { signal: &'static str },
}

impl SubmitError {
    /// Whether OTLP clients should retry the same request later.
    pub(crate) fn retryable(&self) -> bool {
        matches!(
            self,
            SubmitError::Busy
                | SubmitError::QueueFull
                | SubmitError::ShuttingDown
                | SubmitError::Timeout
        )
    }
}

struct Job {
    body: Body,
    receiver: &'static str,
    reply: oneshot::Sender<Result<Accepted, SubmitError>>,
}

/// The receivers' handle on the pipeline; cheap to clone.
#[derive(Clone)]
pub(crate) struct Pipeline {
    jobs: mpsc::Sender<Job>,
    in_progress: Arc<Semaphore>,
    capacity: Arc<Capacity>,
    counters: Arc<Counters>,
    /// The signals the upstream takes, by [`Signal::index`].
    signals: [bool; 3],
}

/// The worker threads, joined at shutdown once every [`Pipeline`] handle is gone.
pub(crate) struct Workers {
    handles: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Spawn the workers; they run until every `Pipeline` clone is dropped and the job
    /// queue is empty. Requests of a signal `signals` leaves out are refused.
    pub(crate) fn start(
        config: &ServeConfig,
        policy: Arc<PolicyHandle>,
        capacity: Arc<Capacity>,
        lanes: Lanes,
        counters: Arc<Counters>,
        signals: [bool; 3],
    ) -> std::io::Result<(Pipeline, Workers)> {
        let threads = config
            .worker_threads
            .map_or_else(default_threads, |n| n.get());
        let (tx, rx) = mpsc::channel(threads * 2);
        let rx = Arc::new(Mutex::new(rx));
        let shared = Arc::new(Shared {
            policy,
            capacity: capacity.clone(),
            lanes,
            counters: counters.clone(),
            max_decompressed: config.limits.max_decompressed_bytes.as_usize(),
        });
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let (rx, shared) = (rx.clone(), shared.clone());
            let handle = std::thread::Builder::new()
                .name(format!("caviard-worker-{i}"))
                .spawn(move || work(&rx, &shared))?;
            handles.push(handle);
        }
        let pipeline = Pipeline {
            jobs: tx,
            in_progress: Arc::new(Semaphore::new(config.limits.max_concurrent_requests.get())),
            capacity,
            counters,
            signals,
        };
        Ok((pipeline, Workers { handles }))
    }

    /// Decide at once whether a new request may start; hold the returned permit until it is
    /// answered. Refusing here costs nothing: the body is not even read yet (HTTP). A signal
    /// the upstream does not take is refused first, for good.
    pub(crate) fn admit(&self, signal: Signal) -> Result<OwnedSemaphorePermit, SubmitError> {
        let refused = if !self.signals[signal.index()] {
            SubmitError::Unsupported {
                signal: signal.name(),
            }
        } else if self.counters.shutting_down() {
            SubmitError::ShuttingDown
        } else if self.capacity.is_full() {
            SubmitError::QueueFull
        } else {
            match self.in_progress.clone().try_acquire_owned() {
                Ok(permit) => return Ok(permit),
                Err(_) => SubmitError::Busy,
            }
        };
        self.counters.refused(&refused);
        Err(refused)
    }

    /// Hand a request that came in by `receiver` (`otlp_grpc`, `otlp_http`) to a worker and
    /// wait for its verdict: `Ok` means its records are queued and may be acknowledged.
    pub(crate) async fn submit(
        &self,
        receiver: &'static str,
        body: Body,
    ) -> Result<Accepted, SubmitError> {
        let (reply, verdict) = oneshot::channel();
        let job = Job {
            body,
            receiver,
            reply,
        };
        if self.jobs.send(job).await.is_err() {
            return Err(SubmitError::ShuttingDown);
        }
        let result = verdict.await.unwrap_or(Err(SubmitError::ShuttingDown));
        if let Err(e) = &result {
            self.counters.refused(e);
        }
        result
    }

    /// Whether the proxy should receive traffic (`/readyz`).
    pub(crate) fn ready(&self) -> bool {
        !self.counters.shutting_down() && !self.capacity.is_full()
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The counters, to keep beyond this handle (a receiver's TLS acceptor).
    pub(crate) fn shared_counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    pub(crate) fn capacity(&self) -> &Capacity {
        &self.capacity
    }
}

impl Workers {
    /// Wait for every worker to finish (after the last `Pipeline` handle was dropped).
    pub(crate) async fn join(self) {
        let handles = self.handles;
        let joined = tokio::task::spawn_blocking(move || {
            for h in handles {
                let _ = h.join();
            }
        });
        let _ = joined.await;
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What every worker shares.
struct Shared {
    policy: Arc<PolicyHandle>,
    capacity: Arc<Capacity>,
    lanes: Lanes,
    counters: Arc<Counters>,
    max_decompressed: usize,
}

fn work(jobs: &Mutex<mpsc::Receiver<Job>>, shared: &Shared) {
    let mut scratch = Scratch::default();
    let mut kept = redact::KeptValues::default();
    let (mut generation, mut processing) = shared.policy.current();
    loop {
        // Holding the lock while waiting is the point: idle workers queue on the mutex and
        // the first in line takes the next job.
        let job = jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocking_recv();
        let Some(job) = job else { return };
        if job.reply.is_closed() {
            // The client gave up (request timeout): it will retry, skip the work.
            continue;
        }
        if shared.policy.generation() != generation {
            // A reloaded policy: values clean under the old one may not be under the new.
            (generation, processing) = shared.policy.current();
            kept = redact::KeptValues::default();
        }
        let verdict = process(
            job.body,
            job.receiver,
            &processing,
            shared,
            &mut scratch,
            &mut kept,
        );
        let _ = job.reply.send(verdict);
    }
}

/// Decode, redact, encode and queue one request.
fn process(
    body: Body,
    receiver: &'static str,
    processing: &Processing,
    shared: &Shared,
    scratch: &mut Scratch,
    kept: &mut redact::KeptValues,
) -> Result<Accepted, SubmitError> {
    let mut request = match body {
        Body::Decoded(r) => r,
        Body::Encoded {
            signal,
            encoding,
            gzip,
            bytes,
        } => decode_body(signal, encoding, gzip, &bytes, shared.max_decompressed)?,
    };
    let signal = request.signal();
    let received = request.records() as u64;
    shared.counters.received(signal, received);
    let (report, tally) = match processing {
        Processing::Redact(redactor) => {
            redact::redact_and_tag(redactor, None, receiver, scratch, kept, &mut request)
        }
        Processing::RedactAndTag(redactor, tags) => {
            redact::redact_and_tag(redactor, Some(tags), receiver, scratch, kept, &mut request)
        }
        Processing::Passthrough => Default::default(),
    };
    let retention = match processing {
        Processing::RedactAndTag(_, tags) => tags.retention.as_deref(),
        _ => None,
    };
    shared.counters.redacted(report.redactions, report.rejected);
    if report.rejected > 0 && report.rejected == received {
        return Err(SubmitError::Unprocessable { records: received });
    }
    let records = request.records();
    // Audit counters count what was forwarded, once: a refused request is retried.
    if records == 0 {
        shared.counters.audit(receiver, signal, &tally, retention);
        return Ok(Accepted {
            rejected: report.rejected,
        });
    }
    let encoded = request.encode();
    let permit = shared
        .capacity
        .try_reserve(records, encoded.len())
        .map_err(|e| match e {
            ReserveError::Full => SubmitError::QueueFull,
            ReserveError::TooLarge => SubmitError::TooLarge {
                records,
                bytes: encoded.len(),
            },
        })?;
    shared
        .lanes
        .push(signal, Batch { encoded, permit })
        .map_err(|_| SubmitError::ShuttingDown)?;
    shared.counters.queued(records as u64);
    shared.counters.audit(receiver, signal, &tally, retention);
    Ok(Accepted {
        rejected: report.rejected,
    })
}
