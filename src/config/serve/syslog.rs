//! The `serve.syslog:` section: syslog receivers for hosts and appliances that only speak
//! syslog (rsyslog/syslog-ng forwarding, network gear, `logger`). Off unless an address is
//! given; messages become OTLP log records and go through the same redaction, queue and
//! upstream as OTLP requests.

use super::{ByteSize, HumanDuration, ReceiverTlsConfig};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

/// Syslog receivers (RFC 5424 and RFC 3164 messages; UDP datagrams, TCP with newline or
/// RFC 6587 octet-counting framing).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// `IP:port` for UDP; unset means no UDP receiver. UDP has no backpressure: a datagram
    /// that arrives while the receiver's buffer is full is dropped and counted
    /// (`caviard_syslog_dropped_total`). Prefer TCP when records must not be lost.
    pub udp_listen: Option<String>,
    /// `IP:port` for TCP; unset means no TCP receiver. When the queue is full the receiver
    /// stops reading, so the sender (rsyslog's action queue) waits instead of losing records.
    pub tcp_listen: Option<String>,
    /// TLS on the TCP receiver (syslog over TLS, RFC 5425: rsyslog's `gtls` driver, syslog-ng's
    /// `transport("tls")`); the same framings as over plain TCP. Needs `tcp_listen`.
    pub tcp_tls: Option<ReceiverTlsConfig>,
    /// Longest message kept; the rest of a longer one is cut off (the kept part is still
    /// redacted) and counted (`caviard_syslog_truncated_total`).
    pub max_message_bytes: ByteSize,
    /// Messages grouped into one pipeline request at most.
    pub max_batch_records: usize,
    /// Longest time a message waits for others to fill its batch.
    pub max_batch_delay: HumanDuration,
    /// Open TCP connections at most; more are closed at once.
    pub max_connections: usize,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            udp_listen: None,
            tcp_listen: None,
            tcp_tls: None,
            max_message_bytes: ByteSize(64 << 10),
            max_batch_records: 512,
            max_batch_delay: HumanDuration(Duration::from_millis(200)),
            max_connections: 256,
        }
    }
}

impl SyslogConfig {
    /// Problems of this section, with their dotted paths; the addresses that parsed.
    pub(super) fn validate(&self, problems: &mut Vec<String>) -> Vec<SocketAddr> {
        let mut addrs = Vec::new();
        for (path, value) in [
            ("serve.syslog.udp_listen", &self.udp_listen),
            ("serve.syslog.tcp_listen", &self.tcp_listen),
        ] {
            if let Some(v) = value {
                match v.parse::<SocketAddr>() {
                    Ok(a) => addrs.push(a),
                    Err(_) => problems.push(format!(
                        "{path}: not an IP:port address (e.g. 127.0.0.1:5514)"
                    )),
                }
            }
        }
        if self.tcp_tls.is_some() && self.tcp_listen.is_none() {
            problems.push(
                "serve.syslog.tcp_tls: set without serve.syslog.tcp_listen; TLS needs the TCP receiver"
                    .into(),
            );
        }
        if !(480..=16 << 20).contains(&self.max_message_bytes.0) {
            problems.push(
                "serve.syslog.max_message_bytes: must be between 480B (RFC 5424's minimum) and 16MiB"
                    .into(),
            );
        }
        if self.max_batch_records == 0 {
            problems.push("serve.syslog.max_batch_records: must be above zero".into());
        }
        if self.max_batch_delay.0.is_zero() {
            problems.push("serve.syslog.max_batch_delay: must be above zero".into());
        }
        if self.max_connections == 0 {
            problems.push("serve.syslog.max_connections: must be above zero".into());
        }
        addrs
    }

    /// Whether any syslog receiver is configured.
    pub fn enabled(&self) -> bool {
        self.udp_listen.is_some() || self.tcp_listen.is_some()
    }
}
