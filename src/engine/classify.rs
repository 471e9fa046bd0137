//! Byte classification of a whole line into bit masks, one bit per byte.
//!
//! A scanner that walks a line byte by byte and branches at every token end pays a branch
//! misprediction per token: on typical logs (a token every 7 bytes) that caps it near
//! 200 MB/s whatever it does with the tokens. Here the line is first turned into masks
//! (letters and digits, digits, events, key bytes), eight bytes at a time and without a
//! branch: eight class-table loads packed into one word, then one multiply per mask gathers
//! the flag bits. The scanner then visits only the set bits it cares about (the start of each
//! digit run, each event byte, each place a literal may start), with `trailing_zeros`.
//!
//! Where a literal may start is a two-byte test, the first step of Hyperscan's Teddy: each
//! literal's first two bytes go to one of eight buckets, and four 16-entry tables (low and
//! high nibble of the first byte, of the second) give each byte the buckets it may open or
//! continue; a position is marked when its byte and the next share a bucket ([`PairFilter`]).
//! The mark is a superset of the literals' real starts (the scanner checks them exactly) but
//! far smaller than "every token start", which is what literals that begin with a letter
//! used to cost: on mixed logs, about 15 places per line instead of 40.
//!
//! On x86-64 the masks come from vector compares instead: 32 bytes at a time with AVX2 when the
//! CPU has it (detected at run time, the crate's only `unsafe` call; the nibble tables are
//! `pshufb` lookups), 16 bytes at a time with SSE2 otherwise (the pair mark then comes from
//! the same tables a byte at a time). All three paths give the same masks (tested byte for
//! byte).

/// A letter or digit (ASCII).
pub(crate) const WORD: u8 = 1;
/// A digit.
pub(crate) const DIGIT: u8 = 2;
/// A byte the scanner acts on: `@`, `:`, `=`, `>`.
pub(crate) const EVENT: u8 = 4;
/// A byte of a key name: a letter, a digit, `_`, `-`, `.`, or any non-ASCII byte.
pub(crate) const KEY: u8 = 16;

/// The masks of 64 bytes of a line: bit `k` stands for byte `64 * block + k`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Block {
    pub word: u64,
    pub digit: u64,
    pub event: u64,
    /// Where a literal may start ([`PairFilter`]): byte and next byte share a bucket.
    pub literal: u64,
    pub key: u64,
}

/// Gathers bit 0 of each byte of `x` into the low eight bits (byte `k` to bit `k`).
#[inline(always)]
fn pack(x: u64) -> u64 {
    (x & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// A class table, the pair filter of the literals, and whether the vector path computes the
/// table's classes (it computes [`fixed_class`]).
#[derive(Debug, Clone)]
pub(crate) struct Classes {
    table: [u8; 256],
    pairs: PairFilter,
    vector: bool,
}

/// Teddy's two-byte filter: byte `a` followed by byte `b` may start a literal when
/// `lo1[a & 15] & hi1[a >> 4] & lo2[b & 15] & hi2[b >> 4] != 0` (bit `k`: bucket `k`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PairFilter {
    lo1: [u8; 16],
    hi1: [u8; 16],
    lo2: [u8; 16],
    hi2: [u8; 16],
    /// The same tables combined per byte, for the paths without `pshufb`: the buckets each
    /// byte may open (`lo1 & hi1`) and continue (`lo2 & hi2`).
    opens: Box<[u8; 256]>,
    continues: Box<[u8; 256]>,
}

impl Default for PairFilter {
    fn default() -> Self {
        PairFilter {
            lo1: [0; 16],
            hi1: [0; 16],
            lo2: [0; 16],
            hi2: [0; 16],
            opens: Box::new([0; 256]),
            continues: Box::new([0; 256]),
        }
    }
}

impl PairFilter {
    /// A filter that passes every pair of `pairs` (and, as nibble tables do, some others).
    /// Pairs are put into buckets one by one, each where it widens its bucket's set of
    /// accepted pairs least, weighing bytes by how common they are in logs (lower-case
    /// letters, digits and `" :,.-_/=` most): what a bucket accepts is every combination of
    /// its first bytes' nibbles with its second bytes' nibbles.
    pub(crate) fn new(pairs: &[(u8, u8)]) -> PairFilter {
        fn weight(b: u8) -> u64 {
            match b {
                b'a'..=b'z' => 4,
                b'0'..=b'9' | b' ' | b'"' | b':' | b',' | b'.' | b'-' | b'_' | b'/' | b'=' => 3,
                0x21..=0x7e => 1,
                _ => 0,
            }
        }
        // For each high nibble, the low nibbles of the bytes of each weight (4, 3, 1): the
        // weight of a set of bytes given by nibble sets is then a few popcounts.
        let mut by_weight = [[0u16; 3]; 16];
        for b in 0..=255u8 {
            if let Some(k) = [4, 3, 1].iter().position(|&w| w == weight(b)) {
                by_weight[(b >> 4) as usize][k] |= 1 << (b & 15);
            }
        }
        // The weight of the bytes whose nibbles are in `lo` and `hi` (16-bit sets).
        let side = |lo: u16, hi: u16| -> u64 {
            (0..16)
                .filter(|h| hi >> h & 1 != 0)
                .map(|h| {
                    let [w4, w3, w1] = by_weight[h].map(|m| u64::from((m & lo).count_ones()));
                    4 * w4 + 3 * w3 + w1
                })
                .sum()
        };
        #[derive(Clone, Copy, Default)]
        struct Bucket {
            lo1: u16,
            hi1: u16,
            lo2: u16,
            hi2: u16,
        }
        impl Bucket {
            fn with(self, (a, b): (u8, u8)) -> Bucket {
                Bucket {
                    lo1: self.lo1 | 1 << (a & 15),
                    hi1: self.hi1 | 1 << (a >> 4),
                    lo2: self.lo2 | 1 << (b & 15),
                    hi2: self.hi2 | 1 << (b >> 4),
                }
            }
        }
        let cost = |b: Bucket| side(b.lo1, b.hi1) * side(b.lo2, b.hi2);
        let mut order: Vec<(u8, u8)> = pairs.to_vec();
        order.sort_unstable_by_key(|&(a, b)| (std::cmp::Reverse(weight(a) * weight(b)), a, b));
        order.dedup();
        let mut buckets = [Bucket::default(); 8];
        let mut costs = [0u64; 8];
        for p in order {
            let k = (0..8)
                .min_by_key(|&k| cost(buckets[k].with(p)) - costs[k])
                .expect("eight buckets");
            buckets[k] = buckets[k].with(p);
            costs[k] = cost(buckets[k]);
        }
        let mut f = PairFilter::default();
        for (k, b) in buckets.iter().enumerate() {
            for n in 0..16 {
                let set = |mask: u16| u8::from(mask >> n & 1 != 0) << k;
                f.lo1[n] |= set(b.lo1);
                f.hi1[n] |= set(b.hi1);
                f.lo2[n] |= set(b.lo2);
                f.hi2[n] |= set(b.hi2);
            }
        }
        for b in 0..=255u8 {
            let (lo, hi) = ((b & 15) as usize, (b >> 4) as usize);
            f.opens[b as usize] = f.lo1[lo] & f.hi1[hi];
            f.continues[b as usize] = f.lo2[lo] & f.hi2[hi];
        }
        f
    }

    /// Whether byte `a` followed by `b` may start a literal.
    #[inline(always)]
    pub(crate) fn may_start(&self, a: u8, b: u8) -> bool {
        self.opens[a as usize] & self.continues[b as usize] != 0
    }

    /// The pair marks of `window[..len]`, each byte with the one after it (`window` holds at
    /// least `len + 1` bytes).
    #[inline]
    fn marks(&self, window: &[u8], len: usize) -> u64 {
        let mut m = 0u64;
        for (i, w) in window[..=len].windows(2).enumerate() {
            m |= u64::from(self.may_start(w[0], w[1])) << i;
        }
        m
    }
}

/// The class of `b` in the byte pass (the vector path computes exactly this).
pub(crate) fn fixed_class(b: u8) -> u8 {
    let c = match b {
        b'0'..=b'9' => WORD | DIGIT,
        b'a'..=b'z' | b'A'..=b'Z' => WORD,
        b'@' | b':' | b'=' | b'>' => EVENT,
        _ => 0,
    };
    c | if super::keys::is_key_byte(b) { KEY } else { 0 }
}

impl Classes {
    /// The classes of `table` and the literals' pair filter.
    pub(crate) fn new(table: [u8; 256], pairs: PairFilter) -> Classes {
        let vector = (0..=255u8).all(|b| table[b as usize] == fixed_class(b));
        Classes {
            table,
            pairs,
            vector,
        }
    }
}

/// Block `k`'s 64 bytes of the line and the byte after them, zero past its end (borrowed where
/// the line has them all, copied into `pad` at its end), and how many are the line's.
#[inline(always)]
fn window<'a>(line: &'a [u8], k: usize, pad: &'a mut [u8; 65]) -> (&'a [u8; 65], usize) {
    let base = k * 64;
    let len = (line.len() - base).min(64);
    match line.get(base..base + 65) {
        Some(w) => (w.try_into().expect("65 bytes"), len),
        None => {
            *pad = [0; 65];
            pad[..line.len() - base].copy_from_slice(&line[base..]);
            (pad, len)
        }
    }
}

/// Classify `line` into `out` (replacing what it held), one [`Block`] per 64 bytes; bytes
/// past the end of the line have no class.
#[inline(never)]
pub(crate) fn classify(line: &[u8], classes: &Classes, out: &mut Vec<Block>) {
    // Filled in place: a `push` (which may call the allocator) between the vector compares
    // and the stores makes the compiler spill the compare results byte by byte. Every slot is
    // written below, so blocks left from the previous line are not zeroed first.
    let blocks = line.len().div_ceil(64);
    out.truncate(blocks);
    out.resize(blocks, Block::default());
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if classes.vector {
        if std::arch::is_x86_feature_detected!("avx2") {
            #[allow(unsafe_code)]
            // SAFETY: `avx2::classify` only needs the CPU to have AVX2, checked just above.
            unsafe {
                avx2::classify(line, classes, out)
            };
            return;
        }
        sse2_classify(line, classes, out);
        return;
    }
    table_classify(line, classes, out);
}

/// [`classify`] with SSE2, 16 bytes at a time.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn sse2_classify(line: &[u8], classes: &Classes, out: &mut [Block]) {
    let mut pad = [0u8; 65];
    for (k, slot) in out.iter_mut().enumerate() {
        let (w, len) = window(line, k, &mut pad);
        let mut m = sse2::block(w[..64].try_into().expect("64 bytes"), len.div_ceil(16));
        m.literal = classes.pairs.marks(w, len);
        *slot = m;
    }
}

/// [`classify`] from the class table, eight bytes at a time.
fn table_classify(line: &[u8], classes: &Classes, out: &mut [Block]) {
    let mut pad = [0u8; 65];
    for (k, slot) in out.iter_mut().enumerate() {
        let (w, len) = window(line, k, &mut pad);
        // One block in registers, written once: eight groups of eight class bytes.
        let mut m = Block::default();
        for (g, group) in w[..len].chunks(8).enumerate() {
            add_group(&mut m, g, group_classes(group, &classes.table));
        }
        m.literal = classes.pairs.marks(w, len);
        *slot = m;
    }
}

/// The class bytes of up to eight bytes, assembled in a register (byte `k` in byte `k`).
#[inline(always)]
fn group_classes(group: &[u8], classes: &[u8; 256]) -> u64 {
    let mut v = 0u64;
    for (k, &b) in group.iter().enumerate() {
        v |= (classes[b as usize] as u64) << (8 * k);
    }
    v
}

/// Add the class bytes `v` of group `g` (bytes `8g..8g+8`) of a block to its masks.
#[inline(always)]
fn add_group(block: &mut Block, g: usize, v: u64) {
    let shift = 8 * g;
    block.word |= pack(v) << shift;
    block.digit |= pack(v >> 1) << shift;
    block.event |= pack(v >> 2) << shift;
    block.key |= pack(v >> 4) << shift;
}

/// The vector path: SSE2 is part of every x86-64 CPU (`safe_arch` exposes it safely).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use super::Block;
    use safe_arch::*;

    #[inline(always)]
    fn eq(v: m128i, b: u8) -> m128i {
        cmp_eq_mask_i8_m128i(v, set_splat_i8_m128i(b as i8))
    }

    /// Whether each byte lies in `lo..=hi` (both below 0x80; bytes from 0x80 compare as
    /// negative and fail).
    #[inline(always)]
    fn within(v: m128i, lo: u8, hi: u8) -> m128i {
        bitand_m128i(
            cmp_gt_mask_i8_m128i(v, set_splat_i8_m128i(lo as i8 - 1)),
            cmp_lt_mask_i8_m128i(v, set_splat_i8_m128i(hi as i8 + 1)),
        )
    }

    #[inline(always)]
    fn bits(v: m128i) -> u64 {
        move_mask_i8_m128i(v) as u32 as u64
    }

    #[inline(always)]
    fn or(a: m128i, b: m128i) -> m128i {
        bitor_m128i(a, b)
    }

    /// The masks of the first `groups` 16-byte groups of 64 bytes (the others have none), all
    /// but the literal marks.
    #[inline(always)]
    pub(super) fn block(b: &[u8; 64], groups: usize) -> Block {
        let mut m = Block::default();
        for (k, chunk) in b.chunks_exact(16).take(groups).enumerate() {
            let v = load_unaligned_m128i(chunk.try_into().expect("16 bytes"));
            let digit = within(v, b'0', b'9');
            let alpha = within(or(v, set_splat_i8_m128i(0x20)), b'a', b'z');
            let word = or(digit, alpha);
            let event = or(or(eq(v, b'@'), eq(v, b':')), or(eq(v, b'='), eq(v, b'>')));
            let high = cmp_lt_mask_i8_m128i(v, zeroed_m128i());
            let key = or(
                or(word, high),
                or(or(eq(v, b'_'), eq(v, b'-')), eq(v, b'.')),
            );
            let shift = 16 * k;
            m.word |= bits(word) << shift;
            m.digit |= bits(digit) << shift;
            m.event |= bits(event) << shift;
            m.key |= bits(key) << shift;
        }
        m
    }
}

/// The vector path with AVX2 where the CPU has it (checked at run time): 32 bytes at a time,
/// the same masks as [`sse2`] plus the literal marks from `pshufb` nibble lookups.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod avx2 {
    use super::{window, Block, Classes, PairFilter};
    use std::arch::x86_64::*;

    /// 32 bytes as a vector, from two 16-byte loads (no pointer, no `unsafe`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(b: &[u8]) -> __m256i {
        let half = |i: usize| {
            safe_arch::load_unaligned_m128i(b[i..i + 16].try_into().expect("16 bytes")).0
        };
        _mm256_set_m128i(half(16), half(0))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn eq(v: __m256i, b: u8) -> __m256i {
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b as i8))
    }

    /// Whether each byte lies in `lo..=hi` (both below 0x80; bytes from 0x80 compare as
    /// negative and fail).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn within(v: __m256i, lo: u8, hi: u8) -> __m256i {
        _mm256_and_si256(
            _mm256_cmpgt_epi8(v, _mm256_set1_epi8(lo as i8 - 1)),
            _mm256_cmpgt_epi8(_mm256_set1_epi8(hi as i8 + 1), v),
        )
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn bits(v: __m256i) -> u32 {
        _mm256_movemask_epi8(v) as u32
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn or(a: __m256i, b: __m256i) -> __m256i {
        _mm256_or_si256(a, b)
    }

    /// A 16-entry table in both lanes, for `pshufb`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn table(t: &[u8; 16]) -> __m256i {
        let t = safe_arch::load_unaligned_m128i(t).0;
        _mm256_set_m128i(t, t)
    }

    /// The nibble tables of a pair filter, loaded once per line.
    struct Tables {
        lo1: __m256i,
        hi1: __m256i,
        lo2: __m256i,
        hi2: __m256i,
    }

    /// The buckets each byte of `v` may open (`lo`, `hi` of the first byte) or continue.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn buckets(v: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
        let nibble = _mm256_set1_epi8(0x0f);
        let low = _mm256_and_si256(v, nibble);
        let high = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble);
        _mm256_and_si256(_mm256_shuffle_epi8(lo, low), _mm256_shuffle_epi8(hi, high))
    }

    /// The masks of 32 bytes (`b` holds them and the byte after): word, digit, event,
    /// literal, key.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn masks(b: &[u8], t: &Tables) -> [u32; 5] {
        let v = load(&b[..32]);
        let next = load(&b[1..33]);
        let digit = within(v, b'0', b'9');
        let alpha = within(or(v, _mm256_set1_epi8(0x20)), b'a', b'z');
        let word = or(digit, alpha);
        let event = or(or(eq(v, b'@'), eq(v, b':')), or(eq(v, b'='), eq(v, b'>')));
        let high = _mm256_cmpgt_epi8(_mm256_setzero_si256(), v);
        let key = or(
            or(word, high),
            or(or(eq(v, b'_'), eq(v, b'-')), eq(v, b'.')),
        );
        let pair = _mm256_and_si256(buckets(v, t.lo1, t.hi1), buckets(next, t.lo2, t.hi2));
        let none = _mm256_cmpeq_epi8(pair, _mm256_setzero_si256());
        [bits(word), bits(digit), bits(event), !bits(none), bits(key)]
    }

    /// The masks of 64 bytes and the byte after them, whose second half may be past the line
    /// (`full` false: no class; bytes past the end are zero, which has none).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn block(b: &[u8; 65], full: bool, t: &Tables) -> Block {
        let lo = masks(&b[..33], t);
        let hi = match full {
            true => masks(&b[32..65], t),
            false => [0; 5],
        };
        let join = |k: usize| lo[k] as u64 | (hi[k] as u64) << 32;
        Block {
            word: join(0),
            digit: join(1),
            event: join(2),
            literal: join(3),
            key: join(4),
        }
    }

    /// [`super::classify`] with AVX2, into `out` already sized.
    #[target_feature(enable = "avx2")]
    pub(super) fn classify(line: &[u8], classes: &Classes, out: &mut [Block]) {
        let PairFilter {
            lo1, hi1, lo2, hi2, ..
        } = &classes.pairs;
        let t = Tables {
            lo1: table(lo1),
            hi1: table(hi1),
            lo2: table(lo2),
            hi2: table(hi2),
        };
        let mut pad = [0u8; 65];
        for (k, slot) in out.iter_mut().enumerate() {
            let (w, len) = window(line, k, &mut pad);
            *slot = block(w, len > 32, &t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> [u8; 256] {
        let mut t = [0u8; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let b = i as u8;
            *slot = match b {
                b'0'..=b'9' => WORD | DIGIT,
                b'a'..=b'z' | b'A'..=b'Z' => WORD,
                b'@' | b'=' => EVENT,
                b'-' => KEY,
                b':' => EVENT,
                _ => 0,
            };
        }
        t
    }

    #[test]
    fn masks_match_a_byte_by_byte_reading() {
        let pairs = PairFilter::new(&[(b':', b'/'), (b'e', b'y'), (b'-', b'-')]);
        let t = Classes::new(table(), pairs.clone());
        assert!(
            !t.vector,
            "a table other than the byte pass's takes the table path"
        );
        let line: Vec<u8> = b"id=42 mail jean@x.fr https://h -- eyJ \xc3\xa9t\xc3\xa9 9"
            .iter()
            .copied()
            .cycle()
            .take(150)
            .collect();
        let mut blocks = Vec::new();
        classify(&line, &t, &mut blocks);
        assert_eq!(blocks.len(), 3);
        for (i, &b) in line.iter().enumerate() {
            let m = blocks[i / 64];
            let bit = |mask: u64| mask >> (i % 64) & 1 == 1;
            let c = t.table[b as usize];
            let next = line.get(i + 1).copied().unwrap_or(0);
            assert_eq!(bit(m.word), c & WORD != 0, "word at {i}");
            assert_eq!(bit(m.digit), c & DIGIT != 0, "digit at {i}");
            assert_eq!(bit(m.event), c & EVENT != 0, "event at {i}");
            assert_eq!(bit(m.literal), pairs.may_start(b, next), "literal at {i}");
            assert_eq!(bit(m.key), c & KEY != 0, "key at {i}");
        }
        assert!(blocks[0].literal != 0, "`://`, `--`, `ey` are marked");
        // Past the end: nothing.
        assert_eq!(blocks[2].word >> (150 - 128), 0);
        assert_eq!(blocks[2].literal >> (150 - 128), 0);
        classify(b"", &t, &mut blocks);
        assert!(blocks.is_empty());
    }

    /// The pair filter passes every pair it was built from, in any mix of buckets, and (for
    /// the built-in literals) few others: what it saves is the exact check at every token.
    #[test]
    fn pair_filter_passes_its_pairs_and_few_others() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for n in [1, 2, 7, 8, 9, 40, 200] {
            let pairs: Vec<(u8, u8)> = (0..n).map(|_| (next() as u8, next() as u8)).collect();
            let f = PairFilter::new(&pairs);
            for &(a, b) in &pairs {
                assert!(f.may_start(a, b), "{n} pairs: ({a:#x}, {b:#x}) rejected");
            }
        }
        assert!(!PairFilter::new(&[]).may_start(b'a', b'b'));
        let r = crate::engine::Redactor::builtin().unwrap();
        let f = &r.classes.pairs;
        let letters = || (b'a'..=b'z').chain(b'A'..=b'Z');
        let passed = letters()
            .flat_map(|a| letters().map(move |b| (a, b)))
            .filter(|&(a, b)| f.may_start(a, b))
            .count();
        assert!(
            passed < 52 * 52 / 5,
            "{passed} of {} letter pairs pass",
            52 * 52
        );
    }

    /// The byte pass's classes take the vector path, which must give what the table path
    /// gives, byte for byte, at every length and offset.
    #[test]
    fn vector_path_matches_the_table() {
        let mut ix = crate::engine::literals::LiteralIndex::default();
        for lit in ["eyJ", "://", "-----BEGIN", "%40", "\\u0040", "AKIA"] {
            ix.add(lit.as_bytes(), false, ()).unwrap();
        }
        ix.add(b"bearer ", true, ()).unwrap();
        let classes = crate::engine::scan::byte_classes(&ix);
        assert!(classes.vector, "the vector path applies");
        let table_only = Classes {
            vector: false,
            ..classes.clone()
        };
        // Every byte value, in a scrambled order, at lengths around the block size, plus
        // literal starts at block edges.
        let mut bytes: Vec<u8> = (0..700u32).map(|i| (i * 167 + i / 256) as u8).collect();
        for at in [30, 62, 63, 64, 127, 200, 255] {
            bytes[at..at + 3].copy_from_slice(b"eyJ");
        }
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        for len in [
            0, 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 66, 95, 96, 97, 127, 128, 129, 300, 700,
        ] {
            for start in [0, 1, 3] {
                let line = &bytes[start..(start + len).min(bytes.len())];
                // `classify` takes AVX2 where the CPU has it; SSE2 is tested on its own.
                classify(line, &classes, &mut fast);
                classify(line, &table_only, &mut slow);
                assert_eq!(fast, slow, "length {len} from {start}");
                #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
                {
                    sse2_classify(line, &classes, &mut fast);
                    assert_eq!(fast, slow, "SSE2, length {len} from {start}");
                }
            }
        }
        assert!(slow.iter().any(|m| m.literal != 0));
    }
}
