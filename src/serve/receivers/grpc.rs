//! OTLP/gRPC receiver: opentelemetry-proto's generated `LogsService`, `TraceService` and
//! `MetricsService` on one tonic server.
//!
//! tonic decodes the protobuf message (gzip accepted; `limits.max_decompressed_bytes` is its
//! decoding limit, checked while decompressing). PERF: that decoding runs on the reactor;
//! moving it to the workers would need a raw-bytes codec on the server side.
//!
//! Status codes: retryable refusals (busy, queue full, shutting down, timeout) are
//! `UNAVAILABLE`, which every OTLP client retries with back-off; undecodable or oversized
//! requests are `INVALID_ARGUMENT`; a request none of whose records could be redacted is
//! `INTERNAL` (not retried: it would fail again). Records dropped for failing redaction in an
//! otherwise accepted request are reported as partial success.
//!
//! With TLS, an accept task hands each connection to its own handshake task and the
//! handshaken ones to tonic through a channel, so one slow handshake never delays the next.

use super::tls::{Tls, TlsConn};
use super::{accept, stopped, Limits};
use crate::serve::payload::Request;
use crate::serve::pipeline::{Accepted, Body, Pipeline, SubmitError};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Status};

pub(super) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    limits: Limits,
    pipeline: Pipeline,
    stop: watch::Receiver<bool>,
) {
    let receiver = GrpcReceiver {
        pipeline,
        timeout: limits.timeout,
    };
    let max = limits.max_decompressed;
    let gzip = CompressionEncoding::Gzip;
    let logs = LogsServiceServer::new(receiver.clone())
        .accept_compressed(gzip)
        .max_decoding_message_size(max);
    let traces = TraceServiceServer::new(receiver.clone())
        .accept_compressed(gzip)
        .max_decoding_message_size(max);
    let metrics = MetricsServiceServer::new(receiver)
        .accept_compressed(gzip)
        .max_decoding_message_size(max);
    // tonic reads and decodes a message before our handler can refuse it; capping the requests
    // in progress per connection makes further streams wait in HTTP/2 flow control (a 64 KiB
    // window each) instead of in decoded memory.
    let router = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(limits.max_concurrent)
        .add_service(logs)
        .add_service(traces)
        .add_service(metrics);
    let served = match tls {
        None => {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            router
                .serve_with_incoming_shutdown(incoming, stopped(stop))
                .await
        }
        Some(tls) => {
            let incoming = handshaken(listener, tls, stop.clone());
            router
                .serve_with_incoming_shutdown(incoming, stopped(stop))
                .await
        }
    };
    if let Err(e) = served {
        tracing::error!(error = %e, "OTLP/gRPC receiver stopped with an error.");
    }
}

/// The connections of `listener` that completed their TLS handshake, until `stop`.
fn handshaken(
    listener: TcpListener,
    tls: Arc<Tls>,
    stop: watch::Receiver<bool>,
) -> tokio_stream::wrappers::ReceiverStream<std::io::Result<TlsConn>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut stopping = std::pin::pin!(stopped(stop));
        loop {
            let (tcp, peer) = tokio::select! {
                () = &mut stopping => return,
                accepted = accept(&listener, "otlp_grpc") => accepted,
            };
            let (tls, tx) = (tls.clone(), tx.clone());
            tokio::spawn(async move {
                if let Some(stream) = tls.accept(tcp, peer).await {
                    let _ = tx.send(Ok(TlsConn(stream))).await;
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[derive(Clone)]
struct GrpcReceiver {
    pipeline: Pipeline,
    timeout: Duration,
}

impl GrpcReceiver {
    async fn export(&self, request: Request) -> Result<Accepted, Status> {
        let _permit = self.pipeline.admit(request.signal()).map_err(status)?;
        match tokio::time::timeout(
            self.timeout,
            self.pipeline.submit("otlp_grpc", Body::Decoded(request)),
        )
        .await
        {
            Ok(verdict) => verdict.map_err(status),
            Err(_) => {
                self.pipeline.counters().refused(&SubmitError::Timeout);
                Err(status(SubmitError::Timeout))
            }
        }
    }
}

/// The gRPC status for a refusal; the message says what to do, never what the data was.
fn status(e: SubmitError) -> Status {
    let code = if e.retryable() {
        Code::Unavailable
    } else if matches!(e, SubmitError::Unsupported { .. }) {
        // What a server without the service answers (the Collector's, with no pipeline for
        // the signal): clients do not retry it.
        Code::Unimplemented
    } else if matches!(e, SubmitError::Unprocessable { .. }) {
        Code::Internal
    } else {
        Code::InvalidArgument
    };
    Status::new(code, e.to_string())
}

const PARTIAL: &str = "records dropped: the redaction engine failed on them";

#[tonic::async_trait]
impl LogsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, Status> {
        let accepted = GrpcReceiver::export(self, Request::Logs(request.into_inner())).await?;
        let partial_success = (accepted.rejected > 0).then(|| ExportLogsPartialSuccess {
            rejected_log_records: accepted.rejected as i64,
            error_message: PARTIAL.to_string(),
        });
        Ok(tonic::Response::new(ExportLogsServiceResponse {
            partial_success,
        }))
    }
}

#[tonic::async_trait]
impl TraceService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
        let accepted = GrpcReceiver::export(self, Request::Traces(request.into_inner())).await?;
        let partial_success = (accepted.rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: accepted.rejected as i64,
            error_message: PARTIAL.to_string(),
        });
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, Status> {
        let accepted = GrpcReceiver::export(self, Request::Metrics(request.into_inner())).await?;
        let partial_success = (accepted.rejected > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: accepted.rejected as i64,
            error_message: PARTIAL.to_string(),
        });
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success,
        }))
    }
}
