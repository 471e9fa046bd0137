//! TLS on caviard's own receivers (`serve.otlp_http.tls`, `serve.otlp_grpc.tls`,
//! `serve.syslog.tcp_tls`), black-box: the built `caviard serve` with certificates made at
//! test time, real clients (curl over HTTP/1.1 and h2, the OpenTelemetry Python SDK's gRPC
//! exporter, `openssl s_client` and rsyslog's `ossl` driver for syslog over TLS), and the recording OTLP upstream of
//! `otlp_util` checking that what arrives was redacted. Covered: server TLS on each receiver,
//! mutual TLS, failed handshakes (plaintext, no or unknown client certificate, a client that
//! never speaks) counted and survived, certificate rotation without a restart (a broken
//! rotation keeps the old certificate), and the load-time errors.
#![cfg(feature = "serve")]

mod otlp_util;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use otlp_util::pki::Ca;
use otlp_util::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

// === helpers ===

/// A CA and a server certificate it signed for `localhost` and `127.0.0.1`, as files.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    ca_file: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("caviard receiver CA");
        let ca_file = ca.write(dir.path(), "ca");
        let (cert, key) = ca
            .leaf(&["localhost", "127.0.0.1"])
            .write(dir.path(), "server");
        Pki {
            dir,
            ca,
            ca_file,
            cert,
            key,
        }
    }

    /// A `tls:` block (YAML flow mapping) with the server certificate and `extra` settings.
    fn block(&self, extra: &str) -> String {
        let sep = if extra.is_empty() { "" } else { ", " };
        format!(
            "{{cert_file: '{}', key_file: '{}'{sep}{extra}}}",
            path(&self.cert),
            path(&self.key)
        )
    }

    /// A client certificate signed by this CA, as files named `name`.
    fn client(&self, name: &str) -> (PathBuf, PathBuf) {
        self.ca
            .leaf(&["caviard-client"])
            .write(self.dir.path(), name)
    }
}

/// How long a test waits for something caviard does in the background.
const WAIT: Duration = Duration::from_secs(20);

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// Run curl with `args` (silent, errors shown, failing on HTTP errors).
fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--fail", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl must be installed")
}

/// An OTLP/JSON logs request: one record with an e-mail in its body and `seq` attribute.
fn json_logs(seq: i64) -> String {
    format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{{"stringValue":"password reset for jean.dupont@example.fr"}},"attributes":[{{"key":"seq","value":{{"intValue":"{seq}"}}}}]}}]}}]}}]}}"#
    )
}

/// The bodies of the log records the upstream received, by `seq`; panics on fixture PII.
fn bodies_by_seq(upstream: &Upstream) -> std::collections::BTreeMap<i64, String> {
    let received = upstream.received();
    received_seqs(&received);
    received
        .log_records()
        .into_iter()
        .map(|(r, _)| {
            let body = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                other => panic!("unexpected body {other:?}"),
            };
            (int_attr(&r.attributes, "seq").expect("seq"), body)
        })
        .collect()
}

/// `caviard_tls_handshake_failures_total{receiver}` in a `/metrics` text.
fn handshake_failures(metrics: &str, receiver: &str) -> u64 {
    let prefix = format!("caviard_tls_handshake_failures_total{{receiver=\"{receiver}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
        .parse()
        .unwrap()
}

/// `/metrics` over plain HTTP (tests whose HTTP receiver has no TLS).
fn plain_metrics(proxy: &Proxy) -> String {
    String::from_utf8(http_request(proxy.http, "GET", "/metrics", &[], b"").body).unwrap()
}

fn assert_nothing_secret_logged(proxy: &Proxy, key: &Path) {
    let stderr = proxy.stderr();
    assert!(!stderr.contains("jean.dupont"), "record content logged");
    let key = std::fs::read_to_string(key).unwrap();
    let material = key.lines().nth(1).unwrap();
    assert!(!stderr.contains(material), "key material logged");
}

// === OTLP/HTTP ===

/// curl over TLS (HTTP/1.1 and h2, chosen by ALPN) posts OTLP/JSON logs; they arrive
/// redacted. The health endpoint answers over TLS too. A plaintext client on the TLS port gets
/// no HTTP answer, is counted, and the listener keeps serving.
#[test]
fn otlp_http_over_tls_serves_http1_and_h2_and_records_arrive_redacted() {
    let pki = Pki::new();
    let upstream = Upstream::start();
    let yaml = format!("serve:\n  otlp_http:\n    tls: {}\n", pki.block(""));
    let proxy = Proxy::start(&["--upstream", &upstream.grpc_url()], Some(&yaml), &[]);
    let base = format!("https://127.0.0.1:{}", proxy.http.port());
    let ca = path(&pki.ca_file);
    for (seq, version, want) in [(1, "--http1.1", "1.1"), (2, "--http2", "2")] {
        let out = curl(&[
            version,
            "--cacert",
            &ca,
            "-w",
            "%{http_version}",
            "-o",
            "/dev/null",
            "-H",
            "content-type: application/json",
            "--data-binary",
            &json_logs(seq),
            &format!("{base}/v1/logs"),
        ]);
        assert!(out.status.success(), "{out:?}\n{}", proxy.stderr());
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "ALPN");
    }
    upstream.wait_for(Duration::from_secs(15), "2 records", |r| {
        r.log_records().len() == 2
    });
    for (seq, body) in bodies_by_seq(&upstream) {
        assert_eq!(body, "password reset for [EMAIL]", "record {seq}");
    }
    let health = curl(&["--cacert", &ca, &format!("{base}/healthz")]);
    assert_eq!(String::from_utf8_lossy(&health.stdout), "ok\n");

    // Plaintext on the TLS port: no HTTP answer; counted; the listener still serves.
    let plain = curl(&[&format!("http://127.0.0.1:{}/healthz", proxy.http.port())]);
    assert!(!plain.status.success(), "plaintext HTTP was answered");
    let metrics = || {
        let out = curl(&["--cacert", &ca, &format!("{base}/metrics")]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    wait_until("the plaintext handshake counted", WAIT, || {
        handshake_failures(&metrics(), "otlp_http") == 1
    });
    // Only receivers with TLS have the series.
    assert!(!metrics().contains("caviard_tls_handshake_failures_total{receiver=\"otlp_grpc\"}"));
    assert_nothing_secret_logged(&proxy, &pki.key);
}

/// With `client_ca_file`, a client certificate is required: curl without one, or with one
/// from another CA, fails its handshake (counted); with one the CA signed, records arrive.
#[test]
fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let pki = Pki::new();
    let (cert, key) = pki.client("client");
    let rogue_dir = tempfile::tempdir().unwrap();
    let (rogue_cert, rogue_key) = Ca::new("rogue CA")
        .leaf(&["caviard-client"])
        .write(rogue_dir.path(), "rogue");
    let upstream = Upstream::start();
    let client_ca = format!("client_ca_file: '{}'", path(&pki.ca_file));
    let yaml = format!("serve:\n  otlp_http:\n    tls: {}\n", pki.block(&client_ca));
    let proxy = Proxy::start(&["--upstream", &upstream.grpc_url()], Some(&yaml), &[]);
    let url = format!("https://127.0.0.1:{}/v1/logs", proxy.http.port());
    let ca = path(&pki.ca_file);
    let post = |seq: i64, client: &[&str]| {
        let mut args = vec!["--cacert", &ca, "-H", "content-type: application/json"];
        args.extend_from_slice(client);
        let body = json_logs(seq);
        args.extend_from_slice(&["--data-binary", &body, &url]);
        curl(&args)
    };
    let out = post(1, &[]);
    assert!(
        !out.status.success(),
        "accepted without a client certificate"
    );
    let (rc, rk) = (path(&rogue_cert), path(&rogue_key));
    let out = post(2, &["--cert", &rc, "--key", &rk]);
    assert!(
        !out.status.success(),
        "accepted a certificate of another CA"
    );
    let (c, k) = (path(&cert), path(&key));
    let out = post(3, &["--cert", &c, "--key", &k]);
    assert!(out.status.success(), "{out:?}\n{}", proxy.stderr());
    upstream.wait_for(Duration::from_secs(15), "the mTLS record", |r| {
        !r.log_records().is_empty()
    });
    let bodies = bodies_by_seq(&upstream);
    assert_eq!(
        bodies.into_iter().collect::<Vec<_>>(),
        [(3, "password reset for [EMAIL]".to_string())]
    );
    let metrics = curl(&[
        "--cacert",
        &ca,
        "--cert",
        &c,
        "--key",
        &k,
        &format!("https://127.0.0.1:{}/metrics", proxy.http.port()),
    ]);
    let metrics = String::from_utf8(metrics.stdout).unwrap();
    assert_eq!(handshake_failures(&metrics, "otlp_http"), 2, "{metrics}");
}

/// An RSA certificate made by `openssl req` serves, and `min_version: "1.3"` refuses a
/// client limited to TLS 1.2.
#[test]
fn rsa_certificate_and_min_version_1_3() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("rsa.crt"), dir.path().join("rsa.key"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl must be installed");
    assert!(made.status.success(), "{made:?}");
    let yaml = format!(
        "serve:\n  otlp_http:\n    tls: {{cert_file: '{}', key_file: '{}', min_version: '1.3'}}\n",
        path(&cert),
        path(&key)
    );
    let proxy = Proxy::start(&[], Some(&yaml), &[]);
    let base = format!("https://127.0.0.1:{}", proxy.http.port());
    let ca = path(&cert);
    let ok = curl(&["--cacert", &ca, "--tlsv1.3", &format!("{base}/healthz")]);
    assert!(ok.status.success(), "{ok:?}\n{}", proxy.stderr());
    let old = curl(&[
        "--cacert",
        &ca,
        "--tls-max",
        "1.2",
        &format!("{base}/healthz"),
    ]);
    assert!(!old.status.success(), "a TLS 1.2 client was served");
    let metrics = curl(&["--cacert", &ca, &format!("{base}/metrics")]);
    let metrics = String::from_utf8(metrics.stdout).unwrap();
    assert_eq!(handshake_failures(&metrics, "otlp_http"), 1, "{metrics}");
}

// === OTLP/gRPC ===

/// The OpenTelemetry Python SDK's gRPC exporter, configured by its standard environment
/// (`OTEL_EXPORTER_OTLP_CERTIFICATE`, and for mutual TLS `_CLIENT_CERTIFICATE` /
/// `_CLIENT_KEY`), exports over TLS; every record arrives redacted.
#[test]
fn python_sdk_exports_over_grpc_tls_and_mutual_tls() {
    let pki = Pki::new();
    let (cert, key) = pki.client("client");
    let ca = path(&pki.ca_file);
    let client_ca = format!("client_ca_file: '{ca}'");
    for (run, extra, env) in [
        (
            "tls",
            "",
            vec![("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.clone())],
        ),
        (
            "mtls",
            client_ca.as_str(),
            vec![
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.clone()),
                ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", path(&cert)),
                ("OTEL_EXPORTER_OTLP_CLIENT_KEY", path(&key)),
            ],
        ),
    ] {
        let upstream = Upstream::start();
        let yaml = format!("serve:\n  otlp_grpc:\n    tls: {}\n", pki.block(extra));
        let proxy = Proxy::start(&["--upstream", &upstream.grpc_url()], Some(&yaml), &[]);
        let endpoint = format!("https://localhost:{}", proxy.grpc.port());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        send_with_sdk_env(&endpoint, "grpc", "logs", 20, &["--run", run], &env);
        upstream.wait_for(Duration::from_secs(20), "20 records", |r| {
            r.log_records().len() >= 20
        });
        let seqs = received_seqs(&upstream.received());
        assert_eq!(seqs.len(), 20, "{run}: {seqs:?}");
        assert_eq!(
            handshake_failures(&plain_metrics(&proxy), "otlp_grpc"),
            0,
            "{run}"
        );
        assert_nothing_secret_logged(&proxy, &pki.key);
    }
}

/// gRPC's TLS port refuses a plaintext HTTP/2 client and one without a client certificate,
/// counts both, and still serves a good client after them.
#[test]
fn grpc_tls_port_survives_failed_handshakes() {
    let pki = Pki::new();
    let upstream = Upstream::start();
    let client_ca = format!("client_ca_file: '{}'", path(&pki.ca_file));
    let yaml = format!("serve:\n  otlp_grpc:\n    tls: {}\n", pki.block(&client_ca));
    let proxy = Proxy::start(&["--upstream", &upstream.grpc_url()], Some(&yaml), &[]);
    let url = format!("127.0.0.1:{}", proxy.grpc.port());
    // h2 prior knowledge in clear text, then TLS without a client certificate.
    let plain = curl(&["--http2-prior-knowledge", &format!("http://{url}/")]);
    assert!(!plain.status.success());
    let ca = path(&pki.ca_file);
    let anonymous = curl(&["--http2", "--cacert", &ca, &format!("https://{url}/")]);
    assert!(!anonymous.status.success());
    wait_until("two failed handshakes", WAIT, || {
        handshake_failures(&plain_metrics(&proxy), "otlp_grpc") == 2
    });
    // A client with a certificate reaches tonic: a gRPC answer (an error for this path,
    // but from the server, after a completed handshake).
    let (cert, key) = pki.client("client");
    let (c, k) = (path(&cert), path(&key));
    let ok = Command::new("curl")
        .args(["-sS", "--http2", "--cacert", &ca, "--cert", &c, "--key", &k])
        .args(["-o", "/dev/null", "-w", "%{http_code} %{http_version}"])
        .args(["-X", "POST", "-H", "content-type: application/grpc"])
        .arg(format!(
            "https://{url}/opentelemetry.proto.collector.logs.v1.LogsService/Export"
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "200 2", "{ok:?}");
}

// === syslog over TLS ===

/// Send `data` through `openssl s_client` (verifying the server against `ca`); whether it
/// succeeded within 20 s (it is killed after that: a server that never answers its
/// handshake would hold it forever).
fn s_client(addr: SocketAddr, ca: &Path, data: &[u8]) -> bool {
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-no_ign_eof", "-verify_return_error"])
        .args(["-verify_ip", "127.0.0.1", "-connect", &addr.to_string()])
        .arg("-CAfile")
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl must be installed");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// An RFC 5425 frame: `LEN SP MSG`.
fn octet_counted(msg: &str) -> Vec<u8> {
    format!("{} {msg}", msg.len()).into_bytes()
}

/// Syslog over TLS: octet-counted (RFC 5425) and newline-framed messages through
/// `openssl s_client` arrive redacted. A plaintext client and one that never starts its
/// handshake are disconnected (the latter after `handshake_timeout`), counted, and the
/// listener keeps serving.
#[test]
fn syslog_over_tls_delivers_redacted_and_refuses_plaintext() {
    let pki = Pki::new();
    let upstream = Upstream::start();
    let (proxy, port) = Proxy::start_on_free_port(&["--upstream", &upstream.grpc_url()], |port| {
        format!(
            "serve:\n  syslog:\n    tcp_listen: '{port}'\n    max_batch_delay: 50ms\n    tcp_tls: {}\n",
            pki.block("handshake_timeout: 1s")
        )
    });
    let mut data = octet_counted(
        "<11>1 2024-05-01T10:00:00Z web01 billing - - - tls-1: card 4111 1111 1111 1111 for jean.dupont@example.fr",
    );
    data.extend(octet_counted(
        "<13>1 2024-05-01T10:00:01Z web01 crm - - - tls-2: contact a.b@example.com",
    ));
    data.extend(b"<13>May  1 10:00:02 web01 sshd: tls-3: login by jean.dupont@example.fr\n");
    assert!(s_client(port, &pki.ca_file, &data), "s_client failed");
    upstream.wait_for(Duration::from_secs(20), "3 syslog records", |r| {
        r.log_records().len() >= 3
    });

    // Plaintext syslog on the TLS port: the server answers with an alert and closes.
    let mut plain = TcpStream::connect(port).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(&octet_counted(
            "<13>1 - h a - - - plain: jean.dupont@example.fr",
        ))
        .unwrap();
    let mut sink = Vec::new();
    let _ = plain.read_to_end(&mut sink);
    // A client that sends nothing is dropped after handshake_timeout (1s).
    let mut silent = TcpStream::connect(port).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = Instant::now();
    let n = silent.read(&mut [0u8; 64]).unwrap_or(0);
    assert_eq!(n, 0, "the server sent something to a silent client");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "a silent client held its connection for {:?}",
        start.elapsed()
    );
    // The listener still serves.
    let last = octet_counted("<13>1 - web01 app - - - tls-4: after the failures");
    assert!(s_client(port, &pki.ca_file, &last), "s_client failed");
    upstream.wait_for(Duration::from_secs(20), "the 4th record", |r| {
        r.log_records().len() >= 4
    });
    let received = upstream.received();
    let mut bodies: Vec<String> = received
        .log_records()
        .iter()
        .map(
            |(r, _)| match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                other => panic!("unexpected body {other:?}"),
            },
        )
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        [
            "tls-1: card [CREDIT_CARD] for [EMAIL]",
            "tls-2: contact [EMAIL]",
            "tls-3: login by [EMAIL]",
            "tls-4: after the failures",
        ]
    );
    drop(received);
    assert_eq!(
        handshake_failures(&plain_metrics(&proxy), "syslog_tcp"),
        2,
        "plaintext and silent clients"
    );
    assert_nothing_secret_logged(&proxy, &pki.key);
}

/// rsyslog's own TLS driver (`ossl`, Debian `rsyslog-openssl`) as a host forwards over RFC
/// 5425: it tails a file, verifies caviard's certificate by name and presents its own, which
/// caviard requires (mutual TLS). A second rsyslog whose certificate another CA signed is
/// refused: nothing of its file arrives and the refusals are counted. `.ci/run` installs the
/// driver (scripts/setup-syslog); elsewhere the test is skipped with a message.
#[test]
fn rsyslog_forwards_over_mutual_tls() {
    let rsyslogd = Path::new("/usr/sbin/rsyslogd");
    let driver = [
        "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so",
        "/usr/lib/rsyslog/lmnsd_ossl.so",
    ]
    .into_iter()
    .any(|p| Path::new(p).exists());
    if !rsyslogd.exists() || !driver {
        eprintln!("SKIP rsyslog_forwards_over_mutual_tls: rsyslogd or its ossl driver not installed (Debian: apt-get install rsyslog rsyslog-openssl; .ci/run does)");
        return;
    }
    let pki = Pki::new();
    let upstream = Upstream::start();
    let (proxy, port) = Proxy::start_on_free_port(&["--upstream", &upstream.grpc_url()], |port| {
        format!(
            "serve:\n  syslog:\n    tcp_listen: '{port}'\n    max_batch_delay: 50ms\n    tcp_tls: {}\n",
            pki.block(&format!("client_ca_file: '{}'", path(&pki.ca_file)))
        )
    });

    let n = 20;
    let (trusted_cert, trusted_key) = pki.client("rsyslog");
    let trusted = Rsyslog::start(port, &pki.ca_file, &trusted_cert, &trusted_key, "tls-ok", n);
    upstream.wait_for(Duration::from_secs(30), "rsyslog's records over TLS", |r| {
        r.log_records().len() >= n
    });
    let stranger_ca = Ca::new("someone else's CA");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = stranger_ca
        .leaf(&["rsyslog-stranger"])
        .write(dir.path(), "stranger");
    let stranger = Rsyslog::start(port, &pki.ca_file, &cert, &key, "tls-stranger", n);
    wait_until("the stranger's handshakes to be refused", WAIT, || {
        handshake_failures(&plain_metrics(&proxy), "syslog_tcp") >= 1
    });
    let trusted_log = trusted.stop();
    let _ = stranger.stop();

    let received = upstream.received();
    let records = received.log_records();
    assert_eq!(records.len(), n, "rsyslog stderr:\n{trusted_log}");
    for (r, res) in &records {
        let body = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
            Some(Value::StringValue(s)) => s.clone(),
            other => panic!("unexpected body {other:?}"),
        };
        assert!(
            body.starts_with("tls-ok seq=")
                && body.ends_with("card [CREDIT_CARD], contact [EMAIL]"),
            "{body}"
        );
        assert_eq!(str_attr(res, "service.name"), Some("payments"));
    }
    drop(received);
    assert_nothing_secret_logged(&proxy, &pki.key);
}

/// An rsyslogd forwarding the lines of its own file over TLS with the `ossl` driver.
struct Rsyslog {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Rsyslog {
    fn start(port: SocketAddr, ca: &Path, cert: &Path, key: &Path, tag: &str, n: usize) -> Rsyslog {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let lines: String = (0..n)
            .map(|i| format!("{tag} seq={i} payment refused: card 4111 1111 1111 1111, contact jean.dupont@example.fr\n"))
            .collect();
        std::fs::write(&log, lines).unwrap();
        let conf = dir.path().join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{dir}" DefaultNetstreamDriver="ossl" DefaultNetstreamDriverCAFile="{ca}" DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")
module(load="imfile")
input(type="imfile" File="{log}" Tag="payments" Severity="warning" Facility="local0")
action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp" TCP_Framing="octet-counted" Template="RSYSLOG_SyslogProtocol23Format" StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost")
"#,
                dir = dir.path().display(),
                ca = ca.display(),
                cert = cert.display(),
                key = key.display(),
                log = log.display(),
                port = port.port()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Rsyslog { child, _dir: dir }
    }

    /// Stop it and return its stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let out = self.child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

// === rotation ===

/// cert-manager rewrites the certificate and key in place while serve runs: after the
/// reload interval, new connections get the new certificate (a client trusting only the new
/// CA connects, one trusting only the old no longer does). A rotation that does not load (a
/// broken key) is logged and the old certificate stays in use.
#[test]
fn rotated_certificate_is_served_without_a_restart() {
    let pki = Pki::new();
    let new_ca = Ca::new("caviard rotated CA");
    let new_ca_file = new_ca.write(pki.dir.path(), "new-ca");
    let yaml = format!(
        "serve:\n  otlp_http:\n    tls: {}\n",
        pki.block("reload_interval: 1s")
    );
    let proxy = Proxy::start(&[], Some(&yaml), &[]);
    let health = format!("https://127.0.0.1:{}/healthz", proxy.http.port());
    let trusts = |ca: &Path| curl(&["--cacert", &path(ca), &health]).status.success();
    assert!(trusts(&pki.ca_file) && !trusts(&new_ca_file));

    // A broken rotation: the key file truncated. The old certificate stays.
    let old_key = std::fs::read_to_string(&pki.key).unwrap();
    let broken: String = old_key.lines().take(2).collect::<Vec<_>>().join("\n");
    std::fs::write(&pki.key, &broken).unwrap();
    wait_until("the failed reload logged", WAIT, || {
        proxy
            .stderr()
            .contains("TLS files changed but do not load; keeping the previous certificate.")
    });
    assert!(trusts(&pki.ca_file), "the old certificate was dropped");
    let stderr = proxy.stderr();
    assert!(
        stderr.contains("serve.otlp_http.tls.key_file"),
        "the warning names the field: {stderr}"
    );
    assert!(
        !stderr.contains(broken.lines().nth(1).unwrap()),
        "key logged"
    );
    let metrics = curl(&[
        "--cacert",
        &path(&pki.ca_file),
        &format!("https://127.0.0.1:{}/metrics", proxy.http.port()),
    ]);
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    assert!(
        metrics
            .lines()
            .any(|l| l == "caviard_tls_reload_failures_total{role=\"receiver\"} 1"),
        "{metrics}"
    );

    // The real rotation: a certificate from another CA, rewritten in place.
    let leaf = new_ca.leaf(&["localhost", "127.0.0.1"]);
    std::fs::write(&pki.cert, &leaf.cert_pem).unwrap();
    std::fs::write(&pki.key, &leaf.key_pem).unwrap();
    wait_until("the new certificate served", WAIT, || trusts(&new_ca_file));
    assert!(!trusts(&pki.ca_file), "the old certificate is still served");
    assert!(proxy
        .stderr()
        .contains("TLS files changed; reloaded for new connections."));
    assert_nothing_secret_logged(&proxy, &pki.key);
}

// === configuration errors ===

/// Bad TLS settings fail `caviard check` and `caviard serve` at start-up, each named with its
/// dotted path; a broken key file is named, never quoted.
#[test]
fn bad_receiver_tls_settings_are_named_by_check_and_serve() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let other_key = dir.join("other.key");
    std::fs::write(&other_key, Ca::new("x").leaf(&["x"]).key_pem).unwrap();
    let broken_key = dir.join("broken.key");
    std::fs::write(
        &broken_key,
        "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL!!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let (cert, key) = (path(&pki.cert), path(&pki.key));
    let missing = path(&dir.join("missing.pem"));
    let cases = [
        (
            format!("otlp_http: {{tls: {{cert_file: '{missing}', key_file: '{key}'}}}}"),
            "serve.otlp_http.tls.cert_file: cannot read",
        ),
        (
            format!("otlp_http: {{tls: {{cert_file: '{cert}'}}}}"),
            "serve.otlp_http.tls.key_file: required",
        ),
        (
            format!(
                "otlp_grpc: {{tls: {{cert_file: '{cert}', key_file: '{}'}}}}",
                path(&other_key)
            ),
            "serve.otlp_grpc.tls.key_file: unusable with serve.otlp_grpc.tls.cert_file",
        ),
        (
            format!(
                "otlp_grpc: {{tls: {{cert_file: '{cert}', key_file: '{}'}}}}",
                path(&broken_key)
            ),
            "serve.otlp_grpc.tls.key_file: ",
        ),
        (
            format!("syslog: {{tcp_listen: '127.0.0.1:0', tcp_tls: {{cert_file: '{cert}', key_file: '{key}', min_version: 1.1}}}}"),
            "serve.syslog.tcp_tls.min_version: \"1.1\" is not supported",
        ),
        (
            format!("otlp_http: {{tls: {{cert_file: '{cert}', key_file: '{key}', client_ca_file: '{missing}'}}}}"),
            "serve.otlp_http.tls.client_ca_file: cannot read",
        ),
        (
            format!("otlp_http: {{tls: {{cert_file: '{cert}', key_file: '{key}', ca_file: x}}}}"),
            "unknown field `ca_file`",
        ),
    ];
    let file = dir.join("c.yaml");
    for (serve, want) in cases {
        std::fs::write(&file, format!("serve:\n  {serve}\n")).unwrap();
        for sub in ["check", "serve"] {
            let out = Command::new(env!("CARGO_BIN_EXE_caviard"))
                .args([sub, "--config"])
                .arg(&file)
                .args(if sub == "serve" {
                    &["--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0"][..]
                } else {
                    &[]
                })
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{sub} accepted {serve}");
            assert!(
                err.contains(want),
                "{sub}: want {want:?} for {serve}, got {err}"
            );
            assert!(!err.contains("SECRETKEYMATERIAL"), "{err}");
        }
    }
}
