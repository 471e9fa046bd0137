//! Literal prefixes of detector rules (`eyJ`, `AKIA`, `ghp_`, `Bearer `, `://`, `%40`...),
//! found without a pass of their own.
//!
//! An Aho-Corasick automaton over these few dozen literals walks every byte of every record at
//! about 350 MB/s: too many first bytes for its SIMD prefilters. The byte pass of `scan.rs`
//! already stops at each token start, so a literal is only looked for there: a literal that
//! starts with a letter or digit must start a token (every such rule also demands a word
//! boundary before its match), and one that starts with punctuation (`://`, `-----BEGIN`,
//! `%40`) is looked for at each occurrence of that byte, which the byte pass then stops at.
//! At each such place one bit of a table indexed by the next two bytes (case-folded) says
//! whether any literal starts so; only then are the few literals with that start compared.

/// Case-folding of one byte for the two-byte index (ASCII letters to lower case).
#[inline]
fn fold(b: u8) -> u8 {
    b.to_ascii_lowercase()
}

#[inline]
fn pair_key(a: u8, b: u8) -> usize {
    (fold(a) as usize) << 8 | fold(b) as usize
}

/// Bit of the three-byte filter: the first three bytes as they are, mixed into 16 bits.
#[inline]
fn triple_key(a: u8, b: u8, c: u8) -> usize {
    (u32::from_le_bytes([a, b, c, 0]).wrapping_mul(0x9E37_79B1) >> 16) as usize
}

/// The spellings of byte `b` in a literal: itself, or both cases when case does not matter.
fn spellings(b: u8, case_insensitive: bool) -> Vec<u8> {
    let mut v = vec![b];
    if case_insensitive && b.is_ascii_alphabetic() {
        v = vec![b.to_ascii_lowercase(), b.to_ascii_uppercase()];
    }
    v
}

/// One literal and what it stands for.
#[derive(Debug)]
pub(crate) struct Literal<T> {
    /// The literal, lower-cased when it matches in any case.
    bytes: Box<[u8]>,
    case_insensitive: bool,
    pub target: T,
}

impl<T> Literal<T> {
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// The literal set: a bitmap of two-byte starts and, for each start, its literals.
#[derive(Debug)]
pub(crate) struct LiteralIndex<T> {
    /// Two-byte starts, case-folded: where [`LiteralIndex::at`] looks.
    starts: Box<[u64; 1024]>,
    /// Two-byte starts as they are spelled (both cases of a case-insensitive literal), for the
    /// quick test that needs no folding.
    raw_starts: Box<[u64; 1024]>,
    /// Three-byte starts as they are spelled, hashed (every third byte for a two-byte
    /// literal): most two-byte hits at token starts (`id`, `ti`, `st`) end there.
    triples: Box<[u64; 1024]>,
    /// Literals sorted by their folded two-byte start.
    literals: Vec<(u16, Literal<T>)>,
}

impl<T> Default for LiteralIndex<T> {
    fn default() -> Self {
        LiteralIndex {
            starts: Box::new([0; 1024]),
            raw_starts: Box::new([0; 1024]),
            triples: Box::new([0; 1024]),
            literals: Vec::new(),
        }
    }
}

impl<T> LiteralIndex<T> {
    /// Add a literal of at least two bytes.
    pub(crate) fn add(
        &mut self,
        lit: &[u8],
        case_insensitive: bool,
        target: T,
    ) -> Result<(), String> {
        if lit.len() < 2 {
            return Err(format!(
                "literal {:?} is shorter than two bytes",
                String::from_utf8_lossy(lit)
            ));
        }
        let key = pair_key(lit[0], lit[1]);
        self.starts[key >> 6] |= 1 << (key & 63);
        let thirds = match lit.get(2) {
            Some(&c) => spellings(c, case_insensitive),
            None => (0..=u8::MAX).collect(),
        };
        for a in spellings(lit[0], case_insensitive) {
            for b in spellings(lit[1], case_insensitive) {
                let raw = (a as usize) << 8 | b as usize;
                self.raw_starts[raw >> 6] |= 1 << (raw & 63);
                for &c in &thirds {
                    let t = triple_key(a, b, c);
                    self.triples[t >> 6] |= 1 << (t & 63);
                }
            }
        }
        let bytes: Box<[u8]> = if case_insensitive {
            lit.to_ascii_lowercase().into()
        } else {
            lit.into()
        };
        let at = self.literals.partition_point(|(k, _)| (*k as usize) <= key);
        self.literals.insert(
            at,
            (
                key as u16,
                Literal {
                    bytes,
                    case_insensitive,
                    target,
                },
            ),
        );
        Ok(())
    }

    /// The first two bytes of every literal as they may be spelled (both cases of a
    /// case-insensitive one).
    pub(crate) fn pairs(&self) -> Vec<(u8, u8)> {
        let mut pairs = Vec::new();
        for (i, &word) in self.raw_starts.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let raw = i * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                pairs.push(((raw >> 8) as u8, raw as u8));
            }
        }
        pairs
    }

    /// Whether some literal may start with the bytes at `at`: its first two bytes, and its
    /// third up to a hash collision (a quick test, with one branch after the two-byte bitmap:
    /// [`LiteralIndex::at`] says which, if any, really occur).
    #[inline]
    pub(crate) fn may_start_at(&self, line: &[u8], at: usize) -> bool {
        let get = |i: usize| line.get(i).copied().unwrap_or(0);
        let (a, b) = (get(at), get(at + 1));
        let raw = (a as usize) << 8 | b as usize;
        // Most token starts fail on their first two bytes: the third is only hashed then.
        if self.raw_starts[raw >> 6] >> (raw & 63) & 1 == 0 {
            return false;
        }
        let t = triple_key(a, b, get(at + 2));
        self.triples[t >> 6] >> (t & 63) & 1 != 0
    }

    /// Every literal that occurs at `line[at..]`.
    #[inline]
    pub(crate) fn at<'s>(
        &'s self,
        line: &'s [u8],
        at: usize,
    ) -> impl Iterator<Item = &'s Literal<T>> + 's {
        let key = match line.get(at..at + 2) {
            Some(&[a, b]) => pair_key(a, b),
            _ => usize::MAX,
        };
        let hit = key != usize::MAX && self.starts[key >> 6] & (1 << (key & 63)) != 0;
        let from = if hit {
            self.literals.partition_point(|(k, _)| (*k as usize) < key)
        } else {
            self.literals.len()
        };
        let rest = &line[at.min(line.len())..];
        self.literals[from..]
            .iter()
            .take_while(move |(k, _)| *k as usize == key)
            .map(|(_, l)| l)
            .filter(move |l| {
                rest.len() >= l.bytes.len()
                    && if l.case_insensitive {
                        rest[..l.bytes.len()].eq_ignore_ascii_case(&l.bytes)
                    } else {
                        rest[..l.bytes.len()] == *l.bytes
                    }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literals_by_their_start() {
        let mut ix = LiteralIndex::default();
        ix.add(b"eyJ", false, 1).unwrap();
        ix.add(b"bearer ", true, 2).unwrap();
        ix.add(b"://", false, 3).unwrap();
        ix.add(b"basic ", true, 4).unwrap();
        assert!(ix.add(b"x", false, 5).is_err());
        let found = |line: &[u8], at| ix.at(line, at).map(|l| l.target).collect::<Vec<_>>();
        assert_eq!(found(b"x eyJhbG", 2), [1]);
        assert_eq!(found(b"x EYJhbG", 2), Vec::<i32>::new());
        assert_eq!(found(b"BEARER abc", 0), [2]);
        assert_eq!(found(b"Basic dXNl", 0), [4]);
        assert_eq!(found(b"https://x", 5), [3]);
        assert_eq!(found(b"bearer", 0), Vec::<i32>::new());
        assert_eq!(found(b"b", 0), Vec::<i32>::new());
        let pairs = ix.pairs();
        assert!(pairs.contains(&(b':', b'/')) && pairs.contains(&(b'B', b'e')));
        assert!(pairs.contains(&(b'b', b'A')) && !pairs.contains(&(b'E', b'y')));
        assert!(ix.may_start_at(b"x eyJhbG", 2) && ix.may_start_at(b"BEARER", 0));
        assert!(!ix.may_start_at(b"x eyZ", 2) && !ix.may_start_at(b"x ey", 2));
        ix.add(b"id", true, 6).unwrap();
        assert!(ix.may_start_at(b"Id", 0) && ix.may_start_at(b"id=", 0));
    }
}
