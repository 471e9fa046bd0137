//! Black-box tests of `caviard redact --tag`: the built binary on the fixtures in
//! `tests/fixtures/tag/`, with the built-in retention policy (classes `standard`,
//! `pii-pseudonymized`, `app-debug`, `security-audit`) or a config of its own.
mod util;

use std::path::PathBuf;
use util::{redact, run, with_config};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tag")
        .join(name);
    p.to_str().expect("UTF-8 path").to_string()
}

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8(out.to_vec())
        .expect("UTF-8 output")
        .split_terminator('\n')
        .map(str::to_string)
        .collect()
}

/// `app.log` redacted, without tags: what `caviard redact` has always written.
const APP_REDACTED: [&str; 11] = [
    r#"{"ts":"2025-03-01T10:00:00Z","level":"info","msg":"order 42 shipped"}"#,
    r#"{"ts":"2025-03-01T10:00:01Z","level":"info","msg":"password reset for [EMAIL]"}"#,
    r#"{"ts":"2025-03-01T10:00:02Z","level":"debug","msg":"cache miss","key":"orders:42"}"#,
    r#"{"ts":"2025-03-01T10:00:03Z","level":"error","msg":"payment failed","card":"[CREDIT_CARD]"}"#,
    r#"{"ts":"2025-03-01T10:00:04Z","severity":"ERROR","msg":"upstream timeout"}"#,
    r#"{"ts":"2025-03-01T10:00:05Z","event":{"category":"authentication"},"msg":"login","user":"[EMAIL]"}"#,
    r#"{"ts":"2025-03-01T10:00:06Z","retention.class":"forever","retention.days":99999,"msg":"forged"}"#,
    "{}",
    r#"  { "msg" : "spaced", "n" : 1 }  "#,
    "GET /health 200 from [IPV4]",
    r#"{"msg":"not JSON: unclosed [EMAIL]""#,
];

/// `app.log` redacted and tagged with the built-in policy.
const APP_TAGGED: [&str; 11] = [
    // Clean info line: the default class.
    r#"{"ts":"2025-03-01T10:00:00Z","level":"info","msg":"order 42 shipped","retention.class":"standard","retention.days":180}"#,
    // An e-mail was redacted: rule `personal-data`, and the summary.
    r#"{"ts":"2025-03-01T10:00:01Z","level":"info","msg":"password reset for [EMAIL]","retention.class":"pii-pseudonymized","retention.days":180,"redaction.count":1,"redaction.categories":"email:1"}"#,
    // Clean debug line: rule `debug`.
    r#"{"ts":"2025-03-01T10:00:02Z","level":"debug","msg":"cache miss","key":"orders:42","retention.class":"app-debug","retention.days":30}"#,
    // Error level with a card: personal data decides.
    r#"{"ts":"2025-03-01T10:00:03Z","level":"error","msg":"payment failed","card":"[CREDIT_CARD]","retention.class":"pii-pseudonymized","retention.days":180,"redaction.count":1,"redaction.categories":"credit_card:1"}"#,
    // Error level, clean: not debug, so the default class.
    r#"{"ts":"2025-03-01T10:00:04Z","severity":"ERROR","msg":"upstream timeout","retention.class":"standard","retention.days":180}"#,
    // ECS event.category (nested): rule `security-events`, before `personal-data`.
    r#"{"ts":"2025-03-01T10:00:05Z","event":{"category":"authentication"},"msg":"login","user":"[EMAIL]","retention.class":"security-audit","retention.days":365,"redaction.count":1,"redaction.categories":"email:1"}"#,
    // A class the line brought itself is replaced, not duplicated.
    r#"{"ts":"2025-03-01T10:00:06Z","msg":"forged","retention.class":"standard","retention.days":180}"#,
    r#"{"retention.class":"standard","retention.days":180}"#,
    r#"  { "msg" : "spaced", "n" : 1,"retention.class":"standard","retention.days":180 }  "#,
    // Plain text and invalid JSON: unchanged.
    "GET /health 200 from [IPV4]",
    r#"{"msg":"not JSON: unclosed [EMAIL]""#,
];

#[test]
fn json_lines_are_tagged_with_class_days_and_summary() {
    let out = redact(&["--tag", "--threads", "1", &fixture("app.log")], b"");
    assert_eq!(lines(&out), APP_TAGGED);
    for l in &APP_TAGGED[..9] {
        serde_json::from_str::<serde_json::Value>(l).expect("valid JSON");
    }
}

#[test]
fn without_tag_the_output_is_unchanged() {
    let out = redact(&["--threads", "1", &fixture("app.log")], b"");
    assert_eq!(lines(&out), APP_REDACTED);
    let out = redact(
        &[
            "--threads",
            "2",
            "--chunk-bytes",
            "100",
            &fixture("app.log"),
        ],
        b"",
    );
    assert_eq!(lines(&out), APP_REDACTED);
}

#[test]
fn order_is_kept_with_threads() {
    let input = std::fs::read(fixture("app.log")).unwrap();
    let many: Vec<u8> = input.repeat(50);
    let want: Vec<String> = APP_TAGGED.iter().map(|s| s.to_string()).collect();
    for threads in ["2", "3"] {
        // Chunks of a few lines: many chunks, finished out of order.
        let out = redact(
            &["--tag", "--threads", threads, "--chunk-bytes", "300"],
            &many,
        );
        let got = lines(&out);
        assert_eq!(got.len(), 550, "--threads {threads}");
        for (i, chunk) in got.chunks(11).enumerate() {
            assert_eq!(chunk, want, "--threads {threads}, copy {i}");
        }
    }
}

#[test]
fn summary_counts_are_the_same_with_tag() {
    let tagged = run(
        &["redact", "--tag", "--summary", &fixture("app.log")],
        b"",
        &[],
    );
    let plain = run(&["redact", "--summary", &fixture("app.log")], b"", &[]);
    assert!(tagged.status.success() && plain.status.success());
    let stderr = String::from_utf8_lossy(&tagged.stderr);
    assert_eq!(stderr, String::from_utf8_lossy(&plain.stderr));
    assert_eq!(stderr, "credit_card\t1\nemail\t3\nipv4\t1\n");
}

#[test]
fn logfmt_lines_get_key_value_pairs() {
    let out = redact(
        &["--tag", "--format", "logfmt", &fixture("app.logfmt")],
        b"",
    );
    assert_eq!(
        lines(&out),
        [
            "ts=2025-03-01T10:00:00Z level=info msg=\"order shipped\" user=[EMAIL] retention.class=pii-pseudonymized retention.days=180 redaction.count=1 redaction.categories=email:1",
            "ts=2025-03-01T10:00:01Z level=debug msg=\"cache miss\" retention.class=app-debug retention.days=30",
            "",
            // The forged pair is replaced; the CRLF ending is kept.
            "ts=2025-03-01T10:00:02Z level=error msg=\"db down\" retention.class=standard retention.days=180\r",
            "event.category=iam msg=\"role granted\" retention.class=security-audit retention.days=365",
        ]
    );
    let plain = redact(&["--format", "logfmt", &fixture("app.logfmt")], b"");
    assert_eq!(
        lines(&plain)[3],
        "ts=2025-03-01T10:00:02Z level=error msg=\"db down\" retention.class=forever\r"
    );
}

#[test]
fn config_sections_choose_keys_classes_and_summary() {
    let yaml = "retention:
  attributes: {class: retention, days: keep_days}
  default_class: standard
  classes: {standard: 180d, orders: 2y}
  rules:
    - name: order-files
      class: orders
      match: {receiver: [file], fields: {msg: ['order*']}}
audit:
  summary: rules
";
    let input = b"{\"msg\":\"order 7 for a@example.org\"}\n{\"msg\":\"other\"}\n";
    let out = with_config(yaml, &["--tag"], input, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        lines(&out.stdout),
        [
            r#"{"msg":"order 7 for [EMAIL]","retention":"orders","keep_days":730,"redaction.count":1,"redaction.categories":"email:1","redaction.rules":"core.email:1"}"#,
            r#"{"msg":"other","retention":"standard","keep_days":180}"#,
        ]
    );
    // Both sections off: --tag writes nothing.
    let off = "retention: {enabled: false}\naudit: {summary: off}\n";
    let tagged = with_config(off, &["--tag"], input, &[]);
    assert_eq!(tagged.stdout, with_config(off, &[], input, &[]).stdout);
    assert_eq!(
        lines(&tagged.stdout),
        [r#"{"msg":"order 7 for [EMAIL]"}"#, r#"{"msg":"other"}"#]
    );
}

#[test]
fn tag_with_text_format_is_refused() {
    let out = run(&["redact", "--tag", "--format", "text"], b"{}\n", &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tag needs JSON or logfmt lines"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn ecs_array_fields_match_when_any_element_does() {
    // ECS writes `event.category` as an array: the built-in rule `security-events`
    // (`event.category` is `authentication` or `iam`) holds when any element is one of them.
    let input = concat!(
        r#"{"event":{"category":["authentication","session"]},"msg":"login"}"#,
        "\n",
        r#"{"event.category":["web","iam"],"msg":"role granted"}"#,
        "\n",
        r#"{"event":{"category":["web"]},"msg":"page"}"#,
        "\n",
    );
    let out = redact(&["--tag"], input.as_bytes());
    assert_eq!(
        lines(&out),
        [
            r#"{"event":{"category":["authentication","session"]},"msg":"login","retention.class":"security-audit","retention.days":365}"#,
            r#"{"event.category":["web","iam"],"msg":"role granted","retention.class":"security-audit","retention.days":365}"#,
            r#"{"event":{"category":["web"]},"msg":"page","retention.class":"standard","retention.days":180}"#,
        ]
    );
}

#[test]
fn a_key_that_would_break_logfmt_is_refused_at_load() {
    let yaml = "retention:\n  attributes: {class: retention class}\n";
    let out = with_config(yaml, &["--tag", "--format", "logfmt"], b"msg=hi\n", &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"retention.attributes.class: "retention class" is not a valid logfmt key"#),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
