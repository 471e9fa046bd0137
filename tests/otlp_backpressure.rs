//! The upstream goes away and comes back: every record caviard acknowledged must arrive
//! (at least once, none lost, none unredacted), a full queue must turn into retryable
//! statuses rather than loss, and SIGTERM must drain what is queued.
#![cfg(feature = "serve")]

mod otlp_util;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use otlp_util::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const REQUESTS: i64 = 40;
const PER_REQUEST: i64 = 25;

fn config(upstream_grpc: std::net::SocketAddr, protocol: &str) -> String {
    format!(
        "serve:
  upstream:
    endpoint: http://{upstream_grpc}
    protocol: {protocol}
    timeout: 1s
  queue:
    max_records: 200
  batch:
    max_records: 50
    timeout: 20ms
  retry:
    initial_backoff: 50ms
    max_backoff: 300ms
"
    )
}

/// Send REQUESTS requests of PER_REQUEST records, retrying each on a retryable status like
/// an OTLP client would. Returns the acknowledged seqs and how many refusals were seen.
async fn send_all(url: String, deadline: Duration) -> (BTreeSet<i64>, usize) {
    let mut client = LogsServiceClient::connect(url).await.unwrap();
    let start = Instant::now();
    let mut acked = BTreeSet::new();
    let mut refusals = 0;
    for r in 0..REQUESTS {
        let seqs = r * PER_REQUEST..(r + 1) * PER_REQUEST;
        loop {
            match client.export(log_request(seqs.clone())).await {
                Ok(resp) => {
                    assert!(resp.into_inner().partial_success.is_none());
                    acked.extend(seqs.clone());
                    break;
                }
                Err(s) if s.code() == tonic::Code::Unavailable => refusals += 1,
                Err(s) => panic!("non-retryable status {s:?}"),
            }
            assert!(
                start.elapsed() < deadline,
                "client gave up: {} acknowledged",
                acked.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    (acked, refusals)
}

#[test]
fn upstream_down_then_back_loses_nothing() {
    let (grpc, http) = (free_port(), free_port());
    let proxy = Proxy::start(&[], Some(&config(grpc, "grpc")), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sender = rt.spawn(send_all(proxy.grpc_url(), Duration::from_secs(60)));

    // With the upstream down, the queue (200 records) fills and readiness drops.
    let start = Instant::now();
    loop {
        if http_request(proxy.http, "GET", "/readyz", &[], b"").status == 503 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "queue never filled; stderr:\n{}",
            proxy.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let metrics =
        String::from_utf8(http_request(proxy.http, "GET", "/metrics", &[], b"").body).unwrap();
    assert!(metrics.contains("caviard_queue_records 200"), "{metrics}");

    let upstream = Upstream::start_on(grpc, http);
    let (acked, refusals) = rt.block_on(sender).unwrap();
    assert!(
        refusals > 0,
        "the full queue must have refused requests with UNAVAILABLE"
    );
    assert_eq!(acked.len() as i64, REQUESTS * PER_REQUEST);
    upstream.wait_for(Duration::from_secs(30), "every acknowledged record", |r| {
        received_seqs(r).len() as i64 == REQUESTS * PER_REQUEST
    });
    let seqs = received_seqs(&upstream.received());
    let missing: Vec<_> = acked.iter().filter(|s| !seqs.contains_key(s)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert_eq!(
        http_request(proxy.http, "GET", "/readyz", &[], b"").status,
        200,
        "ready again"
    );
}

#[test]
fn sigterm_drains_queue_to_upstream_that_comes_back() {
    let (grpc, http) = (free_port(), free_port());
    let mut proxy = Proxy::start(&[], Some(&config(http, "http/protobuf")), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut client = rt
        .block_on(LogsServiceClient::connect(proxy.grpc_url()))
        .unwrap();
    for r in 0..4 {
        rt.block_on(client.export(log_request(r * 25..(r + 1) * 25)))
            .unwrap();
    }
    // Acknowledged, queued, upstream down. SIGTERM, then the upstream comes back during the drain.
    let up = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        Upstream::start_on(grpc, http)
    });
    std::thread::sleep(Duration::from_millis(100));
    let status = proxy.terminate(Duration::from_secs(25));
    let upstream = up.join().unwrap();
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        proxy.stderr()
    );
    let seqs = received_seqs(&upstream.received());
    assert_eq!(
        seqs.keys().copied().collect::<Vec<_>>(),
        (0..100).collect::<Vec<_>>(),
        "all 100 delivered while draining"
    );
    assert!(proxy.stderr().contains("Drained."), "{}", proxy.stderr());
}

#[test]
fn upstream_errors_are_retried() {
    let upstream = Upstream::start();
    upstream.fail_next(3);
    let proxy = Proxy::start(
        &[
            "--upstream",
            &upstream.http_url(),
            "--upstream-protocol",
            "http/protobuf",
        ],
        None,
        &[],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut client = rt
        .block_on(LogsServiceClient::connect(proxy.grpc_url()))
        .unwrap();
    rt.block_on(client.export(log_request(0..10))).unwrap();
    upstream.wait_for(Duration::from_secs(20), "the batch after 3 failures", |r| {
        !r.logs.is_empty()
    });
    assert_eq!(received_seqs(&upstream.received()).len(), 10);
    assert!(upstream.received().calls >= 4);
}

/// A gRPC upstream's `google.rpc.RetryInfo` sets the wait before the retry, as `Retry-After`
/// does over HTTP: a 200 ms delay is honoured where the configured back-off would wait 10 s
/// or more.
#[test]
fn grpc_retry_info_sets_the_retry_delay() {
    let upstream = Upstream::start();
    upstream.set_grpc_retry_delay(Duration::from_millis(200));
    upstream.fail_next(1);
    let config = format!(
        "serve:
  upstream:
    endpoint: {}
    protocol: grpc
  retry:
    initial_backoff: 20s
    max_backoff: 30s
",
        upstream.grpc_url()
    );
    let proxy = Proxy::start(&[], Some(&config), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut client = rt
        .block_on(LogsServiceClient::connect(proxy.grpc_url()))
        .unwrap();
    rt.block_on(client.export(log_request(0..10))).unwrap();
    upstream.wait_for(
        Duration::from_secs(8),
        "the batch retried after the upstream's 200 ms RetryInfo",
        |r| !r.logs.is_empty(),
    );
    assert_eq!(received_seqs(&upstream.received()).len(), 10);
    assert_eq!(upstream.received().calls, 2);
}
