//! Rotation of the TLS files caviard reads, for the receivers (`serve.otlp_grpc.tls`,
//! `serve.otlp_http.tls`, `serve.syslog.tcp_tls`: certificate, key, client CA) and the upstream
//! (`serve.upstream.tls`: CA, client certificate, key) alike.
//!
//! Every `reload_interval` the files are read and hashed (SHA-256 of each file's content, so
//! any change is seen whatever the file system's timestamps do, including the symbolic-link
//! swap of a Kubernetes Secret volume). When a hash changed, what the files are made into (a
//! receiver's rustls server configuration, the upstream connector) is rebuilt with the same
//! checks as at start-up and used for the next connections; connections already open keep
//! theirs. A change that does not load (a key written before its certificate, a truncated
//! file) keeps the previous one, is logged once as a warning naming the changed files and the
//! problems (fields and files, never their content) and counted in
//! `caviard_tls_reload_failures_total{role}`; the next change is tried again.
//!
//! Each load also sets `caviard_tls_certificate_expiry_timestamp_seconds` to the notAfter of
//! the certificate caviard presents (a receiver's server certificate, the upstream client
//! certificate), so an alert can fire before a rotation that never came.

use crate::serve::telemetry::Counters;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::task::JoinSet;

/// Whose files these are: the `role` label of the TLS metrics, and the `receiver` one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    /// A receiver's server TLS, by receiver name (`otlp_http`).
    Receiver(&'static str),
    /// The exporters' client TLS towards the upstream.
    Upstream,
}

impl Role {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::Receiver(_) => "receiver",
            Role::Upstream => "upstream",
        }
    }

    pub(crate) fn receiver(self) -> Option<&'static str> {
        match self {
            Role::Receiver(r) => Some(r),
            Role::Upstream => None,
        }
    }
}

/// What one load of the files made: the value used for new connections and the certificate
/// it presents, if any (for the expiry gauge).
pub(crate) struct Loaded<T> {
    pub(crate) value: T,
    pub(crate) leaf: Option<CertificateDer<'static>>,
}

/// Builds the value from the files; every problem starts with its field's dotted path.
pub(crate) type Load<T> = Box<dyn Fn() -> Result<Loaded<T>, Vec<String>> + Send + Sync>;

/// The files of one TLS block and the value in force, rebuilt when they change.
pub(crate) struct Reloading<T> {
    role: Role,
    /// Dotted path of the settings (`serve.upstream.tls`), for messages.
    path: &'static str,
    /// The files set in the block; empty when there is nothing to reload.
    files: Vec<PathBuf>,
    /// The file of the presented certificate, the expiry gauge's `file` label.
    cert_file: Option<PathBuf>,
    interval: Duration,
    load: Load<T>,
    current: RwLock<Arc<T>>,
    /// Each file's hash when `current` was first built.
    loaded: Vec<[u8; 32]>,
    counters: Arc<Counters>,
}

impl<T: Send + Sync + 'static> Reloading<T> {
    /// Load the files (`files`: those set, in the block's order; `cert_file`: the presented
    /// certificate's) and build the first value; its problems if they do not load.
    pub(crate) fn new(
        (role, path): (Role, &'static str),
        files: &[Option<&Path>],
        cert_file: Option<&Path>,
        interval: Duration,
        counters: Arc<Counters>,
        load: Load<T>,
    ) -> Result<Arc<Reloading<T>>, Vec<String>> {
        let files: Vec<PathBuf> = files.iter().flatten().map(|f| f.to_path_buf()).collect();
        let loaded = fingerprints(&files);
        let first = load()?;
        let reloading = Reloading {
            role,
            path,
            cert_file: cert_file.map(Path::to_path_buf),
            interval,
            current: RwLock::new(Arc::new(first.value)),
            load,
            loaded,
            counters,
            files,
        };
        reloading.record_expiry(first.leaf.as_ref());
        if !reloading.files.is_empty() {
            reloading.counters.register_tls_reload(role.name());
        }
        Ok(Arc::new(reloading))
    }

    /// The value in force.
    pub(crate) fn current(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Check the files every `reload_interval` until `stop` resolves, reloading them when they
    /// change. Nothing to do (no task) when the block names no file.
    pub(crate) fn spawn_reload(
        self: &Arc<Self>,
        tasks: &mut JoinSet<()>,
        stop: impl Future<Output = ()> + Send + 'static,
    ) {
        if self.files.is_empty() {
            return;
        }
        let files = self.clone();
        tasks.spawn(async move {
            let mut seen = files.loaded.clone();
            let mut tick = tokio::time::interval(files.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    () = &mut stop => return,
                    _ = tick.tick() => {}
                }
                let (check, before) = (files.clone(), seen.clone());
                // File reads, and a rebuild that may read the system's CA store: off the
                // reactor.
                match tokio::task::spawn_blocking(move || check.reload_if_changed(before)).await {
                    Ok(now) => seen = now,
                    Err(e) => {
                        tracing::warn!(tls = files.path, error = %e, "TLS reload check failed.")
                    }
                }
            }
        });
    }

    /// Rebuild the value if a file's hash differs from `seen`; the hashes now.
    fn reload_if_changed(&self, seen: Vec<[u8; 32]>) -> Vec<[u8; 32]> {
        let now = fingerprints(&self.files);
        if now == seen {
            return now;
        }
        let changed = self
            .files
            .iter()
            .zip(now.iter().zip(&seen))
            .filter(|(_, (a, b))| a != b)
            .map(|(f, _)| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match (self.load)() {
            Ok(loaded) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                    Arc::new(loaded.value);
                self.record_expiry(loaded.leaf.as_ref());
                tracing::info!(
                    tls = self.path,
                    changed,
                    "TLS files changed; reloaded for new connections."
                );
            }
            Err(problems) => {
                self.counters.tls_reload_failed(self.role.name());
                tracing::warn!(
                    tls = self.path,
                    changed,
                    problems = %problems.join("; "),
                    "TLS files changed but do not load; keeping the previous certificate."
                );
            }
        }
        now
    }

    /// Set the expiry gauge to `leaf`'s notAfter (nothing without a certificate, or one that
    /// does not parse, which rustls accepted all the same).
    fn record_expiry(&self, leaf: Option<&CertificateDer<'_>>) {
        let (Some(leaf), Some(file)) = (leaf, &self.cert_file) else {
            return;
        };
        match not_after(leaf) {
            Some(seconds) => self.counters.set_certificate_expiry(
                self.role.name(),
                self.role.receiver(),
                file,
                seconds,
            ),
            None => tracing::debug!(
                tls = self.path,
                file = %file.display(),
                "Certificate validity not readable; no expiry gauge."
            ),
        }
    }
}

/// A certificate's notAfter, in Unix seconds.
pub(crate) fn not_after(cert: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

/// SHA-256 of each file's content (an unreadable file hashes as its error kind).
fn fingerprints(files: &[PathBuf]) -> Vec<[u8; 32]> {
    files
        .iter()
        .map(|file| {
            let mut h = Sha256::new();
            match std::fs::read(file) {
                Ok(bytes) => {
                    h.update([1]);
                    h.update(&bytes);
                }
                Err(e) => {
                    h.update([2]);
                    h.update(e.kind().to_string().as_bytes());
                }
            }
            h.finalize().into()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A value that is the file's text, loading only when it starts with `ok`.
    fn reloading(dir: &Path, counters: &Arc<Counters>) -> Arc<Reloading<String>> {
        let file = dir.join("f.pem");
        std::fs::write(&file, "ok 1").unwrap();
        let f = file.clone();
        Reloading::new(
            (Role::Upstream, "serve.upstream.tls"),
            &[None, Some(&file)],
            None,
            Duration::from_secs(1),
            counters.clone(),
            Box::new(move || {
                let text = std::fs::read_to_string(&f).unwrap_or_default();
                if text.starts_with("ok") {
                    Ok(Loaded {
                        value: text,
                        leaf: None,
                    })
                } else {
                    Err(vec![format!("serve.upstream.tls.ca_file: {}", f.display())])
                }
            }),
        )
        .unwrap()
    }

    #[test]
    fn a_change_is_loaded_and_a_broken_one_keeps_the_value_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(Counters::default());
        let r = reloading(dir.path(), &counters);
        let file = dir.path().join("f.pem");
        let seen = r.reload_if_changed(r.loaded.clone());
        assert_eq!(seen, r.loaded, "unchanged files hash the same");
        assert_eq!(*r.current(), "ok 1");

        std::fs::write(&file, "broken").unwrap();
        let seen = r.reload_if_changed(seen);
        assert_eq!(*r.current(), "ok 1", "a broken file replaced the value");
        let metrics = counters.render(0, 0);
        assert!(
            metrics.contains("caviard_tls_reload_failures_total{role=\"upstream\"} 1"),
            "{metrics}"
        );
        // Unchanged since: not tried (nor counted) again.
        let seen = r.reload_if_changed(seen);
        assert!(counters
            .render(0, 0)
            .contains("caviard_tls_reload_failures_total{role=\"upstream\"} 1"));

        std::fs::write(&file, "ok 2").unwrap();
        r.reload_if_changed(seen);
        assert_eq!(*r.current(), "ok 2");
    }

    #[test]
    fn no_files_nothing_to_watch() {
        let counters = Arc::new(Counters::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let n = loads.clone();
        let r = Reloading::new(
            (Role::Upstream, "serve.upstream.tls"),
            &[None, None, None],
            None,
            Duration::from_millis(1),
            counters.clone(),
            Box::new(move || {
                n.fetch_add(1, Ordering::SeqCst);
                Ok(Loaded {
                    value: (),
                    leaf: None,
                })
            }),
        )
        .unwrap();
        let mut tasks = JoinSet::new();
        r.spawn_reload(&mut tasks, std::future::pending());
        assert!(tasks.is_empty());
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // The failure counter is only shown for a role with files to reload.
        assert!(!counters
            .render(0, 0)
            .contains("caviard_tls_reload_failures_total{"));
    }

    #[test]
    fn not_after_reads_the_certificate_validity() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
        let cert = params.self_signed(&key).unwrap();
        // 2031-05-17T00:00:00Z
        assert_eq!(not_after(cert.der()), Some(1_936_742_400));
        assert_eq!(not_after(&CertificateDer::from(vec![1, 2, 3])), None);
    }
}
