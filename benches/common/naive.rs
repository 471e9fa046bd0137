//! The naive baseline of the engine benchmarks: one regex per category applied in turn with
//! `replace_all` over each line, as Vector's `redact` and the OpenTelemetry redaction processor
//! do. Shared by `benches/engine.rs` and `examples/throughput.rs`.

use regex::Regex;
use std::borrow::Cow;

/// The baseline's regexes, one per category, as a user would write them for a regex-based
/// redaction processor.
pub const NAIVE: &[(&str, &str)] = &[
    ("email", r"(?i)[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}"),
    ("phone_intl", r"(?:\+|\b00)[1-9][0-9 .\-()]{7,18}[0-9]"),
    ("phone_fr", r"\b0[1-9](?:[ .\-]?[0-9]{2}){4}\b"),
    (
        "phone_us",
        r"\(?\b[0-9]{3}\)?[ .\-][0-9]{3}[ .\-][0-9]{4}\b",
    ),
    ("credit_card", r"\b(?:[0-9][ \-]?){12,18}[0-9]\b"),
    (
        "iban",
        r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
    ),
    (
        "fr_nir",
        r"\b[1-478] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}\b",
    ),
    ("ipv4", r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b"),
    (
        "ipv6",
        r"\b(?:[0-9a-fA-F]{1,4}:){2,7}(?::|[0-9a-fA-F]{1,4})(?::[0-9a-fA-F]{1,4})*\b",
    ),
    (
        "jwt",
        r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",
    ),
    ("aws", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    (
        "github",
        r"\bgh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}",
    ),
    ("slack", r"xox[abprs]-[A-Za-z0-9\-]{10,}"),
    ("stripe", r"[sr]k_live_[A-Za-z0-9]{16,}"),
    ("google", r"AIza[0-9A-Za-z_\-]{35}"),
    ("bearer", r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*"),
    ("url_password", r"://[^/\s:@]+:[^/\s@]+@"),
    (
        "secret_kv",
        r#"(?i)(?:password|passwd|pwd|secret|token|api_key|apikey|cookie)["']?\s*[:=]\s*["']?[^\s"',;&]+"#,
    ),
    (
        "name_kv",
        r#"(?i)"(?:first_name|last_name|full_name|name|customer_name)"\s*:\s*"[^"]*""#,
    ),
    (
        "address_kv",
        r#"(?i)"(?:address|street|billing_address|shipping_address)"\s*:\s*"[^"]*""#,
    ),
    (
        "dob_kv",
        r#"(?i)(?:dob|birth_date|date_of_birth)["']?\s*[:=]\s*["']?[0-9./\-]+"#,
    ),
];

pub fn naive_redact(res: &[Regex], data: &str) -> usize {
    let mut changed = 0;
    for line in data.lines() {
        let mut cur: Cow<str> = Cow::Borrowed(line);
        for re in res {
            if let Cow::Owned(s) = re.replace_all(&cur, "[REDACTED]") {
                cur = Cow::Owned(s);
            }
        }
        changed += matches!(cur, Cow::Owned(_)) as usize;
    }
    changed
}
