//! Phone numbers: a plausibility check on the digit count (E.164 allows at most 15 digits).

/// Whether `raw` holds 8 to 15 digits (a `00` international prefix does not count), not all the
/// same, separated only by spaces, dots, dashes, slashes, parentheses and a leading `+`, and
/// holds no year after a date separator (`03/14/2025 08` is a date and an hour).
pub fn phone_digits_valid(raw: &[u8]) -> bool {
    // A date needs a `/`, `-` or `.`, a dotted quad or version a `.`: numbers grouped with
    // spaces (most of them) skip the three shape tests.
    if raw.iter().any(|&b| matches!(b, b'/' | b'-' | b'.'))
        && (has_year_group(raw) || has_dotted_quad(raw) || ends_in_spaced_version(raw))
    {
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

/// Exactly four groups of one to three digits joined by dots (`192.168.00.00`): an IPv4
/// address, not a phone number (`01 192.168.0.1` is a level and an address). Five groups
/// (`01.23.45.67.89`) is how the French write phone numbers.
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
                if (1..=3).contains(&len) && groups == 3 {
                    return true;
                }
                (groups, len) = (0, 0);
            }
        }
    }
    (1..=3).contains(&len) && groups == 3
}

/// A number, a space, then three dot-joined groups (`010 00.00.00`, `level=012 1.20.3`): a
/// count followed by a version or a time, not one phone number. Numbers grouped with dots keep
/// one separator throughout (`01.23.45.67.89`) or set the area code off with a slash
/// (`0472/25.51.01`).
fn ends_in_spaced_version(raw: &[u8]) -> bool {
    let Some(space) = raw.iter().rposition(|&b| b == b' ') else {
        return false;
    };
    let tail = &raw[space + 1..];
    let groups = tail.split(|&b| b == b'.').count();
    groups == 3 && tail.iter().all(|&b| b == b'.' || b.is_ascii_digit())
}

/// A date: `dd/mm/yyyy` (or `-`, `.`) with a year `19xx`/`20xx` (`03/14/2025 08` is a date
/// and an hour). A year-like last group alone is not enough: `1-913-504-2053` is a phone.
fn has_year_group(raw: &[u8]) -> bool {
    let sep = |b: u8| matches!(b, b'/' | b'-' | b'.');
    (0..raw.len()).any(|i| {
        let year = raw.get(i + 1..i + 5).is_some_and(|y| {
            (y.starts_with(b"19") || y.starts_with(b"20")) && y.iter().all(u8::is_ascii_digit)
        });
        sep(raw[i])
            && year
            && !raw.get(i + 5).is_some_and(u8::is_ascii_digit)
            && day_month_before(&raw[..i])
    })
}

/// Whether `head` ends with `d{1,2} sep d{1,2}` (the day and month of a date).
fn day_month_before(head: &[u8]) -> bool {
    let digits_at_end = |h: &[u8]| h.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let m = digits_at_end(head);
    if !(1..=2).contains(&m) || head.len() < m + 2 {
        return false;
    }
    let rest = &head[..head.len() - m];
    let d = digits_at_end(&rest[..rest.len() - 1]);
    matches!(rest[rest.len() - 1], b'/' | b'-' | b'.') && (1..=2).contains(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for ok in [
            "01.23.45.67.89",
            "1-913-504-2053",
            "(819) 573-2039",
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
            "010 00.00.00",
            "0123 45.67.89",
            "01 10.00.00.00",
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
