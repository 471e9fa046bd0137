//! Hostile or broken requests: malformed protobuf, malformed JSON, a wrong content type or
//! encoding, an oversized body and a gzip bomb each get a clear 4xx (HTTP) or an error status
//! (gRPC), caviard keeps running, and nothing reaches the upstream. A valid OTLP/JSON request
//! sent afterwards still goes through, ids intact.
#![cfg(feature = "serve")]

mod otlp_util;

use bytes::{Buf, BufMut, Bytes};
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use otlp_util::*;
use std::io::Write;
use std::marker::PhantomData;
use std::time::Duration;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};

const CONFIG: &str = "serve:
  limits:
    max_body_bytes: 64KiB
    max_decompressed_bytes: 1MiB
";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn start() -> (Upstream, Proxy) {
    let upstream = Upstream::start();
    let proxy = Proxy::start(&["--upstream", &upstream.grpc_url()], Some(CONFIG), &[]);
    (upstream, proxy)
}

fn post(proxy: &Proxy, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    http_request(proxy.http, "POST", "/v1/logs", headers, body)
}

/// The error body is a google.rpc.Status in the request's encoding, with a message.
fn assert_status_body(r: &RawResponse, json: bool) {
    if json {
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert!(v["code"].as_i64().is_some(), "{v}");
    } else {
        // google.rpc.Status: field 1 code (varint), field 2 message (string).
        assert!(
            r.body.contains(&0x12),
            "protobuf Status with a message: {:?}",
            r.body
        );
    }
}

const PROTO: (&str, &str) = ("Content-Type", "application/x-protobuf");
const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn http_rejections() {
    let (upstream, mut proxy) = start();

    let r = post(&proxy, &[PROTO], b"\xff\xff\xff\xff\xff");
    assert_eq!(r.status, 400, "malformed protobuf");
    assert_status_body(&r, false);

    let r = post(&proxy, &[JSON], br#"{"resourceLogs": [ {"scopeLogs": "#);
    assert_eq!(r.status, 400, "malformed JSON");
    assert_status_body(&r, true);
    let m = String::from_utf8_lossy(&r.body);
    assert!(m.contains("invalid OTLP/JSON"), "{m}");

    let r = post(
        &proxy,
        &[JSON],
        br#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "not hex"}]}]}]}"#,
    );
    assert_eq!(r.status, 400, "invalid hex trace id");

    let r = post(&proxy, &[("Content-Type", "text/plain")], b"hello");
    assert_eq!(r.status, 415, "wrong content type");
    assert_status_body(&r, true);

    let r = post(&proxy, &[], b"{}");
    assert_eq!(r.status, 415, "no content type");

    let r = post(&proxy, &[JSON, ("Content-Encoding", "br")], b"{}");
    assert_eq!(r.status, 415, "unsupported content encoding");

    let big = vec![b' '; 100 << 10];
    let r = post(&proxy, &[JSON], &big);
    assert_eq!(r.status, 413, "oversized body (Content-Length)");
    assert_status_body(&r, true);

    let mut chunked = Vec::new();
    for chunk in big.chunks(8192) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = post(
        &proxy,
        &[
            JSON,
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", ""),
        ],
        &chunked,
    );
    assert!(
        r.status == 413 || r.status == 400,
        "oversized chunked body: {}",
        r.status
    );

    let bomb = gzip(&vec![b'0'; 10 << 20]);
    assert!(bomb.len() < 64 << 10, "the bomb fits under max_body_bytes");
    let r = post(&proxy, &[PROTO, ("Content-Encoding", "gzip")], &bomb);
    assert_eq!(r.status, 413, "gzip bomb");
    assert_status_body(&r, false);
    assert!(String::from_utf8_lossy(&r.body).contains("decompressed body exceeds"));

    let r = post(
        &proxy,
        &[PROTO, ("Content-Encoding", "gzip")],
        b"not gzip at all",
    );
    assert_eq!(r.status, 400, "broken gzip");

    assert_eq!(
        http_request(proxy.http, "GET", "/v1/logs", &[], b"").status,
        405
    );
    assert_eq!(
        http_request(proxy.http, "POST", "/v1/nope", &[JSON], b"{}").status,
        404
    );

    assert!(
        proxy.alive(),
        "caviard survived; stderr:\n{}",
        proxy.stderr()
    );
    assert_eq!(
        http_request(proxy.http, "GET", "/healthz", &[], b"").status,
        200
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        upstream.received().is_empty(),
        "nothing forwarded: {:?}",
        upstream.received()
    );

    valid_json_goes_through(&upstream, &proxy);
}

/// The control: a valid OTLP/JSON request (hex ids, string int64) is accepted and arrives with
/// its ids and non-PII attributes intact.
fn valid_json_goes_through(upstream: &Upstream, proxy: &Proxy) {
    let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"caviard-test"}}]},
      "scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000007","severityNumber":17,
      "traceId":"5b8efff798038103d269b63300000007","spanId":"eee19b7e00000007",
      "body":{"stringValue":"payment failed for jean.dupont@example.fr card 4111 1111 1111 1111"},
      "attributes":[{"key":"seq","value":{"intValue":"7"}},{"key":"http.status_code","value":{"intValue":500}},
                    {"key":"user.email","value":{"stringValue":"a.b@example.com"}}]}]}]}]}"#;
    let r = post(proxy, &[JSON], body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, b"{}");
    upstream.wait_for(Duration::from_secs(10), "the valid record", |r| {
        !r.logs.is_empty()
    });
    let received = upstream.received();
    let seqs = received_seqs(&received);
    assert_eq!(seqs.into_iter().collect::<Vec<_>>(), vec![(7, 1)]);
    let (rec, _) = received.log_records()[0];
    let (trace_id, span_id) = fixture_ids(7);
    assert_eq!((&rec.trace_id, &rec.span_id), (&trace_id, &span_id));
    assert_eq!(rec.time_unix_nano, 1_700_000_000_000_000_007);
    assert_eq!(int_attr(&rec.attributes, "http.status_code"), Some(500));
}

/// Sends raw bytes as the request message of a gRPC method.
#[derive(Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ExportLogsServiceResponse;
    type Encoder = RawCodec;
    type Decoder = ResponseDecoder;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder(PhantomData)
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

struct ResponseDecoder(PhantomData<()>);

impl Decoder for ResponseDecoder {
    type Item = ExportLogsServiceResponse;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(ExportLogsServiceResponse::default()))
    }
}

async fn grpc_raw(url: String, body: Bytes, gzip: bool) -> Result<(), tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel).max_encoding_message_size(64 << 20);
    if gzip {
        grpc = grpc.send_compressed(CompressionEncoding::Gzip);
    }
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    );
    grpc.unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(|_| ())
}

#[test]
fn grpc_rejections() {
    let (upstream, mut proxy) = start();
    let rt = tokio::runtime::Runtime::new().unwrap();

    let e = rt
        .block_on(grpc_raw(
            proxy.grpc_url(),
            Bytes::from_static(b"\xff\xff\xff\xff\xff"),
            false,
        ))
        .unwrap_err();
    assert_ne!(e.code(), tonic::Code::Ok, "malformed protobuf");
    assert_ne!(
        e.code(),
        tonic::Code::Unavailable,
        "malformed protobuf is not retryable"
    );

    // A valid message of 2 MiB > max_decompressed_bytes (1 MiB), plain and as a gzip bomb.
    let mut huge = bytes::BytesMut::new();
    let mut req = log_request(0..1);
    let body = "x".repeat(2 << 20);
    req.resource_logs[0].scope_logs[0].log_records[0].body =
        Some(opentelemetry_proto::tonic::common::v1::AnyValue {
            value: Some(
                opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(body),
            ),
        });
    prost::Message::encode(&req, &mut huge).unwrap();
    let huge = huge.freeze();
    let e = rt
        .block_on(grpc_raw(proxy.grpc_url(), huge.clone(), false))
        .unwrap_err();
    assert_ne!(e.code(), tonic::Code::Ok, "oversized message");
    let e = rt
        .block_on(grpc_raw(proxy.grpc_url(), huge, true))
        .unwrap_err();
    assert_ne!(e.code(), tonic::Code::Ok, "gzip bomb");

    assert!(
        proxy.alive(),
        "caviard survived; stderr:\n{}",
        proxy.stderr()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(upstream.received().is_empty(), "nothing forwarded");

    // Still serving.
    let mut client = rt
        .block_on(opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient::connect(
            proxy.grpc_url(),
        ))
        .unwrap();
    rt.block_on(client.export(log_request(0..3))).unwrap();
    upstream.wait_for(Duration::from_secs(10), "the valid records", |r| {
        received_seqs(r).len() == 3
    });
}

/// A record the engine cannot process safely (values nested deeper than the walker's bound) is
/// dropped and reported as partial success; its neighbours go through.
#[test]
fn unprocessable_record_is_dropped_not_forwarded() {
    let (upstream, proxy) = start();
    let mut deep = r#"{"stringValue":"jean.dupont@example.fr"}"#.to_string();
    for _ in 0..34 {
        deep = format!(r#"{{"arrayValue":{{"values":[{deep}]}}}}"#);
    }
    let body = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[
          {{"body":{deep},"attributes":[{{"key":"seq","value":{{"intValue":"1"}}}}]}},
          {{"body":{{"stringValue":"fine"}},"attributes":[{{"key":"seq","value":{{"intValue":"2"}}}}]}}]}}]}}]}}"#
    );
    let r = post(&proxy, &[JSON], body.as_bytes());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let rejected = &v["partialSuccess"]["rejectedLogRecords"];
    assert!(
        rejected == 1 || rejected == "1",
        "partial success names 1 rejected record: {v}"
    );
    upstream.wait_for(Duration::from_secs(10), "the processable record", |r| {
        !r.logs.is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    let seqs = received_seqs(&upstream.received());
    assert_eq!(
        seqs.into_iter().collect::<Vec<_>>(),
        vec![(2, 1)],
        "only the processable record forwarded"
    );
}
