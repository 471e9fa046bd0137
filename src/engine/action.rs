//! Actions: what replaces a detected value.
//!
//! Every replacement is ASCII without quotes, backslashes or spaces, so it can be written
//! inside a JSON string or as an unquoted logfmt value without breaking the record.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// What to do with a detected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Replace with the category marker, e.g. `[EMAIL]`.
    Mask,
    /// Replace with a keyed HMAC-SHA256 pseudonym, e.g. `[EMAIL:k1:3f9a0c2e5b71d4a8]`: stable for
    /// a given key, so records stay joinable without revealing the value.
    Pseudonymize,
    /// Keep the last four characters of a card or IBAN (`**** **** **** 1111`), the domain of
    /// an e-mail (`***@example.fr`); other values are masked.
    Partial,
    /// Remove the field from a structured record (JSON member, logfmt pair); a value found in
    /// free text is removed.
    Drop,
}

/// The HMAC key used by [`Action::Pseudonymize`], with its id (written in every pseudonym so
/// keys can be rotated).
#[derive(Clone)]
pub struct PseudonymKey {
    id: String,
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("PseudonymKey")
            .field("id", &self.id)
            .finish()
    }
}

impl PseudonymKey {
    /// Build from raw key bytes (at least 16) and a short id (`[A-Za-z0-9_-]{1,16}`).
    pub fn new(id: &str, key: &[u8]) -> Result<PseudonymKey, String> {
        if key.len() < 16 {
            return Err(format!(
                "key is {} bytes, at least 16 are needed",
                key.len()
            ));
        }
        if id.is_empty()
            || id.len() > 16
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err("key_id must be 1 to 16 characters of [A-Za-z0-9_-]".to_string());
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
        Ok(PseudonymKey {
            id: id.to_string(),
            mac,
        })
    }

    /// Append `[MARKER:id:hex16]` for `value` of `category` to `out`.
    fn write(&self, marker: &str, category: &str, normalized: &[u8], out: &mut Vec<u8>) {
        let mut mac = self.mac.clone();
        mac.update(category.as_bytes());
        mac.update(&[0]);
        mac.update(normalized);
        let tag = mac.finalize().into_bytes();
        out.push(b'[');
        out.extend_from_slice(marker.as_bytes());
        out.push(b':');
        out.extend_from_slice(self.id.as_bytes());
        out.push(b':');
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in &tag[..8] {
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        }
        out.push(b']');
    }
}

/// Per-category information needed to write a replacement.
#[derive(Debug, Clone)]
pub(crate) struct CategoryOut {
    /// snake_case name.
    pub name: String,
    /// Upper-case name used in markers.
    pub marker: String,
    /// How values are normalised before hashing.
    pub normalize: Normalize,
}

/// How a value is normalised before pseudonymisation, so that `Jean@X.fr` and `jean@x.fr`, or
/// `06 12 34 56 78` and `0612345678`, get the same pseudonym.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Normalize {
    /// Hash the bytes as they are.
    Raw,
    /// ASCII lower case.
    Lower,
    /// Keep letters and digits only, upper-cased.
    Alnum,
}

impl Normalize {
    pub(crate) fn for_category(name: &str) -> Normalize {
        match name {
            "email" => Normalize::Lower,
            "phone" | "credit_card" | "iban" | "fr_nir" | "fr_siren" | "fr_siret" => {
                Normalize::Alnum
            }
            _ => Normalize::Raw,
        }
    }
}

/// Write the replacement of `value` into `out`.
pub(crate) fn write_replacement(
    action: Action,
    cat: &CategoryOut,
    value: &[u8],
    key: Option<&PseudonymKey>,
    tmp: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    match action {
        Action::Drop => {}
        Action::Mask => write_mask(cat, out),
        Action::Pseudonymize => match key {
            Some(k) => {
                tmp.clear();
                match cat.normalize {
                    Normalize::Raw => tmp.extend_from_slice(value),
                    Normalize::Lower => tmp.extend(value.iter().map(|b| b.to_ascii_lowercase())),
                    Normalize::Alnum => tmp.extend(
                        value
                            .iter()
                            .filter(|b| b.is_ascii_alphanumeric())
                            .map(|b| b.to_ascii_uppercase()),
                    ),
                }
                k.write(&cat.marker, &cat.name, tmp, out)
            }
            // The policy refuses to build without a key; mask rather than leak if it ever happens.
            None => write_mask(cat, out),
        },
        Action::Partial => write_partial(cat, value, out),
    }
}

fn write_mask(cat: &CategoryOut, out: &mut Vec<u8>) {
    out.push(b'[');
    out.extend_from_slice(cat.marker.as_bytes());
    out.push(b']');
}

fn write_partial(cat: &CategoryOut, value: &[u8], out: &mut Vec<u8>) {
    if cat.name == "email" {
        if let Some(at) = find_at(value) {
            out.extend_from_slice(b"***");
            out.extend_from_slice(&value[at..]);
            return;
        }
    }
    let alnum = value.iter().filter(|b| b.is_ascii_alphanumeric()).count();
    if alnum < 10 {
        return write_mask(cat, out);
    }
    let mut seen = 0;
    for &b in value {
        if b.is_ascii_alphanumeric() {
            seen += 1;
            out.push(if seen > alnum - 4 { b } else { b'*' });
        } else if b == b' ' || b == b'-' || b == b'.' {
            out.push(b);
        }
    }
}

/// Position of the `@` (or `%40`, `\u0040`) of an e-mail.
fn find_at(value: &[u8]) -> Option<usize> {
    if let Some(p) = memchr::memchr(b'@', value) {
        return Some(p);
    }
    memchr::memmem::find(value, b"%40").or_else(|| memchr::memmem::find(value, b"\\u0040"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(name: &str) -> CategoryOut {
        CategoryOut {
            name: name.into(),
            marker: name.to_ascii_uppercase(),
            normalize: Normalize::for_category(name),
        }
    }

    fn run(action: Action, c: &str, v: &str, key: Option<&PseudonymKey>) -> String {
        let (mut tmp, mut out) = (Vec::new(), Vec::new());
        write_replacement(action, &cat(c), v.as_bytes(), key, &mut tmp, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn mask_and_partial() {
        assert_eq!(run(Action::Mask, "email", "a@b.fr", None), "[EMAIL]");
        assert_eq!(
            run(Action::Partial, "email", "jean@example.fr", None),
            "***@example.fr"
        );
        assert_eq!(
            run(Action::Partial, "credit_card", "4111 1111 1111 1111", None),
            "**** **** **** 1111"
        );
        assert_eq!(run(Action::Partial, "phone", "0612", None), "[PHONE]");
        assert_eq!(run(Action::Drop, "phone", "0612", None), "");
    }

    #[test]
    fn pseudonyms_are_stable_normalised_and_keyed() {
        let k1 = PseudonymKey::new("k1", b"0123456789abcdef0123").unwrap();
        let k2 = PseudonymKey::new("k2", b"another-key-of-20-bytes").unwrap();
        let a = run(Action::Pseudonymize, "email", "Jean@Example.fr", Some(&k1));
        let b = run(Action::Pseudonymize, "email", "jean@example.fr", Some(&k1));
        let c = run(Action::Pseudonymize, "email", "jean@example.fr", Some(&k2));
        assert_eq!(a, b);
        assert!(
            a.starts_with("[EMAIL:k1:") && a.len() == "[EMAIL:k1:]".len() + 16,
            "{a}"
        );
        assert_ne!(a[10..], c[10..]);
        let p1 = run(Action::Pseudonymize, "phone", "06 12 34 56 78", Some(&k1));
        let p2 = run(Action::Pseudonymize, "phone", "06.12.34.56.78", Some(&k1));
        assert_eq!(p1, p2);
    }

    #[test]
    fn key_is_checked() {
        assert!(PseudonymKey::new("k1", b"short").is_err());
        assert!(PseudonymKey::new("bad id!", b"0123456789abcdef").is_err());
        let dbg = format!(
            "{:?}",
            PseudonymKey::new("k1", b"0123456789abcdef").unwrap()
        );
        assert!(!dbg.contains("0123"));
    }
}
