//! TLS towards the upstream (`https://` endpoints, `serve.upstream.tls`), black-box: a CA and
//! certificates are made at test time, a real TLS server (rustls) terminates in front of the
//! recording test upstream, and `caviard serve` exports to it over OTLP/HTTP and OTLP/gRPC.
//! Covered: a private CA through `tls.ca_file`, `server_name`, a certificate from an unknown
//! CA refused (and retried, never delivered), mutual TLS, `insecure_skip_verify` and its
//! warning, and the load-time errors `caviard check` reports.
#![cfg(feature = "serve")]

mod otlp_util;

use otlp_util::pki::{Ca, Leaf};
use otlp_util::*;
use prost::Message;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

// === TLS server in front of the test upstream ===

/// A TLS server (rustls, ALPN `h2` and `http/1.1`) that forwards each decrypted connection to
/// `target`: the plain recording upstream, so what arrives there came through TLS.
struct TlsFront {
    runtime: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    /// Handshakes completed / failed.
    accepted: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl TlsFront {
    /// Serve `leaf`; with `client_ca`, require a client certificate signed by it.
    fn start(target: SocketAddr, leaf: &Leaf, client_ca: Option<&Ca>) -> TlsFront {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add(ca.der.clone()).unwrap();
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (runtime, listener, addr) = server_runtime();
        let (accepted, refused) = (Arc::default(), Arc::default());
        let (ok, bad): (Arc<AtomicUsize>, Arc<AtomicUsize>) =
            (Arc::clone(&accepted), Arc::clone(&refused));
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, ok, bad) = (acceptor.clone(), ok.clone(), bad.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        bad.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    ok.fetch_add(1, Ordering::SeqCst);
                    let Ok(mut plain) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront {
            runtime: Some(runtime),
            addr,
            accepted,
            refused,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

// === helpers ===

const PROTOCOLS: [&str; 2] = ["http/protobuf", "grpc"];

/// The plain upstream port a protocol's TLS front forwards to.
fn target(upstream: &Upstream, protocol: &str) -> SocketAddr {
    if protocol == "grpc" {
        upstream.grpc
    } else {
        upstream.http
    }
}

/// A `serve:` config exporting to `endpoint` with `protocol`, a short retry back-off and the
/// given `tls:` block lines (already indented under `upstream:`).
fn config(endpoint: &str, protocol: &str, tls: &[String]) -> String {
    let mut c = format!(
        "serve:\n  upstream:\n    endpoint: {endpoint}\n    protocol: {protocol}\n    timeout: 2s\n"
    );
    if !tls.is_empty() {
        c.push_str("    tls:\n");
        for line in tls {
            c.push_str(&format!("      {line}\n"));
        }
    }
    c.push_str("  retry:\n    initial_backoff: 50ms\n    max_backoff: 200ms\n  batch:\n    timeout: 10ms\n");
    c
}

/// POST `n` log records carrying PII to the proxy's OTLP/HTTP receiver.
fn send_logs(proxy: &Proxy, n: i64) {
    let body = log_request(0..n).encode_to_vec();
    let r = http_request(
        proxy.http,
        "POST",
        "/v1/logs",
        &[("content-type", "application/x-protobuf")],
        &body,
    );
    assert_eq!(r.status, 200, "proxy refused the records");
}

/// The proxy's `caviard_export_retries_total{signal="logs"}`.
fn log_retries(proxy: &Proxy) -> u64 {
    let metrics =
        String::from_utf8(http_request(proxy.http, "GET", "/metrics", &[], b"").body).unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("caviard_export_retries_total{signal=\"logs\"} "))
        .expect("retries counter")
        .parse()
        .unwrap()
}

/// Wait until `done` holds, or panic after 15 s.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

// === tests ===

/// Both protocols deliver redacted records to an `https://` upstream whose certificate comes
/// from a private CA given as `tls.ca_file`: by host name over OTLP/HTTP, by IP with
/// `server_name` over gRPC (the certificate names only `localhost`).
#[test]
fn https_upstream_with_a_private_ca_receives_redacted_records() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("caviard test CA");
    let ca_file = ca.write(dir.path(), "ca");
    let leaf = ca.leaf(&["localhost"]);
    for protocol in PROTOCOLS {
        let upstream = Upstream::start();
        let front = TlsFront::start(target(&upstream, protocol), &leaf, None);
        let port = front.addr.port();
        let (endpoint, mut tls) = if protocol == "grpc" {
            (
                format!("https://127.0.0.1:{port}"),
                vec!["server_name: localhost".to_string()],
            )
        } else {
            (format!("https://localhost:{port}"), Vec::new())
        };
        tls.push(format!("ca_file: {}", path(&ca_file)));
        let proxy = Proxy::start(&[], Some(&config(&endpoint, protocol, &tls)), &[]);
        send_logs(&proxy, 5);
        upstream.wait_for(Duration::from_secs(15), "5 records over TLS", |r| {
            r.log_records().len() == 5
        });
        // `received_seqs` fails on any PII: the records were redacted before they left.
        assert_eq!(received_seqs(&upstream.received()).len(), 5, "{protocol}");
        assert!(front.accepted() >= 1, "{protocol}: no TLS handshake");
        assert_eq!(front.refused(), 0, "{protocol}: {}", proxy.stderr());
    }
}

/// A server certificate signed by a CA caviard does not trust is refused: nothing is delivered,
/// the failure is retried like a connection error and logged with the reason. Trusting that CA
/// instead (the same upstream) delivers, so the refusal is the verification and nothing else.
#[test]
fn certificate_from_an_unknown_ca_is_refused_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = Ca::new("caviard trusted CA");
    let rogue = Ca::new("caviard rogue CA");
    let (trusted_file, rogue_file) = (
        trusted.write(dir.path(), "trusted"),
        rogue.write(dir.path(), "rogue"),
    );
    let leaf = rogue.leaf(&["localhost"]);
    for protocol in PROTOCOLS {
        let upstream = Upstream::start();
        let front = TlsFront::start(target(&upstream, protocol), &leaf, None);
        let endpoint = format!("https://localhost:{}", front.addr.port());
        let tls = [format!("ca_file: {}", path(&trusted_file))];
        let proxy = Proxy::start(&[], Some(&config(&endpoint, protocol, &tls)), &[]);
        send_logs(&proxy, 3);
        wait_until(&format!("{protocol}: two retries"), || {
            log_retries(&proxy) >= 2
        });
        assert!(front.refused() >= 1, "{protocol}: no refused handshake");
        assert_eq!(front.accepted(), 0, "{protocol}: a handshake succeeded");
        assert!(
            upstream.received().is_empty(),
            "{protocol}: records delivered"
        );
        let stderr = proxy.stderr();
        assert!(
            stderr.contains("Upstream request failed; retrying.")
                && stderr.contains("UnknownIssuer"),
            "{protocol}: {stderr}"
        );
        assert!(!stderr.contains("jean.dupont"), "record content logged");
        drop(proxy);

        let tls = [format!("ca_file: {}", path(&rogue_file))];
        let proxy = Proxy::start(&[], Some(&config(&endpoint, protocol, &tls)), &[]);
        send_logs(&proxy, 3);
        upstream.wait_for(Duration::from_secs(15), "3 records", |r| {
            r.log_records().len() == 3
        });
        drop(proxy);
    }
}

/// An upstream that requires a client certificate gets one from `cert_file` / `key_file`;
/// without them its handshake fails and nothing is delivered.
#[test]
fn mutual_tls_presents_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("caviard test CA");
    let ca_file = ca.write(dir.path(), "ca");
    let leaf = ca.leaf(&["localhost"]);
    let (cert, key) = ca.leaf(&["caviard-client"]).write(dir.path(), "client");
    for protocol in PROTOCOLS {
        let upstream = Upstream::start();
        let front = TlsFront::start(target(&upstream, protocol), &leaf, Some(&ca));
        let endpoint = format!("https://localhost:{}", front.addr.port());

        let tls = [format!("ca_file: {}", path(&ca_file))];
        let proxy = Proxy::start(&[], Some(&config(&endpoint, protocol, &tls)), &[]);
        send_logs(&proxy, 2);
        wait_until(&format!("{protocol}: a refused handshake"), || {
            front.refused() > 0
        });
        drop(proxy);
        assert!(
            upstream.received().is_empty(),
            "{protocol}: delivered without a client cert"
        );

        let tls = [
            format!("ca_file: {}", path(&ca_file)),
            format!("cert_file: {}", path(&cert)),
            format!("key_file: {}", path(&key)),
        ];
        let proxy = Proxy::start(&[], Some(&config(&endpoint, protocol, &tls)), &[]);
        send_logs(&proxy, 4);
        upstream.wait_for(Duration::from_secs(15), "4 records over mTLS", |r| {
            r.log_records().len() == 4
        });
        assert_eq!(received_seqs(&upstream.received()).len(), 4);
    }
}

/// `insecure_skip_verify` accepts a certificate nothing vouches for, and says so at start-up.
#[test]
fn insecure_skip_verify_delivers_and_warns() {
    let rogue = Ca::new("caviard rogue CA");
    let leaf = rogue.leaf(&["some.other.name"]);
    let upstream = Upstream::start();
    let front = TlsFront::start(upstream.grpc, &leaf, None);
    let endpoint = format!("https://localhost:{}", front.addr.port());
    let tls = ["insecure_skip_verify: true".to_string()];
    let proxy = Proxy::start(&[], Some(&config(&endpoint, "grpc", &tls)), &[]);
    send_logs(&proxy, 2);
    upstream.wait_for(Duration::from_secs(15), "2 records", |r| {
        r.log_records().len() == 2
    });
    let stderr = proxy.stderr();
    assert!(
        stderr.contains("WARN") && stderr.contains("insecure_skip_verify is on"),
        "{stderr}"
    );
}

/// Bad TLS settings fail `caviard check` (and so start-up), each named with its field.
#[test]
fn check_names_bad_tls_settings() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("caviard test CA");
    let (cert, key) = ca.leaf(&["caviard-client"]).write(dir.path(), "client");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "just some text\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let check = |yaml: String| -> String {
        let file = dir.path().join("c.yaml");
        std::fs::write(&file, yaml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_caviard"))
            .args(["check", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success(), "check passed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let cases = [
        (
            config(
                "http://c:4317",
                "grpc",
                &["insecure_skip_verify: false".into()],
            ),
            "serve.upstream.tls: set, but serve.upstream.endpoint is not https://",
        ),
        (
            config(
                "https://c",
                "grpc",
                &[format!("ca_file: {}", path(&missing))],
            ),
            "serve.upstream.tls.ca_file: cannot read",
        ),
        (
            config(
                "https://c",
                "grpc",
                &[format!("ca_file: {}", path(&not_pem))],
            ),
            "serve.upstream.tls.ca_file: no PEM certificate in",
        ),
        (
            config(
                "https://c",
                "grpc",
                &[format!("cert_file: {}", path(&cert))],
            ),
            "serve.upstream.tls.cert_file: set without serve.upstream.tls.key_file",
        ),
        (
            config(
                "https://c",
                "grpc",
                &[
                    format!("cert_file: {}", path(&cert)),
                    format!("key_file: {}", path(&cert)),
                ],
            ),
            "serve.upstream.tls.key_file: no PEM private key",
        ),
    ];
    for (yaml, want) in cases {
        let err = check(yaml.clone());
        assert!(err.contains(want), "want {want:?} for\n{yaml}\ngot: {err}");
    }
    // The key never appears in a message, even when the file is broken.
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL!!\n").unwrap();
    let err = check(config(
        "https://c",
        "grpc",
        &[
            format!("cert_file: {}", path(&cert)),
            format!("key_file: {}", path(&key)),
        ],
    ));
    assert!(err.contains("serve.upstream.tls.key_file"), "{err}");
    assert!(!err.contains("SECRETKEYMATERIAL"), "{err}");
}
