//! Phone numbers: a plausibility check on the digit count (E.164 allows at most 15 digits).

/// Whether `raw` holds 8 to 15 digits (a `00` international prefix does not count), not all the
/// same, separated only by spaces, dots, dashes, slashes, parentheses and a leading `+`, and
/// holds no year after a date separator (`03/14/2025 08` is a date and an hour).
pub fn phone_digits_valid(raw: &[u8]) -> bool {
    if has_year_group(raw) || has_dotted_quad(raw) {
        return false;
    }
    let body = raw.strip_prefix(b"00").unwrap_or(raw);
    let mut n = 0usize;
    let (mut first, mut same) = (None, true);
    for &b in body {
        match b {
            b'0'..=b'9' => {
                n += 1;
                same &= *first.get_or_insert(b) == b;
            }
            b' ' | b'.' | b'-' | b'/' | b'(' | b')' | b'+' => {}
            _ => return false,
        }
    }
    (8..=15).contains(&n) && !same
}

/// Four groups of one to three digits joined by dots (`192.168.00.00`): an IPv4 address, not
/// a phone number (`01 192.168.0.1` is a level and an address).
fn has_dotted_quad(raw: &[u8]) -> bool {
    let (mut groups, mut len) = (0, 0);
    for &b in raw {
        match b {
            b'0'..=b'9' => {
                len += 1;
                if len > 3 {
                    (groups, len) = (0, 4);
                }
            }
            b'.' if (1..=3).contains(&len) => {
                groups += 1;
                len = 0;
            }
            _ => {
                if (1..=3).contains(&len) && groups >= 3 {
                    return true;
                }
                (groups, len) = (0, 0);
            }
        }
    }
    (1..=3).contains(&len) && groups >= 3
}

/// A `/`, `-` or `.` followed by exactly four digits `19xx` or `20xx`.
fn has_year_group(raw: &[u8]) -> bool {
    (0..raw.len()).any(|i| {
        matches!(raw[i], b'/' | b'-' | b'.')
            && raw.get(i + 1..i + 5).is_some_and(|y| {
                (y.starts_with(b"19") || y.starts_with(b"20")) && y.iter().all(u8::is_ascii_digit)
            })
            && !raw.get(i + 5).is_some_and(u8::is_ascii_digit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for ok in [
            "+33 6 12 34 56 78",
            "0034 789 925 586",
            "(+48) 842 688 713",
            "02 997 77 15",
            "0472/25.51.01",
        ] {
            assert!(phone_digits_valid(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "01 192.168.00.00",
            "01-03-2024",
            "03/14/2025 08",
            "14/03/2025 09",
            "+1 234",
            "0000 0000 00",
            "+49 12345678901234567",
            "06 12 34 56 7a",
            "",
        ] {
            assert!(!phone_digits_valid(bad.as_bytes()), "{bad}");
        }
    }
}
