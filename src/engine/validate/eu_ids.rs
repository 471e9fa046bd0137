//! National identifiers of EU countries other than France.

use super::{compact_exact, digits_exact, number, ID_SEPS};

/// Control letters of the Spanish DNI/NIE, indexed by `number mod 23`.
const ES_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// Spanish control letter check: `letter == ES_LETTERS[n mod 23]`.
fn es_letter_ok(n: u64, letter: u8) -> bool {
    ES_LETTERS.get((n % 23) as usize) == Some(&letter)
}

/// Spanish DNI: 8 digits and the control letter `TRWAGMYFPDXBNJZSQVHLCKE[n mod 23]`.
///
/// Spaces, dots, dashes and slashes are skipped (`12.345.678-Z`); the letter may be lowercase.
pub fn es_dni_valid(raw: &[u8]) -> bool {
    let Some(s) = compact_exact::<9>(raw, ID_SEPS) else {
        return false;
    };
    let (digits, letter) = (&s[..8], s[8]);
    if !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = digits
        .iter()
        .fold(0u64, |a, &c| a * 10 + u64::from(c - b'0'));
    es_letter_ok(n, letter)
}

/// Spanish NIE (foreigner number): `X`, `Y` or `Z`, 7 digits and the DNI control letter
/// computed with the prefix read as `0`, `1`, `2`.
///
/// Spaces, dots, dashes and slashes are skipped (`X-1234567-L`); letters may be lowercase.
pub fn es_nie_valid(raw: &[u8]) -> bool {
    let Some(s) = compact_exact::<9>(raw, ID_SEPS) else {
        return false;
    };
    let prefix = match s[0] {
        b'X' => 0u64,
        b'Y' => 1,
        b'Z' => 2,
        _ => return false,
    };
    let digits = &s[1..8];
    if !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = digits
        .iter()
        .fold(prefix, |a, &c| a * 10 + u64::from(c - b'0'));
    es_letter_ok(n, s[8])
}

/// Value of a digit-position character of an Italian fiscal code: a digit, or its omocodia
/// substitute letter (`LMNPQRSTUV` stand for `0`-`9`).
fn cf_digit(c: u8) -> Option<u8> {
    if c.is_ascii_digit() {
        return Some(c - b'0');
    }
    b"LMNPQRSTUV".iter().position(|&l| l == c).map(|p| p as u8)
}

/// Odd-position (1st, 3rd, ...) values of the fiscal code check, for `0`-`9` and `A`-`Z`
/// alike (a digit has the value of the letter at the same index).
const CF_ODD: [u8; 26] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
];

/// Italian fiscal code of a person (codice fiscale), 16 characters: 3 surname letters, 3 name
/// letters, year (2 digits), month letter (`ABCDEHLMPRST`), day (2 digits, `01`-`31`, or
/// `41`-`71` for women), municipality (a letter and 3 digits), and the check letter computed
/// with the official odd/even tables.
///
/// Digit positions may hold the omocodia letters `LMNPQRSTUV` (used when two people would get
/// the same code). Spaces, dots, dashes and slashes are skipped, letters may be lowercase.
/// The 11-digit numeric codes given to companies are not accepted here (they are VAT numbers).
pub fn it_codice_fiscale_valid(raw: &[u8]) -> bool {
    let Some(s) = compact_exact::<16>(raw, ID_SEPS) else {
        return false;
    };
    let letters_ok = [0, 1, 2, 3, 4, 5, 11, 15]
        .iter()
        .all(|&i| s[i].is_ascii_uppercase());
    if !letters_ok || !b"ABCDEHLMPRST".contains(&s[8]) {
        return false;
    }
    let mut digit_pos = [0u8; 7];
    for (slot, &i) in digit_pos.iter_mut().zip(&[6, 7, 9, 10, 12, 13, 14]) {
        match cf_digit(s[i]) {
            Some(v) => *slot = v,
            None => return false,
        }
    }
    let day = digit_pos[2] * 10 + digit_pos[3];
    if !matches!(day, 1..=31 | 41..=71) {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in s[..15].iter().enumerate() {
        let idx = if c.is_ascii_digit() {
            c - b'0'
        } else {
            c - b'A'
        };
        sum += u32::from(if i % 2 == 0 {
            CF_ODD[usize::from(idx)]
        } else {
            idx
        });
    }
    s[15] == b'A' + (sum % 26) as u8
}

/// Belgian national register number (rijksregisternummer / numéro de registre national),
/// 11 digits `YYMMDD-SSS-CC`: `CC == 97 - (YYMMDDSSS mod 97)`, or for people born in 2000 or
/// later the same computed with a `2` prepended (`2YYMMDDSSS`).
///
/// The month must be `00`-`12` (`00`: unknown birth date) or, for BIS numbers (people not in
/// the register), the same plus 20 or 40. The day is not checked (numbers issued after the
/// day counter ran out carry other values). Dots, dashes, spaces and slashes are skipped
/// (`85.07.30-033.61`).
pub fn be_national_number_valid(raw: &[u8]) -> bool {
    let Some(d) = digits_exact::<11>(raw, ID_SEPS) else {
        return false;
    };
    let month = d[2] * 10 + d[3];
    if !matches!(month, 0..=12 | 20..=32 | 40..=52) {
        return false;
    }
    let base = number(&d[..9]);
    let check = number(&d[9..]);
    97 - base % 97 == check || 97 - (2_000_000_000 + base) % 97 == check
}

/// Dutch citizen service number (BSN, burgerservicenummer): 9 digits passing the "11-proof"
/// `9*d1 + 8*d2 + ... + 2*d8 - d9 ≡ 0 (mod 11)`, not all zeros.
///
/// Spaces, dots, dashes and slashes are skipped (`1112.22.333`).
pub fn nl_bsn_valid(raw: &[u8]) -> bool {
    let Some(d) = digits_exact::<9>(raw, ID_SEPS) else {
        return false;
    };
    if d.iter().all(|&x| x == 0) {
        return false;
    }
    let weighted: u32 = d[..8]
        .iter()
        .zip((2..=9u32).rev())
        .map(|(&x, w)| u32::from(x) * w)
        .sum();
    weighted % 11 == u32::from(d[8])
}

/// German tax identification number (steuerliche Identifikationsnummer, Steuer-IdNr):
/// 11 digits, the first not `0`, check digit per ISO 7064 MOD 11,10.
///
/// Among the first 10 digits exactly one digit occurs more than once, and it occurs 2 or 3
/// times (3 allowed since 2016); this rejects most random 11-digit numbers (timestamps,
/// order numbers) before the checksum. Spaces, dots, dashes and slashes are skipped
/// (`12 345 678 995`).
pub fn de_tax_id_valid(raw: &[u8]) -> bool {
    let Some(d) = digits_exact::<11>(raw, ID_SEPS) else {
        return false;
    };
    if d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[usize::from(x)] += 1;
    }
    let repeated = counts.iter().filter(|&&c| c > 1).count();
    let max = counts.iter().copied().max().unwrap_or(0);
    if repeated != 1 || !(2..=3).contains(&max) {
        return false;
    }
    let mut product = 10u8;
    for &x in &d[..10] {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = (11 - product) % 10;
    check == d[10]
}

/// Austrian social security number (Versicherungsnummer, VNR): 10 digits `SSSC DDMMYY`,
/// serial `SSS` not starting with `0`, check digit `C == (3,7,9,_,5,8,4,2,1,6)·digits mod 11`
/// (a remainder of 10 is never issued).
///
/// The birth-date part is not checked: numbers for people with unknown or colliding dates
/// use out-of-range values. Spaces, dots, dashes and slashes are skipped (`1237 010180`).
pub fn at_social_security_valid(raw: &[u8]) -> bool {
    const WEIGHTS: [u32; 10] = [3, 7, 9, 0, 5, 8, 4, 2, 1, 6];
    let Some(d) = digits_exact::<10>(raw, ID_SEPS) else {
        return false;
    };
    if d[0] == 0 {
        return false;
    }
    let sum: u32 = d.iter().zip(WEIGHTS).map(|(&x, w)| u32::from(x) * w).sum();
    sum % 11 == u32::from(d[3])
}

/// Polish national identification number (PESEL): 11 digits `YYMMDDZZZXQ`, check digit
/// `Q == (10 - (1,3,7,9,1,3,7,9,1,3)·digits mod 10) mod 10`.
///
/// The month encodes the century (`01`-`12` 1900s, `21`-`32` 2000s, `41`-`52` 2100s,
/// `61`-`72` 2200s, `81`-`92` 1800s) and the day must be `01`-`31`; other values are
/// rejected. Spaces and dashes (and dots, slashes) are skipped.
pub fn pl_pesel_valid(raw: &[u8]) -> bool {
    const WEIGHTS: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let Some(d) = digits_exact::<11>(raw, ID_SEPS) else {
        return false;
    };
    let month = d[2] * 10 + d[3];
    let day = d[4] * 10 + d[5];
    if !(1..=12).contains(&(month % 20)) || !(1..=31).contains(&day) {
        return false;
    }
    let sum: u32 = d[..10]
        .iter()
        .zip(WEIGHTS)
        .map(|(&x, w)| u32::from(x) * w)
        .sum();
    (10 - sum % 10) % 10 == u32::from(d[10])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&[u8]) -> bool, cases: &[(&str, bool)]) {
        for &(input, want) in cases {
            assert_eq!(f(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn es_dni_table() {
        run(
            es_dni_valid,
            &[
                ("12345678Z", true),
                ("12345678z", true),
                ("12345678-Z", true),
                ("12.345.678-Z", true),
                ("00000000T", true),
                ("87654321X", true),
                ("45123987B", true),
                ("12345678A", false), // wrong letter
                ("12345679Z", false), // digit changed
                ("1234567Z", false),  // 7 digits
                ("123456789Z", false),
                ("12345678", false),
                ("1234567AZ", false),
                ("X1234567L", false), // a NIE, not a DNI
                ("12345678I", false), // I is never a control letter
                ("", false),
            ],
        );
    }

    #[test]
    fn es_nie_table() {
        run(
            es_nie_valid,
            &[
                ("X1234567L", true),
                ("x1234567l", true),
                ("X-1234567-L", true),
                ("Y1234567X", true),
                ("Z1234567R", true),
                ("Y7654321G", true),
                ("X1234567A", false),
                ("Y1234567L", false), // X's letter with Y
                ("W1234567L", false), // unknown prefix
                ("X123456L", false),  // 6 digits
                ("X12345678L", false),
                ("12345678Z", false), // a DNI
                ("", false),
            ],
        );
    }

    #[test]
    fn it_codice_fiscale_table() {
        run(
            it_codice_fiscale_valid,
            &[
                ("RSSMRA85T10A562S", true),
                ("rssmra85t10a562s", true),
                ("RSS MRA 85T10 A562S", true),
                ("RCCMNL83S18D969H", true),
                ("CNTCHR83T41D969D", true), // woman: day + 40
                ("RSSMRA85T10A56NH", true), // omocodia: last digit 2 -> N
                ("RSSMRAURTMLARSNL", true), // every digit position substituted
                ("BNCGNN79E15H501W", true),
                ("BNCGNN7VE15H5LML", true), // omocodia 9 -> V, 0 -> L, 1 -> M
                ("RSSMRA85T10A562T", false), // check letter
                ("RSSMRA85T10A526S", false), // transposition
                ("RSSMRA85T10A56NS", false), // omocodia without recomputing the check
                ("RSSMRA85F10A562S", false), // F is not a month letter
                ("RSSMRA85T32A562Y", false), // day 32, check letter right
                ("RSSMRA85T10A562", false), // 15 characters
                ("RSSMRA85T10A562SS", false),
                ("1SSMRA85T10A562S", false),
                ("RSSMRA8WT10A562S", false), // W is not an omocodia letter
                ("", false),
            ],
        );
    }

    #[test]
    fn be_national_number_table() {
        run(
            be_national_number_valid,
            &[
                ("85073003328", true),
                ("85.07.30-033.28", true),
                ("85 07 30 033 28", true),
                ("17073003384", true),  // born 2017: '2' prepended
                ("00000100166", true),  // unknown birth date
                ("85273003371", true),  // BIS number, month + 20
                ("85073003361", false), // check digits
                ("85073003382", false), // check digits
                ("17073003385", false),
                ("85133003370", false), // month 13 (checksum right)
                ("8507300336", false),  // 10 digits
                ("850730033610", false),
                ("85.07.30-033.6a", false),
                ("", false),
            ],
        );
    }

    #[test]
    fn nl_bsn_table() {
        run(
            nl_bsn_valid,
            &[
                ("111222333", true),
                ("123456782", true),
                ("1112.22.333", true),
                ("999999990", true),
                ("100000009", true), // 9*1 - 9 = 0
                ("100000008", false),
                ("111222334", false),
                ("123456789", false),
                ("000000000", false), // all zeros
                ("11122233", false),
                ("1112223330", false),
                ("11122233a", false),
                ("", false),
            ],
        );
    }

    #[test]
    fn de_tax_id_table() {
        run(
            de_tax_id_valid,
            &[
                ("12345678995", true),
                ("12 345 678 995", true),
                ("86095742719", true),
                ("47036892816", true),
                ("65929970489", true),  // 9 appears three times, not adjacent
                ("12345678994", false), // check digit
                ("02345678991", false), // leading zero
                ("12345678901", false), // no repeated digit
                ("11234567890", true),  // only 1 repeated
                ("11234567891", false), // check digit
                ("11223456785", false), // two different digits repeated (check digit right)
                ("65999270484", true),  // 9 three times in a row: accepted, see de_tax_id_valid
                ("11112345678", false), // a digit four times (check digit right)
                ("1234567899", false),  // 10 digits
                ("123456789955", false),
                ("", false),
            ],
        );
    }

    #[test]
    fn at_social_security_table() {
        run(
            at_social_security_valid,
            &[
                ("1237010180", true),
                ("1237 010180", true),
                ("1238010180", false),
                ("0234010180", false), // serial starting with 0 (check digit right)
                ("123701018", false),
                ("12370101800", false),
                ("", false),
            ],
        );
    }

    #[test]
    fn pl_pesel_table() {
        run(
            pl_pesel_valid,
            &[
                ("44051401359", true),
                ("02070803628", true),
                ("02270803624", true),  // born 2002: month + 20
                ("44051401358", false), // check digit
                ("44151401352", false), // month 15 (check digit right)
                ("44050001352", false), // day 00 (check digit right)
                ("4405140135", false),
                ("440514013590", false),
                ("", false),
            ],
        );
    }
}
