//! The top-level members of a log line: the members of a JSON object, the pairs of a logfmt
//! line. Both are found by one walk over the bytes that never allocates and never panics,
//! whatever the bytes; on a line [`json_object`] accepts, it finds exactly the object's
//! members (which [`json_object`] itself also records, in its validating pass).

use std::borrow::Cow;
use std::ops::Range;

/// One member of a line, as byte offsets into it: the key (with its quotes, in JSON) and the
/// value (a JSON value as written; a logfmt value with its quotes, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    pub(super) key: Range<usize>,
    pub(super) value: Range<usize>,
    /// The JSON key has a backslash escape (and is decoded before it is compared).
    pub(super) escaped: bool,
}

impl Member {
    /// The member from the first byte of its key to the last of its value.
    pub(super) fn span(&self) -> Range<usize> {
        self.key.start..self.value.end
    }

    /// Whether the key is `want`. A JSON key with an escape is decoded first, so
    /// `"retention\u002eclass"` is `retention.class`, as every JSON parser reads it.
    pub(super) fn key_is(&self, line: &[u8], syntax: Syntax, want: &str) -> bool {
        let Some(raw) = line.get(self.key.clone()) else {
            return false;
        };
        match syntax {
            Syntax::Logfmt => raw == want.as_bytes(),
            Syntax::Json if !self.escaped => {
                raw.len() == want.len() + 2 && &raw[1..raw.len() - 1] == want.as_bytes()
            }
            Syntax::Json => serde_json::from_slice::<String>(raw).is_ok_and(|k| k == want),
        }
    }
}

/// Which syntax a line is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Syntax {
    /// One JSON object.
    Json,
    /// logfmt: `key=value key="quoted value" flag`.
    Logfmt,
}

/// Every top-level member of `line`, in order, into `out` (cleared first). A JSON line must
/// start (after whitespace) with `{`.
pub(super) fn members(line: &[u8], syntax: Syntax, out: &mut Vec<Member>) {
    out.clear();
    match syntax {
        Syntax::Json => {
            let open = skip_ws(line, 0);
            if line.get(open) == Some(&b'{') {
                out.extend(JsonMembers {
                    s: line,
                    pos: open + 1,
                });
            }
        }
        Syntax::Logfmt => out.extend(LogfmtPairs { s: line, pos: 0 }),
    }
}

/// The members of the JSON object that starts at `s[pos - 1]` (`{`).
pub(super) struct JsonMembers<'a> {
    pub(super) s: &'a [u8],
    pub(super) pos: usize,
}

impl Iterator for JsonMembers<'_> {
    type Item = Member;

    fn next(&mut self) -> Option<Member> {
        let s = self.s;
        let mut p = skip_ws(s, self.pos);
        if s.get(p) == Some(&b',') {
            p = skip_ws(s, p + 1);
        }
        if s.get(p) != Some(&b'"') {
            // `}`, or not a member: the walk ends.
            self.pos = s.len();
            return None;
        }
        let key = p..string_end(s, p);
        let escaped = memchr::memchr(b'\\', &s[key.clone()]).is_some();
        let colon = skip_ws(s, key.end);
        if s.get(colon) != Some(&b':') {
            self.pos = s.len();
            return None;
        }
        let v = skip_ws(s, colon + 1);
        let value = v..value_end(s, v);
        self.pos = value.end;
        (value.end > value.start).then_some(Member {
            key,
            value,
            escaped,
        })
    }
}

/// The pairs of a logfmt line.
struct LogfmtPairs<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Iterator for LogfmtPairs<'_> {
    type Item = Member;

    fn next(&mut self) -> Option<Member> {
        let s = self.s;
        let start = skip_ws(s, self.pos);
        if start >= s.len() {
            self.pos = s.len();
            return None;
        }
        let mut p = start;
        while p < s.len() && s[p] != b'=' && !s[p].is_ascii_whitespace() {
            p += 1;
        }
        let key = start..p;
        let value = if s.get(p) == Some(&b'=') {
            let v = p + 1;
            let end = if s.get(v) == Some(&b'"') {
                string_end(s, v)
            } else {
                token_end(s, v)
            };
            v..end
        } else {
            p..p
        };
        self.pos = value.end;
        Some(Member {
            key,
            value,
            escaped: false,
        })
    }
}

fn skip_ws(s: &[u8], mut p: usize) -> usize {
    while s.get(p).is_some_and(u8::is_ascii_whitespace) {
        p += 1;
    }
    p
}

fn token_end(s: &[u8], mut p: usize) -> usize {
    while s.get(p).is_some_and(|b| !b.is_ascii_whitespace()) {
        p += 1;
    }
    p
}

/// The offset just past the string that opens with the quote at `s[p]` (the end of `s` when
/// it is not closed). A backslash escapes the next byte.
fn string_end(s: &[u8], p: usize) -> usize {
    let mut i = p + 1;
    while let Some(k) = s
        .get(i..)
        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
    {
        if s[i + k] == b'"' {
            return i + k + 1;
        }
        i += k + 2;
    }
    s.len()
}

/// The offset just past the JSON value that starts at `s[p]`.
fn value_end(s: &[u8], p: usize) -> usize {
    match s.get(p) {
        Some(b'"') => string_end(s, p),
        Some(b'{' | b'[') => {
            // Depth is only counted, so nesting costs no stack.
            let (mut i, mut depth) = (p, 0usize);
            while let Some(&b) = s.get(i) {
                match b {
                    b'"' => {
                        i = string_end(s, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            s.len()
        }
        _ => {
            let mut i = p;
            while s
                .get(i)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
            {
                i += 1;
            }
            i
        }
    }
}

/// A JSON value as text: a string's contents, a number or `true`/`false` as written; `None`
/// for `null`, an object or an array.
pub(super) fn json_text(raw: &[u8]) -> Option<Cow<'_, str>> {
    match raw.first()? {
        b'"' => {
            let inner = raw.get(1..raw.len().saturating_sub(1))?;
            if memchr::memchr(b'\\', inner).is_none() {
                return std::str::from_utf8(inner).ok().map(Cow::Borrowed);
            }
            serde_json::from_slice::<String>(raw).ok().map(Cow::Owned)
        }
        b'{' | b'[' | b'n' => None,
        _ => std::str::from_utf8(raw).ok().map(Cow::Borrowed),
    }
}

/// The texts a rule reads in a JSON value: a scalar's ([`json_text`]), or each of an
/// array's elements that is a string, number or boolean (an array of arrays or objects has
/// none: ECS arrays hold keywords).
pub(super) fn json_texts(raw: &[u8]) -> impl Iterator<Item = Cow<'_, str>> {
    let array = raw.first() == Some(&b'[');
    let scalar = if array { None } else { json_text(raw) };
    let elements = array.then_some(JsonElements { s: raw, pos: 1 });
    scalar.into_iter().chain(
        elements
            .into_iter()
            .flatten()
            .filter_map(|e| json_text(raw.get(e)?)),
    )
}

/// The elements, as byte ranges, of the JSON array that starts at `s[pos - 1]` (`[`).
struct JsonElements<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Iterator for JsonElements<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let s = self.s;
        let mut p = skip_ws(s, self.pos);
        if s.get(p) == Some(&b',') {
            p = skip_ws(s, p + 1);
        }
        let end = match s.get(p) {
            None | Some(b']') => p,
            Some(_) => value_end(s, p),
        };
        // `]`, or not a value: the walk ends.
        self.pos = if end > p { end } else { s.len() };
        (end > p).then_some(p..end)
    }
}

/// A logfmt value as text: without its quotes, `\"`, `\\`, `\n`, `\t`, `\r` decoded.
pub(super) fn logfmt_text(raw: &[u8]) -> Option<Cow<'_, str>> {
    let quoted = raw.len() >= 2 && raw[0] == b'"' && raw[raw.len() - 1] == b'"';
    let inner = if quoted { &raw[1..raw.len() - 1] } else { raw };
    let text = std::str::from_utf8(inner).ok()?;
    if !quoted || !text.contains('\\') {
        return Some(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Some(Cow::Owned(out))
}

/// The value (as written) of the member `key` of the JSON object `obj`, whose members are
/// `members`: the last member of that name, as JSON parsers read duplicates; else, for a
/// dotted key, the path through nested objects (`log.level` is `{"log.level": ...}` or
/// `{"log": {"level": ...}}`).
pub(super) fn json_lookup<'a>(obj: &'a [u8], members: &[Member], key: &str) -> Option<&'a [u8]> {
    lookup(obj, key, |name| {
        members
            .iter()
            .rev()
            .find(|m| m.key_is(obj, Syntax::Json, name))
            .cloned()
    })
}

/// [`json_lookup`] in a nested object, walked again on each lookup (nothing to cache it in).
fn nested_lookup<'a>(obj: &'a [u8], key: &str) -> Option<&'a [u8]> {
    lookup(obj, key, |name| {
        JsonMembers { s: obj, pos: 1 }
            .filter(|m| m.key_is(obj, Syntax::Json, name))
            .last()
    })
}

fn lookup<'a>(obj: &'a [u8], key: &str, find: impl Fn(&str) -> Option<Member>) -> Option<&'a [u8]> {
    let value = |name: &str| find(name).and_then(|m| obj.get(m.value));
    if let Some(v) = value(key) {
        return Some(v);
    }
    key.match_indices('.').find_map(|(dot, _)| {
        let nested = value(&key[..dot]).filter(|v| v.first() == Some(&b'{'))?;
        nested_lookup(nested, &key[dot + 1..])
    })
}

/// What to cut from a line to remove `members[i]` and one separator: the separator before it,
/// or for the first member the one after it, so what is left keeps its syntax.
pub(super) fn removal(members: &[Member], i: usize) -> Range<usize> {
    let m = &members[i];
    match (i.checked_sub(1), members.get(i + 1)) {
        (Some(prev), _) => members[prev].value.end..m.value.end,
        (None, Some(next)) => m.key.start..next.key.start,
        (None, None) => m.span(),
    }
}

/// Deepest nesting [`json_object`] accepts, as serde_json's default limit.
const MAX_DEPTH: u32 = 128;

/// Whether `line` is exactly one JSON object (RFC 8259, UTF-8; whitespace around it allowed),
/// nested at most [`MAX_DEPTH`] deep; if so, its top-level members are in `members`. The
/// check a line passes before members are written into it, and the walk that finds its
/// members, in one pass that never allocates (serde_json's `IgnoredAny` allocates its nesting
/// stack for each line with objects two levels deep). A unit test holds its verdict to
/// serde_json's.
pub(super) fn json_object(line: &[u8], members: &mut Vec<Member>) -> bool {
    members.clear();
    if std::str::from_utf8(line).is_err() {
        return false;
    }
    let mut v = Validator {
        s: line,
        pos: 0,
        members,
        escaped: false,
    };
    v.ws();
    v.peek() == Some(b'{') && v.container(b'}', MAX_DEPTH - 1, true) && {
        v.ws();
        v.pos == line.len()
    }
}

/// The length of the run of `s` that needs no look inside a JSON string: up to the first
/// quote, backslash or control character. Eight bytes at a time (most strings of a log line
/// are a few words long, shorter than what a `memchr` call costs to set up): in each of the
/// three masks the lowest set bit marks the first byte that matches (higher bits may be
/// borrows), so the lowest bit of their union is the first byte that stops the run.
pub(super) fn plain_run(s: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut i = 0;
    while let Some(word) = s.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let x = u64::from_le_bytes(*word);
        let stop = zero_byte(x ^ (ONES * u64::from(b'"')))
            | zero_byte(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if stop != 0 {
            return i + (stop.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    let tail = &s[i..];
    i + tail
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(tail.len())
}

/// A recursive-descent JSON validator; recursion is bounded by its depth argument.
struct Validator<'a> {
    s: &'a [u8],
    pos: usize,
    /// The top-level object's members.
    members: &'a mut Vec<Member>,
    /// The last string had a backslash escape.
    escaped: bool,
}

impl Validator<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.pos += usize::from(hit);
        hit
    }

    /// JSON whitespace (not form feed, unlike `is_ascii_whitespace`).
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: u32) -> bool {
        match self.peek() {
            Some(b'{') => depth > 0 && self.container(b'}', depth - 1, false),
            Some(b'[') => depth > 0 && self.container(b']', depth - 1, false),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    /// An object (`close` is `}`: keys before values) or an array, from its opening bracket;
    /// `top`: the line's object, whose members are recorded.
    fn container(&mut self, close: u8, depth: u32, top: bool) -> bool {
        self.pos += 1;
        self.ws();
        if self.eat(close) {
            return true;
        }
        loop {
            let key = self.pos;
            if close == b'}' {
                if !(self.peek() == Some(b'"') && self.string()) {
                    return false;
                }
                let (key, escaped) = (key..self.pos, self.escaped);
                self.ws();
                if !self.eat(b':') {
                    return false;
                }
                self.ws();
                let value = self.pos;
                if !self.value(depth) {
                    return false;
                }
                if top {
                    let value = value..self.pos;
                    self.members.push(Member {
                        key,
                        value,
                        escaped,
                    });
                }
            } else if !self.value(depth) {
                return false;
            }
            self.ws();
            if self.eat(close) {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
            self.ws();
        }
    }

    /// A string, from its opening quote: no raw control character, only JSON's escapes.
    fn string(&mut self) -> bool {
        let s = self.s;
        let mut i = self.pos + 1;
        self.escaped = false;
        loop {
            i += plain_run(s.get(i..).unwrap_or_default());
            match s.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return true;
                }
                Some(b'\\') => {}
                // A control character, or the end of the line.
                _ => return false,
            }
            self.escaped = true;
            match s.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u')
                    if s.get(i + 2..i + 6)
                        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                {
                    i += 6
                }
                _ => return false,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let hit = self.s.get(self.pos..self.pos + word.len()) == Some(word);
        self.pos += if hit { word.len() } else { 0 };
        hit
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> bool {
        let digits = |v: &mut Self| {
            let start = v.pos;
            while v.peek().is_some_and(|b| b.is_ascii_digit()) {
                v.pos += 1;
            }
            v.pos > start
        };
        self.eat(b'-');
        if !self.eat(b'0') && !digits(self) {
            return false;
        }
        if self.eat(b'.') && !digits(self) {
            return false;
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !digits(self) {
                return false;
            }
        }
        true
    }
}
