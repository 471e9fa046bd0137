//! The `serve:` section: where `caviard serve` listens, where it forwards, and every bound
//! it puts on what a client can make it hold.
//!
//! Every field has a safe default, so an absent section runs a loopback sidecar
//! (`127.0.0.1:4317` gRPC, `127.0.0.1:4318` HTTP). Fields that must tell "not set" from
//! "set to the default" are `Option`s: the upstream endpoint and protocol fall back to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_PROTOCOL` only when the file leaves
//! them unset (see [`ServeConfig::apply_otel_env`]). [`ServeConfig::validate`] reports every
//! problem at once, each with its dotted path; `caviard check` runs the same function.

use serde::de::{self, Deserializer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

pub mod backends;
pub mod receiver_tls;
mod syslog;
pub mod tls;
pub use backends::{ElasticAuth, ElasticsearchConfig, SplunkHecConfig};
pub use receiver_tls::ReceiverTlsConfig;
pub use syslog::SyslogConfig;
pub use tls::TlsConfig;

/// Configuration of the OTLP proxy (`caviard serve`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// The OTLP/gRPC receiver.
    pub otlp_grpc: GrpcReceiverConfig,
    /// The OTLP/HTTP receiver, which also answers `/healthz`, `/readyz` and `/metrics`.
    pub otlp_http: HttpReceiverConfig,
    /// Syslog receivers (off unless an address is given).
    pub syslog: SyslogConfig,
    /// Bounds on what one client request may cost.
    pub limits: LimitsConfig,
    /// The OTLP endpoint redacted records are forwarded to.
    pub upstream: UpstreamConfig,
    /// The in-memory queue between redaction and export.
    pub queue: QueueConfig,
    /// How queued records are grouped into upstream requests.
    pub batch: BatchConfig,
    /// Retries of failed upstream requests.
    pub retry: RetryConfig,
    /// Behaviour on SIGTERM/SIGINT.
    pub shutdown: ShutdownConfig,
    /// Redaction worker threads; unset means one per available core. The async reactor
    /// gets as many threads again; it only moves bytes, the workers do all CPU work.
    pub worker_threads: Option<NonZeroUsize>,
    /// Check the config file (and the pack and pseudonym key files it names) this often, and
    /// reload the policy, retention and audit sections when they changed, as on SIGHUP. Unset:
    /// only SIGHUP reloads. Changes to the `serve` section need a restart.
    pub config_watch_interval: Option<HumanDuration>,
}

/// The OTLP/gRPC receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcReceiverConfig {
    /// Turn the receiver off (for example when only OTLP/HTTP is allowed through a firewall).
    pub enabled: bool,
    /// `IP:port` to listen on. The default is loopback only: a sidecar must not be reachable
    /// from outside its pod; a gateway sets `0.0.0.0:4317` explicitly.
    pub listen: String,
    /// Accept TLS only (ALPN `h2`), with this certificate; optionally require client
    /// certificates (mutual TLS).
    pub tls: Option<ReceiverTlsConfig>,
}

impl Default for GrpcReceiverConfig {
    fn default() -> Self {
        GrpcReceiverConfig {
            enabled: true,
            listen: "127.0.0.1:4317".to_string(),
            tls: None,
        }
    }
}

/// The OTLP/HTTP receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpReceiverConfig {
    /// Turn the OTLP paths off; the health endpoints stay served on `listen`.
    pub enabled: bool,
    /// `IP:port` to listen on (loopback by default, like the gRPC receiver).
    pub listen: String,
    /// Accept TLS only (HTTP/1.1 and h2 by ALPN), health and metrics endpoints included;
    /// optionally require client certificates (mutual TLS).
    pub tls: Option<ReceiverTlsConfig>,
}

impl Default for HttpReceiverConfig {
    fn default() -> Self {
        HttpReceiverConfig {
            enabled: true,
            listen: "127.0.0.1:4318".to_string(),
            tls: None,
        }
    }
}

/// Bounds on one client request. Together with the queue they bound memory: at most
/// `max_concurrent_requests` bodies of `max_decompressed_bytes` are decoded at once, and
/// the queue holds at most `queue.max_bytes` of redacted records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body as sent on the wire (compressed or not). Larger HTTP bodies get
    /// 413, larger gRPC messages `OUT_OF_RANGE` (that code comes from tonic).
    pub max_body_bytes: ByteSize,
    /// Largest body after gzip decompression; the guard against decompression bombs. Also
    /// the largest gRPC message tonic decodes.
    pub max_decompressed_bytes: ByteSize,
    /// Requests decoded or redacted at the same time; more get the retryable "busy" status
    /// (HTTP 429, gRPC `UNAVAILABLE`) instead of waiting in memory.
    pub max_concurrent_requests: NonZeroUsize,
    /// Longest time from the start of a request to its answer (reading the body, redaction,
    /// queueing). A request that runs out gets a retryable status.
    pub request_timeout: HumanDuration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: ByteSize(4 << 20),
            max_decompressed_bytes: ByteSize(16 << 20),
            max_concurrent_requests: NonZeroUsize::new(64).expect("64 is not zero"),
            request_timeout: HumanDuration(Duration::from_secs(10)),
        }
    }
}

/// Wire protocol towards the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum UpstreamProtocol {
    /// OTLP/gRPC (`http://host:4317`).
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with protobuf bodies, POSTed to `<endpoint>/v1/{logs,traces,metrics}`.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// Splunk's HTTP Event Collector: log records as JSON events POSTed to
    /// `<endpoint>/services/collector/event` (logs only; see `serve.upstream.splunk_hec`).
    #[serde(rename = "splunk_hec")]
    SplunkHec,
    /// Elasticsearch's bulk API: log records as documents POSTed to `<endpoint>/_bulk`
    /// (logs only; see `serve.upstream.elasticsearch`).
    #[serde(rename = "elasticsearch")]
    Elasticsearch,
}

impl UpstreamProtocol {
    /// Every protocol, in the order they are documented.
    pub const ALL: [UpstreamProtocol; 4] = [
        UpstreamProtocol::Grpc,
        UpstreamProtocol::HttpProtobuf,
        UpstreamProtocol::SplunkHec,
        UpstreamProtocol::Elasticsearch,
    ];

    /// Parse the values `--upstream-protocol` takes (every protocol).
    pub fn parse(s: &str) -> Option<UpstreamProtocol> {
        UpstreamProtocol::ALL
            .into_iter()
            .find(|p| p.to_string() == s)
    }

    /// Whether this is an OTLP protocol. Only those carry traces and metrics, and only those
    /// take the `OTEL_EXPORTER_OTLP_*` variables.
    pub fn is_otlp(self) -> bool {
        matches!(
            self,
            UpstreamProtocol::Grpc | UpstreamProtocol::HttpProtobuf
        )
    }
}

impl fmt::Display for UpstreamProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpstreamProtocol::Grpc => "grpc",
            UpstreamProtocol::HttpProtobuf => "http/protobuf",
            UpstreamProtocol::SplunkHec => "splunk_hec",
            UpstreamProtocol::Elasticsearch => "elasticsearch",
        })
    }
}

/// Compression of upstream requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Send as is: cheapest on CPU, the right choice for a sidecar talking to a local collector.
    #[default]
    None,
    /// gzip: costs CPU on the exporter, saves bandwidth to a remote backend.
    Gzip,
}

/// The upstream OTLP endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// `http://host:port[/base]`, or `https://` for TLS (port 443 by default). Unset here, it comes from `--upstream`, else from
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`; with none of them set, redacted records are written as
    /// OTLP/JSON lines to stdout (useful to try a policy, never silently sent anywhere).
    /// For `http/protobuf` the signal path `/v1/logs` (traces, metrics) is appended; for
    /// `splunk_hec`, `/services/collector/event`; for `elasticsearch`, `/_bulk`.
    pub endpoint: Option<String>,
    /// `grpc`, `http/protobuf`, `splunk_hec` or `elasticsearch`. Unset: `--upstream-protocol`,
    /// else `OTEL_EXPORTER_OTLP_PROTOCOL` (OTLP protocols only), else `grpc`.
    pub protocol: Option<UpstreamProtocol>,
    /// Time limit of one upstream request attempt, connection included.
    pub timeout: HumanDuration,
    /// Upstream requests in flight at once per signal.
    pub concurrency: NonZeroUsize,
    /// Compression of upstream requests.
    pub compression: Compression,
    /// Extra headers (gRPC metadata) on every upstream request, e.g. a backend API key.
    /// Never logged.
    pub headers: BTreeMap<String, String>,
    /// TLS settings (CA, client certificate, server name) for an `https://` endpoint, which
    /// is verified against the public roots without them. Refused with `http://`.
    pub tls: Option<TlsConfig>,
    /// Settings of `protocol: splunk_hec` (the token, sourcetype, index).
    pub splunk_hec: Option<SplunkHecConfig>,
    /// Settings of `protocol: elasticsearch` (the data stream, credentials).
    pub elasticsearch: Option<ElasticsearchConfig>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            endpoint: None,
            protocol: None,
            timeout: HumanDuration(Duration::from_secs(10)),
            concurrency: NonZeroUsize::new(2).expect("2 is not zero"),
            compression: Compression::None,
            headers: BTreeMap::new(),
            tls: None,
            splunk_hec: None,
            elasticsearch: None,
        }
    }
}

/// The bounded queue of redacted records waiting for the upstream. Records stay counted
/// until the upstream has accepted them, so a slow or absent upstream fills it; a full
/// queue makes the receivers answer with a retryable status (backpressure), never drop.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Most records (log records, spans, metric data points) held, all signals together.
    pub max_records: NonZeroUsize,
    /// Most bytes held (protobuf-encoded size), all signals together.
    pub max_bytes: ByteSize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_records: NonZeroUsize::new(100_000).expect("not zero"),
            max_bytes: ByteSize(128 << 20),
        }
    }
}

/// Grouping of queued records into upstream requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// A batch is sent once it holds this many records. Client requests are never split,
    /// so one large request can exceed it.
    pub max_records: NonZeroUsize,
    /// A batch is sent before it would exceed this size; keep it below the upstream's
    /// receive limit (4 MiB by default on the OpenTelemetry Collector).
    pub max_bytes: ByteSize,
    /// A batch that is not full is sent after this long.
    pub timeout: HumanDuration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_records: NonZeroUsize::new(2048).expect("not zero"),
            max_bytes: ByteSize(3 << 20),
            timeout: HumanDuration(Duration::from_millis(200)),
        }
    }
}

/// Retries of upstream requests that failed with a retryable status (gRPC `UNAVAILABLE` and
/// friends, HTTP 429/502/503/504, connection errors). Permanent errors are never retried.
///
/// The back-off starts at `initial_backoff` and doubles after every failure up to
/// `max_backoff`; each wait is drawn at random between half and all of it ("equal jitter"),
/// so exporters that failed together do not retry together. An upstream's `Retry-After` is
/// waited as given (capped at `max_backoff`), without jitter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First back-off (the first wait is between half of it and all of it); doubled after
    /// every failure.
    pub initial_backoff: HumanDuration,
    /// Largest back-off, so the longest wait between attempts (also the cap on an upstream's
    /// `Retry-After`).
    pub max_backoff: HumanDuration,
    /// Give a batch up (dropped, counted, logged) after retrying this long. Unset: retry
    /// until it is delivered or shutdown's drain timeout runs out, so an upstream outage
    /// turns into backpressure rather than loss.
    pub max_elapsed: Option<HumanDuration>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff: HumanDuration(Duration::from_millis(100)),
            max_backoff: HumanDuration(Duration::from_secs(5)),
            max_elapsed: None,
        }
    }
}

/// Graceful shutdown.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// After SIGTERM/SIGINT, the receivers stop accepting and the queue is flushed to the
    /// upstream for at most this long; what is still queued then is counted and logged as lost.
    pub drain_timeout: HumanDuration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_timeout: HumanDuration(Duration::from_secs(30)),
        }
    }
}

impl ServeConfig {
    /// Fill the upstream endpoint and protocol from the OpenTelemetry environment variables
    /// where the file (or a flag) left them unset; likewise the headers
    /// (`OTEL_EXPORTER_OTLP_HEADERS`, `k=v,k2=v2` with percent-encoded values: how a backend's
    /// token reaches the proxy without being written in the config) when the file has none,
    /// and, for an `https://` endpoint, `OTEL_EXPORTER_OTLP_CERTIFICATE` /
    /// `_CLIENT_CERTIFICATE` / `_CLIENT_KEY` as `tls.ca_file` / `cert_file` / `key_file` where
    /// the `tls:` block leaves them unset (an SDK ignores them for `http://`; so does this).
    /// `var` reads one variable
    /// (`std::env::var(..).ok()` in the binary, a map in tests, so tests never mutate the
    /// process environment). Returns the problems found, like [`ServeConfig::validate`]: an
    /// unknown protocol is reported, never silently ignored.
    ///
    /// With a protocol that is not OTLP (`splunk_hec`, `elasticsearch`) set in the file or by
    /// flag, none of these variables is read: they describe an OTLP exporter, and a container
    /// may well have them for another purpose.
    pub fn apply_otel_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Vec<String> {
        let mut problems = Vec::new();
        if self.upstream.protocol.is_some_and(|p| !p.is_otlp()) {
            return problems;
        }
        if self.upstream.endpoint.is_none() {
            self.upstream.endpoint = var("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.is_empty());
        }
        if self.upstream.protocol.is_none() {
            if let Some(p) = var("OTEL_EXPORTER_OTLP_PROTOCOL").filter(|v| !v.is_empty()) {
                match UpstreamProtocol::parse(&p).filter(|p| p.is_otlp()) {
                    Some(p) => self.upstream.protocol = Some(p),
                    None => problems.push(format!(
                        "OTEL_EXPORTER_OTLP_PROTOCOL: unsupported protocol {p:?} (expected grpc or http/protobuf)"
                    )),
                }
            }
        }
        if self.upstream.headers.is_empty() {
            if let Some(h) = var("OTEL_EXPORTER_OTLP_HEADERS").filter(|v| !v.trim().is_empty()) {
                match parse_otel_headers(&h) {
                    Ok(headers) => self.upstream.headers = headers,
                    // The value may hold a token: name the variable, never echo it.
                    Err(i) => problems.push(format!(
                        "OTEL_EXPORTER_OTLP_HEADERS: entry {i} is not key=value (value not shown)"
                    )),
                }
            }
        }
        let https = self
            .upstream
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("https://"));
        if https {
            let files = [
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            ]
            .map(|k| {
                var(k)
                    .filter(|v| !v.is_empty())
                    .map(std::path::PathBuf::from)
            });
            if files.iter().any(Option::is_some) {
                let tls = self.upstream.tls.get_or_insert_with(TlsConfig::default);
                let [ca, cert, key] = files;
                for (slot, value) in [
                    (&mut tls.ca_file, ca),
                    (&mut tls.cert_file, cert),
                    (&mut tls.key_file, key),
                ] {
                    if slot.is_none() {
                        *slot = value;
                    }
                }
            }
        }
        problems
    }

    /// The upstream protocol in force: the configured one, else gRPC.
    pub fn protocol(&self) -> UpstreamProtocol {
        self.upstream.protocol.unwrap_or(UpstreamProtocol::Grpc)
    }

    /// Every problem in the section, each starting with its dotted path (`serve.…`).
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let grpc = self.validate_listen(
            &mut problems,
            "serve.otlp_grpc.listen",
            &self.otlp_grpc.listen,
        );
        let http = self.validate_listen(
            &mut problems,
            "serve.otlp_http.listen",
            &self.otlp_http.listen,
        );
        if let (Some(g), Some(h)) = (grpc, http) {
            if self.otlp_grpc.enabled && g == h && g.port() != 0 {
                problems.push(format!(
                    "serve.otlp_http.listen: same address as serve.otlp_grpc.listen ({h})"
                ));
            }
        }
        self.syslog.validate(&mut problems);
        if self
            .config_watch_interval
            .is_some_and(|d| d.0 < Duration::from_millis(100))
        {
            problems.push("serve.config_watch_interval: must be at least 100ms".to_string());
        }
        for (path, tls) in [
            ("serve.otlp_grpc.tls", &self.otlp_grpc.tls),
            ("serve.otlp_http.tls", &self.otlp_http.tls),
            ("serve.syslog.tcp_tls", &self.syslog.tcp_tls),
        ] {
            if let Some(Err(p)) = tls.as_ref().map(|t| receiver_tls::server_config(path, t)) {
                problems.extend(p);
            }
        }
        if !self.otlp_grpc.enabled && !self.otlp_http.enabled && !self.syslog.enabled() {
            problems.push(
                "serve: otlp_grpc and otlp_http are disabled and no syslog receiver is set; nothing to receive".into(),
            );
        }
        self.validate_upstream(&mut problems, [grpc, http]);
        self.validate_bounds(&mut problems);
        problems
    }

    fn validate_listen(
        &self,
        problems: &mut Vec<String>,
        path: &str,
        value: &str,
    ) -> Option<SocketAddr> {
        match value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                problems.push(format!(
                    "{path}: not an IP:port address (e.g. 127.0.0.1:4317)"
                ));
                None
            }
        }
    }

    fn validate_upstream(&self, problems: &mut Vec<String>, own: [Option<SocketAddr>; 2]) {
        let up = &self.upstream;
        if let Some(endpoint) = &up.endpoint {
            match parse_endpoint(endpoint) {
                Err(why) => problems.push(format!("serve.upstream.endpoint: {why}")),
                Ok((host, port)) => {
                    let loops = own.iter().flatten().any(|a| {
                        a.port() == port
                            && (host == a.ip().to_string()
                                || (host == "localhost" && a.ip().is_loopback()))
                    });
                    if loops {
                        problems.push(format!(
                            "serve.upstream.endpoint: points at caviard's own listener ({host}:{port}); records would loop"
                        ));
                    }
                }
            }
        }
        let protocol = self.protocol();
        if !protocol.is_otlp() && up.endpoint.is_none() {
            problems.push(format!(
                "serve.upstream.endpoint: required with protocol {protocol}"
            ));
        }
        backends::validate(
            protocol,
            up.splunk_hec.as_ref(),
            up.elasticsearch.as_ref(),
            problems,
        );
        if !protocol.is_otlp()
            && up
                .headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("authorization"))
            && (protocol == UpstreamProtocol::SplunkHec
                || up
                    .elasticsearch
                    .as_ref()
                    .is_some_and(|e| e.auth().is_ok_and(|a| a != ElasticAuth::None)))
        {
            problems.push(format!(
                "serve.upstream.headers.authorization: conflicts with the credentials of serve.upstream.{}",
                if protocol == UpstreamProtocol::SplunkHec { "splunk_hec" } else { "elasticsearch" }
            ));
        }
        if let Some(tls) = &up.tls {
            // Without an endpoint (one may still come from the environment) the block is
            // checked all the same.
            if up.endpoint.as_deref().is_some_and(|e| !is_https(e)) {
                problems.push(
                    "serve.upstream.tls: set, but serve.upstream.endpoint is not https://; records would go in clear text"
                        .into(),
                );
            }
            if let Err(p) = tls::client_config(Some(tls)) {
                problems.extend(p);
            }
        }
        if up.timeout.0.is_zero() {
            problems.push("serve.upstream.timeout: must be above zero".into());
        }
        for (name, value) in &up.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.push(format!(
                    "serve.upstream.headers.{name}: not a valid header name"
                ));
            } else if http::HeaderValue::from_str(value).is_err() {
                problems.push(format!(
                    "serve.upstream.headers.{name}: value is not a valid header value"
                ));
            }
        }
    }

    fn validate_bounds(&self, problems: &mut Vec<String>) {
        let l = &self.limits;
        if l.max_body_bytes.0 < 1024 {
            problems.push("serve.limits.max_body_bytes: below 1KiB".into());
        }
        if l.max_decompressed_bytes.0 < l.max_body_bytes.0 {
            problems.push(
                "serve.limits.max_decompressed_bytes: below serve.limits.max_body_bytes".into(),
            );
        }
        if l.max_decompressed_bytes.0 > u32::MAX as u64 {
            problems.push("serve.limits.max_decompressed_bytes: above 4GiB".into());
        }
        if l.request_timeout.0.is_zero() {
            problems.push("serve.limits.request_timeout: must be above zero".into());
        }
        if self.queue.max_bytes.0 < l.max_decompressed_bytes.0 {
            problems.push(
                "serve.queue.max_bytes: below serve.limits.max_decompressed_bytes, so a request of the allowed size could never be queued"
                    .into(),
            );
        }
        if self.batch.max_bytes.0 == 0 {
            problems.push("serve.batch.max_bytes: must be above zero".into());
        }
        let r = &self.retry;
        if r.initial_backoff.0.is_zero() {
            problems.push("serve.retry.initial_backoff: must be above zero".into());
        }
        if r.max_backoff.0 < r.initial_backoff.0 {
            problems.push("serve.retry.max_backoff: below serve.retry.initial_backoff".into());
        }
        if r.max_elapsed.is_some_and(|m| m.0 < r.initial_backoff.0) {
            problems.push("serve.retry.max_elapsed: below serve.retry.initial_backoff".into());
        }
    }
}

/// `OTEL_EXPORTER_OTLP_HEADERS`: comma-separated `key=value` pairs, values percent-encoded
/// (W3C Baggage syntax, as the OpenTelemetry specification says). Returns the 1-based index of
/// the first malformed entry on error.
fn parse_otel_headers(s: &str) -> Result<BTreeMap<String, String>, usize> {
    let mut out = BTreeMap::new();
    for (i, entry) in s.split(',').enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        let (k, v) = entry.split_once('=').ok_or(i + 1)?;
        let k = k.trim();
        if k.is_empty() {
            return Err(i + 1);
        }
        out.insert(
            k.to_ascii_lowercase(),
            percent_decode(v.trim()).ok_or(i + 1)?,
        );
    }
    Ok(out)
}

/// `%XX` escapes to bytes; `None` for a broken escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Check an upstream URL and return its host and port (default 80 for `http://`, 443 for
/// `https://`).
pub fn parse_endpoint(endpoint: &str) -> Result<(String, u16), String> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| "not a URL (expected http://host:port or https://host:port)".to_string())?;
    let default_port = match uri.scheme_str() {
        Some("http") => 80,
        Some("https") => 443,
        _ => return Err("not a URL (expected http://host:port or https://host:port)".into()),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| "not a URL: no host".to_string())?;
    if uri.query().is_some() {
        return Err("a query string is not allowed".into());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((host, authority.port_u16().unwrap_or(default_port)))
}

/// Whether the endpoint asks for TLS (`https://`). The scheme is matched as `http::Uri`
/// parses it, so `HTTPS://` counts too.
pub fn is_https(endpoint: &str) -> bool {
    endpoint
        .parse::<http::Uri>()
        .is_ok_and(|u| u.scheme() == Some(&http::uri::Scheme::HTTPS))
}

/// A duration written with a unit: `250ms`, `10s`, `5m`, `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parse `<integer><unit>` with unit `ms`, `s`, `m` or `h`.
    pub fn parse(s: &str) -> Option<HumanDuration> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = s.split_at(split);
        let n: u64 = n.parse().ok()?;
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        Some(HumanDuration(d))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HumanDuration::parse(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid duration {s:?}: expected e.g. 500ms, 10s, 5m, 1h"
            ))
        })
    }
}

/// A size in bytes: an integer, or a number with `B`, `KiB`, `MiB`, `GiB` (or `KB`, `MB`,
/// `GB`, powers of 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parse `4194304`, `4MiB`, `4 MiB` or `4MB`.
    pub fn parse(s: &str) -> Option<ByteSize> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (n, unit) = s.split_at(split);
        let n: u64 = n.parse().ok()?;
        let mul: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            _ => return None,
        };
        n.checked_mul(mul).map(ByteSize)
    }

    /// The size as `usize` (saturating on 32-bit targets).
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Str(s) => ByteSize::parse(&s).ok_or_else(|| {
                de::Error::custom(format!(
                    "invalid size {s:?}: expected e.g. 4194304, 512KiB, 4MiB"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod test_pki;
#[cfg(test)]
mod tests;
