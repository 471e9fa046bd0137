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
use std::sync::{Arc, Mutex};
use std::time::Duration;

// === TLS server in front of the test upstream ===

/// A TLS server (rustls, ALPN `h2` and `http/1.1`) that forwards each decrypted connection to
/// `target`: the plain recording upstream, so what arrives there came through TLS.
struct TlsFront {
    runtime: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    /// The configuration new handshakes use.
    acceptor: Arc<Mutex<tokio_rustls::TlsAcceptor>>,
    /// The connections forwarded so far (aborted to make the client connect again).
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    /// Handshakes completed / failed.
    accepted: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

/// How long a test waits for something caviard does in the background.
const WAIT: Duration = Duration::from_secs(15);

/// The front's configuration: `leaf`, and with `client_ca` a client certificate it signed
/// required.
fn front_config(leaf: &Leaf, client_ca: Option<&Ca>) -> tokio_rustls::TlsAcceptor {
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
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

impl TlsFront {
    /// Serve `leaf`; with `client_ca`, require a client certificate signed by it.
    fn start(target: SocketAddr, leaf: &Leaf, client_ca: Option<&Ca>) -> TlsFront {
        let acceptor = Arc::new(Mutex::new(front_config(leaf, client_ca)));
        let connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (runtime, listener, addr) = server_runtime();
        let (accepted, refused) = (Arc::default(), Arc::default());
        let (ok, bad): (Arc<AtomicUsize>, Arc<AtomicUsize>) =
            (Arc::clone(&accepted), Arc::clone(&refused));
        let (config, open) = (acceptor.clone(), connections.clone());
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = config.lock().unwrap().clone();
                let (ok, bad) = (ok.clone(), bad.clone());
                let task = tokio::spawn(async move {
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
                open.lock().unwrap().push(task.abort_handle());
            }
        });
        TlsFront {
            runtime: Some(runtime),
            addr,
            acceptor,
            connections,
            accepted,
            refused,
        }
    }

    /// From now on require client certificates signed by `client_ca` (an upstream whose
    /// client CA was rotated), and close every open connection, as a restarted upstream would.
    fn require(&self, leaf: &Leaf, client_ca: &Ca) {
        *self.acceptor.lock().unwrap() = front_config(leaf, Some(client_ca));
        self.disconnect();
    }

    /// Close every open connection (the client must handshake again).
    fn disconnect(&self) {
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
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

const PROTOCOLS: [&str; 2] = ["grpc", "http/protobuf"];

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
    send_log_seqs(proxy, 0..n);
}

/// POST log records numbered `seqs` (their `seq` attribute), carrying PII.
fn send_log_seqs(proxy: &Proxy, seqs: std::ops::Range<i64>) {
    let body = log_request(seqs).encode_to_vec();
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
    sample(proxy, "caviard_export_retries_total{signal=\"logs\"}").expect("retries counter") as u64
}

/// The value of the `/metrics` sample `series` (name and labels), if present.
fn sample(proxy: &Proxy, series: &str) -> Option<i64> {
    let metrics =
        String::from_utf8(http_request(proxy.http, "GET", "/metrics", &[], b"").body).unwrap();
    let prefix = format!("{series} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(|v| v.parse().unwrap())
}

const EXPORTED_LOGS: &str = "caviard_exported_records_total{signal=\"logs\"}";
const UPSTREAM_RELOAD_FAILURES: &str = "caviard_tls_reload_failures_total{role=\"upstream\"}";

/// A directory laid out as Kubernetes mounts a Secret (and cert-manager updates it): each file
/// a symbolic link through `..data`, a link to the current version's directory. An update
/// writes a new directory and renames a new `..data` link over the old one, so a reader sees
/// all the old files or all the new ones.
struct SecretVolume {
    dir: std::path::PathBuf,
    version: usize,
}

impl SecretVolume {
    fn new(dir: &Path, files: &[(&str, &str)]) -> SecretVolume {
        std::fs::create_dir_all(dir).unwrap();
        let mut volume = SecretVolume {
            dir: dir.to_path_buf(),
            version: 0,
        };
        volume.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        volume
    }

    fn path(&self, name: &str) -> String {
        path(&self.dir.join(name))
    }

    fn update(&mut self, files: &[(&str, &str)]) {
        self.version += 1;
        let version = format!("..v{}", self.version);
        std::fs::create_dir(self.dir.join(&version)).unwrap();
        for (name, text) in files {
            std::fs::write(self.dir.join(&version).join(name), text).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&version, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }
}

/// A CA, the server certificate it signed for `localhost` (for the TLS front) and a client
/// certificate it signed, as files.
struct MutualPki {
    _dir: tempfile::TempDir,
    ca: Ca,
    ca_file: std::path::PathBuf,
    server: Leaf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl MutualPki {
    fn new() -> MutualPki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("caviard test CA");
        let ca_file = ca.write(dir.path(), "ca");
        let server = ca.leaf(&["localhost"]);
        let (cert, key) = ca.leaf(&["caviard-client"]).write(dir.path(), "client");
        MutualPki {
            _dir: dir,
            ca,
            ca_file,
            server,
            cert,
            key,
        }
    }

    /// The `tls:` lines trusting the CA and presenting the client certificate.
    fn client_settings(&self) -> Vec<String> {
        vec![
            format!("ca_file: {}", path(&self.ca_file)),
            format!("cert_file: {}", path(&self.cert)),
            format!("key_file: {}", path(&self.key)),
        ]
    }
}

/// Check the proxy's log holds each of `wanted`, and neither record content nor any of
/// `secrets`.
fn assert_logged(proxy: &Proxy, context: &str, wanted: &[&str], secrets: &[&str]) {
    let stderr = proxy.stderr();
    for w in wanted {
        assert!(stderr.contains(w), "{context}: no {w:?} in {stderr}");
    }
    assert!(!stderr.contains("jean.dupont"), "record content logged");
    for s in secrets {
        assert!(!stderr.contains(s), "{context}: secret logged: {stderr}");
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
        wait_until(&format!("{protocol}: two retries"), WAIT, || {
            log_retries(&proxy) >= 2
        });
        assert!(front.refused() >= 1, "{protocol}: no refused handshake");
        assert_eq!(front.accepted(), 0, "{protocol}: a handshake succeeded");
        assert!(
            upstream.received().is_empty(),
            "{protocol}: records delivered"
        );
        assert_logged(
            &proxy,
            protocol,
            &["Upstream request failed; retrying.", "UnknownIssuer"],
            &[],
        );
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
    let pki = MutualPki::new();
    for protocol in PROTOCOLS {
        let upstream = Upstream::start();
        let front = TlsFront::start(target(&upstream, protocol), &pki.server, Some(&pki.ca));
        let endpoint = format!("https://localhost:{}", front.addr.port());

        let tls = [format!("ca_file: {}", path(&pki.ca_file))];
        let proxy = Proxy::start(&[], Some(&config(&endpoint, protocol, &tls)), &[]);
        send_logs(&proxy, 2);
        wait_until(&format!("{protocol}: a refused handshake"), WAIT, || {
            front.refused() > 0
        });
        drop(proxy);
        assert!(
            upstream.received().is_empty(),
            "{protocol}: delivered without a client cert"
        );

        let tls = pki.client_settings();
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

// === rotation ===

/// The upstream rotates the CA it takes client certificates from while caviard runs, and the
/// client certificate and key (a Kubernetes Secret volume) are replaced by ones the new CA
/// signed. Records sent in between are refused at the handshake and retried with the old
/// certificate, then delivered with the new one once `reload_interval` has passed: every
/// record arrives exactly once, without a restart.
#[test]
fn rotated_client_certificate_is_used_without_a_restart_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("caviard server CA");
    let ca_file = server_ca.write(dir.path(), "server-ca");
    let server = server_ca.leaf(&["localhost"]);
    let (old_ca, new_ca) = (
        Ca::new("caviard client CA 1"),
        Ca::new("caviard client CA 2"),
    );
    for protocol in PROTOCOLS {
        let old = old_ca.leaf(&["caviard-client"]);
        let mut secret = SecretVolume::new(
            &dir.path().join(protocol.replace('/', "-")),
            &[("tls.crt", &old.cert_pem), ("tls.key", &old.key_pem)],
        );
        let upstream = Upstream::start();
        let front = TlsFront::start(target(&upstream, protocol), &server, Some(&old_ca));
        let endpoint = format!("https://localhost:{}", front.addr.port());
        let tls = [
            format!("ca_file: {}", path(&ca_file)),
            format!("cert_file: {}", secret.path("tls.crt")),
            format!("key_file: {}", secret.path("tls.key")),
            "reload_interval: 300ms".to_string(),
        ];
        let proxy = Proxy::start(&[], Some(&config(&endpoint, protocol, &tls)), &[]);
        send_log_seqs(&proxy, 0..5);
        upstream.wait_for(
            Duration::from_secs(15),
            "5 records, first certificate",
            |r| r.log_records().len() == 5,
        );
        // Acknowledged too: no request is in flight when the connections are cut below (one
        // would be retried after the upstream took it, and arrive twice).
        wait_until(&format!("{protocol}: 5 records acknowledged"), WAIT, || {
            sample(&proxy, EXPORTED_LOGS) == Some(5)
        });

        // The upstream now takes only the new CA's certificates (and dropped the open
        // connections); caviard still presents the old one.
        front.require(&server, &new_ca);
        let refused = front.refused();
        send_log_seqs(&proxy, 5..10);
        wait_until(
            &format!("{protocol}: old certificate refused"),
            WAIT,
            || front.refused() >= refused + 2,
        );
        assert_eq!(upstream.received().log_records().len(), 5, "{protocol}");

        let new = new_ca.leaf(&["caviard-client"]);
        secret.update(&[("tls.crt", &new.cert_pem), ("tls.key", &new.key_pem)]);
        upstream.wait_for(Duration::from_secs(15), "5 more, new certificate", |r| {
            r.log_records().len() == 10
        });
        let seqs = received_seqs(&upstream.received());
        assert_eq!(
            seqs,
            (0..10)
                .map(|i| (i, 1))
                .collect::<std::collections::BTreeMap<_, _>>(),
            "{protocol}: every record once"
        );
        assert!(log_retries(&proxy) >= 1, "{protocol}: nothing was retried");
        assert_eq!(
            sample(
                &proxy,
                "caviard_export_dropped_records_total{signal=\"logs\"}"
            ),
            Some(0)
        );
        assert_logged(
            &proxy,
            protocol,
            &[
                "TLS files changed; reloaded for new connections.",
                "serve.upstream.tls",
            ],
            &[new.key_pem.lines().nth(1).unwrap()],
        );
    }
}

/// A rotation that leaves a file that does not load (a key file that is not a key) keeps the
/// previous certificate: new connections still handshake with it and deliver, the warning
/// names the file but never its content, and caviard_tls_reload_failures_total{role="upstream"}
/// counts it.
#[test]
fn broken_rotation_keeps_the_previous_client_certificate() {
    let pki = MutualPki::new();
    let key = &pki.key;
    let upstream = Upstream::start();
    let front = TlsFront::start(upstream.grpc, &pki.server, Some(&pki.ca));
    let endpoint = format!("https://localhost:{}", front.addr.port());
    let mut tls = pki.client_settings();
    tls.push("reload_interval: 200ms".to_string());
    let proxy = Proxy::start(&[], Some(&config(&endpoint, "grpc", &tls)), &[]);
    assert_eq!(sample(&proxy, UPSTREAM_RELOAD_FAILURES), Some(0));
    send_log_seqs(&proxy, 0..3);
    // Acknowledged, so nothing is in flight when the connections are cut below.
    wait_until("3 records acknowledged", WAIT, || {
        sample(&proxy, EXPORTED_LOGS) == Some(3)
    });

    std::fs::write(
        key,
        "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL!!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    wait_until("the failed reload counted", WAIT, || {
        sample(&proxy, UPSTREAM_RELOAD_FAILURES) == Some(1)
    });
    assert_logged(
        &proxy,
        "grpc",
        &[
            "TLS files changed but do not load; keeping the previous certificate.",
            "serve.upstream.tls.key_file",
            &path(key),
        ],
        &["SECRETKEYMATERIAL"],
    );

    // A new connection, made after the failed reload, still presents the old certificate.
    front.disconnect();
    let accepted = front.accepted();
    send_log_seqs(&proxy, 3..6);
    upstream.wait_for(Duration::from_secs(15), "3 more records", |r| {
        r.log_records().len() == 6
    });
    assert!(front.accepted() > accepted, "no new handshake");
    assert_eq!(received_seqs(&upstream.received()).len(), 6);
    // Unchanged since, the broken file is not tried (nor counted) again.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sample(&proxy, UPSTREAM_RELOAD_FAILURES), Some(1));
}

/// caviard_tls_certificate_expiry_timestamp_seconds holds the notAfter of each certificate
/// caviard presents (the upstream client certificate, a receiver's server certificate) and
/// follows a rotation of the file.
#[test]
fn certificate_expiry_gauge_follows_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("caviard test CA");
    let ca_file = ca.write(dir.path(), "ca");
    let (cert, key) = ca
        .leaf_until(&["caviard-client"], (2031, 5, 17))
        .write(dir.path(), "client");
    let (server_cert, server_key) = ca
        .leaf_until(&["localhost"], (2030, 1, 2))
        .write(dir.path(), "server");
    // Nothing listens there: no record is sent, the files are read all the same.
    let mut yaml = config(
        "https://localhost:1",
        "grpc",
        &[
            format!("ca_file: {}", path(&ca_file)),
            format!("cert_file: {}", path(&cert)),
            format!("key_file: {}", path(&key)),
            "reload_interval: 200ms".to_string(),
        ],
    );
    yaml.push_str(&format!(
        "  otlp_grpc:\n    tls: {{cert_file: '{}', key_file: '{}'}}\n",
        path(&server_cert),
        path(&server_key)
    ));
    let proxy = Proxy::start(&[], Some(&yaml), &[]);
    let name = "caviard_tls_certificate_expiry_timestamp_seconds";
    let upstream = format!("{name}{{role=\"upstream\",file=\"{}\"}}", path(&cert));
    let receiver = format!(
        "{name}{{role=\"receiver\",receiver=\"otlp_grpc\",file=\"{}\"}}",
        path(&server_cert)
    );
    // 2031-05-17T00:00:00Z and 2030-01-02T00:00:00Z.
    assert_eq!(sample(&proxy, &upstream), Some(1_936_742_400));
    assert_eq!(sample(&proxy, &receiver), Some(1_893_542_400));

    let renewed = ca.leaf_until(&["caviard-client"], (2032, 3, 1));
    renewed.write(dir.path(), "client");
    // 2032-03-01T00:00:00Z.
    wait_until("the renewed certificate's expiry", WAIT, || {
        sample(&proxy, &upstream) == Some(1_961_712_000)
    });
    assert_eq!(sample(&proxy, &receiver), Some(1_893_542_400));
}
