//! OTLP/HTTP upstream (protobuf bodies): POST to `<endpoint>/v1/{logs,traces,metrics}`.
//!
//! Retryable, per the OTLP/HTTP specification: 429, 502, 503, 504 (honouring `Retry-After`
//! in seconds as given, capped at `retry.max_backoff` and never jittered) and connection
//! errors. Every other non-2xx status is permanent.

use super::SendError;
use crate::config::serve::{Compression, UpstreamConfig};
use crate::serve::payload::{response_rejected, Signal};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::io::Write;
use std::time::Duration;

/// Largest upstream response body read (export responses are a few bytes).
const MAX_RESPONSE_BYTES: usize = 64 << 10;

pub(crate) struct HttpUpstream {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uris: [Uri; 3],
    headers: HeaderMap,
    gzip: bool,
}

impl HttpUpstream {
    pub(crate) fn new(endpoint: &str, config: &UpstreamConfig) -> Result<HttpUpstream, String> {
        let base = endpoint.trim_end_matches('/');
        let uri = |s: Signal| -> Result<Uri, String> {
            format!("{base}{}", s.http_path())
                .parse()
                .map_err(|_| "endpoint: not a URL".to_string())
        };
        let uris = [
            uri(Signal::Logs)?,
            uri(Signal::Traces)?,
            uri(Signal::Metrics)?,
        ];
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("headers.{name}: invalid name"))?;
            let v = HeaderValue::from_str(value)
                .map_err(|_| format!("headers.{name}: invalid value"))?;
            headers.insert(n, v);
        }
        let connector = super::tls::connector(endpoint, config, super::tls::Alpn::Http1And2)?;
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(HttpUpstream {
            client,
            uris,
            headers,
            gzip: config.compression == Compression::Gzip,
        })
    }

    pub(crate) async fn send(&self, signal: Signal, body: Bytes) -> Result<u64, SendError> {
        let body = if self.gzip { gzip(body).await? } else { body };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.uris[signal.index()].clone())
            .header(CONTENT_TYPE, "application/x-protobuf");
        if self.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let mut request = request
            .body(Full::new(body))
            .map_err(|e| SendError::permanent(format!("building request: {e}")))?;
        request.headers_mut().extend(self.headers.clone());
        let response = self.client.request(request).await.map_err(|e| {
            SendError::retryable(format!("connection: {}", super::tls::with_causes(&e)))
        })?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await;
        if status.is_success() {
            let rejected = body.map_or(0, |b| response_rejected(signal, &b.to_bytes()));
            return Ok(u64::try_from(rejected).unwrap_or(0));
        }
        let reason = format!("HTTP {status}");
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        ) {
            return Err(SendError {
                retry_after,
                ..SendError::retryable(reason)
            });
        }
        Err(SendError::permanent(reason))
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// Compress off the reactor: a multi-megabyte batch takes milliseconds.
async fn gzip(body: Bytes) -> Result<Bytes, SendError> {
    tokio::task::spawn_blocking(move || {
        let mut e = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 4),
            flate2::Compression::fast(),
        );
        e.write_all(&body)?;
        e.finish().map(Bytes::from)
    })
    .await
    .map_err(|_| SendError::permanent("gzip task failed".into()))?
    .map_err(|e| SendError::permanent(format!("gzip: {e}")))
}
