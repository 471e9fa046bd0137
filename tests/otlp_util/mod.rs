//! Harness for the black-box OTLP tests (`tests/otlp_*.rs`): the built `caviard` binary as a child process, a
//! real OTLP upstream receiver (tonic services + an OTLP/HTTP endpoint) recording what it
//! gets, and the Python SDK sender.
#![allow(dead_code)]

pub mod pki;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// === upstream ===

/// Everything the upstream accepted, in arrival order.
#[derive(Default, Debug)]
pub struct Received {
    pub logs: Vec<ExportLogsServiceRequest>,
    pub traces: Vec<ExportTraceServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
    /// Export calls answered, successful or failed, over both protocols.
    pub calls: usize,
}

impl Received {
    pub fn log_records(&self) -> Vec<(&LogRecord, &[KeyValue])> {
        let mut out = Vec::new();
        for r in &self.logs {
            for rl in &r.resource_logs {
                let res = rl.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
                for sl in &rl.scope_logs {
                    out.extend(sl.log_records.iter().map(|l| (l, res)));
                }
            }
        }
        out
    }

    pub fn spans(&self) -> Vec<(&Span, &[KeyValue])> {
        let mut out = Vec::new();
        for r in &self.traces {
            for rs in &r.resource_spans {
                let res = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
                for ss in &rs.scope_spans {
                    out.extend(ss.spans.iter().map(|s| (s, res)));
                }
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.logs.is_empty() && self.traces.is_empty() && self.metrics.is_empty()
    }
}

#[derive(Clone, Default)]
struct Recorder {
    received: Arc<Mutex<Received>>,
    /// Answer this many export calls with UNAVAILABLE / 503 before accepting again.
    fail_next: Arc<AtomicUsize>,
    /// The delay gRPC failures ask for in a `google.rpc.RetryInfo`, if any.
    retry_delay: Arc<Mutex<Option<Duration>>>,
}

impl Recorder {
    fn should_fail(&self) -> bool {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .calls += 1;
        self.fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// The status of a gRPC call failing on purpose.
    fn grpc_failure(&self) -> tonic::Status {
        let message = "test upstream: failing on purpose";
        match *self.retry_delay.lock().unwrap() {
            Some(delay) => tonic::Status::with_details(
                tonic::Code::Unavailable,
                message,
                retry_info_details(delay),
            ),
            None => tonic::Status::unavailable(message),
        }
    }
}

/// A `grpc-status-details-bin` asking for a retry after `delay`: a `google.rpc.Status` whose
/// `details` hold an `Any` of a `google.rpc.RetryInfo`, encoded field by field from the
/// `.proto` definitions (independently of caviard's own declarations).
fn retry_info_details(delay: Duration) -> Bytes {
    use prost::encoding::{bytes, int32, int64, string};
    let mut duration = Vec::new(); // google.protobuf.Duration
    int64::encode(1, &i64::try_from(delay.as_secs()).unwrap(), &mut duration);
    int32::encode(
        2,
        &i32::try_from(delay.subsec_nanos()).unwrap(),
        &mut duration,
    );
    let mut retry_info = Vec::new(); // google.rpc.RetryInfo { retry_delay = 1 }
    bytes::encode(1, &duration, &mut retry_info);
    let mut any = Vec::new(); // google.protobuf.Any { type_url = 1, value = 2 }
    let type_url = "type.googleapis.com/google.rpc.RetryInfo".to_string();
    string::encode(1, &type_url, &mut any);
    bytes::encode(2, &retry_info, &mut any);
    let mut status = Vec::new(); // google.rpc.Status { code = 1, message = 2, details = 3 }
    int32::encode(1, &(tonic::Code::Unavailable as i32), &mut status);
    bytes::encode(3, &any, &mut status);
    Bytes::from(status)
}

#[tonic::async_trait]
impl LogsService for Recorder {
    async fn export(
        &self,
        r: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        if self.should_fail() {
            return Err(self.grpc_failure());
        }
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .logs
            .push(r.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Recorder {
    async fn export(
        &self,
        r: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if self.should_fail() {
            return Err(self.grpc_failure());
        }
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .traces
            .push(r.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Recorder {
    async fn export(
        &self,
        r: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        if self.should_fail() {
            return Err(self.grpc_failure());
        }
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .metrics
            .push(r.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// A real OTLP receiver (gRPC services from opentelemetry-proto, and OTLP/HTTP protobuf) that
/// records every request, running on its own runtime.
pub struct Upstream {
    runtime: Option<tokio::runtime::Runtime>,
    recorder: Recorder,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
}

impl Upstream {
    /// Start on fresh ports, bound at once (a port found free and bound later can be taken by
    /// another test in between).
    pub fn start() -> Upstream {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        Upstream::start_on(any, any)
    }

    /// Start on the given ports (to come back where a proxy expects it; port 0: any).
    pub fn start_on(grpc: SocketAddr, http: SocketAddr) -> Upstream {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let recorder = Recorder::default();
        let grpc_listener = runtime
            .block_on(tokio::net::TcpListener::bind(grpc))
            .unwrap();
        let http_listener = runtime
            .block_on(tokio::net::TcpListener::bind(http))
            .unwrap();
        let (grpc, http) = (
            grpc_listener.local_addr().unwrap(),
            http_listener.local_addr().unwrap(),
        );
        let r = recorder.clone();
        runtime.spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener);
            tonic::transport::Server::builder()
                .add_service(LogsServiceServer::new(r.clone()).max_decoding_message_size(64 << 20))
                .add_service(TraceServiceServer::new(r.clone()).max_decoding_message_size(64 << 20))
                .add_service(MetricsServiceServer::new(r).max_decoding_message_size(64 << 20))
                .serve_with_incoming(incoming)
                .await
                .unwrap();
        });
        let r = recorder.clone();
        runtime.spawn(serve_http(http_listener, r));
        Upstream {
            runtime: Some(runtime),
            recorder,
            grpc,
            http,
        }
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    pub fn received(&self) -> std::sync::MutexGuard<'_, Received> {
        self.recorder
            .received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answer the next `n` export calls with a retryable error.
    pub fn fail_next(&self, n: usize) {
        self.recorder.fail_next.store(n, Ordering::SeqCst);
    }

    /// Have gRPC failures ask for a retry after `delay` (a `google.rpc.RetryInfo`).
    pub fn set_grpc_retry_delay(&self, delay: Duration) {
        *self.recorder.retry_delay.lock().unwrap() = Some(delay);
    }

    /// Wait until `done` holds for what was received, or panic after `timeout`.
    pub fn wait_for(&self, timeout: Duration, what: &str, done: impl Fn(&Received) -> bool) {
        let start = Instant::now();
        loop {
            if done(&self.received()) {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for: {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop serving: ports close, connections drop.
    pub fn stop(mut self) -> Received {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        std::mem::take(
            &mut self
                .recorder
                .received
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn serve_http(listener: tokio::net::TcpListener, recorder: Recorder) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let r = recorder.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let r = r.clone();
                async move { Ok::<_, std::convert::Infallible>(http_export(req, &r).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn http_export(
    req: http::Request<hyper::body::Incoming>,
    r: &Recorder,
) -> http::Response<Full<Bytes>> {
    let respond = |code: u16, body: Vec<u8>| {
        http::Response::builder()
            .status(code)
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    let path = req.uri().path().to_string();
    let ct = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if ct != "application/x-protobuf" {
        return respond(415, Vec::new());
    }
    let gzip = req
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let body = if gzip { gunzip(&body) } else { body.to_vec() };
    if r.should_fail() {
        let mut resp = respond(503, Vec::new());
        resp.headers_mut()
            .insert("retry-after", http::HeaderValue::from_static("1"));
        return resp;
    }
    let mut rec = r
        .received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match path.as_str() {
        "/v1/logs" => match ExportLogsServiceRequest::decode(&body[..]) {
            Ok(m) => rec.logs.push(m),
            Err(_) => return respond(400, Vec::new()),
        },
        "/v1/traces" => match ExportTraceServiceRequest::decode(&body[..]) {
            Ok(m) => rec.traces.push(m),
            Err(_) => return respond(400, Vec::new()),
        },
        "/v1/metrics" => match ExportMetricsServiceRequest::decode(&body[..]) {
            Ok(m) => rec.metrics.push(m),
            Err(_) => return respond(400, Vec::new()),
        },
        _ => return respond(404, Vec::new()),
    }
    respond(200, Vec::new())
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// A port that was free a moment ago.
/// A one-thread tokio runtime and a listener it owns on a free loopback port, for a fake
/// server written in a test.
pub fn server_runtime() -> (tokio::runtime::Runtime, tokio::net::TcpListener, SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    (runtime, listener, addr)
}

/// Wait until `done` holds, polling every 20 ms; panic with `what` after `within`.
pub fn wait_until(what: &str, within: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn free_port() -> SocketAddr {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

// === caviard ===

/// A running `caviard serve`; killed when dropped.
pub struct Proxy {
    child: Option<Child>,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    stderr: Arc<Mutex<String>>,
    /// Ends at stderr's end of file: joined once the process exited, so `stderr()` is whole.
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    stdout: Arc<Mutex<String>>,
}

impl Proxy {
    /// Start `caviard serve` with `args` (ports 0: the real ones are read from its stderr)
    /// and an optional YAML config written to a temporary file.
    pub fn start(args: &[&str], config_yaml: Option<&str>, env: &[(&str, &str)]) -> Proxy {
        Proxy::spawn(args, config_yaml, env, false)
    }

    /// [`Proxy::start`] with stdout on a pipe whose reader is gone before the first write.
    pub fn start_with_stdout_closed(
        args: &[&str],
        config_yaml: Option<&str>,
        env: &[(&str, &str)],
    ) -> Proxy {
        Proxy::spawn(args, config_yaml, env, true)
    }

    fn spawn(
        args: &[&str],
        config_yaml: Option<&str>,
        env: &[(&str, &str)],
        stdout_closed: bool,
    ) -> Proxy {
        Proxy::try_spawn(args, config_yaml, env, stdout_closed)
            .unwrap_or_else(|stderr| panic!("caviard serve did not start; stderr:\n{stderr}"))
    }

    /// Start `caviard serve` with the config `yaml(port)`, `port` a loopback port found free
    /// for a receiver the test talks to directly (syslog). Another test can take the port
    /// between that check and caviard's bind: caviard then exits, and another port is tried.
    pub fn start_on_free_port(
        args: &[&str],
        yaml: impl Fn(SocketAddr) -> String,
    ) -> (Proxy, SocketAddr) {
        for _ in 0..4 {
            let port = free_port();
            match Proxy::try_spawn(args, Some(&yaml(port)), &[], false) {
                Ok(p) => return (p, port),
                Err(stderr) if stderr.contains("cannot listen") => continue,
                Err(stderr) => panic!("caviard serve did not start; stderr:\n{stderr}"),
            }
        }
        panic!("caviard serve could not bind a free port in four tries");
    }

    /// [`Proxy::spawn`], or caviard's stderr when it did not start listening.
    fn try_spawn(
        args: &[&str],
        config_yaml: Option<&str>,
        env: &[(&str, &str)],
        stdout_closed: bool,
    ) -> Result<Proxy, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_caviard"));
        cmd.arg("serve")
            .args(["--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0"])
            .args(args);
        let config_file;
        if let Some(yaml) = config_yaml {
            config_file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(config_file.path(), yaml).unwrap();
            cmd.arg("--config").arg(config_file.path());
        }
        cmd.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL");
        cmd.env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let (out_pipe, out_log) = (child.stdout.take().unwrap(), stdout.clone());
        if stdout_closed {
            drop(out_pipe);
        } else {
            std::thread::spawn(move || {
                for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                    let mut l = out_log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let log = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("caviard serve: ") {
                    let _ = tx.send(rest.to_string());
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let (mut grpc, mut http) = (None, None);
        while grpc.is_none() || http.is_none() {
            let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
                let _ = child.kill();
                let _ = child.wait();
                let _ = stderr_reader.join();
                return Err(stderr.lock().unwrap().clone());
            };
            let addr = |l: &str| l.rsplit(' ').next().unwrap().parse::<SocketAddr>().unwrap();
            if line.starts_with("otlp_grpc listening on") {
                grpc = Some(addr(&line));
            } else if line.starts_with("otlp_http listening on") {
                http = Some(addr(&line));
            }
        }
        Ok(Proxy {
            child: Some(child),
            grpc: grpc.unwrap(),
            http: http.unwrap(),
            stderr,
            stderr_reader: Some(stderr_reader),
            stdout,
        })
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// What caviard wrote on stdout so far (the stdout exporter's OTLP/JSON lines).
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// The value of a `/metrics` sample line over plain HTTP, e.g.
    /// `caviard_export_dropped_records_total{signal="logs"}`.
    pub fn metric(&self, sample: &str) -> Option<u64> {
        let r = http_request(self.http, "GET", "/metrics", &[], b"");
        assert_eq!(r.status, 200, "GET /metrics");
        String::from_utf8(r.body)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// Send SIGTERM and wait (at most `timeout`) for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        self.wait_exit(timeout).unwrap_or_else(|| {
            panic!(
                "caviard did not exit within {timeout:?} of SIGTERM; stderr:\n{}",
                self.stderr()
            )
        })
    }

    /// Wait (at most `timeout`) for the process to exit, then for the rest of its stderr;
    /// `None` if it is still running then (it is killed when the `Proxy` is dropped).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let start = Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                self.child = None;
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                return Some(s);
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// === Python SDK ===

/// The venv interpreter made by tests/python/setup_venv.sh.
pub fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let py = root.join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run `bash tests/python/setup_venv.sh` first (it installs the pinned \
         OpenTelemetry Python SDK the OTLP tests drive caviard with)",
        py.display()
    );
    py
}

/// Run tests/python/send_otlp.py; panic with its output if it fails.
pub fn send_with_sdk(endpoint: &str, protocol: &str, signal: &str, count: usize, extra: &[&str]) {
    send_with_sdk_env(endpoint, protocol, signal, count, extra, &[]);
}

/// [`send_with_sdk`] with extra environment variables (the SDK's `OTEL_EXPORTER_OTLP_*`).
pub fn send_with_sdk_env(
    endpoint: &str,
    protocol: &str,
    signal: &str,
    count: usize,
    extra: &[&str],
    env: &[(&str, &str)],
) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/send_otlp.py");
    let out = Command::new(python())
        .envs(env.iter().copied())
        .arg(script)
        .args([
            "--endpoint",
            endpoint,
            "--protocol",
            protocol,
            "--signal",
            signal,
        ])
        .args(["--count", &count.to_string()])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "send_otlp.py failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// === assertions ===

/// Every string anywhere in a value (keys included), for "no PII left" checks.
pub fn strings_of(v: &AnyValue, out: &mut Vec<String>) {
    match &v.value {
        Some(Value::StringValue(s)) => out.push(s.clone()),
        Some(Value::BytesValue(b)) => out.push(String::from_utf8_lossy(b).into_owned()),
        Some(Value::IntValue(i)) => out.push(i.to_string()),
        Some(Value::ArrayValue(a)) => a.values.iter().for_each(|v| strings_of(v, out)),
        Some(Value::KvlistValue(kv)) => strings_of_attrs(&kv.values, out),
        _ => {}
    }
}

pub fn strings_of_attrs(attrs: &[KeyValue], out: &mut Vec<String>) {
    for kv in attrs {
        out.push(kv.key.clone());
        if let Some(v) = &kv.value {
            strings_of(v, out);
        }
    }
}

/// The value of attribute `key`.
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

pub fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key) {
        Some(Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

pub fn str_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// PII of the fixtures in tests/python/send_otlp.py: none may reach the upstream.
pub const PII: &[&str] = &[
    "jean.dupont",
    "a.b@example.com",
    "4111 1111 1111 1111",
    "4111111111111111",
    "Jean Dupont",
];

/// Panic if any fixture PII occurs in `strings`.
pub fn assert_no_pii(strings: &[String], context: &str) {
    for s in strings {
        for p in PII {
            assert!(
                !s.contains(p),
                "{context}: PII {p:?} reached the upstream in {s:?}"
            );
        }
    }
}

/// Trace and span ids send_otlp.py gives record `i`.
pub fn fixture_ids(i: u64) -> (Vec<u8>, Vec<u8>) {
    let trace = 0x5B8E_FFF7_9803_8103_D269_B633_0000_0000u128 + u128::from(i);
    let span = 0xEEE1_9B7E_0000_0000u64 + i;
    (trace.to_be_bytes().to_vec(), span.to_be_bytes().to_vec())
}

// === raw HTTP/1.1 ===

/// A response read by [`http_request`].
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), with exactly the
/// headers given: lets tests send what no well-behaved client would.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) and close before reading a large body: ignore write errors.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no HTTP response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    RawResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

// === fixtures built in Rust ===

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// A log export request with one record per `seq`, carrying the same PII and ids as the
/// Python fixtures.
pub fn log_request(seqs: std::ops::Range<i64>) -> ExportLogsServiceRequest {
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    let records = seqs
        .map(|seq| {
            let (trace_id, span_id) = fixture_ids(seq as u64);
            LogRecord {
                time_unix_nano: 1_700_000_000_000_000_000 + seq as u64,
                severity_number: 17,
                severity_text: "ERROR".into(),
                body: Some(AnyValue {
                    value: Some(Value::StringValue(
                        "payment failed for jean.dupont@example.fr card 4111 1111 1111 1111".into(),
                    )),
                }),
                attributes: vec![
                    kv("user.email", Value::StringValue("a.b@example.com".into())),
                    kv("enduser.id", Value::StringValue("Jean Dupont".into())),
                    kv("http.status_code", Value::IntValue(500)),
                    kv("seq", Value::IntValue(seq)),
                ],
                trace_id,
                span_id,
                ..Default::default()
            }
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv(
                    "service.name",
                    Value::StringValue("caviard-test".into()),
                )],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// `seq` of every log record received, with how many times each arrived; panics on PII.
pub fn received_seqs(r: &Received) -> std::collections::BTreeMap<i64, usize> {
    let mut out = std::collections::BTreeMap::new();
    for (rec, res) in r.log_records() {
        let mut strings = Vec::new();
        if let Some(b) = &rec.body {
            strings_of(b, &mut strings);
        }
        strings_of_attrs(&rec.attributes, &mut strings);
        strings_of_attrs(res, &mut strings);
        assert_no_pii(&strings, "log record");
        *out.entry(int_attr(&rec.attributes, "seq").expect("seq"))
            .or_insert(0) += 1;
    }
    out
}
