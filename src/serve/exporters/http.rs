//! OTLP/HTTP upstream (protobuf bodies): POST to `<endpoint>/v1/{logs,traces,metrics}`.
//!
//! Retryable, per the OTLP/HTTP specification: 429, 502, 503, 504 (honouring `Retry-After`,
//! in seconds or as an HTTP-date, as given, capped at `retry.max_backoff` and never jittered)
//! and connection errors. Every other non-2xx status is permanent.

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
use std::time::{Duration, SystemTime};

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
        let retry_after = retry_after(response.headers(), SystemTime::now());
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

/// The wait a `Retry-After` asks for at `now`: RFC 9110 allows a number of seconds or an
/// HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`, and the two obsolete date formats), a date
/// already past meaning at once. An unreadable value is ignored (the usual back-off applies).
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn after(value: &str, now: SystemTime) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        retry_after(&headers, now)
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        // Wed, 21 Oct 2015 07:28:00 GMT
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let before = |secs| date - Duration::from_secs(secs);
        assert_eq!(after("120", date), Some(Duration::from_secs(120)));
        assert_eq!(after(" 0 ", date), Some(Duration::ZERO));
        for value in [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            // The obsolete formats RFC 9110 still asks recipients to accept.
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed Oct 21 07:28:00 2015",
        ] {
            assert_eq!(
                after(value, before(90)),
                Some(Duration::from_secs(90)),
                "{value}"
            );
        }
        // A date already past: retry at once.
        assert_eq!(
            after(
                "Wed, 21 Oct 2015 07:28:00 GMT",
                date + Duration::from_secs(5)
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(
            after("Wed, 21 Oct 2015 07:28:00 GMT", date),
            Some(Duration::ZERO)
        );
        // Unreadable: ignored, the usual back-off applies.
        for value in ["soon", "-5", "1.5", "Wed, 32 Oct 2015 07:28:00 GMT"] {
            assert_eq!(after(value, date), None, "{value}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), date), None);
    }
}
