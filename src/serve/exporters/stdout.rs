//! The exporter used when no upstream is configured: each batch is written to stdout as one
//! OTLP/JSON line. Lets `caviard serve` run with no configuration at all, to try a policy
//! against real SDK traffic, without sending records anywhere.

use super::SendError;
use crate::serve::payload::{Request, Signal};
use std::io::Write;

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
            .map_err(|e| SendError::retryable(format!("stdout: {e}")))?;
        Ok(0)
    }
}
