//! `caviard scan` black box: the terminal table and the HTML report over the fixture logs in
//! tests/fixtures/scan/, and the HTML rendered by headless Chromium (Debian's `chromium`,
//! installed by .ci/run; set `CHROMIUM` to use another binary).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Values the engine detects in the fixtures: none may appear in any output.
const VALUES: &[&str] = &[
    "jean.dupont@example.fr",
    "jean.dupont",
    "4111 1111 1111 1111",
    "marie.curie",
    "83.202.14.7",
    "83.202.14.9",
    "92.184.100.3",
    "FR76 3000 6000 0112 3456 7890 189",
    "06 12 34 56 78",
    "paul.martin",
];

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scan");
    vec![dir.join("app.log"), dir.join("auth.log")]
}

fn scan(html: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_caviard"))
        .arg("scan")
        .arg("--html")
        .arg(html)
        .args(fixtures())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "caviard scan failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn assert_no_values(text: &str, what: &str) {
    for v in VALUES {
        assert!(!text.contains(v), "{what}: value {v:?} leaked");
    }
}

#[test]
fn table_and_html_show_counts_and_masked_examples_never_values() {
    let dir = tempfile::tempdir().unwrap();
    let html_path = dir.path().join("report.html");
    let table = scan(&html_path);
    assert!(
        table.starts_with(
            "10 lines in 2 source(s); 7 (70.0%) contain personal data; 9 values found."
        ),
        "{table}"
    );
    let row = |cat: &str| {
        table
            .lines()
            .find(|l| l.split_whitespace().next() == Some(cat))
            .unwrap_or_else(|| panic!("no {cat} row in\n{table}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("email")[1..3], ["3", "3"]);
    assert_eq!(row("ipv4")[1..3], ["3", "3"]);
    assert_eq!(row("iban")[1], "1");
    assert!(
        table.contains("sshd (2)"),
        "services from syslog tags: {table}"
    );
    assert!(
        table.contains("checkout (1)"),
        "services from JSON: {table}"
    );
    assert!(
        table.contains("password reset for [EMAIL] from [IPV4]"),
        "{table}"
    );
    assert_no_values(&table, "terminal table");

    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Content-Security-Policy"));
    assert!(html.contains("<svg"), "inline SVG charts");
    for external in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!html.contains(external), "external resource {external:?}");
    }
    assert_no_values(&html, "HTML report");
}

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            if out.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
    panic!(
        "headless Chromium is needed to check the HTML report: install it with \
         `apt-get install -y chromium` (.ci/run does), or set CHROMIUM=/path/to/chromium"
    );
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let browser = chromium();
    let dir = tempfile::tempdir().unwrap();
    let html_path = dir.path().join("report.html");
    scan(&html_path);
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", html_path.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {stderr}");
    // Every console message (uncaught exceptions, CSP violations, console.error) is logged
    // with a CONSOLE tag: the report must produce none.
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let dom = String::from_utf8_lossy(&out.stdout);
    // The inline script ran to its end.
    assert!(
        dom.contains("data-rendered=\"ok\""),
        "script did not run:\n{dom}"
    );
    assert!(dom.contains("Rendered 5 categories, 9 values."), "{dom}");
    // Shares are computed by the script: 3 of 9 e-mails.
    assert!(dom.contains("33.3%"), "{dom}");
    for text in [
        "Personal data discovery report",
        "Values by category",
        "credit_card",
        "[IBAN]",
        "sshd (2)",
    ] {
        assert!(dom.contains(text), "{text:?} missing from the rendered DOM");
    }
    assert_no_values(&dom, "rendered DOM");
}
