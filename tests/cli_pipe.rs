//! Black-box tests of a closed stdout (`caviard patterns list | head -1`): every subcommand
//! that writes to stdout stops quietly, with the status it would have had (0, or `patterns
//! test`'s verdict), never a panic, an error message or a hang. `serve` is the exception:
//! stdout is its records' sink when no upstream is set, so losing it stops the proxy with a
//! failure (tests/otlp_config.rs, `closed_stdout_stops_serve_with_a_failure`).
mod util;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a run with an early-closing reader gave.
struct Closed {
    status: ExitStatus,
    stderr: String,
    /// The lines read before the reader closed its end.
    read: Vec<String>,
}

/// Run `caviard ARGS` with stdout on a pipe whose reader reads `lines` lines then closes
/// (with 0, it is closed before the process starts: the first write fails, whatever the
/// size of the output). Fails the test if the process is still running after a minute.
fn run_closed_after(args: &[&str], lines: usize) -> Closed {
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut reader = (lines > 0).then(|| BufReader::new(reader));
    let mut child = Command::new(util::bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn caviard");
    let mut err = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut read = Vec::new();
    if let Some(r) = reader.as_mut() {
        for _ in 0..lines {
            let mut line = String::new();
            r.read_line(&mut line).expect("read a line");
            read.push(line);
        }
    }
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait caviard") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("caviard {args:?} still running a minute after its stdout closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Closed {
        status,
        stderr: stderr.join().expect("stderr reader"),
        read,
    }
}

fn assert_quiet(args: &[&str], c: &Closed, code: i32) {
    assert_eq!(
        c.status.code(),
        Some(code),
        "caviard {args:?}: {:?}; stderr: {}",
        c.status,
        c.stderr
    );
    assert!(c.stderr.is_empty(), "caviard {args:?} stderr: {}", c.stderr);
}

#[test]
fn redact_stops_quietly_when_the_reader_goes_away() {
    // About 17 MB of output: far more than the pipe and the writer's buffer hold.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    let mut input = String::new();
    for i in 0..300_000 {
        input.push_str(&format!(
            "{i} mail user{i}@example.com card 4111 1111 1111 1111\n"
        ));
    }
    std::fs::write(&log, input).unwrap();
    let log = log.to_str().unwrap();
    // The parallel path used to hang: its reader waited on a channel nobody drained.
    for threads in ["1", "4"] {
        let args = ["redact", "--threads", threads, log];
        let c = run_closed_after(&args, 2);
        assert_quiet(&args, &c, 0);
        assert_eq!(
            c.read,
            [
                "0 mail [EMAIL] card [CREDIT_CARD]\n",
                "1 mail [EMAIL] card [CREDIT_CARD]\n"
            ],
            "{args:?}"
        );
        let c = run_closed_after(&args, 0);
        assert_quiet(&args, &c, 0);
    }
}

#[test]
fn patterns_list_stops_quietly_when_the_reader_goes_away() {
    let args = ["patterns", "list"];
    let c = run_closed_after(&args, 1);
    assert_quiet(&args, &c, 0);
    assert!(
        c.read[0].starts_with("core.") && c.read[0].ends_with('\n'),
        "{:?}",
        c.read
    );
    // Closed before the first write: `println!` panicked here.
    assert_quiet(&args, &run_closed_after(&args, 0), 0);
}

#[test]
fn patterns_test_keeps_its_verdict_when_the_reader_goes_away() {
    let args = ["patterns", "test"];
    assert_quiet(&args, &run_closed_after(&args, 0), 0);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("acme.yaml"),
        "pack: acme\nrules:\n  - id: acme.employee\n    category: employee_id\n    \
         trigger: literal\n    literals: [EMP-]\n    pattern: 'EMP-[0-9]{6}'\n    \
         examples:\n      match: ['EMP-123456']\n      no_match: ['EMP-999999']\n",
    )
    .unwrap();
    let args = [
        "patterns",
        "test",
        "--patterns",
        dir.path().to_str().unwrap(),
    ];
    assert_quiet(&args, &run_closed_after(&args, 0), 1);
}

#[test]
fn scan_and_check_stop_quietly_and_scan_still_writes_its_html() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    std::fs::write(&log, "mail a@b.example.org\ncard 4111 1111 1111 1111\n").unwrap();
    let html = dir.path().join("r.html");
    let args = [
        "scan",
        "--no-progress",
        "--html",
        html.to_str().unwrap(),
        log.to_str().unwrap(),
    ];
    assert_quiet(&args, &run_closed_after(&args, 0), 0);
    assert!(html.is_file(), "no HTML report written");

    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "policy:\n  actions:\n    email: partial\n").unwrap();
    let args = ["check", "--config", cfg.to_str().unwrap()];
    assert_quiet(&args, &run_closed_after(&args, 0), 0);
}
