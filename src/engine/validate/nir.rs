//! French social security number (NIR, "numéro de sécurité sociale").

use super::{compact_exact, ID_SEPS};

/// French NIR: 13 characters and a 2-digit key, 15 in all once spaces, dots, dashes and
/// slashes are removed.
///
/// Layout: sex (`1`, `2`, and `3`, `4`, `7`, `8` used for provisional and foreign-born
/// registrations), year (2 digits), month, department (2 digits, or `2A`/`2B` for Corsica),
/// commune (3 digits), order (3 digits), key. Months `01`-`12` are real months; INSEE also
/// issues `20` and `30`-`42` (month unknown or fictitious) and `50`-`99` (provisional
/// numbers), so the accepted ranges are `01`-`12`, `20`-`42` and `50`-`99`.
///
/// The key is `97 - (number mod 97)` where the Corsican departments count as `19` (`2A`) and
/// `18` (`2B`), the usual INSEE rule (equivalent to subtracting 1 000 000 / 2 000 000 from the
/// number read with `20`).
pub fn fr_nir_valid(raw: &[u8]) -> bool {
    if !standard_grouping(raw) {
        return false;
    }
    let Some(s) = compact_exact::<15>(raw, ID_SEPS) else {
        return false;
    };
    if !matches!(s[0], b'1' | b'2' | b'3' | b'4' | b'7' | b'8') {
        return false;
    }
    let digit_positions_ok = s
        .iter()
        .enumerate()
        .all(|(i, c)| i == 5 || i == 6 || c.is_ascii_digit());
    if !digit_positions_ok {
        return false;
    }
    let month = (s[3] - b'0') * 10 + (s[4] - b'0');
    if !matches!(month, 1..=12 | 20..=42 | 50..=99) {
        return false;
    }
    let dept: [u8; 2] = match [s[5], s[6]] {
        [b'2', b'A'] => [1, 9],
        [b'2', b'B'] => [1, 8],
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => [a - b'0', b - b'0'],
        _ => return false,
    };
    let mut n = 0u64;
    for (i, &c) in s[..13].iter().enumerate() {
        let d = match i {
            5 => dept[0],
            6 => dept[1],
            _ => c - b'0',
        };
        n = n * 10 + u64::from(d);
    }
    let key = u64::from(s[13] - b'0') * 10 + u64::from(s[14] - b'0');
    97 - n % 97 == key
}

/// Separators, when there are any, sit where people write them: `X XX XX XX XXX XXX XX`
/// (after characters 1, 3, 5, 7, 10 and 13), `X XX XX XXX XX XXX XX` (overseas departments),
/// or `XXXXXXXXXXXXX XX` (key apart). A number split
/// elsewhere (`10 1669143440414`) is something else that happens to have 15 digits.
fn standard_grouping(raw: &[u8]) -> bool {
    const FULL: u32 = (1 << 1) | (1 << 3) | (1 << 5) | (1 << 7) | (1 << 10) | (1 << 13);
    // Overseas departments have 3 digits and communes 2: `X XX XX 971 12 422 48`.
    const OVERSEAS: u32 = (1 << 1) | (1 << 3) | (1 << 5) | (1 << 8) | (1 << 10) | (1 << 13);
    let (mut chars, mut cuts) = (0u32, 0u32);
    for &b in raw {
        if ID_SEPS.contains(&b) {
            if chars >= 16 {
                return false;
            }
            cuts |= 1 << chars;
        } else {
            chars += 1;
        }
    }
    let grouped = |layout: u32| cuts & !layout == 0 && cuts.count_ones() >= 4;
    cuts == 0 || cuts == 1 << 13 || grouped(FULL) || grouped(OVERSEAS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_is_where_people_write_it() {
        assert!(standard_grouping(b"1 76 10 2A 309 811 51"));
        assert!(standard_grouping(b"176102A30981151"));
        assert!(standard_grouping(b"176102A309811 51"));
        assert!(standard_grouping(b"1 94 09 971 12 422 48"));
        assert!(!standard_grouping(b"10 1669143440414"));
        assert!(!fr_nir_valid(b"10 1669143440414"));
    }

    #[test]
    fn nir_table() {
        let cases: &[(&str, bool)] = &[
            ("255081416802538", true),       // the classic example, key 38
            ("2 55 08 14 168 025 38", true), // as printed on the card
            ("2.55.08.14.168.025.38", true),
            ("2-55-08-14-168-025-38", true),
            ("1 84 12 76 451 089 46", true),
            ("1 78 02 2A 004 017 69", true), // Corsica, Corse-du-Sud
            ("2 91 05 2b 033 125 31", true), // Haute-Corse, lowercase
            ("1 80 01 99 135 001 89", true), // born abroad (department 99)
            ("2 69 30 75 056 123 58", true), // month 30: fictitious month
            ("1 70 63 13 055 001 85", true), // month 63: provisional
            ("7 84 12 76 451 089 37", true), // sex digit 7: provisional registration
            // Invalid.
            ("255081416802539", false),       // wrong key
            ("255081416802583", false),       // key digits swapped
            ("2 55 08 14 168 025 3", false),  // too short
            ("2550814168025380", false),      // too long
            ("555081416802538", false),       // sex digit 5
            ("2 55 13 14 168 025 21", false), // month 13, key otherwise right
            ("2 55 00 14 168 025 07", false), // month 00, key otherwise right
            ("2 55 45 14 168 025 48", false), // month 45, key otherwise right
            ("1 78 02 2C 004 017 69", false), // 2C is no department
            ("1 78 02 20 004 017 69", false), // 2A's key with department 20
            ("1 78 02 A2 004 017 69", false), // letters in the wrong place
            ("1 84 12 76 451 089 4A", false),
            ("1 84 12 76 451 089 46 12", false),
            ("", false),
            ("000000000000000", false),
            ("1 84 12 76_451 089 46", false), // underscore is not a separator
        ];
        for &(input, want) in cases {
            assert_eq!(fr_nir_valid(input.as_bytes()), want, "{input:?}");
        }
    }
}
