//! PEM files for the unit tests of the `tls` blocks (`tls.rs`, `receiver_tls.rs`).

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A fresh directory holding a self-signed CA (`ca.pem`), a leaf it signed for `localhost`
/// (`leaf.pem`, `leaf.key`, an Ed25519 key), a key of no certificate (`other.key`), and
/// files that are not what they should be: `text.pem` (no PEM), `broken.pem` and `broken.key`
/// (PEM markers around garbage, which no message may quote).
pub(super) fn pki() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &Issuer::new(ca, ca_key))
        .unwrap();
    let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
    write("ca.pem", ca_cert.pem());
    write("leaf.pem", leaf.pem());
    write("leaf.key", key.serialize_pem());
    write("other.key", KeyPair::generate().unwrap().serialize_pem());
    write("text.pem", "not a certificate\n".into());
    write(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n".into(),
    );
    write(
        "broken.key",
        "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL%%\n-----END PRIVATE KEY-----\n".into(),
    );
    dir
}
