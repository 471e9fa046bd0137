//! Every example of every built-in pack, and `caviard patterns test` on a user pack.
mod util;

use caviard::engine::Redactor;

#[test]
fn every_builtin_example_passes() {
    let r = Redactor::builtin().expect("builtin policy builds");
    let failures = r.test_examples();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        r.example_count() > 250,
        "only {} examples",
        r.example_count()
    );
}

#[test]
fn builtin_categories_cover_the_issue() {
    let r = Redactor::builtin().unwrap();
    let cats: Vec<&str> = r.categories().collect();
    for c in [
        "email",
        "phone",
        "credit_card",
        "iban",
        "fr_nir",
        "fr_siren",
        "fr_siret",
        "ipv4",
        "ipv6",
        "jwt",
        "secret",
        "person_name",
        "street_address",
        "date_of_birth",
        "es_dni",
        "it_codice_fiscale",
        "be_national_number",
        "nl_bsn",
    ] {
        assert!(cats.contains(&c), "missing category {c}: {cats:?}");
    }
}

const USER_PACK: &str = r#"
pack: acme
rules:
  - id: acme.employee
    category: employee_id
    trigger: literal
    literals: [EMP-]
    pattern: 'EMP-[0-9]{6}'
    examples:
      match: ['EMP-123456', {text: 'badge EMP-654321 used', value: EMP-654321}]
      no_match: ['EMP-12']
"#;

#[test]
fn user_pack_examples_pass_and_fail() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("acme.yaml"), USER_PACK).unwrap();
    let d = dir.path().to_str().unwrap();
    let ok = util::run(&["patterns", "test", "--patterns", d], b"", &[]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{text}");
    assert!(
        text.contains("1 rules, 0 key rules, 3 examples, 0 failures"),
        "{text}"
    );

    std::fs::write(
        dir.path().join("acme.yaml"),
        USER_PACK.replace("'EMP-12'", "'EMP-999999'"),
    )
    .unwrap();
    let bad = util::run(&["patterns", "test", "--patterns", d], b"", &[]);
    let text = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL acme.employee: must not match \"EMP-999999\""),
        "{text}"
    );
}

#[test]
fn broken_pack_names_file_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        USER_PACK.replace("pattern: 'EMP-[0-9]{6}'", "pattern: 'EMP-[0-9'"),
    )
    .unwrap();
    let out = util::run(
        &[
            "patterns",
            "test",
            "--patterns",
            dir.path().to_str().unwrap(),
        ],
        b"",
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.yaml") && err.contains("acme.employee") && err.contains("pattern"),
        "{err}"
    );
}
