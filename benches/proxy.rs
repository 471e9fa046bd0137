//! Records per second through `caviard serve` on one core, redacting with the built-in
//! policy, as a ratio against the same proxy with redaction turned off (`Processing::Passthrough`:
//! same receivers, decoding, queue, encoding and exporter, no engine), measured in one run.
//!
//! ```text
//! cargo bench --bench proxy            # or: cargo bench --bench proxy -- --seconds 5 --rounds 5
//! ```
//!
//! Layout: this process is the load generator (8 concurrent OTLP/gRPC clients sending
//! pre-encoded requests of 200 log records) and the upstream (a tonic OTLP receiver that
//! decodes and counts). Each proxy under test is this same binary re-executed in child mode,
//! pinned to CPU 0 with `taskset` and configured with one reactor thread and one redaction
//! worker, so "one core" means the whole proxy; the parent stays off CPU 0 when it can.
//! Rounds alternate passthrough and redact so drift on a shared machine hits both; the
//! medians and their ratio are printed. The rate counted is records acknowledged to clients
//! (acknowledged = redacted and queued; the queue drains to the upstream at the same rate
//! once full, so the export path is included).
//!
//! Not criterion: a round is a multi-second, multi-process measurement whose figure is a
//! rate, and the quoted number is the ratio of two such rates taken side by side.
//!
//! Workload: log records shaped like an HTTP service's: a body line (1 in 4 carries an
//! e-mail, card number, phone or IBAN; the rest are clean), 8 attributes (method, route,
//! status, user agent, url with query, user.email on 1 in 4, duration, a request id), trace
//! and span ids, resource `service.name`.

use bytes::{Buf, BufMut, Bytes};
use caviard::config::serve::ServeConfig;
use caviard::engine::Redactor;
use caviard::serve::{Listening, Processing};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

const RECORDS_PER_REQUEST: usize = 200;
const CLIENTS: usize = 8;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--proxy-child") {
        child(&args[2], &args[3]);
        return;
    }
    let opt = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    parent(
        Duration::from_secs(opt("--seconds", 4)),
        opt("--rounds", 3) as usize,
    );
}

// === child: the proxy under test ===

fn child(mode: &str, upstream: &str) {
    let mut config = ServeConfig::default();
    config.otlp_grpc.listen = "127.0.0.1:0".into();
    config.otlp_http.listen = "127.0.0.1:0".into();
    config.upstream.endpoint = Some(upstream.to_string());
    config.worker_threads = std::num::NonZeroUsize::new(1);
    let processing = match mode {
        "redact" => Processing::Redact(Arc::new(Redactor::builtin().expect("built-in policy"))),
        _ => Processing::Passthrough,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    // The parent closes our stdin to stop us.
    let stop = async {
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read(&mut [0u8; 1])).await;
    };
    let announce = |l: Listening| println!("grpc {}", l.otlp_grpc.expect("grpc receiver"));
    runtime
        .block_on(caviard::serve::run(config, processing, stop, announce))
        .expect("proxy");
}

// === parent: load generator, upstream, report ===

fn parent(window: Duration, rounds: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = cpus > 1 && Command::new("taskset").arg("--version").output().is_ok();
    if pinned {
        // Keep the load generator and the upstream off the proxy's CPU. Done before any thread
        // exists, so every thread of this process inherits it.
        let pid = std::process::id().to_string();
        let moved = Command::new("taskset")
            .args(["-a", "-p", "-c", &format!("1-{}", cpus - 1), &pid])
            .output();
        assert!(moved.is_ok_and(|o| o.status.success()), "taskset -p failed");
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let upstream_count = Arc::new(AtomicU64::new(0));
    let upstream = runtime.block_on(start_upstream(upstream_count.clone()));
    let requests: Vec<Bytes> = (0..8)
        .map(|i| request(i * RECORDS_PER_REQUEST).encode_to_vec().into())
        .collect();
    let bytes_per_req = requests[0].len();
    println!(
        "proxy bench: {RECORDS_PER_REQUEST} records/request (~{} bytes), {CLIENTS} clients, {rounds} rounds x {window:?}, proxy pinned to CPU 0: {pinned}",
        bytes_per_req
    );
    let mut results: Vec<(&str, Vec<f64>)> =
        vec![("passthrough", Vec::new()), ("redact", Vec::new())];
    for round in 0..rounds {
        for (mode, rates) in results.iter_mut() {
            let rate = runtime.block_on(measure(mode, &upstream, &requests, window, pinned));
            println!("round {round} {mode:>11}: {rate:>10.0} records/s");
            rates.push(rate);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let pass = median(&mut results[0].1);
    let red = median(&mut results[1].1);
    println!("median passthrough: {pass:.0} records/s");
    println!("median redact:      {red:.0} records/s");
    println!(
        "redact / passthrough = {:.3} (redaction costs {:.1}% of one-core throughput)",
        red / pass,
        (1.0 - red / pass) * 100.0
    );
    println!(
        "upstream received {} records in total",
        upstream_count.load(Ordering::Relaxed)
    );
}

/// Start a proxy child in `mode`, load it for `window` after a 1 s warm-up, return acknowledged records/s.
async fn measure(
    mode: &str,
    upstream: &str,
    requests: &[Bytes],
    window: Duration,
    pinned: bool,
) -> f64 {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = if pinned {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(exe);
        c
    } else {
        Command::new(exe)
    };
    cmd.args(["--proxy-child", mode, upstream]);
    cmd.env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("spawn proxy child");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("child address");
    let addr = line
        .trim()
        .strip_prefix("grpc ")
        .expect("grpc address line")
        .to_string();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect()
        .await
        .expect("connect to proxy");

    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (channel, acked, stop, requests) = (
            channel.clone(),
            acked.clone(),
            stop.clone(),
            requests.to_vec(),
        );
        tasks.push(tokio::spawn(async move {
            let mut grpc = tonic::client::Grpc::new(channel);
            let path = http::uri::PathAndQuery::from_static(
                "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            );
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                grpc.ready().await.expect("ready");
                let body = requests[i % requests.len()].clone();
                i += 1;
                match grpc
                    .unary(tonic::Request::new(body), path.clone(), RawCodec)
                    .await
                {
                    Ok(_) => {
                        acked.fetch_add(RECORDS_PER_REQUEST as u64, Ordering::Relaxed);
                    }
                    // Backpressure (queue full) is part of the measurement: back off briefly.
                    Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (start, before) = (Instant::now(), acked.load(Ordering::Relaxed));
    tokio::time::sleep(window).await;
    let rate = (acked.load(Ordering::Relaxed) - before) as f64 / start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    drop(child.stdin.take());
    let _ = child.wait();
    rate
}

async fn start_upstream(count: Arc<AtomicU64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    let sink = Sink { count };
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(LogsServiceServer::new(sink).max_decoding_message_size(64 << 20))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .expect("upstream");
    });
    format!("http://{addr}")
}

struct Sink {
    count: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl LogsService for Sink {
    async fn export(
        &self,
        r: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let n: usize = r
            .get_ref()
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

// === workload ===

fn s(v: impl Into<String>) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Value::StringValue(v.into())),
    })
}

fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value,
        ..Default::default()
    }
}

fn record(i: usize) -> LogRecord {
    let routes = [
        "/api/v1/orders/{id}",
        "/api/v1/cart",
        "/health",
        "/api/v1/users/{id}/payment",
    ];
    let body = match i % 8 {
        0 => format!(
            "payment failed for customer jean.dupont{i}@example.fr order {i} amount 42.10 EUR"
        ),
        2 => format!("card declined 4111 1111 1111 1111 for order {i} retry=1"),
        4 => format!(
            "sms sent to +33 6 12 34 {:02} {:02} for order {i}",
            i % 100,
            (i / 7) % 100
        ),
        6 => format!("refund to IBAN FR76 3000 6000 0112 3456 7890 189 order {i}"),
        1 => {
            format!("GET /api/v1/orders/{i} 200 in 12ms bytes=5120 cache=miss upstream=orders-7f9c")
        }
        3 => format!("order {i} state changed from PENDING to PAID after 3 attempts in 250ms"),
        5 => format!(
            "connection pool stats active=12 idle=4 waiting=0 shard={}",
            i % 16
        ),
        _ => format!("POST /api/v1/cart 201 in 31ms items=3 session=s-{i:08x} region=eu-west-3"),
    };
    let mut attributes = vec![
        kv(
            "http.request.method",
            s(match i % 3 {
                0 => "POST",
                _ => "GET",
            }),
        ),
        kv("http.route", s(routes[i % routes.len()])),
        kv(
            "http.response.status_code",
            Some(AnyValue {
                value: Some(Value::IntValue(200 + (i % 3) as i64 * 100)),
            }),
        ),
        kv(
            "user_agent.original",
            s("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"),
        ),
        kv(
            "url.full",
            s(format!(
                "https://shop.example/api/v1/orders/{i}?page=2&sort=desc&lang=fr"
            )),
        ),
        kv(
            "duration_ms",
            Some(AnyValue {
                value: Some(Value::DoubleValue(12.5 + i as f64)),
            }),
        ),
        kv("request.id", s(format!("req-{i:016x}"))),
    ];
    if matches!(i % 4, 0) {
        attributes.push(kv("user.email", s(format!("client{i}@example.com"))));
    } else {
        attributes.push(kv("feature.flag", s("checkout-v2")));
    }
    LogRecord {
        time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: s(body),
        attributes,
        trace_id: (0x5b8e_fff7_9803_8103_d269_b633_0000_0000u128 + i as u128)
            .to_be_bytes()
            .to_vec(),
        span_id: (0xeee1_9b7e_0000_0000u64 + i as u64).to_be_bytes().to_vec(),
        ..Default::default()
    }
}

fn request(first: usize) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("checkout"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: (first..first + RECORDS_PER_REQUEST).map(record).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends pre-encoded requests; ignores the response body.
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ();
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}
