//! Decimal digits of an integer without the formatting machinery, for the writers that run
//! on every record: the OTLP walker reading an integer attribute as text, and `caviard redact
//! --tag` writing a class's days and a redaction count.

/// Decimal digits of `i` in `buf`, without allocating.
pub(crate) fn format_i64(i: i64, buf: &mut [u8; 20]) -> &str {
    let mut n = i.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    // Only ASCII digits and '-' were written.
    std::str::from_utf8(&buf[pos..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_every_i64() {
        for i in [0, 7, -7, 42, 4_111_111_111_111_111, i64::MAX, i64::MIN] {
            let mut buf = [0u8; 20];
            assert_eq!(format_i64(i, &mut buf), i.to_string());
        }
    }
}
