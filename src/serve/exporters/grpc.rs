//! OTLP/gRPC upstream: a tonic channel and the standard `Export` methods, sending the
//! already-encoded request bytes through a pass-through codec (the queue holds encodings, see
//! the module above) and decoding the response with opentelemetry-proto's types.
//!
//! Retryable codes follow the OTLP specification: `CANCELLED`, `DEADLINE_EXCEEDED`,
//! `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE`, `DATA_LOSS`, plus `RESOURCE_EXHAUSTED` (a
//! collector's memory limiter uses it; retrying is the choice that loses nothing). Everything
//! else is permanent. Connection failures surface as `UNAVAILABLE`.

use super::SendError;
use crate::config::serve::{is_https, Compression, UpstreamConfig};
use crate::serve::payload::{Rejected, Signal};
use bytes::{BufMut, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use std::marker::PhantomData;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

pub(crate) struct GrpcUpstream {
    channel: Channel,
    metadata: MetadataMap,
    gzip: bool,
}

impl GrpcUpstream {
    pub(crate) fn new(endpoint: &str, config: &UpstreamConfig) -> Result<GrpcUpstream, String> {
        let channel = Endpoint::from_shared(endpoint.to_string())
            .map_err(|_| "endpoint: not a URL".to_string())?
            .connect_timeout(config.timeout.0)
            .tcp_nodelay(true);
        // TLS through our own connector, shared with the HTTP exporter (see `tls`); plain
        // `http://` keeps tonic's.
        let channel = if is_https(endpoint) {
            channel.connect_with_connector_lazy(super::tls::connector(
                endpoint,
                config,
                super::tls::Alpn::Http2,
            )?)
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
            metadata,
            gzip: config.compression == Compression::Gzip,
        })
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
    let reason = format!("gRPC {:?}: {}", status.code(), status.message());
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss
        | Code::ResourceExhausted => SendError::retryable(reason),
        _ => SendError::permanent(reason),
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
