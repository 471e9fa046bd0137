//! Shannon entropy and the "looks like a random secret" heuristic.

/// Shannon entropy of the byte distribution of `bytes`, in bits per byte (`0.0` for empty
/// input, at most `8.0`; at most `log2(len)` for short inputs).
pub fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u64; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let total = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total;
            -p * p.log2()
        })
        .sum()
}

/// Minimum length of a value considered a secret.
const MIN_LEN: usize = 16;
/// Minimum entropy, in bits per byte.
const MIN_ENTROPY: f64 = 3.0;

/// Whether `value` is shaped like a UUID: 8-4-4-4-12 hex digits with dashes. UUIDs are
/// request/trace/entity identifiers, not secrets.
fn is_uuid(value: &[u8]) -> bool {
    value.len() == 36
        && value.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Whether a token looks like a random secret (API key, token, password hash, ...).
///
/// All of:
/// - at least 16 bytes, all printable ASCII without spaces (`!`..=`~`): a secret is one token,
///   and text with spaces is prose;
/// - at least two of the classes lowercase / uppercase / digit (hex keys such as
///   `9f86d081884c7d659a2feaa0c55ad015` qualify: lowercase and digits);
/// - not only letters and `-`, `_`, `.` (identifiers and names such as
///   `payments-service-account-name`, `PaymentServiceImpl`, `com.example.Billing`);
/// - not a UUID (8-4-4-4-12 hex): those are request and entity ids;
/// - Shannon entropy of at least 3.0 bits per byte.
pub fn looks_random(value: &[u8]) -> bool {
    if value.len() < MIN_LEN {
        return false;
    }
    let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
    for &b in value {
        match b {
            b'a'..=b'z' => lower = true,
            b'A'..=b'Z' => upper = true,
            b'0'..=b'9' => digit = true,
            b'-' | b'_' | b'.' => {}
            b'!'..=b'~' => other = true,
            _ => return false,
        }
    }
    let classes = usize::from(lower) + usize::from(upper) + usize::from(digit);
    if classes < 2 {
        return false;
    }
    if !digit && !other {
        return false;
    }
    if is_uuid(value) {
        return false;
    }
    shannon_entropy(value) >= MIN_ENTROPY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_values() {
        let cases: &[(&[u8], f64)] = &[
            (b"", 0.0),
            (b"a", 0.0),
            (b"aaaaaaaa", 0.0),
            (b"ab", 1.0),
            (b"abab", 1.0),
            (b"abcd", 2.0),
            (b"0123456789abcdef", 4.0),
            (b"aab", 0.918_295_834_054_489_6),
        ];
        for &(input, want) in cases {
            let got = shannon_entropy(input);
            assert!((got - want).abs() < 1e-9, "{input:?}: {got} != {want}");
        }
        let all: Vec<u8> = (0..=255u8).collect();
        assert!((shannon_entropy(&all) - 8.0).abs() < 1e-9);
        let huge = vec![b'x'; 1 << 20];
        assert_eq!(shannon_entropy(&huge), 0.0);
    }

    #[test]
    fn looks_random_table() {
        let cases: &[(&str, bool)] = &[
            // Secrets.
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", true),
            ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", true),
            ("AKIAIOSFODNN7EXAMPLE", true),
            ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", true),
            ("9f86d081884c7d659a2feaa0c55ad015", true), // hex key
            ("da39a3ee5e6b4b0d3255bfef95601890afd80709", true),
            ("xoxb-2048-4096-Zk3yQ9aLm2", true),
            ("aGVsbG8gd29ybGQhIQ==", true), // base64
            ("Tr0ub4dor&3xK9pQ", true),
            // Not secrets.
            ("short1A", false),
            ("abc123ABC", false),                     // < 16 bytes
            ("payments-service-account-name", false), // one class
            ("PaymentsServiceAccountName", false),    // letters only
            ("com.example.payments.BillingService", false),
            ("Payments_Service_Account", false),
            ("550e8400-e29b-41d4-a716-446655440000", false), // UUID
            ("550E8400-E29B-41D4-A716-446655440000", false), // UUID, uppercase
            ("12345678901234567890", false),                 // digits only
            ("aaaaaaaaaaaaaaaa1111", false),                 // two classes, low entropy
            ("abababababab12121212", false),
            ("Order 12345 shipped To Paris", false), // spaces
            ("tab\tSeparated1234567890", false),
            ("caf\u{e9}Secret1234567890", false), // non-ASCII
            ("", false),
        ];
        for &(input, want) in cases {
            assert_eq!(looks_random(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn uuid_shape() {
        assert!(is_uuid(b"550e8400-e29b-41d4-a716-446655440000"));
        assert!(!is_uuid(b"550e8400-e29b-41d4-a716-44665544000g"));
        assert!(!is_uuid(b"550e8400e29b-41d4-a716-4466554400000"));
        assert!(!is_uuid(b"550e8400-e29b-41d4-a716-44665544000"));
        // A UUID without dashes is a 32-hex value: treated like any hex key.
        assert!(looks_random(b"550e8400e29b41d4a716446655440000"));
    }
}
