//! OTLP/gRPC upstream: a tonic channel and the standard `Export` methods, sending the
//! already-encoded request bytes through a pass-through codec (the queue holds encodings, see
//! the module above) and decoding the response with opentelemetry-proto's types.
//!
//! Retryable codes follow the OTLP specification: `CANCELLED`, `DEADLINE_EXCEEDED`,
//! `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS`, plus `RESOURCE_EXHAUSTED` (a
//! collector's memory limiter uses it; retrying is the choice that loses nothing). Everything
//! else is permanent. Connection failures surface as `UNAVAILABLE`, or as an `UNKNOWN` that
//! tonic made of a connection broken under the request (not one the upstream sent), retried
//! too: an upstream refusing caviard's client certificate after a TLS 1.3 handshake breaks
//! the connection that way, and a rotated certificate must not cost the batch. A retryable
//! status may carry the server's own delay, a `google.rpc.RetryInfo` in its details (the OTLP
//! specification's throttling signal): it is honoured like HTTP's `Retry-After`.

use super::tls::Connector;
use super::SendError;
use crate::config::serve::{is_https, Compression, UpstreamConfig};
use crate::serve::payload::{Rejected, Signal};
use bytes::{BufMut, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use std::marker::PhantomData;
use std::time::Duration;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

pub(crate) struct GrpcUpstream {
    channel: Channel,
    /// The channel's connector for `https://` (whose TLS files the exporters reload).
    connector: Connector,
    metadata: MetadataMap,
    gzip: bool,
}

impl GrpcUpstream {
    pub(crate) fn new(
        endpoint: &str,
        config: &UpstreamConfig,
        connector: Connector,
    ) -> Result<GrpcUpstream, String> {
        let channel = Endpoint::from_shared(endpoint.to_string())
            .map_err(|_| "endpoint: not a URL".to_string())?
            .connect_timeout(config.timeout.0)
            .tcp_nodelay(true);
        // TLS through our own connector, shared with the HTTP exporter (see `tls`); plain
        // `http://` keeps tonic's.
        let channel = if is_https(endpoint) {
            channel.connect_with_connector_lazy(connector.clone())
        } else {
            channel.connect_lazy()
        };
        let mut metadata = MetadataMap::new();
        for (name, value) in &config.headers {
            let key = MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("headers.{name}: not a valid gRPC metadata key"))?;
            let value = MetadataValue::try_from(value.as_str())
                .map_err(|_| format!("headers.{name}: not a valid gRPC metadata value"))?;
            metadata.insert(key, value);
        }
        Ok(GrpcUpstream {
            channel,
            connector,
            metadata,
            gzip: config.compression == Compression::Gzip,
        })
    }

    /// The connector, whose TLS files the exporters reload.
    pub(super) fn connector(&self) -> &Connector {
        &self.connector
    }

    pub(crate) async fn send(&self, signal: Signal, body: Bytes) -> Result<u64, SendError> {
        let rejected = match signal {
            Signal::Logs => self.call::<ExportLogsServiceResponse>(signal, body).await?,
            Signal::Traces => {
                self.call::<ExportTraceServiceResponse>(signal, body)
                    .await?
            }
            Signal::Metrics => {
                self.call::<ExportMetricsServiceResponse>(signal, body)
                    .await?
            }
        };
        Ok(u64::try_from(rejected).unwrap_or(0))
    }

    async fn call<R>(&self, signal: Signal, body: Bytes) -> Result<i64, SendError>
    where
        R: prost::Message + Default + Rejected + Send + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        if self.gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        grpc.ready().await.map_err(|e| {
            SendError::retryable(format!("connection: {}", super::tls::with_causes(&e)))
        })?;
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        let path = http::uri::PathAndQuery::from_static(signal.grpc_path());
        match grpc.unary(request, path, RawCodec::<R>(PhantomData)).await {
            Ok(response) => Ok(response.into_inner().rejected()),
            Err(status) => Err(classify(&status)),
        }
    }
}

fn classify(status: &Status) -> SendError {
    // A status tonic made from a failed connection or stream carries that error as its source
    // (logged with its causes); one the upstream sent carries none.
    let local = std::error::Error::source(status);
    let reason = match local {
        Some(e) => format!("gRPC {:?}: {}", status.code(), super::tls::with_causes(e)),
        None => format!("gRPC {:?}: {}", status.code(), status.message()),
    };
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss
        | Code::ResourceExhausted => SendError {
            retry_after: retry_delay(status.details()),
            ..SendError::retryable(reason)
        },
        // Not the upstream's answer: the connection failed under the request (an upstream that
        // refuses the client certificate does so after a TLS 1.3 handshake the client saw
        // succeed, on the first request), so the request is retried like a connection error.
        Code::Unknown if local.is_some() => SendError::retryable(reason),
        _ => SendError::permanent(reason),
    }
}

/// The `retry_delay` of a `google.rpc.RetryInfo` in a status's details (the
/// `grpc-status-details-bin` trailer: a `google.rpc.Status` whose `details` are `Any`s), if
/// there is one. Undecodable details or a negative delay are ignored: the usual back-off
/// applies.
fn retry_delay(details: &[u8]) -> Option<Duration> {
    if details.is_empty() {
        return None;
    }
    let status = rpc::Status::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|any| any.type_url == rpc::RETRY_INFO_TYPE_URL)?;
    let delay = rpc::RetryInfo::decode(info.value.as_slice())
        .ok()?
        .retry_delay?;
    let seconds = u64::try_from(delay.seconds).ok()?;
    let nanos = u32::try_from(delay.nanos).ok()?;
    Some(Duration::from_secs(seconds) + Duration::from_nanos(u64::from(nanos)))
}

/// The few messages of `google/rpc/status.proto`, `google/rpc/error_details.proto` and the
/// well-known types that [`retry_delay`] reads, declared here rather than pulling in
/// `tonic-types` and `prost-types` for four messages.
mod rpc {
    pub(super) const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

    /// `google.rpc.Status`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Status {
        #[prost(int32, tag = "1")]
        pub code: i32,
        #[prost(string, tag = "2")]
        pub message: String,
        #[prost(message, repeated, tag = "3")]
        pub details: Vec<Any>,
    }

    /// `google.protobuf.Any`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Any {
        #[prost(string, tag = "1")]
        pub type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    /// `google.rpc.RetryInfo`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        pub retry_delay: Option<Duration>,
    }

    /// `google.protobuf.Duration`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Duration {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

/// Sends pre-encoded request bytes as they are; decodes the response as `R`.
struct RawCodec<R>(PhantomData<R>);

impl<R: prost::Message + Default + Send + 'static> Codec for RawCodec<R> {
    type Encode = Bytes;
    type Decode = R;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder<R>;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> ResponseDecoder<R> {
        ResponseDecoder(PhantomData)
    }
}

struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

struct ResponseDecoder<R>(PhantomData<R>);

impl<R: prost::Message + Default> Decoder for ResponseDecoder<R> {
    type Item = R;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<R>, Status> {
        R::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("undecodable upstream response: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `grpc-status-details-bin` of a status carrying `RetryInfo` (after an unrelated
    /// detail, as servers may send several).
    fn details(seconds: i64, nanos: i32) -> Bytes {
        let retry_info = rpc::RetryInfo {
            retry_delay: Some(rpc::Duration { seconds, nanos }),
        };
        let status = rpc::Status {
            code: Code::Unavailable as i32,
            message: "throttled".into(),
            details: vec![
                rpc::Any {
                    type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(),
                    value: vec![10, 1, b'x'],
                },
                rpc::Any {
                    type_url: rpc::RETRY_INFO_TYPE_URL.into(),
                    value: retry_info.encode_to_vec(),
                },
            ],
        };
        Bytes::from(status.encode_to_vec())
    }

    #[test]
    fn retry_info_in_a_retryable_status_is_the_retry_delay() {
        let e = classify(&Status::with_details(
            Code::Unavailable,
            "throttled",
            details(2, 500_000_000),
        ));
        assert_eq!(e.kind, super::super::Failure::Retryable);
        assert_eq!(e.retry_after, Some(Duration::from_millis(2500)));
        let e = classify(&Status::with_details(
            Code::ResourceExhausted,
            "memory limit",
            details(0, 0),
        ));
        assert_eq!(e.retry_after, Some(Duration::ZERO));
    }

    #[test]
    fn statuses_without_a_usable_retry_info_use_the_back_off() {
        let none = |status: Status| classify(&status).retry_after;
        assert_eq!(none(Status::unavailable("down")), None);
        assert_eq!(
            none(Status::with_details(
                Code::Unavailable,
                "x",
                Bytes::from_static(b"not protobuf")
            )),
            None
        );
        assert_eq!(
            none(Status::with_details(Code::Unavailable, "x", details(-1, 0))),
            None
        );
        // A permanent status is dropped whatever delay it names.
        let e = classify(&Status::with_details(
            Code::InvalidArgument,
            "bad",
            details(1, 0),
        ));
        assert_eq!(e.kind, super::super::Failure::Permanent);
    }

    #[test]
    fn unknown_is_retried_only_when_the_connection_failed() {
        // What tonic makes of a stream broken under a request: UNKNOWN, the error as source.
        let broken = Status::from_error(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "received fatal alert: CertificateRequired",
        )));
        assert_eq!(broken.code(), Code::Unknown);
        let e = classify(&broken);
        assert_eq!(e.kind, super::super::Failure::Retryable);
        assert!(e.reason.contains("CertificateRequired"), "{}", e.reason);
        // UNKNOWN sent by the upstream: permanent, as the OTLP specification says.
        let e = classify(&Status::unknown("exporter bug"));
        assert_eq!(e.kind, super::super::Failure::Permanent);
        assert_eq!(e.reason, "gRPC Unknown: exporter bug");
    }
}
