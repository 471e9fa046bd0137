//! OTLP/HTTP upstream (protobuf bodies): POST to `<endpoint>/v1/{logs,traces,metrics}`; and
//! the HTTP client it shares with the Splunk HEC and Elasticsearch upstreams ([`HttpClient`]).
//!
//! Retryable, per the OTLP/HTTP specification: 429, 502, 503, 504 (honouring `Retry-After`,
//! in seconds or as an HTTP-date, as given, capped at `retry.max_backoff` and never jittered)
//! and connection errors. Every other non-2xx status is permanent.

use super::tls::Connector;
use super::SendError;
use crate::config::serve::{Compression, UpstreamConfig};
use crate::serve::payload::{response_rejected, Signal};
use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER,
};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::io::Write;
use std::time::{Duration, SystemTime};

/// Largest upstream response body read (export responses are a few bytes).
pub(super) const MAX_RESPONSE_BYTES: usize = 64 << 10;

pub(crate) struct HttpUpstream {
    client: HttpClient,
    uris: [Uri; 3],
}

impl HttpUpstream {
    pub(crate) fn new(
        endpoint: &str,
        config: &UpstreamConfig,
        connector: Connector,
    ) -> Result<HttpUpstream, String> {
        let uris = [
            url(endpoint, Signal::Logs.http_path())?,
            url(endpoint, Signal::Traces.http_path())?,
            url(endpoint, Signal::Metrics.http_path())?,
        ];
        Ok(HttpUpstream {
            client: HttpClient::new(config, None, connector)?,
            uris,
        })
    }

    /// The connector, whose TLS files the exporters reload.
    pub(super) fn connector(&self) -> &Connector {
        &self.client.connector
    }

    pub(crate) async fn send(&self, signal: Signal, body: Bytes) -> Result<u64, SendError> {
        let answer = self
            .client
            .post(
                &self.uris[signal.index()],
                "application/x-protobuf",
                body,
                MAX_RESPONSE_BYTES,
            )
            .await?;
        if answer.status.is_success() {
            let rejected = answer.body.map_or(0, |b| response_rejected(signal, &b));
            return Ok(u64::try_from(rejected).unwrap_or(0));
        }
        let retryable = matches!(
            answer.status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        );
        Err(answer.error(retryable, String::new()))
    }
}

/// `<endpoint><path>`: the endpoint may carry a base path of its own (a reverse proxy's
/// prefix), kept in front; a trailing `/` on it is ignored.
pub(super) fn url(endpoint: &str, path: &str) -> Result<Uri, String> {
    format!("{}{path}", endpoint.trim_end_matches('/'))
        .parse()
        .map_err(|_| "endpoint: not a URL".to_string())
}

/// The HTTP client every HTTP upstream (OTLP/HTTP, Splunk HEC, Elasticsearch) posts with: the
/// shared connector (TLS for `https://`), `upstream.headers` plus the backend's own
/// `Authorization`, and gzip when `upstream.compression` asks for it.
pub(super) struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    /// The client's connector, whose TLS files the exporters reload.
    connector: Connector,
    headers: HeaderMap,
    gzip: bool,
}

/// An upstream's answer: its status, `Retry-After` and body (`None` when it could not be
/// read or was larger than asked for).
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) retry_after: Option<Duration>,
    pub(super) body: Option<Bytes>,
}

impl Answer {
    /// The failure this answer is: `retryable` or not, with the status and `detail` (a
    /// backend's error code, never record content) as the reason, and `Retry-After` if sent.
    pub(super) fn error(&self, retryable: bool, detail: String) -> SendError {
        let reason = format!("HTTP {}{detail}", self.status);
        if retryable {
            SendError {
                retry_after: self.retry_after,
                ..SendError::retryable(reason)
            }
        } else {
            SendError::permanent(reason)
        }
    }
}

impl HttpClient {
    /// `authorization`, if given, is sent as the `Authorization` header (never logged).
    pub(super) fn new(
        config: &UpstreamConfig,
        authorization: Option<String>,
        connector: Connector,
    ) -> Result<HttpClient, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("headers.{name}: invalid name"))?;
            let v = HeaderValue::from_str(value)
                .map_err(|_| format!("headers.{name}: invalid value"))?;
            headers.insert(n, v);
        }
        if let Some(auth) = authorization {
            let mut v = HeaderValue::from_str(&auth)
                .map_err(|_| "credentials: not a valid header value".to_string())?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let client = Client::builder(TokioExecutor::new()).build(connector.clone());
        Ok(HttpClient {
            client,
            connector,
            headers,
            gzip: config.compression == Compression::Gzip,
        })
    }

    /// The client's connector.
    pub(super) fn connector(&self) -> &Connector {
        &self.connector
    }

    /// POST `body` (gzipped first when configured) and read at most `max_response` bytes of
    /// the answer. A connection error is retryable; any status is an [`Answer`].
    pub(super) async fn post(
        &self,
        uri: &Uri,
        content_type: &'static str,
        body: Bytes,
        max_response: usize,
    ) -> Result<Answer, SendError> {
        let body = if self.gzip { gzip(body).await? } else { body };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri.clone())
            .header(CONTENT_TYPE, content_type);
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
        let body = Limited::new(response.into_body(), max_response)
            .collect()
            .await
            .ok()
            .map(|b| b.to_bytes());
        Ok(Answer {
            status,
            retry_after,
            body,
        })
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
