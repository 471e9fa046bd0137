//! The three OTLP export requests as one type, and their wire formats: protobuf and OTLP/JSON
//! bodies, optionally gzip-compressed, decoded with opentelemetry-proto's generated types.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use prost::Message;
use std::io::Read;

/// An OTLP signal: each has its own endpoint, queue lane and exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Log records.
    Logs,
    /// Spans.
    Traces,
    /// Metric data points.
    Metrics,
}

impl Signal {
    /// All signals, in lane order.
    pub const ALL: [Signal; 3] = [Signal::Logs, Signal::Traces, Signal::Metrics];

    /// Lowercase name, used in logs and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Logs => "logs",
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
        }
    }

    /// The OTLP/HTTP path.
    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Logs => "/v1/logs",
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
        }
    }

    /// The OTLP/gRPC method path.
    pub(crate) fn grpc_path(self) -> &'static str {
        match self {
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        }
    }

    /// Index into per-signal arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One decoded export request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    Logs(ExportLogsServiceRequest),
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

impl Request {
    pub(crate) fn signal(&self) -> Signal {
        match self {
            Request::Logs(_) => Signal::Logs,
            Request::Traces(_) => Signal::Traces,
            Request::Metrics(_) => Signal::Metrics,
        }
    }

    /// Records as OTLP counts them in partial success: log records, spans, data points.
    pub(crate) fn records(&self) -> usize {
        match self {
            Request::Logs(r) => r
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum(),
            Request::Traces(r) => r
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum(),
            Request::Metrics(r) => r
                .resource_metrics
                .iter()
                .flat_map(|r| &r.scope_metrics)
                .flat_map(|s| &s.metrics)
                .map(data_points)
                .sum(),
        }
    }

    /// The protobuf encoding, the form records are queued and exported in.
    pub(crate) fn encode(&self) -> Bytes {
        match self {
            Request::Logs(r) => r.encode_to_vec().into(),
            Request::Traces(r) => r.encode_to_vec().into(),
            Request::Metrics(r) => r.encode_to_vec().into(),
        }
    }

    /// Decode a protobuf body.
    pub(crate) fn decode_protobuf(
        signal: Signal,
        body: &[u8],
    ) -> Result<Request, prost::DecodeError> {
        Ok(match signal {
            Signal::Logs => Request::Logs(ExportLogsServiceRequest::decode(body)?),
            Signal::Traces => Request::Traces(ExportTraceServiceRequest::decode(body)?),
            Signal::Metrics => Request::Metrics(ExportMetricsServiceRequest::decode(body)?),
        })
    }

    /// Decode an OTLP/JSON body (hex ids, 64-bit integers as strings or numbers, enums as
    /// integers: opentelemetry-proto's serde implementation handles the quirks).
    pub(crate) fn decode_json(signal: Signal, body: &[u8]) -> Result<Request, serde_json::Error> {
        Ok(match signal {
            Signal::Logs => Request::Logs(serde_json::from_slice(body)?),
            Signal::Traces => Request::Traces(serde_json::from_slice(body)?),
            Signal::Metrics => Request::Metrics(serde_json::from_slice(body)?),
        })
    }

    /// The OTLP/JSON encoding (for the stdout exporter).
    pub(crate) fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            Request::Logs(r) => serde_json::to_string(r),
            Request::Traces(r) => serde_json::to_string(r),
            Request::Metrics(r) => serde_json::to_string(r),
        }
    }
}

/// Data points of one metric, whatever its type.
pub(crate) fn data_points(m: &Metric) -> usize {
    match &m.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// The body encoding of an OTLP/HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP/JSON).
    Json,
}

impl Encoding {
    /// Recognise a `Content-Type` value; parameters (`; charset=utf-8`) are ignored.
    pub(crate) fn from_content_type(value: &str) -> Option<Encoding> {
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Encoding::Protobuf)
        } else if essence.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Why a body could not be decoded. Messages carry offsets and limits, never body content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum DecodeError {
    #[error("invalid gzip data")]
    Gzip,
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    DecompressedTooLarge { limit: usize },
    #[error("invalid protobuf: {0}")]
    Protobuf(String),
    #[error("invalid OTLP/JSON: {0}")]
    Json(String),
}

/// Decompress (when `gzip`) and decode an OTLP/HTTP body. Decompression stops one byte past
/// `max_decompressed`, so a decompression bomb costs at most that much memory.
pub(crate) fn decode_body(
    signal: Signal,
    encoding: Encoding,
    gzip: bool,
    body: &[u8],
    max_decompressed: usize,
) -> Result<Request, DecodeError> {
    let inflated;
    let raw = if gzip {
        inflated = gunzip(body, max_decompressed)?;
        &inflated[..]
    } else {
        body
    };
    match encoding {
        Encoding::Protobuf => Request::decode_protobuf(signal, raw)
            .map_err(|e| DecodeError::Protobuf(protobuf_reason(&e))),
        Encoding::Json => {
            Request::decode_json(signal, raw).map_err(|e| DecodeError::Json(json_reason(&e)))
        }
    }
}

fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max));
    flate2::read::MultiGzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| DecodeError::Gzip)?;
    if out.len() > max {
        return Err(DecodeError::DecompressedTooLarge { limit: max });
    }
    Ok(out)
}

/// prost's message names the failing field and wire problem, not the data.
fn protobuf_reason(e: &prost::DecodeError) -> String {
    e.to_string()
}

/// serde_json messages can quote the offending value; keep only the category and position.
fn json_reason(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected value or type",
        serde_json::error::Category::Eof => "unexpected end of input",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// How many records the upstream rejected, from its export response.
pub(crate) trait Rejected {
    fn rejected(&self) -> i64;
}

impl Rejected for ExportLogsServiceResponse {
    fn rejected(&self) -> i64 {
        self.partial_success
            .as_ref()
            .map_or(0, |p| p.rejected_log_records)
    }
}

impl Rejected for ExportTraceServiceResponse {
    fn rejected(&self) -> i64 {
        self.partial_success
            .as_ref()
            .map_or(0, |p| p.rejected_spans)
    }
}

impl Rejected for ExportMetricsServiceResponse {
    fn rejected(&self) -> i64 {
        self.partial_success
            .as_ref()
            .map_or(0, |p| p.rejected_data_points)
    }
}

/// Decode an upstream's protobuf export response and return its rejected count (0 when
/// the body is empty or not decodable: the status code already said it was accepted).
pub(crate) fn response_rejected(signal: Signal, body: &[u8]) -> i64 {
    match signal {
        Signal::Logs => ExportLogsServiceResponse::decode(body).map_or(0, |r| r.rejected()),
        Signal::Traces => ExportTraceServiceResponse::decode(body).map_or(0, |r| r.rejected()),
        Signal::Metrics => ExportMetricsServiceResponse::decode(body).map_or(0, |r| r.rejected()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn content_types() {
        for (ct, want) in [
            ("application/x-protobuf", Some(Encoding::Protobuf)),
            ("application/json", Some(Encoding::Json)),
            ("application/json; charset=utf-8", Some(Encoding::Json)),
            ("Application/JSON", Some(Encoding::Json)),
            ("text/plain", None),
            ("application/grpc", None),
            ("", None),
        ] {
            assert_eq!(Encoding::from_content_type(ct), want, "{ct}");
        }
    }

    #[test]
    fn json_with_hex_ids_and_string_ints() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{
            "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
            "name":"GET /","kind":2,"startTimeUnixNano":"1544712660000000000",
            "attributes":[{"key":"http.status_code","value":{"intValue":"500"}}]}]}]}]}"#;
        let Request::Traces(r) =
            decode_body(Signal::Traces, Encoding::Json, false, body, 1 << 20).unwrap()
        else {
            panic!("wrong signal")
        };
        let span = &r.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(
            span.span_id,
            vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
        );
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    }

    #[test]
    fn bad_bodies_are_named_without_content() {
        let secret = br#"{"resourceLogs": "jean.dupont@example.fr"}"#;
        let e = decode_body(Signal::Logs, Encoding::Json, false, secret, 1 << 20).unwrap_err();
        assert!(matches!(e, DecodeError::Json(_)));
        assert!(!e.to_string().contains("jean"), "{e}");
        assert!(matches!(
            decode_body(
                Signal::Logs,
                Encoding::Protobuf,
                false,
                b"\xff\xff\xff",
                1 << 20
            ),
            Err(DecodeError::Protobuf(_))
        ));
        assert_eq!(
            decode_body(Signal::Logs, Encoding::Protobuf, true, b"not gzip", 1 << 20),
            Err(DecodeError::Gzip)
        );
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit() {
        let bomb = gz(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 64 << 10);
        assert_eq!(
            decode_body(Signal::Logs, Encoding::Protobuf, true, &bomb, 1 << 20),
            Err(DecodeError::DecompressedTooLarge { limit: 1 << 20 })
        );
        let ok = gz(&ExportLogsServiceRequest::default().encode_to_vec());
        assert!(decode_body(Signal::Logs, Encoding::Protobuf, true, &ok, 1 << 20).is_ok());
    }
}
