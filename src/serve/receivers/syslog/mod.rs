//! Syslog receivers: UDP (one message per datagram) and TCP (RFC 6587: octet counting,
//! `LEN SP MSG`, or one message per line), both off unless configured.
//!
//! Messages are parsed (`parse.rs`) into OTLP log records, grouped into batches of up to
//! `max_batch_records` or `max_batch_delay`, and submitted to the pipeline as an OTLP logs
//! request from receiver `syslog`, so they get the same redaction, retention tags, queue and
//! upstream as OTLP records. Backpressure: a batch the pipeline refuses for a retryable
//! reason (queue full, busy) is retried with back-off and never dropped; meanwhile the
//! bounded channel into the batcher fills, TCP readers stop reading, and the kernel's window
//! makes the sender (rsyslog's action queue, syslog-ng's disk buffer) wait. UDP cannot push
//! back: a datagram that finds the channel full is dropped and counted.
//!
//! With `tcp_tls` the TCP receiver is syslog over TLS (RFC 5425): each connection is
//! handshaken in its own task (it holds a `max_connections` slot meanwhile, for at most
//! `handshake_timeout`), then read exactly as a plain one, octet counting or lines.

mod parse;

use super::tls::Tls;
use super::{accept, stopped};
use crate::serve::payload::Request;
use crate::serve::pipeline::{Body, Pipeline, SubmitError};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use parse::Message;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

/// The receiver name rules and metrics see.
const RECEIVER: &str = "syslog";

/// What the syslog receivers share.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    pub max_message: usize,
    pub max_batch: usize,
    pub max_delay: Duration,
    pub max_connections: usize,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Start the configured receivers and their batcher on `tasks`; the TCP listener comes with
/// its TLS, if any.
pub(super) fn spawn(
    tasks: &mut JoinSet<()>,
    udp: Option<UdpSocket>,
    tcp: Option<(TcpListener, Option<Arc<Tls>>)>,
    settings: Settings,
    pipeline: Pipeline,
    stop: watch::Receiver<bool>,
) {
    // Room for a few batches: enough to absorb a burst, small enough to push back soon.
    let (tx, rx) = mpsc::channel(settings.max_batch * 4);
    if let Some(socket) = udp {
        tasks.spawn(udp_loop(
            socket,
            settings,
            tx.clone(),
            pipeline.clone(),
            stop.clone(),
        ));
    }
    if let Some((listener, tls)) = tcp {
        tasks.spawn(tcp_loop(
            listener,
            tls,
            settings,
            tx.clone(),
            pipeline.clone(),
            stop.clone(),
        ));
    }
    drop(tx);
    tasks.spawn(batcher(rx, settings, pipeline, stop));
}

async fn udp_loop(
    socket: UdpSocket,
    settings: Settings,
    tx: mpsc::Sender<Message>,
    pipeline: Pipeline,
    stop: watch::Receiver<bool>,
) {
    // One byte more than kept, to tell a cut datagram from one of exactly the maximum.
    let mut buf = vec![0u8; settings.max_message.max(65_536) + 1];
    let stopping = stopped(stop);
    tokio::pin!(stopping);
    loop {
        let n = tokio::select! {
            () = &mut stopping => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, _)) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "syslog/udp: receive failed.");
                    continue;
                }
            },
        };
        let truncated = n > settings.max_message;
        pipeline.counters().syslog_message(truncated);
        let message = parse::parse(&buf[..n.min(settings.max_message)], now_nanos());
        if tx.try_send(message).is_err() {
            pipeline.counters().syslog_dropped(1);
        }
    }
}

async fn tcp_loop(
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    settings: Settings,
    tx: mpsc::Sender<Message>,
    pipeline: Pipeline,
    stop: watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(settings.max_connections));
    let mut open = JoinSet::new();
    let stopping = stopped(stop.clone());
    tokio::pin!(stopping);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stopping => break,
            accepted = accept(&listener, "syslog_tcp") => accepted,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!("syslog/tcp: serve.syslog.max_connections reached; connection closed.");
            continue;
        };
        let (tx, pipeline, stop, tls) = (tx.clone(), pipeline.clone(), stop.clone(), tls.clone());
        open.spawn(async move {
            let read = async {
                match tls {
                    None => read_stream(stream, settings, &tx, &pipeline).await,
                    Some(tls) => match tls.accept(stream, peer).await {
                        Some(stream) => read_stream(stream, settings, &tx, &pipeline).await,
                        None => Ok(()),
                    },
                }
            };
            tokio::select! {
                () = stopped(stop) => {}
                r = read => if let Err(e) = r {
                    tracing::debug!(error = %e, "syslog/tcp: connection ended.");
                },
            }
            drop(permit);
        });
    }
    // Connections stop reading at shutdown; what they already parsed is in the channel.
    while open.join_next().await.is_some() {}
}

/// Read framed messages until the peer closes. The framing is chosen per message, as
/// rsyslog and syslog-ng do: a message that starts with a digit is octet-counted.
async fn read_stream(
    stream: impl AsyncRead + Unpin,
    settings: Settings,
    tx: &mpsc::Sender<Message>,
    pipeline: &Pipeline,
) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    let mut msg = Vec::with_capacity(1024);
    loop {
        msg.clear();
        let first = match reader.fill_buf().await? {
            [] => return Ok(()),
            b => b[0],
        };
        let truncated = if first.is_ascii_digit() {
            // `LEN SP`: at most ten digits, read into `msg` so that a line that only starts
            // with a number (non-transparent framing) keeps them; a newline or any other
            // byte ends the length, so a bad prefix never swallows the next line.
            let mut n = 0u64;
            let next = loop {
                let Some(&b) = reader.fill_buf().await?.first() else {
                    break None;
                };
                if !b.is_ascii_digit() || msg.len() == 10 {
                    break Some(b);
                }
                n = n * 10 + u64::from(b - b'0');
                msg.push(b);
                reader.consume(1);
            };
            if next != Some(b' ') {
                let cut = read_line(&mut reader, &mut msg, settings.max_message).await?;
                deliver(&msg, cut, tx, pipeline).await;
                continue;
            }
            reader.consume(1);
            msg.clear();
            let keep = n.min(settings.max_message as u64);
            (&mut reader).take(keep).read_to_end(&mut msg).await?;
            let skip = n - keep;
            if skip > 0 {
                tokio::io::copy(&mut (&mut reader).take(skip), &mut tokio::io::sink()).await?;
            }
            if (msg.len() as u64) < keep {
                // The peer closed inside a frame: what arrived is still a message.
                deliver(&msg, false, tx, pipeline).await;
                return Ok(());
            }
            skip > 0
        } else {
            read_line(&mut reader, &mut msg, settings.max_message).await?
        };
        if msg.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
            continue;
        }
        deliver(&msg, truncated, tx, pipeline).await;
    }
}

/// Read up to the next newline into `msg`, keeping at most `max` bytes; whether bytes were
/// dropped.
async fn read_line(
    reader: &mut BufReader<impl AsyncRead + Unpin>,
    msg: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<bool> {
    let mut truncated = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(truncated);
        }
        let newline = memchr::memchr(b'\n', buf);
        let chunk = &buf[..newline.unwrap_or(buf.len())];
        let room = max.saturating_sub(msg.len());
        truncated |= chunk.len() > room;
        msg.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = newline.map_or(buf.len(), |i| i + 1);
        reader.consume(used);
        if newline.is_some() {
            return Ok(truncated);
        }
    }
}

/// Parse and hand one message to the batcher, waiting while it is full (backpressure).
async fn deliver(raw: &[u8], truncated: bool, tx: &mpsc::Sender<Message>, pipeline: &Pipeline) {
    pipeline.counters().syslog_message(truncated);
    let _ = tx.send(parse::parse(raw, now_nanos())).await;
}

/// Group messages into OTLP requests and submit them.
async fn batcher(
    mut rx: mpsc::Receiver<Message>,
    settings: Settings,
    pipeline: Pipeline,
    stop: watch::Receiver<bool>,
) {
    let mut batch: Vec<Message> = Vec::with_capacity(settings.max_batch);
    loop {
        let first = match rx.recv().await {
            Some(m) => m,
            None => return,
        };
        batch.push(first);
        let deadline = tokio::time::sleep(settings.max_delay);
        tokio::pin!(deadline);
        while batch.len() < settings.max_batch {
            tokio::select! {
                () = &mut deadline => break,
                m = rx.recv() => match m {
                    Some(m) => batch.push(m),
                    None => break,
                },
            }
        }
        submit(std::mem::take(&mut batch), &pipeline, &stop).await;
    }
}

/// Submit one batch, retrying retryable refusals with back-off (capped at 1 s) until it is
/// queued; during shutdown, until the pipeline is gone.
async fn submit(batch: Vec<Message>, pipeline: &Pipeline, stop: &watch::Receiver<bool>) {
    let count = batch.len() as u64;
    let request = to_request(batch);
    let mut wait = Duration::from_millis(10);
    loop {
        let verdict = if *stop.borrow() {
            // Shutting down: admission refuses new requests, but these messages were read
            // before; they are queued while the workers still run.
            pipeline
                .submit(RECEIVER, Body::Decoded(Request::Logs(request.clone())))
                .await
        } else {
            match pipeline.admit(crate::serve::payload::Signal::Logs) {
                Ok(_permit) => {
                    pipeline
                        .submit(RECEIVER, Body::Decoded(Request::Logs(request.clone())))
                        .await
                }
                Err(e) => Err(e),
            }
        };
        match verdict {
            Ok(_) => return,
            Err(SubmitError::ShuttingDown) if *stop.borrow() => {
                pipeline.counters().syslog_dropped(count);
                tracing::warn!(messages = count, "syslog: shutting down; batch dropped.");
                return;
            }
            Err(e) if e.retryable() => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                pipeline.counters().syslog_dropped(count);
                tracing::warn!(messages = count, error = %e, "syslog: batch refused; dropped.");
                return;
            }
        }
    }
}

/// Where a message comes from: its host and application names.
type Origin = (Option<String>, Option<String>);

/// One OTLP request: a resource per (host, application), in order of first appearance.
fn to_request(batch: Vec<Message>) -> ExportLogsServiceRequest {
    let mut resources: Vec<(Origin, ResourceLogs)> = Vec::new();
    for m in batch {
        let key = (m.host, m.app);
        let i = match resources.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let mut attributes = Vec::new();
                for (name, v) in [("host.name", &key.0), ("service.name", &key.1)] {
                    if let Some(v) = v {
                        attributes.push(parse::kv(name, Value::StringValue(v.clone())));
                    }
                }
                let rl = ResourceLogs {
                    resource: Some(Resource {
                        attributes,
                        ..Resource::default()
                    }),
                    scope_logs: vec![ScopeLogs::default()],
                    ..ResourceLogs::default()
                };
                resources.push((key, rl));
                resources.len() - 1
            }
        };
        resources[i].1.scope_logs[0].log_records.push(m.record);
    }
    ExportLogsServiceRequest {
        resource_logs: resources.into_iter().map(|(_, rl)| rl).collect(),
    }
}
