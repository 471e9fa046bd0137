//! Checks run on candidate matches after the regex: check digits, structure and ranges.
//!
//! Every validator here is a pure function over the raw matched bytes, as they appear in a
//! log line. They accept the separators people actually type (spaces, dots, dashes, ... as
//! documented per function), uppercase ASCII letters themselves, and return `false` for
//! anything else.
//!
//! Guarantees shared by every function of this module:
//! - no allocation: work happens on the input slice and fixed-size stack buffers, so they are
//!   safe to call on the hot path for every candidate;
//! - no panic on any input: empty, arbitrary bytes, invalid UTF-8 or huge inputs simply give
//!   `false` (or `None`);
//! - bounded work: fixed-length identifiers are rejected as soon as the excess character is
//!   seen; only [`luhn_valid`], [`shannon_entropy`] and [`looks_random`] read a long input
//!   to its end (one pass, no allocation).

mod basic;
mod entropy;
mod eu_ids;
mod iban;
mod ip;
mod luhn;
mod nir;
mod phone;
mod siren;

pub use basic::basic_credentials_valid;
pub use entropy::{looks_random, shannon_entropy};
pub use eu_ids::{
    at_social_security_valid, be_national_number_valid, de_tax_id_valid, es_dni_valid,
    es_nie_valid, it_codice_fiscale_valid, nl_bsn_valid, pl_pesel_valid,
};
pub use iban::iban_valid;
pub use ip::{ipv4_is_public, ipv4_parse, ipv6_is_public, ipv6_parse};
pub use luhn::{credit_card_valid, luhn_valid};
pub use nir::fr_nir_valid;
pub use phone::phone_digits_valid;
pub use siren::{fr_siren_valid, fr_siret_valid};

/// A named check run on a candidate match after the regex.
///
/// Pattern packs refer to validators by [`Validator::name`]; [`Validator::check`] runs the
/// check on the raw matched bytes and never panics or allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Validator {
    /// Luhn (mod 10) checksum over digits, see [`luhn_valid`].
    Luhn,
    /// Payment card number: length, issuer prefix and Luhn, see [`credit_card_valid`].
    CreditCard,
    /// International Bank Account Number, see [`iban_valid`].
    Iban,
    /// French social security number (NIR), see [`fr_nir_valid`].
    FrNir,
    /// French company number (SIREN), see [`fr_siren_valid`].
    FrSiren,
    /// French establishment number (SIRET), see [`fr_siret_valid`].
    FrSiret,
    /// Spanish national identity document number (DNI), see [`es_dni_valid`].
    EsDni,
    /// Spanish foreigner identity number (NIE), see [`es_nie_valid`].
    EsNie,
    /// Italian fiscal code of a person, see [`it_codice_fiscale_valid`].
    ItCodiceFiscale,
    /// Belgian national register number, see [`be_national_number_valid`].
    BeNationalNumber,
    /// Dutch citizen service number (BSN), see [`nl_bsn_valid`].
    NlBsn,
    /// German tax identification number (Steuer-IdNr), see [`de_tax_id_valid`].
    DeTaxId,
    /// Austrian social security number (VNR), see [`at_social_security_valid`].
    AtSocialSecurity,
    /// Polish national identification number (PESEL), see [`pl_pesel_valid`].
    PlPesel,
    /// A dotted-quad IPv4 address that is publicly routable, see [`ipv4_is_public`].
    Ipv4Public,
    /// Any dotted-quad IPv4 address, see [`ipv4_parse`].
    Ipv4Any,
    /// An IPv6 address that is publicly routable, see [`ipv6_is_public`].
    Ipv6Public,
    /// Any IPv6 address, see [`ipv6_parse`].
    Ipv6Any,
    /// A secret-looking random token, see [`looks_random`].
    HighEntropy,
    /// HTTP Basic credentials (base64 of `user:password`), see [`basic_credentials_valid`].
    BasicCredentials,
    /// A plausible phone number length, see [`phone_digits_valid`].
    PhoneDigits,
}

impl Validator {
    /// Every validator, in declaration order (for listing names in errors and docs).
    pub const ALL: [Validator; 21] = [
        Validator::Luhn,
        Validator::CreditCard,
        Validator::Iban,
        Validator::FrNir,
        Validator::FrSiren,
        Validator::FrSiret,
        Validator::EsDni,
        Validator::EsNie,
        Validator::ItCodiceFiscale,
        Validator::BeNationalNumber,
        Validator::NlBsn,
        Validator::DeTaxId,
        Validator::AtSocialSecurity,
        Validator::PlPesel,
        Validator::Ipv4Public,
        Validator::Ipv4Any,
        Validator::Ipv6Public,
        Validator::Ipv6Any,
        Validator::HighEntropy,
        Validator::BasicCredentials,
        Validator::PhoneDigits,
    ];

    /// Parse the name used in pattern packs (exact, lowercase snake_case, as returned by
    /// [`Validator::name`]). Unknown names give `None`.
    pub fn from_name(name: &str) -> Option<Validator> {
        Some(match name {
            "luhn" => Validator::Luhn,
            "credit_card" => Validator::CreditCard,
            "iban" => Validator::Iban,
            "fr_nir" => Validator::FrNir,
            "fr_siren" => Validator::FrSiren,
            "fr_siret" => Validator::FrSiret,
            "es_dni" => Validator::EsDni,
            "es_nie" => Validator::EsNie,
            "it_codice_fiscale" => Validator::ItCodiceFiscale,
            "be_national_number" => Validator::BeNationalNumber,
            "nl_bsn" => Validator::NlBsn,
            "de_tax_id" => Validator::DeTaxId,
            "at_social_security" => Validator::AtSocialSecurity,
            "pl_pesel" => Validator::PlPesel,
            "ipv4_public" => Validator::Ipv4Public,
            "ipv4" => Validator::Ipv4Any,
            "ipv6_public" => Validator::Ipv6Public,
            "ipv6" => Validator::Ipv6Any,
            "high_entropy" => Validator::HighEntropy,
            "basic_credentials" => Validator::BasicCredentials,
            "phone_digits" => Validator::PhoneDigits,
            _ => return None,
        })
    }

    /// The name used in pattern packs; [`Validator::from_name`] parses it back.
    pub fn name(self) -> &'static str {
        match self {
            Validator::Luhn => "luhn",
            Validator::CreditCard => "credit_card",
            Validator::Iban => "iban",
            Validator::FrNir => "fr_nir",
            Validator::FrSiren => "fr_siren",
            Validator::FrSiret => "fr_siret",
            Validator::EsDni => "es_dni",
            Validator::EsNie => "es_nie",
            Validator::ItCodiceFiscale => "it_codice_fiscale",
            Validator::BeNationalNumber => "be_national_number",
            Validator::NlBsn => "nl_bsn",
            Validator::DeTaxId => "de_tax_id",
            Validator::AtSocialSecurity => "at_social_security",
            Validator::PlPesel => "pl_pesel",
            Validator::Ipv4Public => "ipv4_public",
            Validator::Ipv4Any => "ipv4",
            Validator::Ipv6Public => "ipv6_public",
            Validator::Ipv6Any => "ipv6",
            Validator::HighEntropy => "high_entropy",
            Validator::BasicCredentials => "basic_credentials",
            Validator::PhoneDigits => "phone_digits",
        }
    }

    /// Whether this is a check digit computation (a random string passes it rarely), as
    /// opposed to a plausibility check on shape or length.
    pub fn is_checksum(self) -> bool {
        !matches!(
            self,
            Validator::Ipv4Public
                | Validator::Ipv4Any
                | Validator::Ipv6Public
                | Validator::Ipv6Any
                | Validator::HighEntropy
                | Validator::BasicCredentials
                | Validator::PhoneDigits
        )
    }

    /// Run the check on the raw matched bytes. Never panics, never allocates.
    pub fn check(self, candidate: &[u8]) -> bool {
        match self {
            Validator::Luhn => luhn_valid(candidate),
            Validator::CreditCard => credit_card_valid(candidate),
            Validator::Iban => iban_valid(candidate),
            Validator::FrNir => fr_nir_valid(candidate),
            Validator::FrSiren => fr_siren_valid(candidate),
            Validator::FrSiret => fr_siret_valid(candidate),
            Validator::EsDni => es_dni_valid(candidate),
            Validator::EsNie => es_nie_valid(candidate),
            Validator::ItCodiceFiscale => it_codice_fiscale_valid(candidate),
            Validator::BeNationalNumber => be_national_number_valid(candidate),
            Validator::NlBsn => nl_bsn_valid(candidate),
            Validator::DeTaxId => de_tax_id_valid(candidate),
            Validator::AtSocialSecurity => at_social_security_valid(candidate),
            Validator::PlPesel => pl_pesel_valid(candidate),
            Validator::Ipv4Public => ipv4_parse(candidate).is_some_and(ipv4_is_public),
            Validator::Ipv4Any => ipv4_parse(candidate).is_some(),
            Validator::Ipv6Public => ipv6_parse(candidate).is_some_and(ipv6_is_public),
            Validator::Ipv6Any => ipv6_parse(candidate).is_some(),
            Validator::HighEntropy => looks_random(candidate),
            Validator::BasicCredentials => basic_credentials_valid(candidate),
            Validator::PhoneDigits => phone_digits_valid(candidate),
        }
    }
}

impl std::fmt::Display for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Separators skipped inside national identifiers: space, dot, dash, slash.
pub(crate) const ID_SEPS: &[u8] = b" .-/";

/// Copy the ASCII alphanumerics of `raw` into a stack buffer, uppercased, skipping bytes of
/// `seps`, and give the buffer with the number of characters kept. Gives `None` when another
/// byte occurs or when there are more than `N` characters (scanning stops at the first excess
/// character, so huge inputs cost nothing).
pub(crate) fn compact_upto<const N: usize>(raw: &[u8], seps: &[u8]) -> Option<([u8; N], usize)> {
    let mut buf = [0u8; N];
    let mut len = 0usize;
    for &b in raw {
        if b.is_ascii_alphanumeric() {
            let slot = buf.get_mut(len)?;
            *slot = b.to_ascii_uppercase();
            len += 1;
        } else if !seps.contains(&b) {
            return None;
        }
    }
    Some((buf, len))
}

/// [`compact_upto`] that requires exactly `N` characters.
pub(crate) fn compact_exact<const N: usize>(raw: &[u8], seps: &[u8]) -> Option<[u8; N]> {
    let (buf, len) = compact_upto::<N>(raw, seps)?;
    (len == N).then_some(buf)
}

/// [`compact_upto`] where every kept character must be an ASCII digit; the buffer holds digit
/// values `0..=9`.
pub(crate) fn digits_upto<const N: usize>(raw: &[u8], seps: &[u8]) -> Option<([u8; N], usize)> {
    let (mut buf, len) = compact_upto::<N>(raw, seps)?;
    for d in buf.iter_mut().take(len) {
        if !d.is_ascii_digit() {
            return None;
        }
        *d -= b'0';
    }
    Some((buf, len))
}

/// [`digits_upto`] that requires exactly `N` digits.
pub(crate) fn digits_exact<const N: usize>(raw: &[u8], seps: &[u8]) -> Option<[u8; N]> {
    let (buf, len) = digits_upto::<N>(raw, seps)?;
    (len == N).then_some(buf)
}

/// Decimal value of digit values (`0..=9`); callers keep `d` short enough for `u64`.
pub(crate) fn number(d: &[u8]) -> u64 {
    d.iter().fold(0u64, |acc, &x| acc * 10 + u64::from(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in Validator::ALL {
            assert_eq!(Validator::from_name(v.name()), Some(v), "{v:?}");
            assert_eq!(v.to_string(), v.name());
        }
        let mut names: Vec<_> = Validator::ALL.iter().map(|v| v.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Validator::ALL.len());
    }

    #[test]
    fn unknown_names() {
        for name in [
            "",
            "Luhn",
            "LUHN",
            "ipv4_any",
            "credit-card",
            "iban ",
            "es.dni",
            "entropy",
        ] {
            assert_eq!(Validator::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn check_dispatch() {
        let cases: &[(Validator, &str, bool)] = &[
            (Validator::Luhn, "79927398713", true),
            (Validator::Luhn, "79927398710", false),
            (Validator::CreditCard, "4111 1111 1111 1111", true),
            (Validator::CreditCard, "4111 1111 1111 1112", false),
            (Validator::Iban, "DE89 3704 0044 0532 0130 00", true),
            (Validator::Iban, "DE89 3704 0044 0532 0130 01", false),
            (Validator::FrNir, "2 55 08 14 168 025 38", true),
            (Validator::FrNir, "2 55 08 14 168 025 39", false),
            (Validator::FrSiren, "732 829 320", true),
            (Validator::FrSiren, "732 829 321", false),
            (Validator::FrSiret, "732 829 320 00074", true),
            (Validator::FrSiret, "732 829 320 00075", false),
            (Validator::EsDni, "12345678Z", true),
            (Validator::EsDni, "12345678A", false),
            (Validator::EsNie, "X1234567L", true),
            (Validator::EsNie, "X1234567A", false),
            (Validator::ItCodiceFiscale, "RSSMRA85T10A562S", true),
            (Validator::ItCodiceFiscale, "RSSMRA85T10A562T", false),
            (Validator::BeNationalNumber, "85.07.30-033.28", true),
            (Validator::BeNationalNumber, "85.07.30-033.61", false),
            (Validator::NlBsn, "111222333", true),
            (Validator::NlBsn, "111222334", false),
            (Validator::DeTaxId, "12345678995", true),
            (Validator::DeTaxId, "12345678994", false),
            (Validator::AtSocialSecurity, "1237 010180", true),
            (Validator::AtSocialSecurity, "1238 010180", false),
            (Validator::PlPesel, "44051401359", true),
            (Validator::PlPesel, "44051401358", false),
            (Validator::Ipv4Public, "8.8.8.8", true),
            (Validator::Ipv4Public, "10.0.0.1", false),
            (Validator::Ipv4Any, "10.0.0.1", true),
            (Validator::Ipv4Any, "10.0.0.256", false),
            (Validator::Ipv6Public, "2606:4700::1111", true),
            (Validator::Ipv6Public, "fe80::1", false),
            (Validator::Ipv6Any, "fe80::1", true),
            (Validator::Ipv6Any, "fe80::g", false),
            (
                Validator::HighEntropy,
                "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
                true,
            ),
            (
                Validator::HighEntropy,
                "payments-service-account-name",
                false,
            ),
        ];
        for &(v, input, want) in cases {
            assert_eq!(v.check(input.as_bytes()), want, "{v:?} {input:?}");
        }
    }

    /// No validator panics on arbitrary bytes, empty or huge inputs.
    #[test]
    fn never_panics() {
        let huge_digits = vec![b'7'; 1 << 20];
        let huge_seps = vec![b' '; 1 << 20];
        let mut pseudo = Vec::with_capacity(4096);
        let mut x: u32 = 0x1234_5678;
        for _ in 0..4096 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            pseudo.push((x >> 24) as u8);
        }
        let inputs: Vec<&[u8]> = vec![
            b"",
            b" ",
            b"-",
            b"\xff\xfe\x00",
            b"2A",
            b"::",
            b"....",
            &huge_digits,
            &huge_seps,
            &pseudo,
        ];
        for v in Validator::ALL {
            for input in &inputs {
                let _ = v.check(input);
            }
            // Every short window of the pseudo-random bytes and of digit strings.
            for len in 0..40 {
                for start in (0..pseudo.len().saturating_sub(len)).step_by(97) {
                    let _ = v.check(&pseudo[start..start + len]);
                }
                let _ = v.check(&huge_digits[..len]);
            }
        }
        assert!(!Validator::Luhn.check(&huge_seps));
        assert!(!Validator::Iban.check(&huge_digits));
    }

    #[test]
    fn compact_helpers() {
        assert_eq!(compact_exact::<3>(b"a-b c", b" -"), Some(*b"ABC"));
        assert_eq!(compact_exact::<3>(b"a-b c", b" "), None);
        assert_eq!(compact_exact::<3>(b"abcd", b""), None);
        assert_eq!(compact_exact::<3>(b"ab", b""), None);
        assert_eq!(digits_exact::<3>(b"1.2.3", b"."), Some([1, 2, 3]));
        assert_eq!(digits_exact::<3>(b"1.2.A", b"."), None);
        assert_eq!(number(&[1, 2, 3]), 123);
    }
}
