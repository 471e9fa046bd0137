//! IP addresses: strict parsing and "could identify a user" (public) classification.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Strict dotted-quad IPv4: exactly four decimal octets `0`-`255` separated by single dots,
/// no leading zeros (`01` is rejected: some parsers read it as octal), nothing else (no
/// surrounding spaces, no port, no CIDR suffix).
pub fn ipv4_parse(raw: &[u8]) -> Option<Ipv4Addr> {
    if raw.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut parts = raw.split(|&b| b == b'.');
    for octet in octets.iter_mut() {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part[0] == b'0') {
            return None;
        }
        let mut v = 0u16;
        for &b in part {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u16::from(b - b'0');
        }
        *octet = u8::try_from(v).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// Whether an IPv4 address can belong to a real user on the internet, i.e. is worth
/// redacting as personal data.
///
/// `false` for: `0.0.0.0/8` (this network), `10/8`, `172.16/12`, `192.168/16` (private),
/// `100.64/10` (carrier-grade NAT), `127/8` (loopback), `169.254/16` (link-local),
/// `192.0.0/24` (IETF protocol assignments), `224/4` (multicast), `240/4` (reserved,
/// including broadcast `255.255.255.255`).
///
/// `true` for everything else, deliberately including the documentation ranges
/// `192.0.2/24`, `198.51.100/24`, `203.0.113/24` (examples in logs stand for real users) and
/// the benchmarking range `198.18/15`.
pub fn ipv4_is_public(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || a >= 224
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0))
}

/// Longest textual IPv6 address std accepts without a zone: 6 groups of 4 hex digits and an
/// embedded dotted quad, `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`.
const IPV6_MAX_LEN: usize = 45;

/// IPv6 address in any textual form std's parser accepts (compressed `::`, embedded dotted
/// quad), on the raw bytes with nothing trimmed: no brackets, no zone id (`%eth0`), no port,
/// no prefix length. Non-UTF-8 or longer than 45 bytes gives `None` without parsing.
pub fn ipv6_parse(raw: &[u8]) -> Option<Ipv6Addr> {
    if raw.len() > IPV6_MAX_LEN {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// Whether an IPv6 address can belong to a real user on the internet.
///
/// `true` for global unicast `2000::/3` (including the documentation prefix `2001:db8::/32`,
/// which stands for real users in examples, 6to4 and Teredo), and for IPv4-mapped
/// `::ffff:a.b.c.d` when the IPv4 address is public per [`ipv4_is_public`].
/// `false` for everything else: `::`, `::1`, link-local `fe80::/10`, unique local `fc00::/7`,
/// multicast `ff00::/8`, and the unassigned or special space outside `2000::/3`.
pub fn ipv6_is_public(ip: Ipv6Addr) -> bool {
    if ip.segments()[0] & 0xe000 == 0x2000 {
        return true;
    }
    ip.to_ipv4_mapped().is_some_and(ipv4_is_public)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_parse_table() {
        let cases: &[(&str, Option<[u8; 4]>)] = &[
            ("8.8.8.8", Some([8, 8, 8, 8])),
            ("0.0.0.0", Some([0, 0, 0, 0])),
            ("255.255.255.255", Some([255; 4])),
            ("192.168.1.10", Some([192, 168, 1, 10])),
            ("100.64.0.1", Some([100, 64, 0, 1])),
            ("256.1.1.1", None),
            ("1.1.1.256", None),
            ("01.1.1.1", None),
            ("1.1.1.00", None),
            ("1.1.1", None),
            ("1.1.1.1.1", None),
            ("1..1.1", None),
            ("1.1.1.1.", None),
            (".1.1.1.1", None),
            (" 1.1.1.1", None),
            ("1.1.1.1 ", None),
            ("1.1.1.1:80", None),
            ("1.1.1.1/24", None),
            ("1.1.1.-1", None),
            ("+1.1.1.1", None),
            ("1.1.1.1000", None),
            ("a.b.c.d", None),
            ("", None),
            ("1234.1.1.1", None),
            ("1.2.3.4\u{0}", None),
        ];
        for &(input, want) in cases {
            assert_eq!(
                ipv4_parse(input.as_bytes()),
                want.map(Ipv4Addr::from),
                "{input:?}"
            );
        }
    }

    #[test]
    fn ipv4_public_table() {
        let cases: &[(&str, bool)] = &[
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("81.2.69.160", true),
            ("100.63.255.255", true),
            ("100.128.0.0", true),
            ("172.15.255.255", true),
            ("172.32.0.0", true),
            ("169.253.1.1", true),
            ("192.0.1.1", true),
            ("192.0.2.1", true),    // documentation: counts as a user
            ("198.51.100.7", true), // documentation
            ("203.0.113.99", true), // documentation
            ("198.18.0.1", true),   // benchmarking
            ("223.255.255.255", true),
            ("192.169.0.1", true),
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("10.0.0.1", false),
            ("10.255.255.255", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("127.0.0.1", false),
            ("127.1.2.3", false),
            ("169.254.169.254", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("192.168.0.1", false),
            ("192.0.0.8", false),
            ("224.0.0.1", false),
            ("239.255.255.250", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
        ];
        for &(input, want) in cases {
            let ip = ipv4_parse(input.as_bytes());
            assert!(ip.is_some(), "{input:?} should parse");
            assert_eq!(ip.is_some_and(ipv4_is_public), want, "{input:?}");
        }
    }

    #[test]
    fn ipv6_parse_table() {
        let cases: &[(&str, bool)] = &[
            ("::", true),
            ("::1", true),
            ("2001:db8::1", true),
            ("2001:DB8:0:0:0:0:0:1", true),
            ("fe80::1ff:fe23:4567:890a", true),
            ("::ffff:192.0.2.1", true),
            ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", true),
            ("2001:db8::1::1", false),
            ("2001:db8::g", false),
            ("[2001:db8::1]", false),
            ("2001:db8::1%eth0", false),
            (" 2001:db8::1", false),
            ("2001:db8::1/64", false),
            ("12345::", false),
            ("1:2:3:4:5:6:7:8:9", false),
            ("", false),
            (":", false),
            ("1.2.3.4", false),
        ];
        for &(input, want) in cases {
            assert_eq!(ipv6_parse(input.as_bytes()).is_some(), want, "{input:?}");
        }
        assert_eq!(ipv6_parse(b"\xff::1"), None);
        assert_eq!(ipv6_parse(&[b'0'; 1000]), None);
    }

    #[test]
    fn ipv6_public_table() {
        let cases: &[(&str, bool)] = &[
            ("2001:db8::1", true), // documentation: counts as a user
            ("2606:4700:4700::1111", true),
            ("2a00:1450:4007:80e::200e", true),
            ("3fff:ffff::1", true),
            ("2002:c000:0201::1", true), // 6to4
            ("::ffff:8.8.8.8", true),
            ("::ffff:203.0.113.5", true),
            ("::", false),
            ("::1", false),
            ("fe80::1", false),
            ("febf:ffff::1", false),
            ("fc00::1", false),
            ("fd12:3456:789a::1", false),
            ("ff02::1", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:127.0.0.1", false),
            ("::8.8.8.8", false), // deprecated IPv4-compatible form
            ("64:ff9b::808:808", false),
            ("4000::1", false),
            ("1fff::1", false),
        ];
        for &(input, want) in cases {
            let ip = ipv6_parse(input.as_bytes());
            assert!(ip.is_some(), "{input:?} should parse");
            assert_eq!(ip.is_some_and(ipv6_is_public), want, "{input:?}");
        }
    }
}
