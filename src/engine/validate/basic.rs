//! HTTP Basic credentials: base64 of `user:password`.

/// Whether `raw` is standard base64 (padding optional) that decodes to printable ASCII
/// containing a `:`, as `Basic` credentials do. Words after "basic" in prose
/// (`Basic settings`) decode to binary noise without a colon and are rejected.
pub fn basic_credentials_valid(raw: &[u8]) -> bool {
    let body = raw
        .strip_suffix(b"==")
        .or_else(|| raw.strip_suffix(b"="))
        .unwrap_or(raw);
    if body.len() < 6 || body.len() > 1024 {
        return false;
    }
    let (mut acc, mut bits, mut colon) = (0u32, 0u32, false);
    for &b in body {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return false,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            let byte = (acc >> bits) as u8;
            acc &= (1 << bits) - 1;
            if !(0x20..0x7f).contains(&byte) {
                return false;
            }
            colon |= byte == b':';
        }
    }
    colon
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for ok in [
            &b"dXNlcjpwYXNzd29yZA=="[..],
            b"YWxhZGRpbjpvcGVuc2VzYW1l",
            b"YTpi",
        ] {
            assert_eq!(
                basic_credentials_valid(ok),
                ok.len() > 6,
                "{:?}",
                std::str::from_utf8(ok)
            );
        }
        for bad in [
            &b"settings"[..],
            b"information",
            b"dXNlcnBhc3N3b3Jk",
            b"",
            b"!!!!!!!!",
        ] {
            assert!(
                !basic_credentials_valid(bad),
                "{:?}",
                std::str::from_utf8(bad)
            );
        }
    }
}
