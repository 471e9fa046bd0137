//! The exporter used when no upstream is configured: each batch is written to stdout as one
//! OTLP/JSON line. Lets `caviard serve` run with no configuration at all, to try a policy
//! against real SDK traffic, without sending records anywhere.
//!
//! The writes happen on a dedicated thread fed by a bounded channel, never on the runtime's
//! workers: stdout is a pipe whose reader may be slow or stopped, and a write blocked on it
//! would hold a worker that receivers and the other lanes need. The thread takes lines in the
//! order `send` was called, so a lane's batches keep their order; one thread is enough, as
//! stdout is one stream anyway.
//!
//! A line is never repeated nor interleaved. A write that fails after part of a line (a full
//! disk behind a redirect) leaves the stream mid-line: the thread keeps the rest, and the
//! next line written, whichever batch it belongs to, first finishes it. The retry of the
//! batch cut short writes only what was missing, or nothing if another batch finished it
//! meanwhile (the thread remembers which deliveries it finished, by [`DeliveryId`]).
//!
//! A closed stdout (its reader went away: `EPIPE`, as Rust ignores `SIGPIPE`, or a socket's
//! `ECONNRESET`/`ENOTCONN`, see [`crate::cli::reader_gone`]) can never be written again, so it
//! is reported as [`SendError::closed`] and the proxy stops with a failure (see the module
//! above), as Vector's console sink stops on a broken pipe. Other write errors may pass and
//! are retried.

use super::{DeliveryId, SendError};
use crate::serve::payload::{Request, Signal};
use bytes::Bytes;
use std::io::{self, Write};
use tokio::sync::{mpsc, oneshot};

/// Lines waiting for the writer thread. Few: at most `upstream.concurrency` batches per lane
/// are in flight anyway, and a full channel only makes `send` wait, off the workers.
const QUEUED_LINES: usize = 4;

pub(crate) struct StdoutUpstream {
    lines: mpsc::Sender<Line>,
}

/// One batch's line, for the writer thread.
struct Line {
    delivery: DeliveryId,
    text: Vec<u8>,
    written: oneshot::Sender<Result<(), SendError>>,
}

impl StdoutUpstream {
    /// Start the writer thread on the process's stdout.
    pub(crate) fn new() -> Result<StdoutUpstream, String> {
        StdoutUpstream::with_writer(io::stdout())
    }

    /// Start the writer thread on `out`. It ends once the upstream is dropped and the lines
    /// queued before are written.
    pub(crate) fn with_writer(out: impl Write + Send + 'static) -> Result<StdoutUpstream, String> {
        let (lines, mut queued) = mpsc::channel::<Line>(QUEUED_LINES);
        std::thread::Builder::new()
            .name("caviard-stdout".into())
            .spawn(move || {
                let mut writer = LineWriter::new(out);
                while let Some(line) = queued.blocking_recv() {
                    let result = writer.write(line.delivery, line.text);
                    // The delivery may be gone (shutdown): nobody to tell.
                    let _ = line.written.send(result);
                }
            })
            .map_err(|e| format!("cannot spawn the stdout writer thread: {e}"))?;
        Ok(StdoutUpstream { lines })
    }

    /// Encode the batch as an OTLP/JSON line and have the writer thread write it; resolves
    /// once it is written (or failed).
    pub(crate) async fn send(
        &self,
        signal: Signal,
        body: Bytes,
        delivery: DeliveryId,
    ) -> Result<u64, SendError> {
        let request = Request::decode_protobuf(signal, &body)
            .map_err(|e| SendError::permanent(format!("re-decoding a queued batch: {e}")))?;
        let mut text = request
            .to_json()
            .map_err(|e| SendError::permanent(format!("OTLP/JSON encoding: {e}")))?
            .into_bytes();
        text.push(b'\n');
        let (written, result) = oneshot::channel();
        let line = Line {
            delivery,
            text,
            written,
        };
        // The thread only ends early by panicking: then nothing can be written any more.
        let gone = || SendError::closed("stdout: the writer thread stopped".into());
        self.lines.send(line).await.map_err(|_| gone())?;
        result.await.map_err(|_| gone())??;
        Ok(0)
    }
}

/// The writer thread's state: the output, and what it owes for lines cut short.
struct LineWriter<W> {
    out: W,
    /// The line a failed write left half-written; finished before anything else is written.
    unfinished: Option<Unfinished>,
    /// Deliveries whose line was cut short and then finished while writing another's: their
    /// retry writes nothing. Only ever holds a few entries (one per write cut short); each
    /// goes at its delivery's next attempt, or stays if that delivery gave up meanwhile (its
    /// records were then counted dropped although their line did get out).
    finished: Vec<DeliveryId>,
}

struct Unfinished {
    delivery: DeliveryId,
    text: Vec<u8>,
    /// Bytes of `text` already written.
    written: usize,
}

impl<W: Write> LineWriter<W> {
    fn new(out: W) -> LineWriter<W> {
        LineWriter {
            out,
            unfinished: None,
            finished: Vec::new(),
        }
    }

    /// Write `delivery`'s line, unless an earlier attempt already did (in part: then only
    /// the rest). Finishes a line cut short first.
    fn write(&mut self, delivery: DeliveryId, text: Vec<u8>) -> Result<(), SendError> {
        if let Some(i) = self.finished.iter().position(|&d| d == delivery) {
            self.finished.swap_remove(i);
            return Ok(());
        }
        if let Some(cut) = self.unfinished.take() {
            let owner = cut.delivery;
            self.put(cut)?;
            if owner == delivery {
                return Ok(());
            }
            self.finished.push(owner);
        }
        self.put(Unfinished {
            delivery,
            text,
            written: 0,
        })
    }

    /// Write the rest of a line and flush. On failure after some of its bytes (or at the
    /// flush, when all were passed on), the line is kept as unfinished.
    fn put(&mut self, mut line: Unfinished) -> Result<(), SendError> {
        while line.written < line.text.len() {
            match self.out.write(&line.text[line.written..]) {
                Ok(0) => return self.fail(line, io::ErrorKind::WriteZero.into()),
                Ok(n) => line.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(line, e),
            }
        }
        // `io::Stdout` is line-buffered and every line ends in '\n', so the bytes counted as
        // written above reached the file: this flush is for other writers.
        match self.out.flush() {
            Ok(()) => Ok(()),
            Err(e) => self.fail(line, e),
        }
    }

    fn fail(&mut self, line: Unfinished, e: io::Error) -> Result<(), SendError> {
        if line.written > 0 {
            self.unfinished = Some(line);
        }
        let reason = format!("stdout: {e}");
        Err(if crate::cli::reader_gone(e.kind()) {
            SendError::closed(reason)
        } else {
            SendError::retryable(reason)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Failure;
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use prost::Message;
    use std::sync::{mpsc, Arc, Mutex};
    use std::time::Duration;

    /// An encoded logs request of one record whose body is `text`.
    fn batch(text: &str) -> Bytes {
        let record = LogRecord {
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(text.to_string())),
            }),
            ..Default::default()
        };
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: vec![record],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        Bytes::from(request.encode_to_vec())
    }

    /// The bodies of the records in `out`, one entry per line; panics on a line that is not
    /// a whole OTLP/JSON request.
    fn bodies(out: &[u8]) -> Vec<String> {
        let text = std::str::from_utf8(out).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "unfinished line: {text:?}"
        );
        text.lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{e}: not OTLP/JSON: {line:?}"));
                v["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"]["stringValue"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Appends to a shared buffer; after `budget` bytes, fails once with `error` (then
    /// accepts everything again), as a write cut short by a full disk or a signal would.
    struct Flaky {
        out: Arc<Mutex<Vec<u8>>>,
        budget: Option<usize>,
        error: io::ErrorKind,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = match self.budget {
                Some(0) => {
                    self.budget = None;
                    return Err(io::Error::from(self.error));
                }
                Some(b) => {
                    let n = b.min(buf.len());
                    self.budget = Some(b - n);
                    n
                }
                None => buf.len(),
            };
            self.out.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn flaky(budget: usize, error: io::ErrorKind) -> (StdoutUpstream, Arc<Mutex<Vec<u8>>>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let writer = Flaky {
            out: out.clone(),
            budget: Some(budget),
            error,
        };
        (StdoutUpstream::with_writer(writer).unwrap(), out)
    }

    /// A reader that went away is a closed output whatever the kind its write reports (a
    /// socket's reset peer gives `ConnectionReset`, not `BrokenPipe`); other errors pass.
    #[test]
    fn every_kind_of_gone_reader_closes_the_output() {
        let rt = runtime();
        for (error, expected) in [
            (io::ErrorKind::BrokenPipe, Failure::Closed),
            (io::ErrorKind::ConnectionReset, Failure::Closed),
            (io::ErrorKind::NotConnected, Failure::Closed),
            (io::ErrorKind::StorageFull, Failure::Retryable),
        ] {
            let (stdout, _) = flaky(0, error);
            let e = rt
                .block_on(stdout.send(Signal::Logs, batch("x"), DeliveryId(1)))
                .unwrap_err();
            assert_eq!(e.kind, expected, "{error:?}");
        }
    }

    /// A write that blocks (a reader that does not read) holds neither the runtime's thread
    /// nor the batches behind it in order: on a one-thread runtime another task still runs
    /// (here, the one that unblocks the writer), and lines come out in the order sent.
    #[test]
    fn a_stalled_stdout_does_not_block_the_runtime() {
        /// Waits for a go before accepting its first write (at most 5 s).
        struct Stalled {
            go: mpsc::Receiver<()>,
            released_by_task: Arc<Mutex<Option<bool>>>,
            out: Arc<Mutex<Vec<u8>>>,
        }
        impl Write for Stalled {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let mut released = self.released_by_task.lock().unwrap();
                if released.is_none() {
                    *released = Some(self.go.recv_timeout(Duration::from_secs(5)).is_ok());
                }
                self.out.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (go, rx) = mpsc::channel();
        let released_by_task = Arc::new(Mutex::new(None));
        let out = Arc::new(Mutex::new(Vec::new()));
        let writer = Stalled {
            go: rx,
            released_by_task: released_by_task.clone(),
            out: out.clone(),
        };
        let stdout = Arc::new(StdoutUpstream::with_writer(writer).unwrap());
        runtime().block_on(async {
            let sending = {
                let stdout = stdout.clone();
                tokio::spawn(async move {
                    for i in 0..5 {
                        let sent =
                            stdout.send(Signal::Logs, batch(&format!("line {i}")), DeliveryId(i));
                        sent.await.unwrap();
                    }
                })
            };
            // Runs only if the sending task left the (only) runtime thread.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                go.send(()).unwrap();
            })
            .await
            .unwrap();
            sending.await.unwrap();
        });
        assert_eq!(*released_by_task.lock().unwrap(), Some(true));
        let expected: Vec<String> = (0..5).map(|i| format!("line {i}")).collect();
        assert_eq!(bodies(&out.lock().unwrap()), expected);
    }

    /// A write cut short after part of a line: the retry of that delivery writes only the
    /// rest, so the line appears once and whole.
    #[test]
    fn a_retry_after_a_partial_write_resumes_the_line() {
        let rt = runtime();
        let (stdout, out) = flaky(10, io::ErrorKind::StorageFull);
        let a = batch("first");
        let e = rt
            .block_on(stdout.send(Signal::Logs, a.clone(), DeliveryId(1)))
            .unwrap_err();
        assert_eq!(e.kind, Failure::Retryable);
        assert_eq!(out.lock().unwrap().len(), 10);
        rt.block_on(stdout.send(Signal::Logs, a, DeliveryId(1)))
            .unwrap();
        assert_eq!(bodies(&out.lock().unwrap()), ["first"]);
    }

    /// Another batch written after a line cut short first finishes that line (a line is
    /// never interleaved); the cut delivery's retry then writes nothing more.
    #[test]
    fn a_line_cut_short_is_finished_before_the_next_and_never_repeated() {
        let rt = runtime();
        let (stdout, out) = flaky(10, io::ErrorKind::StorageFull);
        let a = batch("first");
        rt.block_on(stdout.send(Signal::Logs, a.clone(), DeliveryId(1)))
            .unwrap_err();
        rt.block_on(stdout.send(Signal::Logs, batch("second"), DeliveryId(2)))
            .unwrap();
        rt.block_on(stdout.send(Signal::Logs, a, DeliveryId(1)))
            .unwrap();
        rt.block_on(stdout.send(Signal::Logs, batch("third"), DeliveryId(3)))
            .unwrap();
        assert_eq!(bodies(&out.lock().unwrap()), ["first", "second", "third"]);
    }
}
