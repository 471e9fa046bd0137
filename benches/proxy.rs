//! `caviard serve` on one core, end to end: records/s, MB/s, request latency, CPU time per
//! record and peak RSS, with the built-in policy and with redaction off
//! (`Processing::Passthrough`: same receivers, decoding, queue, encoding and exporter, no
//! engine), over OTLP/gRPC and OTLP/HTTP (protobuf), in one run; then an overload run
//! against an upstream slower than the load, showing that memory stays bounded.
//!
//! ```text
//! cargo bench --bench proxy                    # ~1 minute
//! cargo bench --bench proxy -- --seconds 10 --rounds 5 --overload-seconds 20
//! cargo bench --bench proxy -- --transports grpc --modes redact --rounds 1 --no-overload
//! PROXY_BENCH_WRAP="perf record -g -o /tmp/proxy.data --" cargo bench --bench proxy -- ...
//! ```
//!
//! Layout: this process is the load generator (8 concurrent clients, one connection each,
//! sending pre-encoded requests of 200 log records and waiting for each answer) and the
//! upstream (a tonic OTLP receiver that decodes and counts). Each proxy under test is this
//! same binary re-executed in child mode, pinned to CPU 0 with `taskset` and configured with
//! one reactor thread and one redaction worker, so "one core" means the whole proxy; the
//! parent stays off CPU 0 when it can. Rounds alternate the (transport, policy) cases so drift
//! on a shared machine hits all of them; medians over rounds are printed, and the ratio
//! redact / passthrough per round and of the medians.
//!
//! What is measured, over a window that starts after a 1 s warm-up:
//! * records/s and MB/s: records acknowledged to clients, and the encoded OTLP request bytes
//!   they came in (acknowledged = redacted and queued; the queue drains to the upstream at the
//!   same rate once in steady state, so the export path is included);
//! * p50/p99: client-side time of each export call that succeeded inside the window;
//! * CPU s / M records: utime + stime of the proxy process (all threads) from
//!   `/proc/<pid>/stat`, over the window, per million acknowledged records;
//! * peak RSS: `VmHWM` of the proxy from `/proc/<pid>/status` at the end of the round;
//! * load-generator CPU: this process's CPU over the window, as a share of one core (near
//!   100% would mean the load generator, not the proxy, is the limit).
//!
//! Overload: the upstream sleeps `--upstream-delay-ms` per request, so it accepts far fewer
//! records than offered; clients retry refusals at once, with no back-off. Reported: retryable
//! refusals (gRPC `UNAVAILABLE`/`RESOURCE_EXHAUSTED`, HTTP 429/503), RSS over time, `VmHWM`,
//! the queue gauges from the proxy's `/metrics`, and the configured bounds.
//!
//! Not criterion: a round is a multi-second, multi-process measurement whose figure is a
//! rate, and the quoted number is the ratio of two such rates taken side by side.
//!
//! Workload: log records shaped like an HTTP service's: a body line (1 in 2 carries an
//! e-mail, card number, phone or IBAN; the rest are clean), 8 attributes (method, route,
//! status, user agent, url with query, user.email on 1 in 4, duration, a request id), trace
//! and span ids, resource `service.name`.

use bytes::{Buf, BufMut, Bytes};

// The proxy under test is this binary re-executed: it takes the allocator `caviard` has
// (src/main.rs).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use caviard::config::serve::ServeConfig;
use caviard::engine::Redactor;
use caviard::serve::{Listening, Processing};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
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
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

/// Pre-encoded requests the load generator cycles through.
const DISTINCT_REQUESTS: usize = 64;
const RECORDS_PER_REQUEST: usize = 200;
const CLIENTS: usize = 8;
const WARM_UP: Duration = Duration::from_secs(1);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--proxy-child") {
        child(&args[2], &args[3]);
        return;
    }
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    // `cargo bench` passes `--bench`; `cargo test --all-targets` (CI) runs this target without
    // it: then one short round of each case, as a smoke test that every path moves records.
    let smoke = !args.iter().any(|a| a == "--bench");
    if smoke {
        println!("proxy bench: smoke run (no --bench: run `cargo bench --bench proxy` to measure)");
    }
    let num = |name: &str, default: u64| {
        let default = if smoke { 1 } else { default };
        value(name).and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let list = |name: &str, all: &[&'static str]| -> Vec<&'static str> {
        let wanted = value(name).map_or(String::new(), Clone::clone);
        all.iter()
            .copied()
            .filter(|a| wanted.is_empty() || wanted.split(',').any(|w| w == *a))
            .collect()
    };
    let plan = Plan {
        window: Duration::from_secs(num("--seconds", 3)),
        rounds: num("--rounds", 3).max(1) as usize,
        transports: list("--transports", &["grpc", "http"]),
        modes: list("--modes", &["passthrough", "redact"]),
        smoke,
        overload: if args.iter().any(|a| a == "--no-overload") {
            None
        } else {
            Some(Overload {
                window: Duration::from_secs(num("--overload-seconds", 5)),
                delay: Duration::from_millis(
                    value("--upstream-delay-ms")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(250),
                ),
            })
        },
    };
    parent(&plan);
}

struct Plan {
    /// One short round, failing if a case moves no record.
    smoke: bool,
    window: Duration,
    rounds: usize,
    transports: Vec<&'static str>,
    modes: Vec<&'static str>,
    overload: Option<Overload>,
}

#[derive(Clone, Copy)]
struct Overload {
    window: Duration,
    delay: Duration,
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
    let announce = |l: Listening| {
        println!(
            "pid {} grpc {} http {}",
            std::process::id(),
            l.otlp_grpc.expect("grpc receiver"),
            l.otlp_http.expect("http receiver")
        )
    };
    runtime
        .block_on(caviard::serve::run(config, processing, stop, announce))
        .expect("proxy");
}

// === parent: load generator, upstream, report ===

fn parent(plan: &Plan) {
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
    let ticks = clock_ticks();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let upstream_count = Arc::new(AtomicU64::new(0));
    let upstream = runtime.block_on(start_upstream(upstream_count.clone(), Duration::ZERO));
    // Distinct requests, cycled: 12,800 distinct records, so the per-record values (request
    // ids, URLs, bodies) come back only after the proxy's per-worker memo of kept values
    // (1,024 slots) has long forgotten them, as in real traffic where they never repeat. With 8
    // requests (1,600 records) they all hit the memo after the first round, which flattered
    // the redaction mode.
    let requests: Vec<Bytes> = (0..DISTINCT_REQUESTS)
        .map(|i| request(i * RECORDS_PER_REQUEST).encode_to_vec().into())
        .collect();
    let bytes_per_req = requests.iter().map(Bytes::len).sum::<usize>() / requests.len();
    println!(
        "proxy bench: {RECORDS_PER_REQUEST} records/request (~{bytes_per_req} bytes protobuf), {CLIENTS} clients, \
         {} rounds x {:?} (+{WARM_UP:?} warm-up), proxy pinned to CPU 0: {pinned}, clock ticks/s: {}",
        plan.rounds,
        plan.window,
        ticks.0,
    );
    if !ticks.1 {
        println!("(getconf CLK_TCK failed: assuming 100 ticks/s)");
    }

    let mut cases: Vec<Case> = Vec::new();
    for &transport in &plan.transports {
        for &mode in &plan.modes {
            cases.push(Case {
                transport,
                mode,
                rounds: Vec::new(),
            });
        }
    }
    for round in 0..plan.rounds {
        for case in cases.iter_mut() {
            let load = Load {
                transport: case.transport,
                requests: &requests,
                back_off: true,
            };
            let r = runtime.block_on(measure(case.mode, &upstream, &load, plan.window, ticks.0));
            println!(
                "round {round} {:>4} {:>11}: {:>8.0} records/s  p50 {:>6.2} ms  p99 {:>6.2} ms  \
                 {:>5.2} CPU s/M  VmHWM {:>5.1} MiB  load-gen CPU {:>3.0}%",
                case.transport,
                case.mode,
                r.rate,
                r.percentile(0.50),
                r.percentile(0.99),
                r.cpu_per_million(),
                r.hwm_kib as f64 / 1024.0,
                r.parent_cpu * 100.0,
            );
            assert!(
                !plan.smoke || r.records > 0,
                "{} {}: no record acknowledged",
                case.transport,
                case.mode
            );
            case.rounds.push(r);
        }
    }
    println!();
    println!(
        "| transport | policy | records/s | MB/s | p50 ms | p99 ms | CPU s / M records | peak RSS MiB | retryable refusals |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for case in &cases {
        let s = case.summary();
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {:.1} | {} |",
            if case.transport == "grpc" {
                "OTLP/gRPC"
            } else {
                "OTLP/HTTP"
            },
            if case.mode == "redact" {
                "default"
            } else {
                "passthrough"
            },
            s.rate,
            s.mbps,
            s.p50,
            s.p99,
            s.cpu_per_million,
            s.hwm_mib,
            s.retryable,
        );
    }
    println!();
    for &transport in &plan.transports {
        let find = |mode| {
            cases
                .iter()
                .find(|c| c.transport == transport && c.mode == mode)
        };
        let (Some(pass), Some(red)) = (find("passthrough"), find("redact")) else {
            continue;
        };
        let per_round: Vec<String> = pass
            .rounds
            .iter()
            .zip(&red.rounds)
            .map(|(p, r)| format!("{:.3}", r.rate / p.rate))
            .collect();
        let (ps, rs) = (pass.summary(), red.summary());
        println!(
            "{transport}: redact / passthrough = {:.3} records/s (medians; per round: {}), CPU per record {:.2}x",
            rs.rate / ps.rate,
            per_round.join(", "),
            rs.cpu_per_million / ps.cpu_per_million,
        );
    }
    println!(
        "upstream received {} records in total",
        upstream_count.load(Ordering::Relaxed)
    );

    if let Some(o) = plan.overload {
        println!();
        overload(&runtime, o, &plan.transports, &requests, ticks.0);
    }
}

/// One (transport, policy) pair and its rounds.
struct Case {
    transport: &'static str,
    mode: &'static str,
    rounds: Vec<RoundResult>,
}

struct Summary {
    rate: f64,
    mbps: f64,
    p50: f64,
    p99: f64,
    cpu_per_million: f64,
    hwm_mib: f64,
    retryable: u64,
}

impl Case {
    /// Medians over rounds; latency percentiles over every round's calls pooled; peak RSS
    /// the largest of the rounds.
    fn summary(&self) -> Summary {
        let median = |f: &dyn Fn(&RoundResult) -> f64| {
            let mut v: Vec<f64> = self.rounds.iter().map(f).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let pooled = RoundResult {
            latencies: self
                .rounds
                .iter()
                .flat_map(|r| r.latencies.iter().copied())
                .collect(),
            ..RoundResult::default()
        };
        Summary {
            rate: median(&|r| r.rate),
            mbps: median(&|r| r.bytes_rate / 1e6),
            p50: pooled.percentile(0.50),
            p99: pooled.percentile(0.99),
            cpu_per_million: median(&|r| r.cpu_per_million()),
            hwm_mib: self.rounds.iter().map(|r| r.hwm_kib).max().unwrap_or(0) as f64 / 1024.0,
            retryable: self.rounds.iter().map(|r| r.retryable).sum(),
        }
    }
}

#[derive(Default)]
struct RoundResult {
    rate: f64,
    bytes_rate: f64,
    /// Successful calls that started and ended inside the window.
    latencies: Vec<Duration>,
    cpu_s: f64,
    records: u64,
    hwm_kib: u64,
    retryable: u64,
    /// This process's CPU over the window, in cores.
    parent_cpu: f64,
}

impl RoundResult {
    fn percentile(&self, q: f64) -> f64 {
        let mut v = self.latencies.clone();
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_unstable();
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i].as_secs_f64() * 1e3
    }

    fn cpu_per_million(&self) -> f64 {
        self.cpu_s / self.records.max(1) as f64 * 1e6
    }
}

/// A running proxy child.
struct Proxy {
    child: Child,
    pid: u32,
    grpc: String,
    http: String,
}

impl Proxy {
    fn start(mode: &str, upstream: &str) -> Proxy {
        let exe = std::env::current_exe().expect("current exe");
        let wrap = std::env::var("PROXY_BENCH_WRAP").unwrap_or_default();
        let mut argv: Vec<String> = Vec::new();
        if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1
            && Command::new("taskset").arg("--version").output().is_ok()
        {
            argv.extend(["taskset".into(), "-c".into(), "0".into()]);
        }
        argv.extend(wrap.split_whitespace().map(String::from));
        argv.push(exe.to_string_lossy().into_owned());
        argv.extend(["--proxy-child".into(), mode.into(), upstream.into()]);
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn proxy child");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("child address");
        let words: Vec<&str> = line.split_whitespace().collect();
        let field = |name: &str| {
            let i = words.iter().position(|w| *w == name).expect("child line");
            words[i + 1].to_string()
        };
        Proxy {
            pid: field("pid").parse().expect("pid"),
            grpc: format!("http://{}", field("grpc")),
            http: format!("http://{}", field("http")),
            child,
        }
    }

    /// Stop gracefully (the proxy drains its queue), or at once.
    fn stop(mut self, kill: bool) {
        if kill {
            let _ = self.child.kill();
        }
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// What the clients send and how they react to refusals.
struct Load<'a> {
    transport: &'static str,
    requests: &'a [Bytes],
    /// Wait 1 ms after a refusal (normal rounds); `false` retries at once (overload).
    back_off: bool,
}

/// Counters shared by the clients of one run.
#[derive(Default)]
struct Tally {
    acked: AtomicU64,
    acked_bytes: AtomicU64,
    attempts: AtomicU64,
    retryable: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
    measuring: AtomicBool,
}

#[derive(Clone, Copy, Default)]
struct Snapshot {
    acked: u64,
    acked_bytes: u64,
    attempts: u64,
    retryable: u64,
    at: Option<Instant>,
    proxy_cpu: f64,
    self_cpu: f64,
}

impl Tally {
    fn snapshot(&self, pid: u32, ticks: f64) -> Snapshot {
        Snapshot {
            acked: self.acked.load(Ordering::Relaxed),
            acked_bytes: self.acked_bytes.load(Ordering::Relaxed),
            attempts: self.attempts.load(Ordering::Relaxed),
            retryable: self.retryable.load(Ordering::Relaxed),
            at: Some(Instant::now()),
            proxy_cpu: cpu_seconds(pid, ticks),
            self_cpu: cpu_seconds(std::process::id(), ticks),
        }
    }
}

/// Start clients against `proxy`; each returns the latencies of its successful calls made
/// while `tally.measuring` was set.
fn start_clients(
    proxy: &Proxy,
    load: &Load<'_>,
    tally: &Arc<Tally>,
) -> Vec<tokio::task::JoinHandle<Vec<Duration>>> {
    (0..CLIENTS)
        .map(|c| {
            let mut client = Client::new(load.transport, proxy);
            let (tally, requests, back_off) =
                (tally.clone(), load.requests.to_vec(), load.back_off);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                // Clients start spread over the cycle: starting at `c`, all 8 sent the same
                // request within a few steps of each other, so each record came back 7 times
                // while the memo still held its values.
                let mut i = c * requests.len() / CLIENTS;
                while !tally.stop.load(Ordering::Relaxed) {
                    let body = requests[i % requests.len()].clone();
                    i += 1;
                    let len = body.len() as u64;
                    let in_window = tally.measuring.load(Ordering::Relaxed);
                    let start = Instant::now();
                    let outcome = client.send(body).await;
                    let took = start.elapsed();
                    tally.attempts.fetch_add(1, Ordering::Relaxed);
                    match outcome {
                        Outcome::Ok => {
                            tally
                                .acked
                                .fetch_add(RECORDS_PER_REQUEST as u64, Ordering::Relaxed);
                            tally.acked_bytes.fetch_add(len, Ordering::Relaxed);
                            if in_window && tally.measuring.load(Ordering::Relaxed) {
                                latencies.push(took);
                            }
                            continue;
                        }
                        Outcome::Retryable => tally.retryable.fetch_add(1, Ordering::Relaxed),
                        Outcome::Failed => tally.failed.fetch_add(1, Ordering::Relaxed),
                    };
                    if back_off {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                latencies
            })
        })
        .collect()
}

async fn stop_clients(
    tally: &Tally,
    tasks: Vec<tokio::task::JoinHandle<Vec<Duration>>>,
) -> Vec<Duration> {
    tally.stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all
}

/// Start a proxy child in `mode`, load it for `window` after the warm-up.
async fn measure(
    mode: &str,
    upstream: &str,
    load: &Load<'_>,
    window: Duration,
    ticks: f64,
) -> RoundResult {
    let proxy = Proxy::start(mode, upstream);
    let tally = Arc::new(Tally::default());
    let tasks = start_clients(&proxy, load, &tally);
    tokio::time::sleep(WARM_UP).await;
    tally.measuring.store(true, Ordering::Relaxed);
    let before = tally.snapshot(proxy.pid, ticks);
    tokio::time::sleep(window).await;
    let after = tally.snapshot(proxy.pid, ticks);
    tally.measuring.store(false, Ordering::Relaxed);
    let latencies = stop_clients(&tally, tasks).await;
    let hwm_kib = status_kib(proxy.pid, "VmHWM:");
    proxy.stop(false);
    let secs = (after.at.expect("t") - before.at.expect("t")).as_secs_f64();
    let failed = tally.failed.load(Ordering::Relaxed);
    assert_eq!(failed, 0, "{failed} requests failed permanently");
    RoundResult {
        rate: (after.acked - before.acked) as f64 / secs,
        bytes_rate: (after.acked_bytes - before.acked_bytes) as f64 / secs,
        latencies,
        cpu_s: after.proxy_cpu - before.proxy_cpu,
        records: after.acked - before.acked,
        hwm_kib,
        retryable: after.retryable - before.retryable,
        parent_cpu: (after.self_cpu - before.self_cpu) / secs,
    }
}

/// The overload runs: default policy, an upstream that sleeps per request, clients that
/// retry refusals at once.
fn overload(
    runtime: &tokio::runtime::Runtime,
    o: Overload,
    transports: &[&'static str],
    requests: &[Bytes],
    ticks: f64,
) {
    let defaults = ServeConfig::default();
    let (q, l) = (&defaults.queue, &defaults.limits);
    println!(
        "overload: upstream sleeps {:?} per request (upstream.concurrency {}, batch.max_records {}), \
         clients retry refusals at once; {:?} after {WARM_UP:?} warm-up, default policy",
        o.delay,
        defaults.upstream.concurrency,
        defaults.batch.max_records,
        o.window
    );
    println!(
        "configured bounds: queue.max_records {}, queue.max_bytes {} MiB; bodies in progress: \
         limits.max_concurrent_requests {} x limits.max_decompressed_bytes {} MiB",
        q.max_records,
        q.max_bytes.as_usize() >> 20,
        l.max_concurrent_requests,
        l.max_decompressed_bytes.as_usize() >> 20,
    );
    let slow_count = Arc::new(AtomicU64::new(0));
    let slow = runtime.block_on(start_upstream(slow_count.clone(), o.delay));
    println!();
    println!(
        "| transport | offered records/s | acked records/s | upstream records/s | retryable refusals | queue at end (records, MiB) | RSS at 1/4, 1/2, 3/4, end of window (MiB) | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &transport in transports {
        let load = Load {
            transport,
            requests,
            back_off: false,
        };
        runtime.block_on(async {
            let proxy = Proxy::start("redact", &slow);
            let tally = Arc::new(Tally::default());
            let tasks = start_clients(&proxy, &load, &tally);
            tokio::time::sleep(WARM_UP).await;
            let before = tally.snapshot(proxy.pid, ticks);
            let up_before = slow_count.load(Ordering::Relaxed);
            let mut rss = Vec::new();
            for _ in 0..4 {
                tokio::time::sleep(o.window / 4).await;
                rss.push(status_kib(proxy.pid, "VmRSS:") as f64 / 1024.0);
            }
            let after = tally.snapshot(proxy.pid, ticks);
            let up_after = slow_count.load(Ordering::Relaxed);
            let metrics = get_text(&format!("{}/metrics", proxy.http)).await;
            stop_clients(&tally, tasks).await;
            let hwm = status_kib(proxy.pid, "VmHWM:") as f64 / 1024.0;
            proxy.stop(true);
            let secs = (after.at.expect("t") - before.at.expect("t")).as_secs_f64();
            let gauge = |name: &str| {
                metrics
                    .lines()
                    .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
                    .unwrap_or(f64::NAN)
            };
            println!(
                "| {} | {:.0} | {:.0} | {:.0} | {} ({:.0}/s) | {:.0}, {:.1} | {} | {:.1} |",
                if transport == "grpc" {
                    "OTLP/gRPC"
                } else {
                    "OTLP/HTTP"
                },
                (after.attempts - before.attempts) as f64 * RECORDS_PER_REQUEST as f64 / secs,
                (after.acked - before.acked) as f64 / secs,
                (up_after - up_before) as f64 / secs,
                after.retryable - before.retryable,
                (after.retryable - before.retryable) as f64 / secs,
                gauge("caviard_queue_records "),
                gauge("caviard_queue_bytes ") / (1 << 20) as f64,
                rss.iter()
                    .map(|r| format!("{r:.1}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                hwm,
            );
        });
    }
}

// === clients ===

enum Outcome {
    Ok,
    /// Backpressure: the client should retry later.
    Retryable,
    Failed,
}

type HttpClient = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

enum Client {
    Grpc(tonic::client::Grpc<Channel>),
    Http(Box<HttpClient>, http::Uri),
}

impl Client {
    fn new(transport: &str, proxy: &Proxy) -> Client {
        match transport {
            "grpc" => {
                let channel = tonic::transport::Endpoint::from_shared(proxy.grpc.clone())
                    .expect("url")
                    .tcp_nodelay(true)
                    .connect_lazy();
                Client::Grpc(tonic::client::Grpc::new(channel))
            }
            _ => {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                    .build(connector);
                let uri = format!("{}/v1/logs", proxy.http).parse().expect("uri");
                Client::Http(Box::new(client), uri)
            }
        }
    }

    async fn send(&mut self, body: Bytes) -> Outcome {
        match self {
            Client::Grpc(grpc) => {
                if grpc.ready().await.is_err() {
                    return Outcome::Retryable;
                }
                let path = http::uri::PathAndQuery::from_static(
                    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                );
                match grpc.unary(tonic::Request::new(body), path, RawCodec).await {
                    Ok(_) => Outcome::Ok,
                    Err(s) => match s.code() {
                        tonic::Code::Unavailable | tonic::Code::ResourceExhausted => {
                            Outcome::Retryable
                        }
                        _ => Outcome::Failed,
                    },
                }
            }
            Client::Http(client, uri) => {
                let req = http::Request::post(uri.clone())
                    .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                    .body(Full::new(body))
                    .expect("request");
                let Ok(resp) = client.request(req).await else {
                    // A refused request whose body the server did not read may lose its
                    // connection; the pool reconnects.
                    return Outcome::Retryable;
                };
                let code = resp.status();
                let _ = resp.into_body().collect().await;
                match code.as_u16() {
                    200 => Outcome::Ok,
                    429 | 503 => Outcome::Retryable,
                    _ => Outcome::Failed,
                }
            }
        }
    }
}

async fn get_text(url: &str) -> String {
    let client: hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    let Ok(resp) = client.get(url.parse().expect("uri")).await else {
        return String::new();
    };
    let body = resp.into_body().collect().await.map(|b| b.to_bytes());
    String::from_utf8_lossy(&body.unwrap_or_default()).into_owned()
}

// === /proc ===

/// Clock ticks per second (`getconf CLK_TCK`), and whether it was read (else 100 is assumed).
fn clock_ticks() -> (f64, bool) {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    match out
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
    {
        Some(t) => (t, true),
        None => (100.0, false),
    }
}

/// utime + stime of a process (all its threads), in seconds.
fn cpu_seconds(pid: u32, ticks: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) in parentheses; utime and
    // stime are fields 14 and 15, i.e. 12th and 13th after the ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|w| w.parse().unwrap_or(0))
        .collect();
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / ticks
}

/// A `kB` field of `/proc/<pid>/status` (`VmHWM:`, `VmRSS:`).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

// === upstream ===

async fn start_upstream(count: Arc<AtomicU64>, delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    let sink = Sink { count, delay };
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(LogsServiceServer::new(sink).max_decoding_message_size(64 << 20))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .expect("upstream");
    });
    format!("http://{addr}")
}

/// The null upstream: counts records, optionally after sleeping (the overload runs).
struct Sink {
    count: Arc<AtomicU64>,
    delay: Duration,
}

#[tonic::async_trait]
impl LogsService for Sink {
    async fn export(
        &self,
        r: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
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
