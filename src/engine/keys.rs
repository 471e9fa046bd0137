//! Key-aware rules: a value whose key names personal data is redacted whole.
//!
//! Keys are found structurally in one pass over the line, whatever the format: the literal
//! pass reports a fragment of a key name (`name`, `password`, ...); the key is the run of
//! key bytes around it; it counts only when a separator follows (`"key": `, `key=`, `key: `,
//! `'key': `, `\"key\":`), which covers JSON, escaped JSON inside a string, logfmt, `k=v` text,
//! URL query strings, HTTP header lines and Python reprs. The key is then normalised (lower
//! case, without `_-. `) and looked up among the key rules.

use super::pack::ValueShape;
use super::validate;

/// Longest normalised key considered.
const MAX_KEY: usize = 64;

/// Key patterns compiled for lookup: exact names in a map, `*x`, `x*` and `*x*` in lists.
///
/// Most keys in a log name nothing personal (`level`, `trace_id`, `duration`): a key that
/// contains none of the patterns' fragments (the longest word of each, as it appears in the
/// normalised key) is turned away by one small automaton before any comparison.
#[derive(Debug, Default)]
pub(crate) struct KeyMatcher {
    key_rule_count: usize,
    fragments: Vec<String>,
    fragment_set: Option<aho_corasick::AhoCorasick>,
    /// Sorted by key, searched by binary search (no hashing on the hot path).
    exact: Vec<(Vec<u8>, usize)>,
    prefix: Vec<(Vec<u8>, usize)>,
    suffix: Vec<(Vec<u8>, usize)>,
    contains: Vec<(Vec<u8>, usize)>,
}

/// Normalise a key into `buf`: ASCII lower case, `_ - . space` removed. None if too long.
pub(crate) fn normalize_key<'b>(key: &[u8], buf: &'b mut [u8; MAX_KEY]) -> Option<&'b [u8]> {
    let mut n = 0;
    for &b in key {
        if matches!(b, b'_' | b'-' | b'.' | b' ') {
            continue;
        }
        *buf.get_mut(n)? = b.to_ascii_lowercase();
        n += 1;
    }
    Some(&buf[..n])
}

impl KeyMatcher {
    /// Add a pattern for key rule `rule`; [`KeyMatcher::finish`] must follow the last one.
    pub(crate) fn add(&mut self, pattern: &str, rule: usize) -> Result<(), String> {
        let (lead, trail) = (
            pattern.starts_with('*'),
            pattern.ends_with('*') && pattern.len() > 1,
        );
        let core = pattern.trim_matches('*');
        if core.is_empty() || core.contains('*') {
            return Err(format!(
                "key pattern {pattern:?}: `*` only at the start or the end"
            ));
        }
        let mut buf = [0u8; MAX_KEY];
        let norm = normalize_key(core.as_bytes(), &mut buf)
            .ok_or_else(|| format!("key pattern {pattern:?} is longer than {MAX_KEY} bytes"))?
            .to_vec();
        match (lead, trail) {
            (false, false) => {
                if let Err(at) = self
                    .exact
                    .binary_search_by(|(k, _)| k.as_slice().cmp(&norm))
                {
                    self.exact.insert(at, (norm, rule));
                }
            }
            (true, false) => self.suffix.push((norm, rule)),
            (false, true) => self.prefix.push((norm, rule)),
            (true, true) => self.contains.push((norm, rule)),
        }
        self.key_rule_count = self.key_rule_count.max(rule + 1);
        let fragment = longest_word(core);
        if !self.fragments.contains(&fragment) {
            self.fragments.push(fragment);
        }
        Ok(())
    }

    /// Compile the fragment automaton once every pattern is added.
    pub(crate) fn finish(&mut self) -> Result<(), String> {
        let ac = aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&self.fragments)
            .map_err(|e| format!("key fragments: {e}"))?;
        self.fragment_set = Some(ac);
        Ok(())
    }

    /// The key rule a raw key belongs to.
    pub(crate) fn classify(&self, raw: &[u8]) -> Option<usize> {
        let mut buf = [0u8; MAX_KEY];
        let k = normalize_key(raw, &mut buf)?;
        if !self.fragment_set.as_ref()?.is_match(k) {
            return None;
        }
        if let Ok(at) = self.exact.binary_search_by(|(e, _)| e.as_slice().cmp(k)) {
            return Some(self.exact[at].1);
        }
        // The longest matching pattern wins: `*accesskey*` over `*key`.
        let suffix = self.suffix.iter().filter(|(p, _)| k.ends_with(p));
        let prefix = self.prefix.iter().filter(|(p, _)| k.starts_with(p));
        let contains = self
            .contains
            .iter()
            .filter(|(p, _)| memchr::memmem::find(k, p).is_some());
        suffix
            .chain(prefix)
            .chain(contains)
            .max_by_key(|(p, _)| p.len())
            .map(|&(_, r)| r)
    }
}

/// Raw keys seen recently and their key rule: a log stream repeats a few dozen keys
/// (`"level":`, `trace_id=`), so most lookups end here after one hash and one compare.
/// Direct-mapped, fixed size, owned by one worker; keys longer than an entry go uncached.
#[derive(Debug)]
pub(crate) struct KeyMemo {
    entries: Box<[MemoEntry; MEMO_SLOTS]>,
}

const MEMO_SLOTS: usize = 4096;
const MEMO_KEY: usize = 32;

/// A key as four words and its length: together they spell it exactly (see [`key_words`]),
/// so a lookup compares words, not bytes.
#[derive(Debug, Clone, Copy, Default)]
struct MemoEntry {
    words: [u64; 4],
    /// Key length plus one; 0 for an empty slot.
    len: u8,
    /// The key rule plus one; 0 for none.
    rule: u8,
}

impl Default for KeyMemo {
    fn default() -> Self {
        KeyMemo {
            entries: Box::new([MemoEntry::default(); MEMO_SLOTS]),
        }
    }
}

impl KeyMemo {
    /// Forget everything (the memo met another matcher).
    pub(crate) fn clear(&mut self) {
        self.entries.iter_mut().for_each(|e| e.len = 0);
    }

    /// `matcher.classify(raw)`, remembered.
    #[inline]
    pub(crate) fn classify(&mut self, matcher: &KeyMatcher, raw: &[u8]) -> Option<usize> {
        if raw.len() > MEMO_KEY || matcher.key_rule_count > u8::MAX as usize - 1 {
            return matcher.classify(raw);
        }
        let words = key_words(raw);
        let len = raw.len() as u8 + 1;
        let slot = &mut self.entries[memo_slot(&words, len)];
        if slot.len == len && slot.words == words {
            return (slot.rule as usize).checked_sub(1);
        }
        let rule = matcher.classify(raw);
        *slot = MemoEntry {
            words,
            len,
            rule: rule.map_or(0, |r| r as u8 + 1),
        };
        rule
    }
}

/// A key of at most [`MEMO_KEY`] bytes as four words that, with its length, determine it:
/// fixed-size loads that overlap rather than a copy of a variable length. Under eight bytes,
/// the first and last four bytes (or, under four, the first, middle and last byte) cover it;
/// from eight, the first and last eight, then bytes 8..16 from 17 and 16..24 from 25.
#[inline]
fn key_words(raw: &[u8]) -> [u64; 4] {
    let n = raw.len();
    let w64 = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
    let w32 = |at: usize| u32::from_le_bytes(raw[at..at + 4].try_into().expect("4 bytes")) as u64;
    match n {
        0 => [0; 4],
        1..=3 => [
            raw[0] as u64 | (raw[n / 2] as u64) << 8 | (raw[n - 1] as u64) << 16,
            0,
            0,
            0,
        ],
        4..=7 => [w32(0) | w32(n - 4) << 32, 0, 0, 0],
        8..=16 => [w64(0), w64(n - 8), 0, 0],
        17..=24 => [w64(0), w64(n - 8), w64(8), 0],
        _ => [w64(0), w64(n - 8), w64(8), w64(16)],
    }
}

/// Slot of a key from its words and length, mixed.
#[inline]
fn memo_slot(words: &[u64; 4], len: u8) -> usize {
    let h = words[0] ^ words[1].rotate_left(29) ^ words[2].rotate_left(13) ^ words[3] ^ len as u64;
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - MEMO_SLOTS.trailing_zeros())) as usize
}

/// The longest word of a key pattern (`first_name` -> `first`, `dateOfBirth` -> `birth`,
/// `passport_no` -> `passport`): every spelling of the key contains it, and a long word hits
/// fewer unrelated places than a short one (`no`, `id`).
fn longest_word(core: &str) -> String {
    let core = core.trim_matches(|c| matches!(c, '_' | '-' | '.' | ' '));
    let bytes = core.as_bytes();
    let mut best = (0, 0);
    let mut start = 0;
    for i in 1..=bytes.len() {
        let boundary = i == bytes.len()
            || matches!(bytes[i], b'_' | b'-' | b'.' | b' ')
            || (bytes[i].is_ascii_uppercase() && bytes[i - 1].is_ascii_lowercase());
        if boundary {
            let word = (start, i);
            if word.1 - word.0 > best.1 - best.0 {
                best = word;
            }
            start =
                i + usize::from(i < bytes.len() && matches!(bytes[i], b'_' | b'-' | b'.' | b' '));
        }
    }
    core[best.0..best.1].to_ascii_lowercase()
}

#[inline]
pub(crate) fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') || b >= 0x80
}

/// A key found in a line, with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyValue {
    /// Start of the key (including an opening quote).
    pub field_start: usize,
    /// End of the raw key name (exclusive).
    pub key_end: usize,
    /// The value's bytes (inside quotes when quoted).
    pub value: (usize, usize),
    /// End of the value including a closing quote.
    pub field_end: usize,
    /// Whether the value was quoted.
    pub quoted: bool,
}

/// Expand the fragment at `hs..he` to the whole key; `None` unless a separator and a value follow.
/// `secret_like` extends unquoted header values over an authorization scheme
/// (`Authorization: Bearer x`); `name_like` over following capitalised words (`name: Jean Dupont`).
pub(crate) fn key_value_at(line: &[u8], hs: usize, he: usize) -> Option<(usize, usize, KeyValue)> {
    let n = line.len();
    let mut ks = hs;
    while ks > 0 && is_key_byte(line[ks - 1]) {
        ks -= 1;
    }
    let mut ke = he;
    while ke < n && is_key_byte(line[ke]) {
        ke += 1;
    }
    // Trailing dots belong to the sentence, not the key.
    while ke > he && line[ke - 1] == b'.' {
        ke -= 1;
    }
    if let Some(kv) = xml_element(line, ks, ke) {
        return Some((ks, ke, kv));
    }
    let (field_start, close) = opening_quote(line, ks);
    let mut j = ke;
    if let Some(q) = close {
        if !line[j..].starts_with(q) {
            return None;
        }
        j += q.len();
    }
    j = skip_blanks(line, j);
    j = separator_end(line, j, close.is_some())?;
    j = skip_blanks(line, j);
    let (value, field_end, quoted) = value_at(line, j)?;
    Some((
        ks,
        ke,
        KeyValue {
            field_start,
            key_end: ke,
            value,
            field_end,
            quoted,
        },
    ))
}

fn skip_blanks(line: &[u8], mut j: usize) -> usize {
    while j < line.len() && (line[j] == b' ' || line[j] == b'\t') {
        j += 1;
    }
    j
}

/// The end of a key/value separator at `j`: `=`, `:`, `=>` (Ruby), `\=` and `\:` (CEF escapes).
/// `http://`, `std::x` and an unquoted `a:b` without a space are not separators.
fn separator_end(line: &[u8], j: usize, quoted_key: bool) -> Option<usize> {
    let j = if line.get(j) == Some(&b'\\') && matches!(line.get(j + 1), Some(b'=') | Some(b':')) {
        j + 1
    } else {
        j
    };
    match *line.get(j)? {
        b'=' if line.get(j + 1) == Some(&b'>') => Some(j + 2),
        b'=' if line.get(j + 1) == Some(&b'=') => None,
        b'=' => Some(j + 1),
        b':' => match line.get(j + 1) {
            Some(b':') | Some(b'/') => None,
            Some(b' ') | Some(b'"') | Some(b'\'') | Some(b'\t') | Some(b'\\') | Some(b'[') => {
                Some(j + 1)
            }
            _ if quoted_key => Some(j + 1),
            _ => None,
        },
        _ => None,
    }
}

/// `<Key>value</Key>` or `<ns:Key>value</ns:Key>`: the key at `ks..ke` is an XML element name.
fn xml_element(line: &[u8], ks: usize, ke: usize) -> Option<KeyValue> {
    if line.get(ke) != Some(&b'>') {
        return None;
    }
    let mut open = ks.checked_sub(1)?;
    if line[open] == b':' {
        while open > 0 && line[open - 1].is_ascii_alphanumeric() {
            open -= 1;
        }
        open = open.checked_sub(1)?;
    }
    if line[open] != b'<' {
        return None;
    }
    let start = ke + 1;
    let end = start + memchr::memchr(b'<', &line[start..])?;
    (end > start).then_some(KeyValue {
        field_start: open,
        key_end: ke,
        value: (start, end),
        field_end: end,
        quoted: true,
    })
}

/// The quote that opens the key at `ks`, if any, and what closes it.
fn opening_quote(line: &[u8], ks: usize) -> (usize, Option<&'static [u8]>) {
    if ks == 0 {
        return (ks, None);
    }
    match line[ks - 1] {
        b'"' if ks >= 2 && line[ks - 2] == b'\\' => (ks - 2, Some(b"\\\"")),
        b'"' => (ks - 1, Some(b"\"")),
        b'\'' => (ks - 1, Some(b"'")),
        _ => (ks, None),
    }
}

/// The value starting at `j`: `(value range, end of field, quoted)`. A list whose first
/// element is a string (`["Bearer x"]`, `['8219 Sunset Blvd']`, header maps of Go and Caddy,
/// Python `QueryDict`s) stands for that string.
fn value_at(line: &[u8], j: usize) -> Option<((usize, usize), usize, bool)> {
    let n = line.len();
    let first = *line.get(j)?;
    match first {
        b'[' => {
            let k = skip_blanks(line, j + 1);
            match line.get(k) {
                Some(b'"') | Some(b'\'') => value_at(line, k),
                _ => None,
            }
        }
        b'{' => None,
        b'\\' if line.get(j + 1) == Some(&b'"') => {
            let start = j + 2;
            let end = start + memchr::memmem::find(&line[start..], b"\\\"")?;
            Some(((start, end), end + 2, true))
        }
        b'"' => {
            let start = j + 1;
            let mut k = start;
            while k < n {
                match line[k] {
                    b'\\' => k += 2,
                    b'"' => return Some(((start, k), k + 1, true)),
                    _ => k += 1,
                }
            }
            // Unterminated: the rest of the line is the value (fail closed).
            Some(((start, n), n, true))
        }
        b'\'' => {
            let start = j + 1;
            let end = memchr::memchr(b'\'', &line[start..]).map_or(n, |p| start + p);
            Some(((start, end), (end + 1).min(n), true))
        }
        _ => {
            let mut k = j;
            while k < n && !is_unquoted_end(line[k]) {
                k += 1;
            }
            (k > j).then_some(((j, k), k, false))
        }
    }
}

#[inline]
fn is_unquoted_end(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b','
            | b';'
            | b'&'
            | b'|'
            | b'"'
            | b'\''
            | b'}'
            | b']'
            | b')'
            | b'<'
            | b'>'
            | b'\\'
    )
}

/// Extend an unquoted value over an authorization scheme's credentials
/// (`Bearer abc`, `Basic dXNl...`, `Token x`).
pub(crate) fn extend_auth_scheme(line: &[u8], value: (usize, usize)) -> (usize, usize) {
    const SCHEMES: &[&[u8]] = &[
        b"bearer",
        b"basic",
        b"token",
        b"digest",
        b"negotiate",
        b"bot",
        b"apikey",
        b"key",
        b"ssws",
        b"otp",
    ];
    let word = &line[value.0..value.1];
    if !SCHEMES.iter().any(|s| word.eq_ignore_ascii_case(s)) || line.get(value.1) != Some(&b' ') {
        return value;
    }
    let mut k = value.1 + 1;
    while k < line.len() && !is_unquoted_end(line[k]) {
        k += 1;
    }
    if k > value.1 + 1 {
        (value.0, k)
    } else {
        value
    }
}

/// Extend an unquoted name over following capitalised words (`name: Jean Dupont level=...`).
pub(crate) fn extend_name(line: &[u8], value: (usize, usize)) -> (usize, usize) {
    let mut end = value.1;
    loop {
        if line.get(end) != Some(&b' ') {
            return (value.0, end);
        }
        let ws = end + 1;
        let mut k = ws;
        while k < line.len()
            && (line[k].is_ascii_alphabetic() || line[k] >= 0x80 || line[k] == b'-')
        {
            k += 1;
        }
        let cap = line
            .get(ws)
            .is_some_and(|b| b.is_ascii_uppercase() || *b >= 0x80);
        if !cap || k == ws || line.get(k).is_some_and(|&b| b == b'=' || b == b':') {
            return (value.0, end);
        }
        end = k;
    }
}

/// Whether a value has the shape its key rule asks for.
pub(crate) fn shape_ok(shape: ValueShape, v: &[u8], quoted: bool) -> bool {
    if v.is_empty() || v.iter().all(|b| b.is_ascii_whitespace()) {
        return false;
    }
    if !quoted
        && (v.eq_ignore_ascii_case(b"true")
            || v.eq_ignore_ascii_case(b"false")
            || v.eq_ignore_ascii_case(b"null"))
    {
        return false;
    }
    if already_protected(v) {
        return false;
    }
    match shape {
        ValueShape::Any => !matches!(v, b"-" | b"*" | b"none" | b"None" | b"<redacted>" | b"***"),
        ValueShape::NameLike => name_like(v),
        ValueShape::Postal => postal(v),
        ValueShape::Random => secret_token(v),
    }
}

/// Values that are already redacted or hashed: a marker (`[EMAIL]`, `[FILTERED]`), a
/// filler (`***`, `xxxxx`, `<redacted>`), or a digest with its algorithm (`hmac-sha256:9e8e...`,
/// `sha256:...`, as Vault's audit log writes tokens).
fn already_protected(v: &[u8]) -> bool {
    if v.len() > 2 && v[0] == b'[' && v[v.len() - 1] == b']' && !v[1..].contains(&b'"') {
        return true;
    }
    if v.len() >= 3 && v.iter().all(|&b| b == b'*' || b == b'x' || b == b'X') {
        return true;
    }
    if v.eq_ignore_ascii_case(b"<redacted>")
        || v.eq_ignore_ascii_case(b"redacted")
        || v.eq_ignore_ascii_case(b"%2A%2A%2A%2A")
    {
        return true;
    }
    let digest = |prefix: &[u8]| {
        v.len() > prefix.len() + 31
            && v[..prefix.len()].eq_ignore_ascii_case(prefix)
            && v[prefix.len()..].iter().all(u8::is_ascii_hexdigit)
    };
    digest(b"hmac-sha256:") || digest(b"sha256:") || digest(b"sha512:") || digest(b"hmac-sha512:")
}

/// A secret-looking token: random by [`validate::looks_random`], and made only of the bytes
/// tokens are made of (so `product:SKU-FR-1-BLK` or `users/42/avatar` are not).
fn secret_token(v: &[u8]) -> bool {
    v.iter().all(|&b| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-' | b'.' | b'~')
    }) && v.iter().filter(|&&b| b == b'/').count() <= 2
        && validate::looks_random(v)
}

/// A person's name: starts with a capital (or a non-ASCII letter, or a `\u` escape), then
/// letters, spaces, `-`, `'`, `.`, `,`; no digits, at most 80 bytes.
fn name_like(v: &[u8]) -> bool {
    let first_ok = v[0].is_ascii_uppercase() || v[0] >= 0x80 || v.starts_with(b"\\u");
    if !first_ok || v.len() > 80 {
        return false;
    }
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        if b == b'%'
            && v.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            // Percent-encoded letters of a query string (`K%C3%A4the+Lehmann`).
            i += 3;
            continue;
        }
        if b == b'\\' {
            // A JSON escape of a letter (`\u00e9`) is part of the name; any other escape is not.
            let hex = v
                .get(i + 2..i + 6)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if v.get(i + 1) != Some(&b'u') || !hex {
                return false;
            }
            i += 6;
            continue;
        }
        if !(b.is_ascii_alphabetic()
            || b >= 0x80
            || matches!(b, b' ' | b'-' | b'\'' | b'.' | b',' | b'+'))
        {
            return false;
        }
        i += 1;
    }
    true
}

/// A postal address: a letter and a space, and not an IP/host:port.
fn postal(v: &[u8]) -> bool {
    let letter = v.iter().any(|b| b.is_ascii_alphabetic() || *b >= 0x80);
    letter && v.contains(&b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(line: &str, frag: &str) -> Option<String> {
        let hs = line.find(frag)?;
        let (_, _, kv) = key_value_at(line.as_bytes(), hs, hs + frag.len())?;
        Some(line[kv.value.0..kv.value.1].to_string())
    }

    #[test]
    fn finds_values_in_every_syntax() {
        assert_eq!(
            kv(r#"{"first_name": "Jean", "x":1}"#, "name").as_deref(),
            Some("Jean")
        );
        assert_eq!(
            kv(r#"{"password":"a\"b"}"#, "password").as_deref(),
            Some(r#"a\"b"#)
        );
        assert_eq!(
            kv(r#"msg="{\"token\":\"abc\"}""#, "token").as_deref(),
            Some("abc")
        );
        assert_eq!(
            kv("user=x password=hunter2 host=h", "password").as_deref(),
            Some("hunter2")
        );
        assert_eq!(kv("GET /a?sid=abc&page=2", "sid").as_deref(), Some("abc"));
        assert_eq!(
            kv("Cookie: session=abc; _ga=1", "Cookie").as_deref(),
            Some("session=abc")
        );
        assert_eq!(
            kv("(email='a@b.c', dob='1992-01-27')", "dob").as_deref(),
            Some("1992-01-27")
        );
        assert_eq!(kv("see http://x", "http"), None);
        assert_eq!(kv("the password is wrong", "password"), None);
        assert_eq!(kv(r#"{"address":{"street":"x"}}"#, "address"), None);
        assert_eq!(
            kv("<ns:Prenom>Hélène</ns:Prenom>", "Prenom").as_deref(),
            Some("Hélène")
        );
        assert_eq!(
            kv("<dob>1990-01-02</dob>", "dob").as_deref(),
            Some("1990-01-02")
        );
        assert_eq!(
            kv(r#"{"naam"=>"Daan de Boer"}"#, "naam").as_deref(),
            Some("Daan de Boer")
        );
        assert_eq!(
            kv(r"msg=x password\=s3cr3t act=deny", "password").as_deref(),
            Some("s3cr3t")
        );
        assert_eq!(
            kv(r#""Cookie":["session=abc; theme=dark"]"#, "Cookie").as_deref(),
            Some("session=abc; theme=dark")
        );
        assert_eq!(
            kv("{'street_address': ['8219 Sunset Blvd']}", "street").as_deref(),
            Some("8219 Sunset Blvd")
        );
        assert_eq!(kv("if a == b", "a"), None);
    }

    #[test]
    fn classify_and_fragments() {
        let mut m = KeyMatcher::default();
        for (pattern, rule) in [
            ("first_name", 0),
            ("passport_no", 5),
            ("enduser.id", 6),
            ("*password*", 1),
            ("dateOfBirth", 2),
            ("*_token", 3),
        ] {
            m.add(pattern, rule).unwrap();
        }
        assert_eq!(
            m.fragments,
            ["first", "passport", "enduser", "password", "birth", "token"]
        );
        m.finish().unwrap();
        assert_eq!(m.classify(b"passportNo"), Some(5));
        assert_eq!(m.classify(b"enduser.id"), Some(6));
        // A spelling that splits the fragment still matches: the fragment is looked for in
        // the normalised key.
        assert_eq!(m.classify(b"pass_word"), Some(1));
        assert_eq!(m.classify(b"firstName"), Some(0));
        assert_eq!(m.classify(b"First-Name"), Some(0));
        assert_eq!(m.classify(b"db_password_file"), Some(1));
        assert_eq!(m.classify(b"date_of_birth"), Some(2));
        assert_eq!(m.classify(b"csrf_token"), Some(3));
        assert_eq!(m.classify(b"hostname"), None);
        assert!(m.add("a*b", 4).is_err());
    }

    #[test]
    fn memo_gives_what_the_matcher_gives() {
        let mut m = KeyMatcher::default();
        m.add("email", 0).unwrap();
        m.add("*token", 1).unwrap();
        m.finish().unwrap();
        let mut memo = KeyMemo::default();
        let keys: [&[u8]; 6] = [b"email", b"level", b"csrf_token", b"EMAIL", b"emails", b"x"];
        for _ in 0..3 {
            for k in keys {
                assert_eq!(memo.classify(&m, k), m.classify(k), "{k:?}");
            }
        }
        let long = [b'a'; 40];
        assert_eq!(memo.classify(&m, &long), None);
        // Keys of every length up to an entry, differing in one byte anywhere, stay apart.
        let mut key = *b"abcdefghijklmnopqrstuvwxyz012345";
        for n in 0..=MEMO_KEY {
            for i in 0..n {
                let a = key_words(&key[..n]);
                key[i] ^= 1;
                assert_ne!(a, key_words(&key[..n]), "length {n}, byte {i}");
                key[i] ^= 1;
            }
        }
        let mut m2 = KeyMatcher::default();
        m2.add("*_token_of_the_service", 0).unwrap();
        m2.finish().unwrap();
        let k = b"a_long_token_of_the_service";
        let k2 = b"a_long_tokem_of_the_service";
        for _ in 0..2 {
            assert_eq!(memo.classify(&m2, k), Some(0));
            assert_eq!(memo.classify(&m2, k2), None);
        }
        memo.clear();
        assert_eq!(memo.classify(&m, b"email"), Some(0));
    }

    #[test]
    fn shapes() {
        assert!(shape_ok(ValueShape::NameLike, b"Jean Dupont", true));
        assert!(shape_ok(
            ValueShape::NameLike,
            br"Ren\u00e9 Fran\u00e7ois",
            true
        ));
        assert!(!shape_ok(ValueShape::NameLike, b"payments-7d9f-x2", true));
        assert!(!shape_ok(ValueShape::NameLike, b"nginx", true));
        assert!(shape_ok(ValueShape::NameLike, b"K%C3%A4the+Lehmann", false));
        assert!(!shape_ok(ValueShape::Any, b"true", false));
        assert!(shape_ok(ValueShape::Any, b"true", true));
        assert!(shape_ok(ValueShape::Postal, b"12, rue de la Paix", true));
        assert!(!shape_ok(ValueShape::Any, b"[FILTERED]", true));
        assert!(!shape_ok(ValueShape::Any, b"xxxxx", true));
        assert!(!shape_ok(
            ValueShape::Any,
            b"hmac-sha256:9e8eaac65864c13073dc56e7ed87421b7891e9c8",
            true
        ));
        assert!(shape_ok(ValueShape::Any, b"[secret]x", true));
        assert!(!shape_ok(ValueShape::Postal, b"10.0.0.1:8080", true));
    }

    #[test]
    fn extensions() {
        let l = b"Authorization: Bearer abc.def | X";
        assert_eq!(extend_auth_scheme(l, (15, 21)), (15, 29));
        let l = b"name: Jean Dupont level=x";
        assert_eq!(extend_name(l, (6, 10)), (6, 17));
    }
}
