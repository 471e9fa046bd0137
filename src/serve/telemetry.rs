//! The proxy's own counters, served at `/metrics` in the Prometheus text format, and the
//! shutdown flag readiness reads. Counts only, never values; the hot path only increments.

use super::payload::Signal;
use super::pipeline::SubmitError;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Monotonic counters, one set per process.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    shutting_down: AtomicBool,
    received: [AtomicU64; 3],
    queued: AtomicU64,
    redactions: AtomicU64,
    rejected_unprocessable: AtomicU64,
    refused_busy: AtomicU64,
    refused_queue_full: AtomicU64,
    refused_shutting_down: AtomicU64,
    refused_timeout: AtomicU64,
    refused_invalid: AtomicU64,
    exported: [AtomicU64; 3],
    export_retries: [AtomicU64; 3],
    export_dropped: [AtomicU64; 3],
    upstream_rejected: [AtomicU64; 3],
}

impl Counters {
    pub(crate) fn set_shutting_down(&self) {
        self.shutting_down.store(true, Relaxed);
    }

    pub(crate) fn shutting_down(&self) -> bool {
        self.shutting_down.load(Relaxed)
    }

    pub(crate) fn received(&self, signal: Signal, records: u64) {
        self.received[signal.index()].fetch_add(records, Relaxed);
    }

    pub(crate) fn queued(&self, records: u64) {
        self.queued.fetch_add(records, Relaxed);
    }

    pub(crate) fn redacted(&self, redactions: u64, rejected: u64) {
        if redactions > 0 {
            self.redactions.fetch_add(redactions, Relaxed);
        }
        if rejected > 0 {
            self.rejected_unprocessable.fetch_add(rejected, Relaxed);
        }
    }

    pub(crate) fn refused(&self, e: &SubmitError) {
        let c = match e {
            SubmitError::Busy => &self.refused_busy,
            SubmitError::QueueFull => &self.refused_queue_full,
            SubmitError::ShuttingDown => &self.refused_shutting_down,
            SubmitError::Timeout => &self.refused_timeout,
            SubmitError::Unprocessable { .. } => return,
            _ => &self.refused_invalid,
        };
        c.fetch_add(1, Relaxed);
    }

    /// A request refused before it reached the pipeline (unreadable body).
    pub(crate) fn invalid(&self) {
        self.refused_invalid.fetch_add(1, Relaxed);
    }

    pub(crate) fn exported(&self) -> u64 {
        self.exported.iter().map(|c| c.load(Relaxed)).sum()
    }

    pub(crate) fn delivered(&self, signal: Signal, accepted: u64, rejected: u64) {
        self.exported[signal.index()].fetch_add(accepted, Relaxed);
        if rejected > 0 {
            self.upstream_rejected[signal.index()].fetch_add(rejected, Relaxed);
        }
    }

    pub(crate) fn retried(&self, signal: Signal) {
        self.export_retries[signal.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn dropped(&self, signal: Signal, records: u64) {
        self.export_dropped[signal.index()].fetch_add(records, Relaxed);
    }

    /// The Prometheus text exposition of every counter plus the queue gauges.
    pub(crate) fn render(&self, queued_records: usize, queued_bytes: usize) -> String {
        let mut out = String::with_capacity(2048);
        let per_signal = [
            (
                "caviard_received_records_total",
                "Records decoded from clients.",
                &self.received,
            ),
            (
                "caviard_exported_records_total",
                "Records the upstream accepted.",
                &self.exported,
            ),
            (
                "caviard_export_retries_total",
                "Upstream requests retried.",
                &self.export_retries,
            ),
            (
                "caviard_export_dropped_records_total",
                "Records dropped after a permanent upstream error or retry.max_elapsed.",
                &self.export_dropped,
            ),
            (
                "caviard_upstream_rejected_records_total",
                "Records the upstream rejected in a partial success.",
                &self.upstream_rejected,
            ),
        ];
        for (name, help, values) in per_signal {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for s in Signal::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{signal=\"{}\"}} {}",
                    s.name(),
                    values[s.index()].load(Relaxed)
                );
            }
        }
        let _ = writeln!(out, "# HELP caviard_refused_requests_total Requests answered with an error, by reason.\n# TYPE caviard_refused_requests_total counter");
        for (reason, c) in [
            ("busy", &self.refused_busy),
            ("queue_full", &self.refused_queue_full),
            ("shutting_down", &self.refused_shutting_down),
            ("timeout", &self.refused_timeout),
            ("invalid", &self.refused_invalid),
        ] {
            let _ = writeln!(
                out,
                "caviard_refused_requests_total{{reason=\"{reason}\"}} {}",
                c.load(Relaxed)
            );
        }
        for (name, help, kind, v) in [
            (
                "caviard_queued_records_total",
                "Records acknowledged to clients.",
                "counter",
                self.queued.load(Relaxed),
            ),
            (
                "caviard_redactions_total",
                "Values the engine changed or dropped.",
                "counter",
                self.redactions.load(Relaxed),
            ),
            (
                "caviard_unprocessable_records_total",
                "Records dropped because the engine failed on them.",
                "counter",
                self.rejected_unprocessable.load(Relaxed),
            ),
            (
                "caviard_queue_records",
                "Records queued and not yet delivered.",
                "gauge",
                queued_records as u64,
            ),
            (
                "caviard_queue_bytes",
                "Bytes queued and not yet delivered.",
                "gauge",
                queued_bytes as u64,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        out
    }
}
