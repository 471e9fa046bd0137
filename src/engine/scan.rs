//! The candidate finder and confirmer.
//!
//! Contract (as for any prefilter): every possible match of a rule lies inside a candidate
//! region of the rule's trigger kind; regions may be false positives. The line is first
//! classified into bit masks (`classify.rs`), so the scanner visits only marked bytes: the
//! start of each digit run (its token, with the digit groups joined to it, is a number
//! region), each `@`, each `:` (an IPv6 region when hex digits surround it), each key
//! separator (`=`, `:`, `>`: the key before it is looked up), and each place where a literal
//! may start (`literals.rs`). Only the rules of a region's trigger kind run on it, on that
//! region alone (the regex still sees the surrounding bytes for its boundary checks).
//!
//! When this is slow: lines made mostly of digit groups joined by single separators (a table of
//! numbers) make long regions on which every number rule runs once.

use super::classify::{classify, fixed_class, Block, Classes, PairFilter};
use super::keys::KeyMemo;
use super::literals::LiteralIndex;
use super::{Dense, LiteralTarget, Redactor, Rule, RuleCache, Span};
use crate::engine::pack::TriggerKind;
use crate::engine::validate::Validator;
use regex_automata::dfa::Automaton;
use regex_automata::{Anchored, Input};

/// The classes of a redactor for [`classify`]: letters and digits, digits, the event bytes
/// `@ : = >`, key bytes, and the pair filter of its literals' first two bytes (both cases of a
/// case-insensitive literal).
pub(crate) fn byte_classes<T>(literals: &LiteralIndex<T>) -> Classes {
    let mut t = [0u8; 256];
    for (i, slot) in t.iter_mut().enumerate() {
        *slot = fixed_class(i as u8);
    }
    Classes::new(t, PairFilter::new(&literals.pairs()))
}

#[inline]
fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Bytes that may join the digit groups of one number (`06 12`, `06.12`, `06-12`, `(0)6`).
#[inline]
fn is_number_sep(b: u8) -> bool {
    matches!(b, b' ' | b'.' | b'-' | b'/' | b'(' | b')')
}

/// Bytes of an e-mail local part or domain, as far as region finding is concerned.
#[inline]
fn is_email_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\\') || b >= 0x80
}

#[inline]
fn is_hex_or_colon(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':'
}

/// Whether the bytes on both sides of `start..end` let a match stand as a whole word. A
/// Latin letter written in UTF-8 (`88µs`, `12é`) continues a word like an ASCII one; CJK text
/// and punctuation (`卡号4111…`, `«0612…»`) do not, as scripts without spaces put numbers right
/// next to words.
#[inline]
pub(crate) fn at_boundary(line: &[u8], start: usize, end: usize) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if start > 0 && (word(line[start - 1]) || (start >= 2 && latin_letter(&line[start - 2..start])))
    {
        return false;
    }
    if end < line.len() && (word(line[end]) || latin_letter(&line[end..line.len().min(end + 2)])) {
        return false;
    }
    true
}

/// Whether `pair` is a two-byte UTF-8 Latin letter: `µ` (U+00B5) or U+00C0..U+024F without
/// `×` and `÷`.
#[inline]
fn latin_letter(pair: &[u8]) -> bool {
    let [lead, cont] = *pair else {
        return false;
    };
    if !(0x80..0xC0).contains(&cont) {
        return false;
    }
    match lead {
        0xC2 => cont == 0xB5,
        0xC3 => cont != 0x97 && cont != 0xB7,
        0xC4..=0xC9 => true,
        _ => false,
    }
}

/// Whether a numeric match is only a piece of a longer token: it continues a dotted number
/// (`1.2.3.4.5`), a time (`08:10:33`), or, for standalone rules (phones, cards), a
/// dashed/slashed identifier (`02547145-ecf9-...`, `2024-02-25`). Other rules
/// (`9093-3.254.24.40`, a port then an address) only check dots and colons.
#[inline]
fn extends_number(line: &[u8], start: usize, end: usize, dashes: bool) -> bool {
    let before = start >= 2
        && match line[start - 1] {
            b'.' => line[start - 2].is_ascii_digit(),
            b'-' | b'/' => dashes && line[start - 2].is_ascii_alphanumeric(),
            _ => false,
        };
    let after = end + 1 < line.len()
        && match line[end] {
            b'.' => line[end + 1].is_ascii_digit(),
            b':' => dashes && line[end + 1].is_ascii_digit(),
            b'-' | b'/' => dashes && line[end + 1].is_ascii_alphanumeric(),
            _ => false,
        };
    before || after
}

/// Whether an e-mail-shaped match is the userinfo of a URL (`scheme://user@host`,
/// `scheme://user:password@host`): there the `@` separates credentials from the host. An
/// encoded `%40` inside the user name is still an e-mail (`smtps://jean%40x.fr:pw@host`).
fn in_url_userinfo(line: &[u8], start: usize, end: usize) -> bool {
    let m = &line[start..end];
    let Some(raw_at) = memchr::memchr(b'@', m) else {
        return false;
    };
    let mut k = start;
    while k > 0
        && start - k < 256
        && !line[k - 1].is_ascii_whitespace()
        && !matches!(line[k - 1], b'"' | b'\'' | b'/')
    {
        k -= 1;
    }
    let after_scheme = k >= 3 && &line[k - 3..k] == b"://";
    after_scheme && !m[..raw_at].windows(3).any(|w| w == b"%40")
}

/// Whether a match of a `standalone` rule sits inside a longer run of space-separated groups:
/// after a token with digits (`ES10 7113 0979 0807...`), before a digit group, or inside a
/// region that starts like an IBAN. A phone number stands alone; a piece of an account number
/// or card does not. Rules with a validator skip the "before a digit group" test: a trailing
/// group is cut off by the validator retry instead (`4111 1111 1111 1111 123`).
fn inside_group_run(
    line: &[u8],
    region_start: usize,
    start: usize,
    end: usize,
    check_after: bool,
) -> bool {
    let iban_shaped = line.len() >= region_start + 4
        && line[region_start..region_start + 2]
            .iter()
            .all(u8::is_ascii_uppercase)
        && line[region_start + 2..region_start + 4]
            .iter()
            .all(u8::is_ascii_digit);
    if iban_shaped && start > region_start {
        return true;
    }
    let mut k = start;
    while k > 0 && matches!(line[k - 1], b' ' | b'(' | b'+') {
        k -= 1;
    }
    let mut t = k;
    while t > 0 && line[t - 1].is_ascii_alphanumeric() {
        t -= 1;
    }
    let prev_has_digit = k < start && line[t..k].iter().any(u8::is_ascii_digit);
    let next_digit =
        check_after && end + 1 < line.len() && line[end] == b' ' && line[end + 1].is_ascii_digit();
    prev_has_digit || next_digit
}

/// The token (run of letters and digits) around byte `p`, not starting before `floor`, from
/// the masks: `(start, end, digits)`. Branch-free unless the token crosses a 64-byte block.
#[inline]
fn token_around(blocks: &[Block], p: usize, floor: usize, n: usize) -> (usize, usize, u32) {
    let start = run_start(blocks, p, |m| m.word).max(floor);
    let end = token_end(blocks, p, n);
    (start, end, count_digits(blocks, start, end))
}

/// The first non-word byte at or after `p` (or `n`), from the word mask.
#[inline]
fn token_end(blocks: &[Block], p: usize, n: usize) -> usize {
    let (bi, bit) = (p / 64, p % 64);
    let above = !blocks[bi].word & !((1u64 << bit) - 1);
    if above != 0 {
        (bi * 64 + above.trailing_zeros() as usize).min(n)
    } else {
        (bi + 1..blocks.len())
            .find(|&k| blocks[k].word != u64::MAX)
            .map_or(n, |k| k * 64 + (!blocks[k].word).trailing_zeros() as usize)
            .min(n)
    }
}

/// Bits `lo..hi` of a word (`lo < hi <= 64`), without a branch.
#[inline]
fn mask_range(lo: usize, hi: usize) -> u64 {
    debug_assert!(lo < hi && hi <= 64);
    (u64::MAX >> (64 - (hi - lo))) << lo
}

/// The length of the run of digits that starts at `p` (0 when byte `p` is not a digit),
/// capped at 63, from the digit mask.
#[inline]
fn digit_run(blocks: &[Block], p: usize) -> u32 {
    let (k, bit) = (p / 64, p % 64);
    // Bits above the block's end shift in as zeros (digits): a run that reaches the end of
    // the block goes on in the next one.
    let run = (!blocks[k].digit >> bit).trailing_zeros();
    if run < 64 - bit as u32 {
        return run;
    }
    let next = blocks.get(k + 1).map_or(0, |m| m.digit);
    ((64 - bit as u32) + (!next).trailing_zeros()).min(63)
}

/// Digits in `from..to`, from the digit mask.
#[inline]
fn count_digits(blocks: &[Block], from: usize, to: usize) -> u32 {
    if from >= to {
        return 0;
    }
    let k = from / 64;
    if k == (to - 1) / 64 {
        // Within one block: one masked count.
        return (blocks[k].digit & mask_range(from % 64, to - k * 64)).count_ones();
    }
    let mut digits = 0;
    let mut at = from;
    while at < to {
        let (k, lo) = (at / 64, at % 64);
        let hi = (to - k * 64).min(64);
        digits += (blocks[k].digit & mask_range(lo, hi)).count_ones();
        at = k * 64 + hi;
    }
    digits
}

/// The region of a number that starts with the alphanumeric token `ts..te`.
/// Returns `(start, end, digit count)`.
#[inline]
fn number_region(
    line: &[u8],
    blocks: &[Block],
    ts: usize,
    te: usize,
    digits: u32,
) -> (usize, usize, u32) {
    let n = line.len();
    let mut s = ts;
    for _ in 0..2 {
        if s > 0 && matches!(line[s - 1], b'+' | b'(') {
            s -= 1;
        }
    }
    let (mut e, mut digits) = (te, digits);
    loop {
        let mut j = e;
        while j < n && j - e < 3 && is_number_sep(line[j]) {
            j += 1;
        }
        if j == e || j >= n || !is_alnum(line[j]) {
            break;
        }
        let t0 = j;
        j = token_end(blocks, t0, n);
        let d = count_digits(blocks, t0, j);
        if d == 0 && !(j - t0 <= 4 && line[t0..j].iter().all(u8::is_ascii_uppercase)) {
            break;
        }
        // A timestamp ends the region: `<134>1 2024-12-08T06:19:18Z` (a syslog version
        // before it) is no number.
        let date_like = (j - t0 == 4) & (d == 4) & (line.get(j) == Some(&b'-'));
        if date_like && iso_timestamp_end(line, t0).is_some() {
            break;
        }
        digits += d;
        e = j;
    }
    (s, e, digits)
}

/// Skip the part of a number region that is known to hold no personal data, so the number
/// rules run on less (or nothing): an ISO date at its start (`2024-10-21T08`, dates of birth
/// are found by their keys), the seconds of a time or a port after `<digit>:`
/// (`08:21.336157Z`, `:8080`), and a single lower-case hex token of 12 or more characters
/// (trace and span ids, hashes: no number rule matches hex letters). Returns the new start and digit count.
#[inline]
fn skip_benign_prefix(line: &[u8], rs: usize, re: usize, digits: u32) -> (usize, u32) {
    let r = &line[rs..re];
    let is_date = r.len() >= 10
        && r[..4].iter().all(u8::is_ascii_digit)
        && r[4] == b'-'
        && r[5..7].iter().all(u8::is_ascii_digit)
        && r[7] == b'-'
        && r[8..10].iter().all(u8::is_ascii_digit);
    let after_time = rs >= 2 && line[rs - 1] == b':' && line[rs - 2].is_ascii_digit();
    let skip = if is_date {
        10
    } else if after_time {
        r.iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(r.len())
    } else if r.len() >= 12
        && r.iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        && r.iter().any(u8::is_ascii_lowercase)
    {
        r.len()
    } else {
        return (rs, digits);
    };
    let skipped = r[..skip].iter().filter(|b| b.is_ascii_digit()).count() as u32;
    let mut start = rs + skip;
    while start < re && !line[start].is_ascii_alphanumeric() && !matches!(line[start], b'+' | b'(')
    {
        start += 1;
    }
    (start, digits - skipped)
}

/// The end of the ISO 8601 timestamp (`2024-10-21T08:08:21.336Z`, `2024-10-21 08:08:21,5`,
/// `2024-02-16T23:55:26+01:00`) that starts at `p`, if one does: a date, `T` or a space, hours
/// and minutes, optional seconds and fraction, an optional zone (`Z`, `+01:00`, `-0500`), not
/// glued to a letter or digit on either side (nor after `+` or `(`, which may start a phone
/// number). Only a date with a time qualifies: a bare date is left to the number rules.
#[inline]
fn iso_timestamp_end(line: &[u8], p: usize) -> Option<usize> {
    let r: &[u8; 16] = line.get(p..p + 16)?.try_into().ok()?;
    let digits = |range: std::ops::Range<usize>| r[range].iter().all(u8::is_ascii_digit);
    // The punctuation first: most digit runs fail on it.
    let shaped = r[4] == b'-'
        && r[7] == b'-'
        && r[13] == b':'
        && matches!(r[10], b'T' | b' ')
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && digits(11..13)
        && digits(14..16);
    if !shaped || (p > 0 && (is_alnum(line[p - 1]) || matches!(line[p - 1], b'+' | b'('))) {
        return None;
    }
    let digit_at = |i: usize| line.get(i).is_some_and(u8::is_ascii_digit);
    let mut e = p + 16;
    if line.get(e) == Some(&b':') && digit_at(e + 1) && digit_at(e + 2) {
        e += 3;
        if matches!(line.get(e), Some(b'.' | b',')) && digit_at(e + 1) {
            e += 1;
            while digit_at(e) {
                e += 1;
            }
        }
    }
    match line.get(e) {
        Some(b'Z') => e += 1,
        Some(b'+' | b'-') if digit_at(e + 1) && digit_at(e + 2) => {
            if line.get(e + 3) == Some(&b':') && digit_at(e + 4) && digit_at(e + 5) {
                e += 6;
            } else if digit_at(e + 3) && digit_at(e + 4) {
                e += 5;
            }
        }
        _ => {}
    }
    if line.get(e).is_some_and(|&b| is_alnum(b)) {
        return None;
    }
    Some(e)
}

/// The key that the separator at `j` (`=`, `:`, `>`) closes, if one can: `key=`, `key: `,
/// `"key":`, `\"key\":`, `'key': `, `key => `, `key\=` (CEF), `<key>` (XML). Only the shape is
/// checked here; `keys::key_value_at` checks the separator and finds the value.
#[inline]
fn key_before(line: &[u8], blocks: &[Block], j: usize) -> Option<(usize, usize)> {
    let sep = line[j];
    let prev = *line.get(j.checked_sub(1)?)?;
    let quoted = matches!(prev, b'"' | b'\'');
    if sep == b':'
        && !quoted
        && prev != b'\\'
        && !matches!(
            line.get(j + 1),
            Some(b' ' | b'"' | b'\'' | b'\t' | b'\\' | b'[')
        )
    {
        // `08:21`, `http://`, `std::`: no key/value separator.
        return None;
    }
    let mut k = j;
    if sep != b'>' {
        if line[k - 1] == b'\\' {
            k -= 1;
        }
        while k > 0 && j - k < 8 && matches!(line[k - 1], b' ' | b'\t') {
            k -= 1;
        }
        if k > 0 && matches!(line[k - 1], b'"' | b'\'') {
            k -= 1;
            if k > 0 && line[k - 1] == b'\\' {
                k -= 1;
            }
        }
    }
    let ke = k;
    let ks = run_start(blocks, ke, |m| m.key).max(ke.saturating_sub(256));
    (ks < ke).then_some((ks, ke))
}

/// The start of the run of set bits of `mask` that ends just before `p` (`p` when byte `p - 1`
/// is not in the mask), from the masks, without a loop over bytes.
#[inline]
fn run_start(blocks: &[Block], p: usize, mask: impl Fn(&Block) -> u64) -> usize {
    if p == 0 {
        return 0;
    }
    let (bi, bit) = (p / 64, p % 64);
    let below = if bit == 0 {
        0
    } else {
        !mask(&blocks[bi]) & ((1u64 << bit) - 1)
    };
    if below != 0 || bit == 0 && bi == 0 {
        return bi * 64 + 64 - below.leading_zeros() as usize;
    }
    (0..bi)
        .rev()
        .find(|&k| mask(&blocks[k]) != u64::MAX)
        .map_or(0, |k| {
            k * 64 + 64 - (!mask(&blocks[k])).leading_zeros() as usize
        })
}

/// Extent of the e-mail-shaped run around the `@` marker at `at..at_end`.
fn email_region(line: &[u8], at: usize, at_end: usize) -> (usize, usize) {
    let mut s = at;
    while s > 0 && at - s < 256 && is_email_byte(line[s - 1]) {
        s -= 1;
    }
    let mut e = at_end;
    while e < line.len() && e - at_end < 256 && is_email_byte(line[e]) {
        e += 1;
    }
    (s, e)
}

/// A cheap necessary condition for [`colon_region`] at the `:` at `pos`, from the event mask
/// (a superset of the colons): an IPv6 address has six colons or more, or two adjacent ones,
/// within 64 bytes on either side. Times (`08:21:36`) and `host:port` fail it without a walk.
#[inline]
fn ipv6_colons_near(blocks: &[Block], pos: usize) -> bool {
    let (k, b) = (pos / 64, pos % 64);
    let event = |i: Option<usize>| i.and_then(|i| blocks.get(i)).map_or(0, |m| m.event) as u128;
    let cur = event(Some(k));
    // Bit 63 of `before` is byte `pos - 1`, bit 0 of `after` is byte `pos`.
    let before = ((cur << 64 | event(k.checked_sub(1))) >> b) as u64;
    let after = ((event(Some(k + 1)) << 64 | cur) >> b) as u64;
    let adjacent = before & (before >> 1) | after & (after >> 1) | (before >> 63 & after);
    before.count_ones() + after.count_ones() >= 6 || adjacent != 0
}

/// Extent of the hex/colon run around the `:` at `pos`, if it can hold an IPv6 address.
#[inline]
fn colon_region(line: &[u8], blocks: &[Block], pos: usize) -> Option<(usize, usize)> {
    let n = line.len();
    let before_ok = pos > 0 && is_hex_or_colon(line[pos - 1]);
    let after_ok = pos + 1 < n && is_hex_or_colon(line[pos + 1]);
    if !(before_ok && after_ok && ipv6_colons_near(blocks, pos)) {
        return None;
    }
    let mut s = pos;
    while s > 0 && pos - s < 64 && is_hex_or_colon(line[s - 1]) {
        s -= 1;
    }
    let mut e = pos + 1;
    while e < n && e - pos < 64 && (is_hex_or_colon(line[e]) || line[e] == b'.') {
        e += 1;
    }
    // An IPv6 address has eight groups (seven colons), or six and an IPv4 address, or a `::`
    // for the groups it leaves out: `08:21:36.123` is a time.
    let r = &line[s..e];
    let colons = r.iter().filter(|&&b| b == b':').count();
    let shaped = colons >= 7
        || (colons == 6 && r.contains(&b'.'))
        || (colons >= 2 && r.windows(2).any(|w| w == b"::"));
    if !shaped || (s > 0 && (line[s - 1].is_ascii_alphanumeric() || line[s - 1] == b'_')) {
        return None;
    }
    Some((s, e))
}

impl Redactor {
    /// The byte pass. The line is classified into masks first (see `classify.rs`); then, in
    /// order of position, each literal start (a token start or a punctuation byte whose next
    /// two bytes begin some literal), each digit run (its token opens a number region), each
    /// `@` (an e-mail region), and each `:`, `=`, `>` (a key before it; a `:` may also sit in
    /// an IPv6 address) is handled. A region consumes its bytes: marks inside it are skipped.
    pub(crate) fn scan_bytes(
        &self,
        line: &[u8],
        caches: &mut [RuleCache],
        spans: &mut Vec<Span>,
        keys: &mut KeyMemo,
        blocks: &mut Vec<Block>,
    ) {
        classify(line, &self.classes, blocks);
        let n = line.len();
        // Bytes before `consumed` belong to a region already handled.
        let mut consumed = 0usize;
        let (mut word_carry, mut digit_carry) = (0u64, 0u64);
        for (bi, m) in blocks.iter().enumerate() {
            let base = bi * 64;
            let token_starts = m.word & !(m.word << 1 | word_carry);
            let digit_runs = m.digit & !(m.digit << 1 | digit_carry);
            (word_carry, digit_carry) = (m.word >> 63, m.digit >> 63);
            // Literal starts, gathered into a mask before the marks are visited: where the pair
            // filter says one may start, and a literal that begins with a letter or digit
            // begins a token (one that begins with punctuation, anywhere).
            let mut candidates = m.literal & (token_starts | !m.word);
            let mut literal_hits = 0u64;
            while candidates != 0 {
                let b = candidates.trailing_zeros();
                candidates &= candidates - 1;
                literal_hits |= (self.literals.may_start_at(line, base + b as usize) as u64) << b;
            }
            let mut todo = literal_hits | digit_runs | m.event;
            while todo != 0 {
                let b = todo.trailing_zeros();
                todo &= todo - 1;
                let p = base + b as usize;
                if p < consumed {
                    continue;
                }
                if literal_hits >> b & 1 != 0 {
                    self.literals_at(line, p, caches, spans);
                }
                if digit_runs >> b & 1 != 0 {
                    // A whole ISO 8601 timestamp holds no personal data: one test instead of
                    // a region per group and a walk per colon.
                    if let Some(end) = iso_timestamp_end(line, p) {
                        consumed = end;
                        continue;
                    }
                    // The token holding this digit run (from where the last region ended).
                    let (ts, te, digits) = token_around(blocks, p, consumed, n);
                    // A token that no separator joins to the next one is its own region (with
                    // at most `+(` before it): too short for every rule, it is done.
                    if te - ts + 2 < self.number_min_len[(digits as usize).min(31)]
                        && (te >= n || !is_number_sep(line[te]))
                    {
                        consumed = te;
                        continue;
                    }
                    let (rs, re, d) = number_region(line, blocks, ts, te, digits);
                    // Too short for every rule as it is: skipping a benign prefix would only
                    // leave fewer bytes and digits (`number_min_len` grows as digits drop).
                    if re - rs < self.number_min_len[(d as usize).min(31)] {
                        consumed = te.max(re);
                        continue;
                    }
                    let (rs, d) = skip_benign_prefix(line, rs, re, d);
                    if re - rs >= self.number_min_len[(d as usize).min(31)] {
                        self.confirm_number_region(line, blocks, rs, re, d, caches, spans);
                    }
                    consumed = te.max(re);
                } else if m.event >> b & 1 != 0 {
                    if line[p] == b'@' {
                        let (rs, re) = email_region(line, p, p + 1);
                        self.confirm_region(&self.at_rules, line, rs, re, 0, caches, spans);
                        consumed = re.max(p + 1);
                        continue;
                    }
                    if let Some(key) = key_before(line, blocks, p) {
                        self.key_span(line, key, keys, spans);
                    }
                    if line[p] == b':' {
                        if let Some((rs, re)) = colon_region(line, blocks, p) {
                            self.confirm_region(&self.colon_rules, line, rs, re, 0, caches, spans);
                            consumed = re;
                        }
                    }
                }
            }
        }
    }

    /// The literals that start at `at`.
    fn literals_at(&self, line: &[u8], at: usize, caches: &mut [RuleCache], spans: &mut Vec<Span>) {
        for lit in self.literals.at(line, at) {
            match lit.target {
                LiteralTarget::Rule(ri) => self.confirm_literal(ri, line, at, caches, spans),
                LiteralTarget::EncodedAt => {
                    self.scan_encoded_at(line, at, at + lit.len(), caches, spans)
                }
            }
        }
    }

    /// An encoded `@` (`%40`, `\u0040`).
    pub(crate) fn scan_encoded_at(
        &self,
        line: &[u8],
        at: usize,
        at_end: usize,
        caches: &mut [RuleCache],
        spans: &mut Vec<Span>,
    ) {
        let (rs, re) = email_region(line, at, at_end);
        self.confirm_region(&self.at_rules, line, rs, re, 0, caches, spans);
    }

    /// Run the given rules over `rs..re`, keeping matches that pass boundary and validator.
    #[allow(clippy::too_many_arguments)]
    fn confirm_region(
        &self,
        rules: &[usize],
        line: &[u8],
        rs: usize,
        re: usize,
        digits: u32,
        caches: &mut [RuleCache],
        spans: &mut Vec<Span>,
    ) {
        for &ri in rules {
            let rule = &self.rules[ri];
            if rule.trigger == TriggerKind::Number {
                if (rule.min_digits as u32) <= digits {
                    self.confirm_at_token_starts(ri, line, rs, re, caches, spans);
                }
                continue;
            }
            let mut at = rs;
            while at < re {
                let input = Input::new(line).span(at..re);
                let Some((ms, me, vs, ve)) = search(rule, &mut caches[ri], input) else {
                    break;
                };
                match self.accept(rule, line, rs, ms, me, vs, ve) {
                    Some((s, e)) => {
                        spans.push(Span::detected(s, e, rule, ri));
                        at = me.max(ms + 1);
                    }
                    None => at = ms + 1,
                }
            }
        }
    }

    /// The number rules over a number region, each searched anchored at the places a match
    /// can start: the region start and every byte after a non-alphanumeric one (a match must
    /// not touch a letter or digit on its left). Those places are listed once, with the digits
    /// left after each, so a rule skips every place that leaves it too few digits or bytes
    /// without looking at it. Anchored searches need only a small forward DFA, no reverse pass.
    #[allow(clippy::too_many_arguments)]
    fn confirm_number_region(
        &self,
        line: &[u8],
        blocks: &[Block],
        rs: usize,
        re: usize,
        digits: u32,
        caches: &mut [RuleCache],
        spans: &mut Vec<Span>,
    ) {
        const MAX_STARTS: usize = 48;
        // Each place: its position, the digits from it to the region end, and the number
        // rules that may start there (by its first byte and the length of its digit run).
        let gate = |p: usize| {
            self.number_first[line[p] as usize] & self.number_runs[digit_run(blocks, p) as usize]
        };
        let mut starts = [(0usize, 0u32, 0u64); MAX_STARTS];
        starts[0] = (rs, digits, gate(rs));
        let mut any = starts[0].2;
        let mut count = 1;
        // The other places after a non-word byte, from the word mask, with the digits after
        // each (separators count: `(0)6` can start a phone number).
        let mut at = rs + 1;
        while at < re {
            let (k, lo) = (at / 64, at % 64);
            let hi = (re - k * 64).min(64);
            let span = mask_range(lo, hi);
            let word = blocks[k].word;
            let carry = if k == 0 { 0 } else { blocks[k - 1].word >> 63 };
            let mut token_starts = !(word << 1 | carry) & span;
            while token_starts != 0 {
                let p = k * 64 + token_starts.trailing_zeros() as usize;
                token_starts &= token_starts - 1;
                if count == MAX_STARTS {
                    // A table of numbers: every rule at every byte, as regions used to be.
                    for &ri in &self.number_rules {
                        self.confirm_at_token_starts(ri, line, rs, re, caches, spans);
                    }
                    return;
                }
                starts[count] = (p, digits - count_digits(blocks, rs, p), gate(p));
                any |= starts[count].2;
                count += 1;
            }
            at = k * 64 + hi;
        }
        let starts = &starts[..count];
        // Where accepted spans that reach the region end start: a rule of lower priority can
        // only find a match inside one of them from its start on (matches end by the region
        // end), which the merge would absorb without changing anything, so it is not looked
        // for there. Rules come in order of decreasing priority: `covered_from` holds the
        // spans of higher priorities than the current rule's, `pending` those of its own.
        let (mut covered_from, mut pending) = (usize::MAX, usize::MAX);
        let mut last_priority = i32::MAX;
        for &ri in &self.number_rules_for[(digits as usize).min(31)] {
            let rule = &self.rules[ri];
            let (min_digits, min_len) = (rule.min_digits as u32, rule.min_len);
            debug_assert!(rule.priority <= last_priority, "number rules by priority");
            if rule.priority < last_priority {
                covered_from = covered_from.min(pending);
                (pending, last_priority) = (usize::MAX, rule.priority);
            }
            let bit = self.number_bit[ri];
            if any & bit == 0 {
                continue;
            }
            let mut next_free = rs;
            for &(p, digits_left, may) in starts {
                if digits_left < min_digits || re - p < min_len || p >= covered_from {
                    break;
                }
                if p < next_free || may & bit == 0 {
                    continue;
                }
                if let Some(me) = self.number_rule_at(ri, line, (rs, re), p, caches, spans) {
                    next_free = me;
                    let span = spans.last().expect("an accepted match pushes its span");
                    if span.end >= re {
                        pending = pending.min(span.start);
                    }
                }
            }
        }
    }

    /// A number rule, searched anchored at each place a match can start: the region start and
    /// every byte after a non-alphanumeric one (a match must not touch a letter or digit on
    /// its left). Anchored searches need only a small forward DFA and no reverse pass.
    fn confirm_at_token_starts(
        &self,
        ri: usize,
        line: &[u8],
        rs: usize,
        re: usize,
        caches: &mut [RuleCache],
        spans: &mut Vec<Span>,
    ) {
        let rule = &self.rules[ri];
        let min_digits = rule.min_digits as u32;
        // Digits in `p..re`: a start with fewer left than the rule needs cannot match.
        let mut digits_left = line[rs..re].iter().filter(|b| b.is_ascii_digit()).count() as u32;
        let mut p = rs;
        while p < re && digits_left >= min_digits && re - p >= rule.min_len {
            let skip = (p > rs && is_alnum(line[p - 1])) || !rule.first_bytes[line[p] as usize];
            if !skip {
                if let Some(me) = self.number_rule_at(ri, line, (rs, re), p, caches, spans) {
                    let next = me.max(p + 1);
                    digits_left -=
                        line[p..next].iter().filter(|b| b.is_ascii_digit()).count() as u32;
                    p = next;
                    continue;
                }
            }
            digits_left -= line[p].is_ascii_digit() as u32;
            p += 1;
        }
    }

    /// Number rule `ri` anchored at `p` inside the region `rs..re`: pushes an accepted match
    /// and returns its end.
    fn number_rule_at(
        &self,
        ri: usize,
        line: &[u8],
        (rs, re): (usize, usize),
        p: usize,
        caches: &mut [RuleCache],
        spans: &mut Vec<Span>,
    ) -> Option<usize> {
        let rule = &self.rules[ri];
        let (ms, me, vs, ve) = match &rule.dense {
            Some(Dense::Anchored(dfa)) if !rule.value_group => {
                walk_anchored(dfa, rule, line, p, re).map(|me| (p, me, p, me))
            }
            _ => {
                let input = Input::new(line).span(p..re).anchored(Anchored::Yes);
                search(rule, &mut caches[ri], input)
            }
        }?;
        let (s, e) = self.accept(rule, line, rs, ms, me, vs, ve)?;
        spans.push(Span::detected(s, e, rule, ri));
        Some(me)
    }

    /// A literal-triggered rule at the literal found at `pos`.
    pub(crate) fn confirm_literal(
        &self,
        ri: usize,
        line: &[u8],
        pos: usize,
        caches: &mut [RuleCache],
        spans: &mut Vec<Span>,
    ) {
        let rule = &self.rules[ri];
        let end = line.len().min(pos.saturating_add(rule.max_len));
        let input = Input::new(line).span(pos..end).anchored(Anchored::Yes);
        if let Some((ms, me, vs, ve)) = search(rule, &mut caches[ri], input) {
            if let Some((s, e)) = self.accept(rule, line, pos, ms, me, vs, ve) {
                spans.push(Span::detected(s, e, rule, ri));
            }
        }
    }

    /// Boundary and validator checks; a failed validation is retried once without a trailing
    /// punctuation byte (`2a00::1:` at the end of a sentence).
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &self,
        rule: &Rule,
        line: &[u8],
        region_start: usize,
        ms: usize,
        me: usize,
        vs: usize,
        ve: usize,
    ) -> Option<(usize, usize)> {
        if rule.boundary && !at_boundary(line, ms, me) {
            return None;
        }
        if rule.trigger == TriggerKind::Number && extends_number(line, ms, me, rule.standalone) {
            return None;
        }
        // An IPv6 address starts at its run: `fd00:3b10::a2ea` holds no address `3b10::a2ea`.
        if rule.trigger == TriggerKind::Colon && ms > region_start {
            return None;
        }
        if rule.trigger == TriggerKind::At && in_url_userinfo(line, ms, me) {
            return None;
        }
        if rule.standalone
            && inside_group_run(
                line,
                region_start,
                ms,
                me,
                !rule.validator.is_some_and(Validator::is_checksum),
            )
        {
            return None;
        }
        let Some(v) = rule.validator else {
            return Some((vs, ve));
        };
        if v.check(&line[vs..ve]) {
            return Some((vs, ve));
        }
        // Retry without trailing punctuation (`2a00::1:` ending a sentence), then without
        // trailing groups (`4111 1111 1111 1111 123`, a CVV after the card number).
        let mut e = ve;
        while e > vs + 1 && ve - e < 2 && matches!(line[e - 1], b':' | b'.' | b'-') {
            e -= 1;
            if v.check(&line[vs..e]) {
                return Some((vs, e));
            }
        }
        let mut e = ve;
        for _ in 0..2 {
            e = vs + line[vs..e].iter().rposition(|b| matches!(b, b' ' | b'-'))?;
            if v.check(&line[vs..e]) {
                return Some((vs, e));
            }
        }
        None
    }
}

/// An anchored leftmost-first search of `rule`'s dense DFA over `line[at..end]`, as
/// `regex_automata`'s own forward search does it but without its per-call set-up: the start
/// state comes from a table, then one transition per byte until the DFA dies. Returns the
/// match end.
#[inline]
fn walk_anchored(
    dfa: &regex_automata::dfa::dense::DFA<Vec<u32>>,
    rule: &Rule,
    line: &[u8],
    at: usize,
    end: usize,
) -> Option<usize> {
    let mut sid = rule.starts[super::LookBehind::of(line, at) as usize];
    let mut found = None;
    for (i, &b) in line[at..end].iter().enumerate() {
        sid = dfa.next_state(sid, b);
        if dfa.is_special_state(sid) {
            if dfa.is_match_state(sid) {
                // Matches are reported one byte late.
                found = Some(at + i);
            } else if dfa.is_dead_state(sid) {
                return found;
            }
        }
    }
    // The byte after the span (or the end of the text) settles a pending match.
    sid = match line.get(end) {
        Some(&b) => dfa.next_state(sid, b),
        None => dfa.next_eoi_state(sid),
    };
    if dfa.is_match_state(sid) {
        found = Some(end);
    }
    found
}

/// One regex search; returns the match and the redacted part (group `v` when the rule has it).
/// The match is found by the lazy DFA first; captures, which need a slower engine, only run
/// on the matched bytes.
fn search(
    rule: &Rule,
    rc: &mut RuleCache,
    input: Input<'_>,
) -> Option<(usize, usize, usize, usize)> {
    // A dense DFA search cannot fail here: no quit bytes, no size-limited cache.
    let m = match &rule.dense {
        Some(Dense::Unanchored(d)) => crate::engine::automata::find(d, &input),
        Some(Dense::Anchored(d)) if input.get_anchored().is_anchored() => d
            .try_search_fwd(&input)
            .ok()
            .flatten()
            .map(|hm| regex_automata::Match::new(hm.pattern(), input.start()..hm.offset())),
        _ => rule.regex.search_with(&mut rc.cache, &input),
    }?;
    if !rule.value_group {
        return Some((m.start(), m.end(), m.start(), m.end()));
    }
    let exact = input
        .clone()
        .span(m.start()..m.end())
        .anchored(Anchored::Yes);
    rule.regex
        .search_captures_with(&mut rc.cache, &exact, &mut rc.caps);
    let v = rc.caps.get_group_by_name("v").unwrap_or(m.span());
    Some((m.start(), m.end(), v.start, v.end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masks(line: &[u8]) -> Vec<Block> {
        let mut blocks = Vec::new();
        classify(
            line,
            &byte_classes(&LiteralIndex::<()>::default()),
            &mut blocks,
        );
        blocks
    }

    #[test]
    fn number_regions() {
        let region = |l: &[u8], ts, te, d| number_region(l, &masks(l), ts, te, d);
        let l = b"call +33 (0)6 12 34 56 78 now";
        let (s, e, d) = region(l, 6, 8, 2);
        assert_eq!(&l[s..e], b"+33 (0)6 12 34 56 78");
        assert_eq!(d, 12);
        let l = b"iban NL77 ABNA 0441 2435 41.";
        let (s, e, _) = region(l, 5, 9, 2);
        assert_eq!(&l[s..e], b"NL77 ABNA 0441 2435 41");
        let l = b"card 4111 1111 1111 1111 flagged";
        let (s, e, d) = region(l, 5, 9, 4);
        assert_eq!((&l[s..e], d), (&b"4111 1111 1111 1111"[..], 16));
        // A timestamp after the first token ends the region; a date alone does not.
        let l = b"<134>1 2024-12-08T06:19:18.082Z host";
        let (s, e, d) = region(l, 5, 6, 1);
        assert_eq!((&l[s..e], d), (&b"1"[..], 1));
        let l = b"<134>1 2024-12-08 host";
        let (s, e, _) = region(l, 5, 6, 1);
        assert_eq!(&l[s..e], b"1 2024-12-08");
    }

    #[test]
    fn tokens_from_masks_across_blocks() {
        let mut l = vec![b' '; 60];
        l.extend_from_slice(b"ab12cd34 x");
        let b = masks(&l);
        assert_eq!(token_around(&b, 62, 0, l.len()), (60, 68, 4));
        assert_eq!(token_around(&b, 62, 61, l.len()), (61, 68, 4));
        assert_eq!(token_end(&b, 69, l.len()), 70);
        let long = vec![b'7'; 150];
        let b = masks(&long);
        assert_eq!(token_around(&b, 100, 0, 150), (0, 150, 150));
        assert_eq!(count_digits(&b, 10, 140), 130);
        assert_eq!(mask_range(0, 64), u64::MAX);
        let mut l = vec![b'x'; 60];
        l.extend_from_slice(b"123456789 12");
        let b = masks(&l);
        assert_eq!(
            (digit_run(&b, 60), digit_run(&b, 63), digit_run(&b, 64)),
            (9, 6, 5)
        );
        assert_eq!(
            (digit_run(&b, 69), digit_run(&b, 70), digit_run(&b, 0)),
            (0, 2, 0)
        );
        assert_eq!(digit_run(&masks(&[b'7'; 150]), 10), 63);
        assert_eq!(mask_range(2, 4), 0b1100);
    }

    #[test]
    fn email_and_colon_regions() {
        let l = b"to <Jean.Dupont+x@mail.example.fr>, ok";
        let at = l.iter().position(|&b| b == b'@').unwrap();
        let (s, e) = email_region(l, at, at + 1);
        assert_eq!(&l[s..e], b"Jean.Dupont+x@mail.example.fr");
        let colons = |l: &[u8], pos: usize| colon_region(l, &masks(l), pos);
        let l = b"from [2a00:fd2f::1]:443";
        let (s, e) = colons(l, 10).unwrap();
        assert_eq!(&l[s..e], b"2a00:fd2f::1");
        assert!(colons(b"at 13:11 ok", 5).is_none());
        assert!(colons(b"at 08:21:36.123 ok", 5).is_none());
        assert!(colons(b"ip 2001:db8:0:0:0:0:2:1 ok", 7).is_some());
        assert!(colons(b"ip 0:0:0:0:0:ffff:1.2.3.4 ok", 4).is_some());
        assert!(colons(b"std::vec", 3).is_none());
        // The `::` may come after the first colon, and a long line puts the address across
        // a block boundary.
        let mut l = vec![b'x'; 60];
        l.extend_from_slice(b" 2001:db8::1 ok");
        assert!(colons(&l, 65).is_some());
        assert!(!ipv6_colons_near(&masks(b"at 08:21:36.123 ok"), 5));
        assert!(ipv6_colons_near(&masks(b"fe80::1"), 4));
    }

    #[test]
    fn iso_timestamps() {
        let end = |s: &str, p: usize| iso_timestamp_end(s.as_bytes(), p);
        assert_eq!(end("2024-10-21T08:08:21.336Z", 0), Some(24));
        assert_eq!(end("at 2024-10-21 08:08:21,5 x", 3), Some(24));
        assert_eq!(end("2024-02-16T23:55:26+01:00 level", 0), Some(25));
        assert_eq!(end("2024-02-16T23:55:26-0500", 0), Some(24));
        assert_eq!(end("2024-02-16T23:55 next", 0), Some(16));
        // A zone without minutes stays outside: `+33` may start a phone number.
        assert_eq!(end("2024-02-16T23:55:26+33 6 12 34 56 78", 0), Some(19));
        // Not a timestamp: a bare date, glued to a word or after `+`, or running on.
        assert_eq!(end("2024-10-21 0612345678", 0), None);
        assert_eq!(end("x2024-10-21T08:08:21Z", 1), None);
        assert_eq!(end("+2024-10-21T08:08:21Z", 1), None);
        assert_eq!(end("2024-10-21T08:08:21Zulu", 0), None);
        assert_eq!(end("2024-10-21T08:0", 0), None);
    }

    #[test]
    fn benign_prefixes() {
        let l = b"at 2024-10-21T08 x";
        assert_eq!(skip_benign_prefix(l, 3, 16, 10), (13, 2));
        let l = b"T08:08:21.336157Z";
        assert_eq!(skip_benign_prefix(l, 7, 17, 8), (10, 6));
        let l = b"at 10:30 0612345678";
        assert_eq!(skip_benign_prefix(l, 6, 19, 12), (9, 10));
        let l = b"id 1f07a223563ebc382e09e4b8245edebc";
        let d = l.iter().filter(|b| b.is_ascii_digit()).count() as u32;
        assert_eq!(skip_benign_prefix(l, 3, l.len(), d).1, 0);
        let l = b"tel +33 6 12 34 56 78";
        assert_eq!(skip_benign_prefix(l, 4, l.len(), 11), (4, 11));
    }

    #[test]
    fn boundaries() {
        assert!(at_boundary(b"x 123 y", 2, 5));
        assert!(!at_boundary(b"x1234 y", 2, 5));
        assert!(!at_boundary("x 1234µs".as_bytes(), 2, 6));
        assert!(!at_boundary("é1234 y".as_bytes(), 2, 6));
        assert!(at_boundary("卡号4111 y".as_bytes(), 6, 10));
        assert!(at_boundary("«1234» y".as_bytes(), 2, 6));
        assert!(extends_number(b"1.2.3.4.5", 2, 9, false));
        assert!(extends_number(b"02547145-ecf9", 0, 8, true));
        assert!(!extends_number(b"9093-3.254.24.40:5218", 5, 16, false));
        assert!(in_url_userinfo(
            b"x postgres://app@db.example.pl:5432",
            13,
            30
        ));
        assert!(in_url_userinfo(
            b"amqp://orders:pw@rabbitmq.svc.local:5672",
            14,
            35
        ));
        assert!(!in_url_userinfo(b"smtps://jean%40sfr.fr:pw@smtp.fr", 8, 21));
        assert!(!in_url_userinfo(b"mail jean@example.fr", 5, 20));
        let l = b"ref ES10 7113 0979 0807 7390";
        assert!(inside_group_run(l, 4, 14, 28, true));
        let l = b"to 0162 31150478 at 12:30";
        assert!(!inside_group_run(l, 3, 3, 16, true));
        assert!(inside_group_run(b"x 12 0162 31150478", 2, 5, 18, true));
        assert!(!inside_group_run(
            b"card 4111 1111 1111 1111 123",
            5,
            5,
            24,
            false
        ));
        assert!(!extends_number(b"ip 1.2.3.4.", 3, 10, true));
    }
}
