//! The exporter used when no upstream is configured: each batch is written to stdout as one
//! OTLP/JSON line. Lets `caviard serve` run with no configuration at all, to try a policy
//! against real SDK traffic, without sending records anywhere.
//!
//! A closed stdout (its reader went away: `EPIPE`, as Rust ignores `SIGPIPE`) can never be
//! written again, so it is reported as [`SendError::closed`] and the proxy stops with a
//! failure (see the module above), as Vector's console sink stops on a broken pipe. Other
//! write errors (a full disk behind a redirect) may pass and are retried.

use super::SendError;
use crate::serve::payload::{Request, Signal};
use std::io::{ErrorKind, Write};

pub(crate) struct StdoutUpstream;

impl StdoutUpstream {
    pub(crate) fn send(&self, signal: Signal, body: &[u8]) -> Result<u64, SendError> {
        let request = Request::decode_protobuf(signal, body)
            .map_err(|e| SendError::permanent(format!("re-decoding a queued batch: {e}")))?;
        let json = request
            .to_json()
            .map_err(|e| SendError::permanent(format!("OTLP/JSON encoding: {e}")))?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{json}")
            .and_then(|()| out.flush())
            .map_err(|e| match e.kind() {
                ErrorKind::BrokenPipe => SendError::closed(format!("stdout: {e}")),
                _ => SendError::retryable(format!("stdout: {e}")),
            })?;
        Ok(0)
    }
}
