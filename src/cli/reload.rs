//! Policy reload for `caviard serve`: on SIGHUP, and every `serve.config_watch_interval` when
//! the config file, or a pack or pseudonym key file it names, changed (a Kubernetes ConfigMap
//! or Secret updated in place sends no signal).
//!
//! A reload reads and validates the whole file as `caviard check` does, then builds the new
//! redactor, retention policy and audit summary off the async threads, and only then hands
//! them to the workers ([`PolicyHandle::replace`]). A file that does not load, parse or
//! validate changes nothing: the running policy stays, the problems are logged (field paths
//! and file names, never a key or a value) and counted. The `serve` section (listeners,
//! upstream, queue) is not reloaded: a change there is logged as needing a restart.

use crate::config::Config;
use crate::serve::{PolicyHandle, Processing};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What a reload compares against: the file, the running `serve` section as written, and
/// the digest of every file the policy was built from.
pub(super) struct Reloader {
    path: PathBuf,
    handle: Arc<PolicyHandle>,
    serve_section: Option<serde_yaml_ng::Value>,
    fingerprint: [u8; 32],
    /// The running pseudonym key's id and digest.
    key: Option<(String, [u8; 32])>,
}

/// The pseudonym key id of `config` and a digest of its key (never logged).
fn pseudonym_key(config: &Config) -> Option<(String, [u8; 32])> {
    let p = config.policy.pseudonym.as_ref()?;
    let key = p.read_key().ok()?;
    Some((p.key_id.clone(), Sha256::digest(key).into()))
}

impl Reloader {
    /// The reloader of the policy `handle` runs, built from the file at `path` as it is now.
    pub(super) fn new(path: &Path, handle: Arc<PolicyHandle>) -> Reloader {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let config = Config::parse(&text).ok();
        Reloader {
            path: path.to_path_buf(),
            handle,
            serve_section: serve_section(&text),
            fingerprint: fingerprint(path, config.as_ref()),
            key: config.as_ref().and_then(pseudonym_key),
        }
    }

    /// Reload when `forced` (SIGHUP) or when a file changed since the last attempt.
    fn check(&mut self, forced: bool) {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()));
        let parsed = text
            .as_deref()
            .map_err(Clone::clone)
            .and_then(Config::parse);
        let now = fingerprint(&self.path, parsed.as_ref().ok());
        if !forced && now == self.fingerprint {
            return;
        }
        // A broken file is reported once, not at every tick until it is fixed.
        self.fingerprint = now;
        let (text, config) = match (text, parsed) {
            (Ok(t), Ok(c)) => (t, c),
            (Err(e), _) | (_, Err(e)) => return self.failed(&[e]),
        };
        let redactor = match config.checked_redactor(1) {
            Ok(r) => r,
            Err(problems) => return self.failed(&problems),
        };
        let tags = match super::serve::build_tags(&config, &redactor) {
            Ok(t) => t,
            Err(e) => return self.failed(&[format!("{e:#}")]),
        };
        let section = serve_section(&text);
        if section != self.serve_section {
            tracing::warn!(
                config = %self.path.display(),
                "The serve section changed: listeners, upstream, queue and limits keep their running values until a restart."
            );
            self.serve_section = section;
        }
        let key = pseudonym_key(&config);
        if let (Some((old_id, old)), Some((id, new))) = (&self.key, &key) {
            if old_id == id && old != new {
                tracing::warn!(
                    pseudonym_key_id = %id,
                    "The pseudonym key changed but its key_id did not: pseudonyms made before and after this reload carry the same id and cannot be told apart. Change policy.pseudonym.key_id with the key."
                );
            }
        }
        self.key = key;
        let (rules, key_rules) = redactor.rule_counts();
        let key_id = config.policy.pseudonym.as_ref().map(|p| p.key_id.clone());
        self.handle
            .replace(Processing::RedactAndTag(Arc::new(redactor), Arc::new(tags)));
        tracing::info!(
            config = %self.path.display(),
            rules,
            key_rules,
            pseudonym_key_id = key_id.as_deref().unwrap_or("-"),
            "Policy reloaded; new requests are redacted with it."
        );
    }

    fn failed(&self, problems: &[String]) {
        self.handle.reload_failed();
        tracing::error!(
            config = %self.path.display(),
            problems = %problems.join("; "),
            "Policy reload failed; the running policy stays."
        );
    }
}

/// The `serve` section as written (`None` when absent or the file does not parse).
fn serve_section(text: &str) -> Option<serde_yaml_ng::Value> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).ok()?;
    doc.get("serve").cloned()
}

/// SHA-256 over the config file and the files its policy names (pack files and directories,
/// the pseudonym key file), each with its path; a missing file hashes as its error. Only
/// compared, never logged: it covers key material.
fn fingerprint(path: &Path, config: Option<&Config>) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut file = |p: &Path| {
        h.update(p.as_os_str().as_encoded_bytes());
        h.update([0]);
        match std::fs::read(p) {
            Ok(bytes) => {
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
            Err(e) => h.update(format!("error {:?}", e.kind())),
        }
    };
    file(path);
    let Some(config) = config else {
        return h.finalize().into();
    };
    for pack in &config.policy.packs {
        if pack.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(pack)
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            entries.sort();
            entries.iter().for_each(|p| file(p));
        } else {
            file(pack);
        }
    }
    if let Some(key) = config
        .policy
        .pseudonym
        .as_ref()
        .and_then(|p| p.key_file.as_ref())
    {
        file(key);
    }
    h.finalize().into()
}

/// The SIGHUP stream, registered before the proxy listens so that a signal sent once it is up
/// never meets the default action (ending the process). Must be called inside the runtime.
#[cfg(unix)]
pub(super) fn hangups() -> Hangups {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "Cannot listen for SIGHUP; the policy reloads only when the config file changes.");
            None
        }
    }
}

/// No SIGHUP off Unix.
#[cfg(not(unix))]
pub(super) fn hangups() -> Hangups {
    None
}

#[cfg(unix)]
pub(super) type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
pub(super) type Hangups = Option<()>;

/// Reload on SIGHUP, and every `interval` when a file changed, until the runtime stops. With
/// no config file (the built-in policy), SIGHUP is logged and ignored rather than ending the
/// process as its default action would.
pub(super) async fn watch(
    mut reloader: Option<Reloader>,
    mut hup: Hangups,
    interval: Option<Duration>,
) {
    let mut tick = interval.map(|d| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        let forced = tokio::select! {
            () = sighup(&mut hup) => true,
            _ = async { tick.as_mut().expect("guarded").tick().await }, if tick.is_some() => false,
        };
        let Some(mut r) = reloader.take() else {
            tracing::info!("SIGHUP ignored: no --config file (or reloads stopped after an error).");
            continue;
        };
        reloader = match tokio::task::spawn_blocking(move || {
            r.check(forced);
            r
        })
        .await
        {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(error = %e, "Policy reload panicked; reloads are off until a restart.");
                None
            }
        };
    }
}

async fn sighup(hup: &mut Hangups) {
    #[cfg(unix)]
    if let Some(s) = hup {
        if s.recv().await.is_some() {
            return;
        }
    }
    #[cfg(not(unix))]
    let _ = hup;
    std::future::pending::<()>().await
}
