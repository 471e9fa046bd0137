//! Luhn (mod 10) checksum and payment card numbers.

/// Separators accepted inside Luhn-checked numbers and card numbers.
const SEPS: &[u8] = b" -.";

/// Luhn sum over digit values (`0..=9`), rightmost digit is the check digit.
pub(crate) fn luhn_digits(d: &[u8]) -> bool {
    // A doubled digit's contribution (`2x`, less 9 when two digits), by table.
    const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    let mut sum = 0u32;
    let mut pairs = d.rchunks_exact(2);
    for pair in &mut pairs {
        sum += u32::from(pair[1]) + DOUBLED[usize::from(pair[0]) % 10];
    }
    if let [first] = pairs.remainder() {
        sum += u32::from(*first);
    }
    sum.is_multiple_of(10)
}

/// Luhn (mod 10) check over the digits of `digits_with_separators`.
///
/// Spaces, dashes and dots are skipped; any other non-digit byte gives `false`. At least
/// two digits are required (a lone `0` would trivially pass). Any length is accepted and the
/// sum cannot overflow (it is reduced as it goes).
pub fn luhn_valid(digits_with_separators: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for &b in digits_with_separators.iter().rev() {
        if b.is_ascii_digit() {
            let x = u32::from(b - b'0');
            sum += if count % 2 == 1 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            };
            sum %= 10;
            count += 1;
        } else if !SEPS.contains(&b) {
            return false;
        }
    }
    count >= 2 && sum == 0
}

/// Whether the leading digits and the length match a known card issuer.
fn issuer_known(d: &[u8]) -> bool {
    let n = d.len();
    if !(12..=19).contains(&n) {
        return false;
    }
    let prefix = |k: usize| d.iter().take(k).fold(0u32, |a, &x| a * 10 + u32::from(x));
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    // Lengths actually issued: a 13-digit number is an old Visa or nothing, which keeps
    // epoch-like and other 13-digit ids from passing on a 1-in-10 Luhn chance.
    let card_len = (16..=19).contains(&n);
    let visa = p1 == 4 && matches!(n, 13 | 16 | 19);
    let mastercard = (51..=55).contains(&p2) || (2221..=2720).contains(&p4);
    let discover = p4 == 6011 || (644..=649).contains(&p3) || p2 == 65;
    let jcb = (3528..=3589).contains(&p4);
    let diners = (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39;
    let unionpay = p2 == 62;
    let amex = p2 == 34 || p2 == 37;
    let maestro = p2 == 50 || (56..=69).contains(&p2);
    (amex && n == 15)
        || visa
        || (diners && (14..=19).contains(&n))
        || (card_len && (mastercard || discover || jcb || unionpay))
        || (maestro && n >= 12)
}

/// Payment card number (PAN): a known issuer prefix with a length it issues (Visa 13, 16 or
/// 19; Amex 15; Diners 14-19; Maestro 12-19; others 16-19), a valid Luhn check digit, and not a single repeated digit.
///
/// Issuers recognised: Visa `4`; Mastercard `51`-`55` and `2221`-`2720`; American Express
/// `34`/`37` (15 digits only); Discover `6011`, `644`-`649`, `65`; JCB `3528`-`3589`;
/// Diners Club `300`-`305`, `36`, `38`, `39`; UnionPay `62`; Maestro `50`, `56`-`69`.
/// Spaces, dashes and dots between digits are skipped; any other byte gives `false`.
pub fn credit_card_valid(raw: &[u8]) -> bool {
    let mut buf = [0u8; 19];
    let mut n = 0usize;
    for &b in raw {
        if b.is_ascii_digit() {
            let Some(slot) = buf.get_mut(n) else {
                return false;
            };
            *slot = b - b'0';
            n += 1;
        } else if !SEPS.contains(&b) {
            return false;
        }
    }
    let d = &buf[..n];
    d.iter().any(|&x| x != d[0]) && issuer_known(d) && luhn_digits(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_table() {
        let cases: &[(&str, bool)] = &[
            ("79927398713", true),
            ("7992 7398 713", true),
            ("7992-7398-713", true),
            ("7992.7398.713", true),
            ("79927398710", false),
            ("79927398711", false),
            ("79927398731", false), // transposition of the last two digits
            ("18", true),
            ("00", true),
            ("0", false), // fewer than two digits
            ("", false),
            ("  - ", false),
            ("7992739871a", false),
            ("7992/7398/713", false), // slash is not a Luhn separator
            ("732829320", true),      // a SIREN
            ("4111111111111111", true),
            ("4111111111111112", false),
        ];
        for &(input, want) in cases {
            assert_eq!(luhn_valid(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn luhn_digits_agrees() {
        for input in ["79927398713", "79927398710", "4111111111111111", "12"] {
            let d: Vec<u8> = input.bytes().map(|b| b - b'0').collect();
            assert_eq!(luhn_digits(&d), luhn_valid(input.as_bytes()), "{input}");
        }
        // Every length from 2 to 24, odd and even, on pseudo-random digits (a linear
        // congruential generator: the same strings on every run).
        let mut x = 12345u64;
        let (mut valid, mut invalid) = (0, 0);
        for len in 2..=24 {
            for _ in 0..300 {
                let input: String = (0..len)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        char::from(b'0' + (x >> 33) as u8 % 10)
                    })
                    .collect();
                let d: Vec<u8> = input.bytes().map(|b| b - b'0').collect();
                let want = luhn_valid(input.as_bytes());
                assert_eq!(luhn_digits(&d), want, "{input}");
                if want {
                    valid += 1;
                } else {
                    invalid += 1;
                }
            }
        }
        assert!(
            valid > 300 && invalid > 3000,
            "{valid} valid, {invalid} invalid"
        );
    }

    #[test]
    fn credit_card_table() {
        let cases: &[(&str, bool)] = &[
            // Public test numbers of the card networks.
            ("4111111111111111", true),    // Visa
            ("4012888888881881", true),    // Visa
            ("4222222222222", true),       // Visa, 13 digits
            ("4111 1111 1111 1111", true), // with spaces
            ("4111-1111-1111-1111", true), // with dashes
            ("5555555555554444", true),    // Mastercard
            ("5105105105105100", true),    // Mastercard
            ("2223000048400011", true),    // Mastercard 2-series
            ("378282246310005", true),     // Amex
            ("3714 496353 98431", true),   // Amex, grouped 4-6-5
            ("6011111111111117", true),    // Discover
            ("6011000990139424", true),    // Discover
            ("3530111333300000", true),    // JCB
            ("3566002020360505", true),    // JCB
            ("30569309025904", true),      // Diners 14 digits
            ("38520000023237", true),      // Diners
            ("6200000000000005", true),    // UnionPay
            ("6759649826438453", true),    // Maestro
            ("500000000000000009", true),  // Maestro, 18 digits
            ("5000000000000009", true),    // Maestro 16
            ("501800000009", true),        // Maestro 12 digits
            // Invalid.
            ("4111111111111112", false),     // Luhn
            ("378282246310006", false),      // Luhn
            ("3782822463100052", false),     // Amex prefix, 16 digits, Luhn-valid
            ("1234567812345670", false),     // Luhn-valid, no issuer starts with 1
            ("7111111111111117", false),     // no issuer 7
            ("9999999999999995", false),     // no issuer 9
            ("0000000000000000", false),     // all zeros (Luhn-valid)
            ("5555555555554445", false),     // prefix 55 but Luhn fails
            ("4444444444444448", true),      // Luhn-valid, not all same digit
            ("4444444444444444", false),     // repeated digit: Luhn-invalid anyway
            ("6666666666666664", true),      // valid Maestro range, mixed digits
            ("411111111111", false),         // 12 digits, Visa needs 13+
            ("41111111111111111111", false), // 20 digits
            ("4111111111111111111111111111111111", false),
            ("4111 1111 1111 111a", false),
            ("4111_1111_1111_1111", false),
            ("", false),
            ("1700000000000", false), // timestamp-like (ms since epoch)
        ];
        for &(input, want) in cases {
            assert_eq!(credit_card_valid(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn all_same_digit_luhn_valid_is_rejected() {
        // 16 identical digits d: Luhn sum is 8*d + 8*(2d mod 9 style); find the ones that pass
        // Luhn and make sure credit_card_valid still rejects them.
        let mut seen_luhn_valid = false;
        for d in b'0'..=b'9' {
            for len in 12..=19 {
                let s = vec![d; len];
                if luhn_valid(&s) {
                    seen_luhn_valid = true;
                }
                assert!(!credit_card_valid(&s), "{}", String::from_utf8_lossy(&s));
            }
        }
        assert!(seen_luhn_valid);
    }
}
