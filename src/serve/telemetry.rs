//! The proxy's own counters, served at `/metrics` in the Prometheus text format, and the
//! shutdown flag readiness reads. Counts only, never values; the hot path only increments.

use super::payload::Signal;
use super::pipeline::SubmitError;
use super::redact::Tally;
use crate::engine::Redactor;
use crate::retention::RetentionPolicy;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{PoisonError, RwLock};

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
    refused_unsupported: AtomicU64,
    exported: [AtomicU64; 3],
    export_retries: [AtomicU64; 3],
    export_dropped: [AtomicU64; 3],
    upstream_rejected: [AtomicU64; 3],
    /// Syslog messages read, UDP datagrams dropped (buffer full), messages cut at
    /// `serve.syslog.max_message_bytes`, batches dropped for a permanent refusal.
    syslog_messages: AtomicU64,
    syslog_dropped: AtomicU64,
    syslog_truncated: AtomicU64,
    /// TLS handshakes that failed or timed out, by receiver.
    tls_handshake_failures: Labeled,
    /// Policy reloads that took effect, that failed, and when the last one took effect
    /// (Unix seconds; 0 before the first).
    config_reloads_ok: AtomicU64,
    config_reloads_failed: AtomicU64,
    config_reloaded_at: AtomicU64,
    /// Changed TLS files that did not load, by role (`receiver`, `upstream`).
    tls_reload_failures: Labeled,
    /// notAfter (Unix seconds) of each certificate caviard presents, with its file.
    certificate_expiry: RwLock<BTreeMap<Presenter, (String, i64)>>,
    by_category: Labeled,
    by_rule: Labeled,
    by_receiver: Labeled,
    /// Per signal, records by retention class.
    by_class: [Labeled; 3],
}

/// Who presents a certificate: a role (`receiver`, `upstream`) and, for a receiver, its name.
type Presenter = (&'static str, Option<&'static str>);

/// Counters by one label value. Label values come from the packs, the policy and the code
/// (categories, rule ids, class names, receiver names), never from records, so the set is
/// bounded. The common case (value already known) takes a shared lock and an atomic add.
#[derive(Debug, Default)]
struct Labeled(RwLock<BTreeMap<String, AtomicU64>>);

impl Labeled {
    fn add(&self, label: &str, n: u64) {
        if let Some(c) = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(label)
        {
            c.fetch_add(n, Relaxed);
            return;
        }
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(label.to_string())
            .or_default()
            .fetch_add(n, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, label: &str, extra: &str) {
        for (value, c) in self.0.read().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(
                out,
                "{name}{{{extra}{label}=\"{}\"}} {}",
                escape(value),
                c.load(Relaxed)
            );
        }
    }
}

/// Prometheus label value escaping.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Counters {
    /// Register every category and class at zero, so dashboards see them before the first
    /// record (rule ids appear at their first redaction: the engine does not list them).
    pub(crate) fn register(&self, redactor: &Redactor, retention: Option<&RetentionPolicy>) {
        for c in redactor.categories() {
            self.by_category.add(c, 0);
        }
        for r in ["otlp_grpc", "otlp_http"] {
            self.by_receiver.add(r, 0);
        }
        if let Some(p) = retention {
            for lane in &self.by_class {
                for c in p.classes() {
                    lane.add(c.name(), 0);
                }
            }
        }
    }

    /// Count what one forwarded request carried: redactions by category, rule and receiver,
    /// records by retention class. The class ids of `tally` are those of `retention`, the
    /// policy the request was tagged with (after a reload, another request may run under the
    /// new one).
    pub(crate) fn audit(
        &self,
        receiver: &str,
        signal: Signal,
        tally: &Tally,
        retention: Option<&RetentionPolicy>,
    ) {
        let total = tally.summary.total();
        if total > 0 {
            self.by_receiver.add(receiver, u64::from(total));
            for (c, n) in tally.summary.categories() {
                self.by_category.add(c, u64::from(n));
            }
            for (r, n) in tally.summary.rules() {
                self.by_rule.add(r, u64::from(n));
            }
        }
        let classes = retention.map_or(&[][..], RetentionPolicy::classes);
        for (i, &n) in tally.classes.iter().enumerate() {
            if let (Some(class), true) = (classes.get(i), n > 0) {
                self.by_class[signal.index()].add(class.name(), n);
            }
        }
    }

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
            SubmitError::Unsupported { .. } => &self.refused_unsupported,
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

    pub(crate) fn syslog_message(&self, truncated: bool) {
        self.syslog_messages.fetch_add(1, Relaxed);
        if truncated {
            self.syslog_truncated.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn syslog_dropped(&self, messages: u64) {
        self.syslog_dropped.fetch_add(messages, Relaxed);
    }

    /// Show `receiver`'s handshake failures at zero (a receiver with TLS on, at start).
    pub(crate) fn register_tls(&self, receiver: &str) {
        self.tls_handshake_failures.add(receiver, 0);
    }

    /// A policy reload took effect (`ok`), or failed and the running policy stayed.
    pub(crate) fn config_reloaded(&self, ok: bool) {
        if ok {
            self.config_reloads_ok.fetch_add(1, Relaxed);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.config_reloaded_at.store(now, Relaxed);
        } else {
            self.config_reloads_failed.fetch_add(1, Relaxed);
        }
    }

    /// A TLS handshake on `receiver` failed or timed out.
    pub(crate) fn tls_handshake_failed(&self, receiver: &str) {
        self.tls_handshake_failures.add(receiver, 1);
    }

    /// Show `role`'s reload failures at zero (TLS files that are watched for rotation).
    pub(crate) fn register_tls_reload(&self, role: &str) {
        self.tls_reload_failures.add(role, 0);
    }

    /// Changed TLS files of `role` did not load; the previous ones stay in use.
    pub(crate) fn tls_reload_failed(&self, role: &str) {
        self.tls_reload_failures.add(role, 1);
    }

    /// The certificate `role` (and `receiver`) presents, from `file`, expires at `not_after`
    /// (Unix seconds).
    pub(crate) fn set_certificate_expiry(
        &self,
        role: &'static str,
        receiver: Option<&'static str>,
        file: &Path,
        not_after: i64,
    ) {
        self.certificate_expiry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((role, receiver), (file.display().to_string(), not_after));
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
            ("unsupported_signal", &self.refused_unsupported),
        ] {
            let _ = writeln!(
                out,
                "caviard_refused_requests_total{{reason=\"{reason}\"}} {}",
                c.load(Relaxed)
            );
        }
        let name = "caviard_config_reloads_total";
        let _ = writeln!(
            out,
            "# HELP {name} Policy reloads (SIGHUP or a changed config file): success took effect, failure kept the running policy.\n# TYPE {name} counter"
        );
        for (result, c) in [
            ("success", &self.config_reloads_ok),
            ("failure", &self.config_reloads_failed),
        ] {
            let _ = writeln!(out, "{name}{{result=\"{result}\"}} {}", c.load(Relaxed));
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
                "caviard_syslog_messages_total",
                "Syslog messages received (UDP and TCP).",
                "counter",
                self.syslog_messages.load(Relaxed),
            ),
            (
                "caviard_syslog_dropped_total",
                "Syslog messages dropped: UDP datagrams while the receiver was full, or a batch refused for good.",
                "counter",
                self.syslog_dropped.load(Relaxed),
            ),
            (
                "caviard_syslog_truncated_total",
                "Syslog messages cut at serve.syslog.max_message_bytes.",
                "counter",
                self.syslog_truncated.load(Relaxed),
            ),
            (
                "caviard_config_last_reload_success_timestamp_seconds",
                "When the last policy reload took effect (Unix seconds; 0: none since start).",
                "gauge",
                self.config_reloaded_at.load(Relaxed),
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
        self.render_audit(&mut out);
        out
    }

    fn render_audit(&self, out: &mut String) {
        for (name, help, label, c) in [
            (
                "caviard_redactions_by_category_total",
                "Values redacted, by category.",
                "category",
                &self.by_category,
            ),
            (
                "caviard_redactions_by_rule_total",
                "Values redacted, by rule id.",
                "rule",
                &self.by_rule,
            ),
            (
                "caviard_redactions_by_receiver_total",
                "Values redacted, by the receiver the record came in by.",
                "receiver",
                &self.by_receiver,
            ),
            (
                "caviard_tls_handshake_failures_total",
                "TLS handshakes on a receiver that failed (no or unknown client certificate, not TLS, no common version) or timed out.",
                "receiver",
                &self.tls_handshake_failures,
            ),
            (
                "caviard_tls_reload_failures_total",
                "Changed TLS files that did not load (the previous ones stay in use), by role: receiver or upstream.",
                "role",
                &self.tls_reload_failures,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            c.render(out, name, label, "");
        }
        let name = "caviard_tls_certificate_expiry_timestamp_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Expiry (notAfter, Unix seconds) of the certificate caviard presents as last loaded: a receiver's server certificate, the upstream client certificate.\n# TYPE {name} gauge"
        );
        for ((role, receiver), (file, seconds)) in self
            .certificate_expiry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let receiver = receiver.map_or(String::new(), |r| format!("receiver=\"{r}\","));
            let _ = writeln!(
                out,
                "{name}{{role=\"{role}\",{receiver}file=\"{}\"}} {seconds}",
                escape(file)
            );
        }
        let name = "caviard_records_by_retention_class_total";
        let _ = writeln!(
            out,
            "# HELP {name} Records forwarded, by retention class.\n# TYPE {name} counter"
        );
        for s in Signal::ALL {
            let extra = format!("signal=\"{}\",", s.name());
            self.by_class[s.index()].render(out, name, "class", &extra);
        }
    }
}
