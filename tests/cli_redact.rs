//! Black-box tests of `caviard redact`: the built binary on stdin/stdout.
mod util;

use util::{redact, run, with_config};

fn lines(b: &[u8]) -> Vec<&[u8]> {
    b.strip_suffix(b"\n")
        .unwrap_or(b)
        .split(|&c| c == b'\n')
        .collect()
}

#[test]
fn one_output_line_per_input_line_whatever_the_bytes() {
    let mut input = Vec::new();
    input.extend_from_slice(b"mail jean.dupont@example.fr now\n");
    input.extend_from_slice(b"\xff\xfe invalid utf8 \xc3\x28 card 4111 1111 1111 1111\n");
    input.extend_from_slice(b"nul\0byte\0 +33 6 12 34 56 78\n");
    input.extend_from_slice(b"crlf line bob@example.com\r\n");
    input.extend_from_slice(b"\n\n");
    input.extend_from_slice(b"{\"broken json\": \"a@b.example.org\"\n");
    input.extend_from_slice(b"last line without newline 8.8.8.8");
    let out = redact(&["--threads", "1"], &input);
    let got = lines(&out);
    assert_eq!(got.len(), 8, "{}", String::from_utf8_lossy(&out));
    assert_eq!(got[0], b"mail [EMAIL] now");
    assert_eq!(got[1], b"\xff\xfe invalid utf8 \xc3\x28 card [CREDIT_CARD]");
    assert_eq!(got[2], b"nul\0byte\0 [PHONE]");
    assert_eq!(got[3], b"crlf line [EMAIL]\r");
    assert_eq!(got[4], b"");
    assert_eq!(got[6], b"{\"broken json\": \"[EMAIL]\"");
    assert_eq!(got[7], b"last line without newline [IPV4]");
}

#[test]
fn ten_megabyte_line_is_cut_with_a_marker_then_processed_whole_when_allowed() {
    let mut big = b"start a@b.example.org ".to_vec();
    while big.len() < 10 << 20 {
        big.extend_from_slice(b"word 4111 1111 1111 1111 ");
    }
    big.extend_from_slice(b"\nnext line\n");
    let out = redact(&["--threads", "1"], &big);
    let got = lines(&out);
    assert_eq!(got.len(), 2);
    assert!(got[0].starts_with(b"start [EMAIL] word [CREDIT_CARD] "));
    assert!(got[0].ends_with(b" [TRUNCATED]"), "no marker");
    assert!(got[0].len() <= (1 << 20) + 64);
    assert_eq!(got[1], b"next line");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "input:\n  max_line_bytes: 16777216\n").unwrap();
    let out = redact(&["--config", cfg.to_str().unwrap()], &big);
    let got = lines(&out);
    assert!(!got[0].ends_with(b"[TRUNCATED]"));
    assert!(!got[0].windows(4).any(|w| w == b"4111"), "a card survived");
}

#[test]
fn json_stays_json_with_the_same_keys() {
    let input = br#"{"user":{"id":7,"phone":33612345678,"card":4111111111111111,"email":"Jean\u0040example.fr","name":"Jean Dupont","tags":["a@b.example.org"]},"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","n":1.5e3}"#;
    let out = redact(&[], &[&input[..], b"\n"].concat());
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    let orig: serde_json::Value = serde_json::from_slice(input).unwrap();
    assert_eq!(keys(&v), keys(&orig));
    assert_eq!(v["user"]["phone"], "[PHONE]");
    assert_eq!(v["user"]["card"], "[CREDIT_CARD]");
    assert_eq!(v["user"]["email"], "[EMAIL]");
    assert_eq!(v["user"]["name"], "[PERSON_NAME]");
    assert_eq!(v["user"]["tags"][0], "[EMAIL]");
    assert_eq!(v["trace_id"], orig["trace_id"]);
    assert_eq!(v["user"]["id"], 7);
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = format!("{path}.{k}");
                    out.push(p.clone());
                    walk(v, &p, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, path, out)),
            _ => {}
        }
    }
    walk(v, "", &mut out);
    out
}

#[test]
fn drop_removes_fields_and_keeps_json_and_logfmt_valid() {
    let yaml = "policy:\n  rule_actions:\n    keys.secret: drop\n";
    let input = b"{\"user\":\"app\",\"password\":\"hunter2\",\"ok\":true}\n{\"a\":1, \"token\": \"x1\"}\nlevel=info password=hunter2 user=app\n";
    let out = with_config(yaml, &[], input, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let l: Vec<&str> = text.lines().collect();
    assert_eq!(l[0], r#"{"user":"app","ok":true}"#);
    assert_eq!(l[1], r#"{"a":1}"#);
    assert_eq!(l[2], "level=info user=app");
    for j in &l[..2] {
        serde_json::from_str::<serde_json::Value>(j).expect("still JSON");
    }
}

#[test]
fn pseudonyms_are_stable_across_processes_and_keyed() {
    let yaml = "policy:\n  actions:\n    email: pseudonymize\n  pseudonym:\n    key_id: k1\n    key_env: CAVIARD_TEST_KEY\n";
    let input = b"a Jean@Example.fr b\nc jean@example.fr d\n";
    let env1 = [("CAVIARD_TEST_KEY", "0123456789abcdef0123456789abcdef")];
    let a = with_config(yaml, &[], input, &env1);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let b = with_config(yaml, &[], input, &env1);
    assert_eq!(a.stdout, b.stdout, "same key, same pseudonyms");
    let text = String::from_utf8(a.stdout.clone()).unwrap();
    let toks: Vec<&str> = text.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert!(
        toks[0].starts_with("[EMAIL:k1:") && toks[0].len() == 27,
        "{text}"
    );
    assert_eq!(toks[0], toks[1], "case-normalised");
    let c = with_config(
        yaml,
        &[],
        input,
        &[("CAVIARD_TEST_KEY", "another key, rotated 2026-11-01!")],
    );
    assert_ne!(a.stdout, c.stdout, "another key, other pseudonyms");
    assert!(!String::from_utf8_lossy(&a.stderr).contains("0123456789abcdef"));
}

#[test]
fn pseudonymize_without_a_key_refuses_to_start() {
    let out = with_config(
        "policy:\n  actions:\n    email: pseudonymize\n",
        &[],
        b"x\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy.pseudonym"), "{err}");
    assert!(out.stdout.is_empty(), "nothing may be written unredacted");
}

#[test]
fn partial_keeps_last_digits_and_domain() {
    let yaml = "policy:\n  actions:\n    credit_card: partial\n    email: partial\n";
    let out = with_config(
        yaml,
        &[],
        b"card 4111-1111-1111-1111 to jean@example.fr\n",
        &[],
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "card ****-****-****-1111 to ***@example.fr\n"
    );
}

#[test]
fn check_names_every_bad_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "policy:\n  actions:\n    emial: mask\n  disable: [nosuch]\ninput:\n  max_line_bytes: 10\n",
    )
    .unwrap();
    let out = run(&["check", "--config", cfg.to_str().unwrap()], b"", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("policy.actions.emial: unknown category"),
        "{err}"
    );
    assert!(err.contains("policy.disable[0]"), "{err}");
    assert!(err.contains("input.max_line_bytes"), "{err}");
    std::fs::write(&cfg, "policy:\n  actoins: {}\n").unwrap();
    let out = run(&["check", "--config", cfg.to_str().unwrap()], b"", &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("actoins"));
    std::fs::write(&cfg, "policy:\n  actions:\n    email: partial\n").unwrap();
    assert!(run(&["check", "--config", cfg.to_str().unwrap()], b"", &[])
        .status
        .success());
}

#[test]
fn private_addresses_are_kept_unless_configured() {
    let input = b"from 10.1.2.3 and 84.1.2.3 and fe80::1 and 2a00:1450::1\n";
    assert_eq!(
        redact(&[], input),
        b"from 10.1.2.3 and [IPV4] and fe80::1 and [IPV6]\n"
    );
    let out = with_config("policy:\n  redact_private_ips: true\n", &[], input, &[]);
    assert_eq!(
        out.stdout,
        b"from [IPV4] and [IPV4] and [IPV6] and [IPV6]\n"
    );
}

#[test]
fn threads_give_the_same_bytes_in_the_same_order() {
    let mut input = Vec::new();
    for i in 0..60_000 {
        input.extend_from_slice(
            format!(
                "{i} user{i}@example.com ok {i}.{}.3.4 trace=4bf92f3577b34da6\n",
                i % 250
            )
            .as_bytes(),
        );
    }
    let one = redact(&["--threads", "1"], &input);
    assert_eq!(lines(&one).len(), 60_000);
    // Small chunks: buffers are recycled many times.
    for args in [
        &["--threads", "3"][..],
        &["--threads", "2", "--chunk-bytes", "4096"],
    ] {
        let par = redact(args, &input);
        assert!(one == par, "parallel output differs with {args:?}");
    }
}

#[test]
fn files_are_read_in_order_and_do_not_merge_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    std::fs::write(&a, "one a@b.example.org").unwrap();
    std::fs::write(&b, "two\n").unwrap();
    let out = redact(&[a.to_str().unwrap(), b.to_str().unwrap()], b"");
    assert_eq!(out, b"one [EMAIL]\ntwo\n");
}

#[test]
fn dev_corpus_score_when_available() {
    let Some(corpus) = util::shared_corpus() else {
        return;
    };
    let input = std::fs::read(corpus.join("dev/logs.txt")).unwrap();
    let out = redact(&[], &input);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.txt");
    std::fs::write(&path, out).unwrap();
    let (recall, keep, text) = util::score(&corpus.join("score.py"), &corpus.join("dev"), &path);
    assert!(recall >= 0.99 && keep >= 0.99, "{text}");
}
