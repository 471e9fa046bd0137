//! `caviard check` on the `retention:` and `audit:` sections: invalid or ambiguous rules fail
//! with their dotted path; the shipped examples pass.

use std::process::Command;

fn check(yaml: &str) -> (bool, String) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_caviard"))
        .args(["check", "--config"])
        .arg(f.path())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_rejects_invalid_and_ambiguous_retention_rules() {
    let yaml = r#"
retention:
  default_class: standard
  classes: {standard: 180d, security-audit: 365d, Debug: 30d}
  rules:
    - name: everything
      class: standard
    - name: auth
      class: security-audit
      match: {syslog_facility: [auth]}
    - name: typo
      class: securty-audit
      match: {categories: [emial]}
audit:
  attributes: {count: retention.days}
"#;
    let (ok, stderr) = check(yaml);
    assert!(!ok);
    for want in [
        "retention.classes.Debug: class names are",
        "retention.rules[1]: never matches: the earlier rule \"everything\"",
        "retention.rules[2].class: unknown class \"securty-audit\"",
        "retention.rules[2].match.categories[0]: unknown category \"emial\"",
        "audit.attributes.count: \"retention.days\" is also retention.attributes.days",
    ] {
        assert!(stderr.contains(want), "want {want:?} in:\n{stderr}");
    }
}

#[test]
fn check_rejects_unknown_keys_in_rules() {
    let (ok, stderr) =
        check("retention:\n  rules:\n    - {name: a, class: standard, match: {namespaces: [x]}}\n");
    assert!(!ok);
    assert!(stderr.contains("namespaces"), "{stderr}");
}

#[test]
fn default_policy_and_examples_pass() {
    assert!(check("").0);
    for file in ["config/sidecar.yaml", "config/gateway.yaml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let (ok, stderr) = check(&std::fs::read_to_string(path).unwrap());
        assert!(ok, "{file}: {stderr}");
    }
}
