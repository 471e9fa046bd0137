//! Black-box tests of the syslog receivers: the built `caviard serve` with UDP and TCP
//! syslog enabled, util-linux `logger` (RFC 5424 and RFC 3164, UDP, TCP with octet counting
//! and with newline framing) and a raw TCP client as senders, and the real OTLP upstream of
//! `otlp_util` checking what arrives.

mod otlp_util;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use otlp_util::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

fn proxy_with_syslog(upstream: &Upstream, extra: &str) -> (Proxy, SocketAddr) {
    Proxy::start_on_free_port(&["--upstream", &upstream.grpc_url()], |port| {
        format!(
            "serve:\n  syslog:\n    udp_listen: '{port}'\n    tcp_listen: '{port}'\n    max_batch_delay: 50ms\n{extra}"
        )
    })
}

fn logger(port: SocketAddr, args: &[&str], message: &str) {
    let status = Command::new("logger")
        .args(["--server", "127.0.0.1", "--port", &port.port().to_string()])
        .args(args)
        .arg(message)
        .status()
        .expect("util-linux `logger` must be installed (Debian: bsdutils)");
    assert!(status.success(), "logger {args:?} failed");
}

fn body(r: &LogRecord) -> String {
    match r.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[test]
fn logger_messages_over_udp_and_tcp_arrive_redacted_with_their_headers() {
    let upstream = Upstream::start();
    let (mut proxy, port) = proxy_with_syslog(&upstream, "");
    logger(
        port,
        &["--udp", "--rfc5424", "-t", "billing", "-p", "user.err"],
        "udp: card 4111 1111 1111 1111 refused for jean.dupont@example.fr",
    );
    logger(
        port,
        &[
            "--tcp",
            "--octet-count",
            "--rfc5424",
            "-t",
            "crm",
            "--msgid",
            "SYNC",
            "--sd-id",
            "origin@32473",
            "--sd-param",
            "contact=\"a.b@example.com\"",
        ],
        "tcp-octet: contact synced",
    );
    logger(
        port,
        &["--tcp", "--rfc3164", "-t", "sshd", "-p", "auth.warning"],
        "tcp-lf: callback requested by jean.dupont@example.fr on +33 6 12 34 56 78",
    );
    upstream.wait_for(Duration::from_secs(20), "3 syslog records", |r| {
        r.log_records().len() >= 3
    });
    let received = upstream.received();
    let records = received.log_records();
    let mut strings = Vec::new();
    for (r, res) in &records {
        strings.push(body(r));
        strings_of_attrs(&r.attributes, &mut strings);
        strings_of_attrs(res, &mut strings);
    }
    assert_no_pii(&strings, "syslog");
    let find = |prefix: &str| {
        records
            .iter()
            .find(|(r, _)| body(r).starts_with(prefix))
            .unwrap_or_else(|| panic!("no record starting {prefix:?} in {strings:?}"))
    };
    let (udp, res) = find("udp:");
    assert_eq!(body(udp), "udp: card [CREDIT_CARD] refused for [EMAIL]");
    assert_eq!(str_attr(res, "service.name"), Some("billing"));
    assert!(str_attr(res, "host.name").is_some(), "{res:?}");
    assert_eq!(
        (udp.severity_number, udp.severity_text.as_str()),
        (17, "err")
    );
    assert_eq!(int_attr(&udp.attributes, "syslog.facility"), Some(1));
    assert!(udp.time_unix_nano > 0 && udp.observed_time_unix_nano > 0);
    assert_eq!(
        str_attr(&udp.attributes, "retention.class"),
        Some("pii-pseudonymized")
    );

    let (octet, res) = find("tcp-octet:");
    assert_eq!(str_attr(res, "service.name"), Some("crm"));
    assert_eq!(str_attr(&octet.attributes, "syslog.msgid"), Some("SYNC"));
    assert_eq!(
        str_attr(&octet.attributes, "syslog.sd.origin@32473.contact"),
        Some("[EMAIL]")
    );

    let (lf, res) = find("tcp-lf:");
    assert_eq!(str_attr(res, "service.name"), Some("sshd"));
    assert_eq!(lf.severity_number, 13);
    assert_eq!(int_attr(&lf.attributes, "syslog.facility"), Some(4));
    assert!(!body(lf).contains("12 34 56 78"), "{}", body(lf));
    drop(received);

    let metrics =
        String::from_utf8(http_request(proxy.http, "GET", "/metrics", &[], b"").body).unwrap();
    assert!(
        metrics.contains("caviard_syslog_messages_total 3"),
        "{metrics}"
    );
    assert!(proxy.terminate(Duration::from_secs(10)).success());
    assert!(
        !proxy.stderr().contains("jean.dupont"),
        "caviard logged a value"
    );
}

#[test]
fn tcp_stream_is_delivered_whole_and_in_order_and_unparsable_lines_are_still_redacted() {
    let upstream = Upstream::start();
    let (mut proxy, port) = proxy_with_syslog(&upstream, "    max_message_bytes: 1KiB\n");
    let mut stream = TcpStream::connect(port).unwrap();
    let n = 3000;
    let mut data = Vec::new();
    for i in 0..n {
        // Octet-counted and newline-framed messages mixed on one connection.
        let msg = format!(
            "<14>1 2024-12-08T06:19:18.{i:03}Z web app - - - seq={i} mail=user{i}@example.fr"
        );
        if i % 2 == 0 {
            write!(data, "{} {msg}", msg.len()).unwrap();
        } else {
            writeln!(data, "{msg}").unwrap();
        }
    }
    // A line that is only a number: not a length prefix, and it must not swallow the next line.
    data.extend_from_slice(b"12345\n");
    // Not syslog at all, and not UTF-8: kept as text, redacted all the same.
    data.extend_from_slice(b"garbage \xff\xfe jean.dupont@example.fr 4111111111111111\n");
    // Longer than max_message_bytes: cut, counted, the kept part redacted.
    data.extend_from_slice(
        format!("<14>long {} tail a.b@example.com\n", "x".repeat(2000)).as_bytes(),
    );
    stream.write_all(&data).unwrap();
    drop(stream);
    upstream.wait_for(Duration::from_secs(30), "all syslog records", |r| {
        r.log_records().len() >= n + 3
    });
    let received = upstream.received();
    let records = received.log_records();
    assert_eq!(records.len(), n + 3);
    let bodies: Vec<String> = records.iter().map(|(r, _)| body(r)).collect();
    let seqs: Vec<usize> = bodies
        .iter()
        .filter_map(|b| b.strip_prefix("seq="))
        .map(|b| b.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (0..n).collect::<Vec<_>>(),
        "lost, duplicated or reordered"
    );
    assert!(
        bodies.iter().all(|b| !b.contains("@example.fr")),
        "an address got through"
    );
    assert!(
        bodies.iter().any(|b| b == "12345"),
        "the bare number was merged"
    );
    let garbage = bodies.iter().find(|b| b.starts_with("garbage")).unwrap();
    assert_eq!(garbage, "garbage \u{fffd}\u{fffd} [EMAIL] [CREDIT_CARD]");
    let long = bodies.iter().find(|b| b.starts_with("long")).unwrap();
    assert!(
        long.len() <= 1024 && !long.contains("tail"),
        "{}",
        long.len()
    );
    drop(received);
    let metrics =
        String::from_utf8(http_request(proxy.http, "GET", "/metrics", &[], b"").body).unwrap();
    assert!(
        metrics.contains("caviard_syslog_truncated_total 1"),
        "{metrics}"
    );
    assert!(proxy.terminate(Duration::from_secs(10)).success());
}

#[test]
fn a_full_queue_stops_the_tcp_reader_instead_of_dropping_messages() {
    let upstream = Upstream::start();
    // A queue of 300 records and an upstream that fails its first 30 calls: the queue fills,
    // the pipeline refuses the syslog batches, and the receiver must wait, not drop.
    upstream.fail_next(30);
    let (mut proxy, port) = proxy_with_syslog(
        &upstream,
        "    max_batch_records: 100\n  queue: {max_records: 300}\n  batch: {max_records: 100}\n  retry: {initial_backoff: 20ms, max_backoff: 100ms}\n",
    );
    let n = 4000;
    let mut data = Vec::new();
    for i in 0..n {
        writeln!(
            data,
            "<14>1 - web app - - - seq={i} to jean.dupont@example.fr"
        )
        .unwrap();
    }
    let mut stream = TcpStream::connect(port).unwrap();
    stream.write_all(&data).unwrap();
    drop(stream);
    upstream.wait_for(Duration::from_secs(60), "every syslog record", |r| {
        r.log_records().len() >= n
    });
    let metrics =
        String::from_utf8(http_request(proxy.http, "GET", "/metrics", &[], b"").body).unwrap();
    let received = upstream.received();
    let mut seqs: Vec<usize> = received
        .log_records()
        .iter()
        .map(|(r, _)| body(r))
        .map(|b| {
            assert_eq!(b.split(' ').nth(2), Some("[EMAIL]"), "{b}");
            b.strip_prefix("seq=")
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..n).collect::<Vec<_>>(), "lost or duplicated");
    assert!(
        metrics.contains("caviard_syslog_dropped_total 0"),
        "{metrics}"
    );
    let refused = metrics
        .lines()
        .find_map(|l| l.strip_prefix("caviard_refused_requests_total{reason=\"queue_full\"} "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(
        refused > 0,
        "the queue never filled, so nothing was shown:\n{metrics}"
    );
    drop(received);
    assert!(proxy.terminate(Duration::from_secs(10)).success());
}

/// rsyslog, as deployed on a host: it tails an application's log file (imfile) and forwards
/// it over TCP with octet counting in RFC 5424 (omfwd), the setup `config/gateway.yaml`
/// describes. `.ci/run` installs rsyslog; elsewhere the test is skipped with a message.
#[test]
fn rsyslog_forwards_a_tailed_file_through_caviard() {
    let Some(rsyslogd) = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("SKIP rsyslog_forwards_a_tailed_file_through_caviard: rsyslogd not installed (Debian: apt-get install rsyslog; .ci/run does)");
        return;
    };
    let upstream = Upstream::start();
    let (mut proxy, port) = proxy_with_syslog(&upstream, "");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let n = 50;
    let mut lines = String::new();
    for i in 0..n {
        lines.push_str(&format!(
            "seq={i} payment refused: card 4111 1111 1111 1111, contact jean.dupont@example.fr\n"
        ));
    }
    std::fs::write(&log, lines).unwrap();
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{dir}")
module(load="imfile")
input(type="imfile" File="{log}" Tag="payments" Severity="warning" Facility="local0")
action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted" Template="RSYSLOG_SyslogProtocol23Format")
"#,
            dir = dir.path().display(),
            log = log.display(),
            port = port.port()
        ),
    )
    .unwrap();
    let mut rsyslog = Command::new(rsyslogd)
        .arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.path().join("rsyslogd.pid"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let arrived = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        upstream.wait_for(Duration::from_secs(30), "rsyslog's records", |r| {
            r.log_records().len() >= n
        })
    }));
    let _ = rsyslog.kill();
    let out = rsyslog.wait_with_output().unwrap();
    assert!(
        arrived.is_ok(),
        "rsyslog stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = upstream.received();
    let records = received.log_records();
    let mut strings = Vec::new();
    for (r, res) in &records {
        strings.push(body(r));
        strings_of_attrs(res, &mut strings);
        assert_eq!(str_attr(res, "service.name"), Some("payments"));
        assert_eq!(
            (
                r.severity_number,
                int_attr(&r.attributes, "syslog.facility")
            ),
            (13, Some(16))
        );
        assert!(
            body(r).ends_with("card [CREDIT_CARD], contact [EMAIL]"),
            "{}",
            body(r)
        );
    }
    assert_no_pii(&strings, "rsyslog");
    assert_eq!(records.len(), n);
    drop(received);
    assert!(proxy.terminate(Duration::from_secs(10)).success());
}

#[test]
fn config_errors_name_their_fields() {
    let out = Command::new(env!("CARGO_BIN_EXE_caviard"))
        .args(["check", "--config", "/dev/stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(
                b"serve:\n  syslog:\n    udp_listen: nowhere\n    max_batch_records: 0\n",
            )?;
            c.wait_with_output()
        })
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("serve.syslog.udp_listen: not an IP:port address"),
        "{text}"
    );
    assert!(
        text.contains("serve.syslog.max_batch_records: must be above zero"),
        "{text}"
    );
}
