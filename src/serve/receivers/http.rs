//! OTLP/HTTP receiver (hyper, HTTP/1.1 and h2c; over TLS, HTTP/1.1 and h2 by ALPN) and the
//! operational endpoints, which share its listener and so its TLS.
//!
//! | path | method | answer |
//! | --- | --- | --- |
//! | `/v1/logs`, `/v1/traces`, `/v1/metrics` | POST | OTLP export; body `application/x-protobuf` or `application/json`, optionally `Content-Encoding: gzip` |
//! | `/healthz` | GET | 200 while the process runs |
//! | `/readyz` | GET | 200 when accepting (not shutting down, queue not full), else 503 |
//! | `/metrics` | GET | the proxy's counters, Prometheus text format |
//!
//! Errors follow the OTLP/HTTP specification: the body is a `google.rpc.Status` in the
//! request's encoding; 429 and 503 carry `Retry-After` and are retried by clients; 400 (bad
//! body), 413 (body or decompressed body too large), 415 (content type or encoding) and 500
//! (no record could be redacted) are permanent. Checks that need no body (method, content
//! type, `Content-Length`, admission) come before the body is read.

use super::tls::Tls;
use super::{accept, stopped, Limits};
use crate::serve::payload::{DecodeError, Encoding, Signal};
use crate::serve::pipeline::{Accepted, Body, Pipeline, SubmitError};
use crate::serve::RETRY_AFTER;
use bytes::Bytes;
use http::header::{
    HeaderValue, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE,
    RETRY_AFTER as RETRY_AFTER_HEADER,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use prost::Message;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

type Resp = Response<Full<Bytes>>;

struct HttpState {
    pipeline: Pipeline,
    limits: Limits,
    otlp_enabled: bool,
}

pub(super) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    limits: Limits,
    otlp_enabled: bool,
    pipeline: Pipeline,
    stop: watch::Receiver<bool>,
) {
    let state = Arc::new(HttpState {
        pipeline,
        limits,
        otlp_enabled,
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.timeout);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stopped(stop));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = accept(&listener, "otlp_http") => accepted,
            () = &mut stop => break,
        };
        let state = state.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(handle(req, &state).await) }
        });
        let Some(tls) = tls.clone() else {
            let conn = graceful.watch(
                builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned(),
            );
            tokio::spawn(async move {
                let _ = conn.await;
            });
            continue;
        };
        // The handshake runs in the connection's task, so a slow client holds only that.
        let (watcher, builder) = (graceful.watcher(), builder.clone());
        tokio::spawn(async move {
            if let Some(stream) = tls.accept(stream, peer).await {
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                let _ = watcher.watch(conn.into_owned()).await;
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn handle(req: Request<Incoming>, state: &HttpState) -> Resp {
    let signal = match req.uri().path() {
        "/v1/logs" => Some(Signal::Logs),
        "/v1/traces" => Some(Signal::Traces),
        "/v1/metrics" => Some(Signal::Metrics),
        _ => None,
    };
    match (req.method(), req.uri().path(), signal) {
        (&Method::POST, _, Some(signal)) if state.otlp_enabled => export(req, signal, state).await,
        (_, _, Some(_)) if state.otlp_enabled => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "use POST\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            r
        }
        (&Method::GET, "/healthz", _) => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/readyz", _) if state.pipeline.ready() => text(StatusCode::OK, "ready\n"),
        (&Method::GET, "/readyz", _) => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        (&Method::GET, "/metrics", _) => {
            let c = state.pipeline.capacity();
            let body = state
                .pipeline
                .counters()
                .render(c.used_records(), c.used_bytes());
            let mut r = Response::new(Full::new(Bytes::from(body)));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn export(req: Request<Incoming>, signal: Signal, state: &HttpState) -> Resp {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let Some(encoding) = header(CONTENT_TYPE).and_then(Encoding::from_content_type) else {
        let msg = "unsupported Content-Type: use application/x-protobuf or application/json";
        return status(Encoding::Json, StatusCode::UNSUPPORTED_MEDIA_TYPE, msg);
    };
    let gzip = match header(CONTENT_ENCODING).map(str::trim) {
        None | Some("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(_) => {
            let msg = "unsupported Content-Encoding: use gzip or none";
            return status(encoding, StatusCode::UNSUPPORTED_MEDIA_TYPE, msg);
        }
    };
    let declared = header(CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.limits.max_body as u64) {
        return too_large(encoding, state.limits.max_body);
    }
    let _permit = match state.pipeline.admit(signal) {
        Ok(p) => p,
        Err(e) => return refusal(encoding, &e),
    };
    let work = async {
        let bytes = match Limited::new(req.into_body(), state.limits.max_body)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => {
                return Err(too_large(encoding, state.limits.max_body))
            }
            Err(_) => {
                return Err(status(
                    encoding,
                    StatusCode::BAD_REQUEST,
                    "could not read the request body",
                ))
            }
        };
        let body = Body::Encoded {
            signal,
            encoding,
            gzip,
            bytes,
        };
        Ok(state.pipeline.submit("otlp_http", body).await)
    };
    match tokio::time::timeout(state.limits.timeout, work).await {
        Ok(Ok(Ok(accepted))) => success(encoding, signal, accepted),
        Ok(Ok(Err(e))) => refusal(encoding, &e),
        Ok(Err(response)) => {
            state.pipeline.counters().invalid();
            response
        }
        Err(_) => {
            state.pipeline.counters().refused(&SubmitError::Timeout);
            refusal(encoding, &SubmitError::Timeout)
        }
    }
}

fn success(encoding: Encoding, signal: Signal, accepted: Accepted) -> Resp {
    use opentelemetry_proto::tonic::collector::{logs::v1 as l, metrics::v1 as m, trace::v1 as t};
    let msg = "records dropped: the redaction engine failed on them".to_string();
    let n = accepted.rejected as i64;
    let some = accepted.rejected > 0;
    let (proto, json) = match signal {
        Signal::Logs => {
            let partial_success = some.then_some(l::ExportLogsPartialSuccess {
                rejected_log_records: n,
                error_message: msg,
            });
            let r = l::ExportLogsServiceResponse { partial_success };
            (r.encode_to_vec(), serde_json::to_vec(&r))
        }
        Signal::Traces => {
            let partial_success = some.then_some(t::ExportTracePartialSuccess {
                rejected_spans: n,
                error_message: msg,
            });
            let r = t::ExportTraceServiceResponse { partial_success };
            (r.encode_to_vec(), serde_json::to_vec(&r))
        }
        Signal::Metrics => {
            let partial_success = some.then_some(m::ExportMetricsPartialSuccess {
                rejected_data_points: n,
                error_message: msg,
            });
            let r = m::ExportMetricsServiceResponse { partial_success };
            (r.encode_to_vec(), serde_json::to_vec(&r))
        }
    };
    let body = match encoding {
        Encoding::Protobuf => proto,
        Encoding::Json if !some => b"{}".to_vec(),
        Encoding::Json => json.unwrap_or_else(|_| b"{}".to_vec()),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    r
}

fn refusal(encoding: Encoding, e: &SubmitError) -> Resp {
    let code = match e {
        SubmitError::Busy => StatusCode::TOO_MANY_REQUESTS,
        SubmitError::QueueFull | SubmitError::ShuttingDown | SubmitError::Timeout => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        SubmitError::TooLarge { .. }
        | SubmitError::Decode(DecodeError::DecompressedTooLarge { .. }) => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        SubmitError::Unprocessable { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        // As for a path the server does not serve (the Collector's, with no pipeline for the
        // signal): clients do not retry it.
        SubmitError::Unsupported { .. } => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut r = status(encoding, code, &e.to_string());
    if e.retryable() {
        let secs = HeaderValue::from(RETRY_AFTER.as_secs());
        r.headers_mut().insert(RETRY_AFTER_HEADER, secs);
    }
    r
}

fn too_large(encoding: Encoding, limit: usize) -> Resp {
    status(
        encoding,
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request body exceeds the limit of {limit} bytes"),
    )
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses (only the two fields we set).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn status(encoding: Encoding, http: StatusCode, message: &str) -> Resp {
    let grpc_code = match http {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
        StatusCode::INTERNAL_SERVER_ERROR => tonic::Code::Internal,
        StatusCode::PAYLOAD_TOO_LARGE => tonic::Code::ResourceExhausted,
        StatusCode::NOT_FOUND => tonic::Code::Unimplemented,
        _ => tonic::Code::InvalidArgument,
    };
    let body = match encoding {
        Encoding::Protobuf => RpcStatus {
            code: grpc_code as i32,
            message: message.to_string(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::json!({ "code": grpc_code as i32, "message": message })
            .to_string()
            .into_bytes(),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = http;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    r
}

fn text(code: StatusCode, body: &'static str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}
