//! Shared helpers for the black-box tests: run the built binary, find the shared corpus.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The `caviard` binary built by cargo for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_caviard"))
}

/// Run `caviard ARGS` with `stdin` as input.
pub fn run(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn caviard");
    let mut sin = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = sin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait caviard");
    writer.join().expect("stdin writer");
    out
}

/// `caviard redact ARGS` on `input`, asserting success; returns stdout.
pub fn redact(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut all = vec!["redact"];
    all.extend_from_slice(args);
    let out = run(&all, input, &[]);
    assert!(
        out.status.success(),
        "caviard redact failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `caviard redact --config C ARGS` on `input`, with `yaml` written to a temporary file `C`.
pub fn with_config(yaml: &str, args: &[&str], input: &[u8], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, yaml).expect("write the config");
    let mut all = vec!["redact", "--config", cfg.to_str().expect("UTF-8 path")];
    all.extend_from_slice(args);
    run(&all, input, env)
}

/// The workplace's shared corpus beside the repository, if present. A user's clone has none:
/// tests that need it print why they skip.
pub fn shared_corpus() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if p.join("dev/logs.txt").is_file() {
        Some(p)
    } else {
        eprintln!("SKIP: ../shared/corpus not found beside the repository (only present in the development workspace)");
        None
    }
}

/// Run score.py and parse its last line `recall=R keep=K lines=A/B`.
pub fn score(
    scorer: &std::path::Path,
    corpus: &std::path::Path,
    output: &std::path::Path,
) -> (f64, f64, String) {
    let out = Command::new("python3")
        .arg(scorer)
        .arg("--corpus")
        .arg(corpus)
        .arg("--output")
        .arg(output)
        .output()
        .expect("python3 score.py");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let last = text.lines().last().unwrap_or_default().to_string();
    let field = |name: &str| -> f64 {
        last.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    };
    (field("recall="), field("keep="), text)
}
