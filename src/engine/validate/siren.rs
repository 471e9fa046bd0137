//! French company identifiers: SIREN (company) and SIRET (establishment).

use super::luhn::luhn_digits;
use super::{digits_exact, ID_SEPS};

/// SIREN of La Poste, whose establishments' SIRETs use a digit-sum rule instead of Luhn.
const LA_POSTE: [u8; 9] = [3, 5, 6, 0, 0, 0, 0, 0, 0];
/// SIRET of La Poste's head office, which follows the ordinary Luhn rule.
const LA_POSTE_HEAD_OFFICE: [u8; 14] = [3, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 8];

/// French SIREN: 9 digits with a valid Luhn check digit, not all zeros.
///
/// Spaces, dots, dashes and slashes between digits are skipped (`732 829 320`).
pub fn fr_siren_valid(raw: &[u8]) -> bool {
    digits_exact::<9>(raw, ID_SEPS).is_some_and(|d| d.iter().any(|&x| x != 0) && luhn_digits(&d))
}

/// French SIRET: 14 digits (SIREN + 5-digit establishment number), not all zeros.
///
/// The whole number and its SIREN part must both pass Luhn, except for La Poste (SIREN
/// `356000000`) whose establishments are numbered so that the sum of the 14 digits is a
/// multiple of 5 (its head office, `35600000000048`, follows Luhn). Spaces, dots, dashes and slashes are skipped.
pub fn fr_siret_valid(raw: &[u8]) -> bool {
    let Some(d) = digits_exact::<14>(raw, ID_SEPS) else {
        return false;
    };
    if d.iter().all(|&x| x == 0) {
        return false;
    }
    if d[..9] == LA_POSTE && d != LA_POSTE_HEAD_OFFICE {
        return d.iter().map(|&x| u32::from(x)).sum::<u32>() % 5 == 0;
    }
    luhn_digits(&d[..9]) && luhn_digits(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siren_table() {
        let cases: &[(&str, bool)] = &[
            ("732829320", true),
            ("732 829 320", true),
            ("732.829.320", true),
            ("552100554", true),
            ("356000000", true), // La Poste
            ("404833048", true),
            ("732829321", false),  // check digit
            ("732829302", false),  // transposition
            ("73282932", false),   // 8 digits
            ("7328293200", false), // 10 digits
            ("000000000", false),  // Luhn-valid but all zeros
            ("73282932A", false),
            ("", false),
        ];
        for &(input, want) in cases {
            assert_eq!(fr_siren_valid(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn siret_table() {
        let cases: &[(&str, bool)] = &[
            ("73282932000074", true),
            ("732 829 320 00074", true),
            ("552 100 554 00021", true),
            ("35600000000048", true), // La Poste head office (also Luhn-valid)
            ("35600000049837", true), // La Poste establishment: digit sum 45, Luhn-invalid
            ("356 000 000 09075", true),
            ("73282932000075", false),  // Luhn
            ("35600000049838", false),  // La Poste, digit sum 46
            ("7328293200007", false),   // 13 digits
            ("732829320000740", false), // 15 digits
            ("00000000000000", false),  // all zeros
            ("73282932100007", false),  // Luhn-valid over 14 digits but SIREN 732829321 is not
            ("732 829 320 0007a", false),
            ("", false),
        ];
        for &(input, want) in cases {
            assert_eq!(fr_siret_valid(input.as_bytes()), want, "{input:?}");
        }
    }
}
