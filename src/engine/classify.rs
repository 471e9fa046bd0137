//! Byte classification of a whole line into bit masks, one bit per byte.
//!
//! A scanner that walks a line byte by byte and branches at every token end pays a branch
//! misprediction per token: on typical logs (a token every 7 bytes) that caps it near
//! 200 MB/s whatever it does with the tokens. Here the line is first turned into masks
//! (letters and digits, digits, events, first bytes of literals), eight bytes at a time and without a
//! branch: eight class-table loads packed into one word, then one multiply per mask gathers
//! the flag bits. The scanner then visits only the set bits it cares about (the start of each
//! digit run, each event byte, each literal start), with `trailing_zeros`.
//!
//! On x86-64 the masks come from vector compares instead: 32 bytes at a time with AVX2 when the
//! CPU has it (detected at run time, the crate's only `unsafe` call), 16 bytes at a time with
//! SSE2 otherwise. All three paths give the same masks (tested byte for byte).

/// A letter or digit (ASCII).
pub(crate) const WORD: u8 = 1;
/// A digit.
pub(crate) const DIGIT: u8 = 2;
/// A byte the scanner acts on: `@`, `:`, `=`, `>`.
pub(crate) const EVENT: u8 = 4;
/// A byte that starts some literal (`e` of `eyJ`, `:` of `://`, `%` of `%40`).
pub(crate) const LITERAL_FIRST: u8 = 8;
/// A byte of a key name: a letter, a digit, `_`, `-`, `.`, or any non-ASCII byte.
pub(crate) const KEY: u8 = 16;

/// The masks of 64 bytes of a line: bit `k` stands for byte `64 * block + k`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Block {
    pub word: u64,
    pub digit: u64,
    pub event: u64,
    pub literal_first: u64,
    pub key: u64,
}

/// Gathers bit 0 of each byte of `x` into the low eight bits (byte `k` to bit `k`).
#[inline(always)]
fn pack(x: u64) -> u64 {
    (x & 0x0101_0101_0101_0101).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// A class table and how [`classify`] computes it: with SSE2 compares when the table is the
/// one the byte pass builds (fixed classes, and literal first bytes that are every letter and
/// digit or none, plus at most four other bytes), from the table eight bytes at a time
/// otherwise.
#[derive(Debug, Clone)]
#[cfg_attr(
    not(all(target_arch = "x86_64", target_feature = "sse2")),
    allow(dead_code) // the vector path's fields: only the table is read elsewhere
)]
pub(crate) struct Classes {
    table: [u8; 256],
    /// The non-alphanumeric bytes that start a literal (`:`, `-`, `%`, `\\`), when the vector
    /// path applies.
    punct: Option<[u8; 4]>,
    /// Whether every letter, and every digit, is marked as a literal start.
    alpha_literals: bool,
    digit_literals: bool,
}

/// The fixed part of the class of `b` in the byte pass: everything but [`LITERAL_FIRST`]
/// (the vector path computes exactly this).
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
    /// The classes of `table`, and whether the vector path computes exactly them.
    pub(crate) fn new(table: [u8; 256]) -> Classes {
        let fixed = (0..=255u8).all(|b| table[b as usize] & !LITERAL_FIRST == fixed_class(b));
        let lit = |b: u8| table[b as usize] & LITERAL_FIRST != 0;
        let uniform = |set: &mut dyn Iterator<Item = u8>| {
            let marks: Vec<bool> = set.map(lit).collect();
            marks.iter().all(|&x| x == marks[0]).then_some(marks[0])
        };
        let alpha = uniform(&mut (0..=255u8).filter(u8::is_ascii_alphabetic));
        let digit = uniform(&mut (b'0'..=b'9'));
        let others: Vec<u8> = (1..=255u8)
            .filter(|b| !b.is_ascii_alphanumeric() && lit(*b))
            .collect();
        // Unused slots repeat a byte already in the set (or, with none, a letter or digit when
        // those are marked; with neither, `punct` stays `None` and the table is used).
        let marked = match (alpha, digit) {
            (Some(true), _) => Some(b'a'),
            (_, Some(true)) => Some(b'0'),
            _ => None,
        };
        let filler = others.first().copied().or(marked);
        let punct = filler
            .filter(|_| fixed && alpha.is_some() && digit.is_some() && others.len() <= 4)
            .map(|f| {
                let mut p = [f; 4];
                p[..others.len()].copy_from_slice(&others);
                p
            });
        Classes {
            table,
            punct,
            alpha_literals: alpha == Some(true),
            digit_literals: digit == Some(true),
        }
    }
}

/// Classify `line` into `out` (cleared first), one [`Block`] per 64 bytes; bytes past the end
/// of the line have no class.
#[inline(never)]
pub(crate) fn classify(line: &[u8], classes: &Classes, out: &mut Vec<Block>) {
    out.clear();
    out.reserve(line.len().div_ceil(64));
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if let Some(punct) = classes.punct {
        if std::arch::is_x86_feature_detected!("avx2") {
            #[allow(unsafe_code)]
            // SAFETY: `avx2::classify` only needs the CPU to have AVX2, checked just above.
            unsafe {
                avx2::classify(line, &punct, classes, out)
            };
            return;
        }
        sse2_classify(line, &punct, classes, out);
        return;
    }
    table_classify(line, classes, out);
}

/// [`classify`] with SSE2, 16 bytes at a time.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn sse2_classify(line: &[u8], punct: &[u8; 4], classes: &Classes, out: &mut Vec<Block>) {
    let blocks = line.chunks_exact(64);
    let tail = blocks.remainder();
    for block in blocks {
        let block = block.try_into().expect("64 bytes");
        out.push(sse2::block(block, 4, punct, classes));
    }
    if !tail.is_empty() {
        // Only the 16-byte groups that hold bytes of the line (the rest have no class).
        let mut padded = [0u8; 64];
        padded[..tail.len()].copy_from_slice(tail);
        out.push(sse2::block(
            &padded,
            tail.len().div_ceil(16),
            punct,
            classes,
        ));
    }
}

/// [`classify`] from the class table, eight bytes at a time.
fn table_classify(line: &[u8], classes: &Classes, out: &mut Vec<Block>) {
    let classes = &classes.table;
    let blocks = line.chunks_exact(64);
    let tail = blocks.remainder();
    for block in blocks {
        // One block in registers, written once: eight groups of eight class bytes.
        let mut m = Block::default();
        for (g, group) in block.chunks_exact(8).enumerate() {
            add_group(&mut m, g, group_classes(group, classes));
        }
        out.push(m);
    }
    if !tail.is_empty() {
        let mut m = Block::default();
        for (g, group) in tail.chunks(8).enumerate() {
            add_group(&mut m, g, group_classes(group, classes));
        }
        out.push(m);
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
    block.literal_first |= pack(v >> 3) << shift;
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

    /// The masks of the first `groups` 16-byte groups of 64 bytes (the others have none).
    #[inline(always)]
    pub(super) fn block(
        b: &[u8; 64],
        groups: usize,
        punct: &[u8; 4],
        classes: &super::Classes,
    ) -> Block {
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
            let mut lit = or(
                or(eq(v, punct[0]), eq(v, punct[1])),
                or(eq(v, punct[2]), eq(v, punct[3])),
            );
            if classes.alpha_literals {
                lit = or(lit, alpha);
            }
            if classes.digit_literals {
                lit = or(lit, digit);
            }
            let shift = 16 * k;
            m.word |= bits(word) << shift;
            m.digit |= bits(digit) << shift;
            m.event |= bits(event) << shift;
            m.literal_first |= bits(lit) << shift;
            m.key |= bits(key) << shift;
        }
        m
    }
}

/// The vector path with AVX2 where the CPU has it (checked at run time): 32 bytes at a time,
/// the same masks as [`sse2`].
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod avx2 {
    use super::{Block, Classes};
    use std::arch::x86_64::*;

    /// 32 bytes of the line as a vector, from two 16-byte loads (no pointer, no `unsafe`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(b: &[u8; 32]) -> __m256i {
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

    /// The masks of 32 bytes: word, digit, event, literal first byte, key byte.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn masks(b: &[u8; 32], punct: &[u8; 4], classes: &Classes) -> [u32; 5] {
        let v = load(b);
        let digit = within(v, b'0', b'9');
        let alpha = within(or(v, _mm256_set1_epi8(0x20)), b'a', b'z');
        let word = or(digit, alpha);
        let event = or(or(eq(v, b'@'), eq(v, b':')), or(eq(v, b'='), eq(v, b'>')));
        let high = _mm256_cmpgt_epi8(_mm256_setzero_si256(), v);
        let key = or(
            or(word, high),
            or(or(eq(v, b'_'), eq(v, b'-')), eq(v, b'.')),
        );
        let mut lit = or(
            or(eq(v, punct[0]), eq(v, punct[1])),
            or(eq(v, punct[2]), eq(v, punct[3])),
        );
        if classes.alpha_literals {
            lit = or(lit, alpha);
        }
        if classes.digit_literals {
            lit = or(lit, digit);
        }
        [bits(word), bits(digit), bits(event), bits(lit), bits(key)]
    }

    /// The masks of 64 bytes whose second half may be past the line (`full` false: no class).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn block(b: &[u8; 64], full: bool, punct: &[u8; 4], classes: &Classes) -> Block {
        let (lo, hi) = b.split_at(32);
        let lo = masks(lo.try_into().expect("32 bytes"), punct, classes);
        let hi = match full {
            true => masks(hi.try_into().expect("32 bytes"), punct, classes),
            false => [0; 5],
        };
        let join = |k: usize| lo[k] as u64 | (hi[k] as u64) << 32;
        Block {
            word: join(0),
            digit: join(1),
            event: join(2),
            literal_first: join(3),
            key: join(4),
        }
    }

    /// [`super::classify`] with AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) fn classify(line: &[u8], punct: &[u8; 4], classes: &Classes, out: &mut Vec<Block>) {
        // Filled in place: a `push` (which may call the allocator) between the vector
        // compares and the stores makes the compiler spill the compare results byte by byte.
        out.resize(line.len().div_ceil(64), Block::default());
        let blocks = line.chunks_exact(64);
        let tail = blocks.remainder();
        for (slot, b) in out.iter_mut().zip(blocks) {
            *slot = block(b.try_into().expect("64 bytes"), true, punct, classes);
        }
        if !tail.is_empty() {
            let mut padded = [0u8; 64];
            padded[..tail.len()].copy_from_slice(tail);
            let last = out.last_mut().expect("a block for the tail");
            *last = block(&padded, tail.len() > 32, punct, classes);
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
                b'-' => LITERAL_FIRST | KEY,
                b':' => EVENT | LITERAL_FIRST,
                _ => 0,
            };
        }
        t
    }

    #[test]
    fn masks_match_a_byte_by_byte_reading() {
        let t = Classes::new(table());
        let line: Vec<u8> = b"id=42 mail jean@x.fr https://h -- \xc3\xa9t\xc3\xa9 9"
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
            assert_eq!(bit(m.word), c & WORD != 0, "word at {i}");
            assert_eq!(bit(m.digit), c & DIGIT != 0, "digit at {i}");
            assert_eq!(bit(m.event), c & EVENT != 0, "event at {i}");
            assert_eq!(bit(m.literal_first), c & LITERAL_FIRST != 0, "punct at {i}");
            assert_eq!(bit(m.key), c & KEY != 0, "key at {i}");
        }
        // Past the end: nothing.
        assert_eq!(blocks[2].word >> (150 - 128), 0);
        classify(b"", &t, &mut blocks);
        assert!(blocks.is_empty());
    }

    /// The table of the real byte pass (literal first bytes `:`, `-`, `%`, `\\`, letters) takes
    /// the vector path, which must give what the table gives, byte for byte, at every length.
    #[test]
    fn vector_path_matches_the_table() {
        let mut ix = crate::engine::literals::LiteralIndex::default();
        for lit in ["eyJ", "://", "-----BEGIN", "%40", "\\u0040", "AKIA"] {
            ix.add(lit.as_bytes(), false, ()).unwrap();
        }
        let classes = crate::engine::scan::byte_classes(&ix);
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        assert!(classes.punct.is_some(), "the vector path applies");
        let table_only = Classes {
            punct: None,
            ..classes.clone()
        };
        // Every byte value, in a scrambled order, at lengths around the block size.
        let bytes: Vec<u8> = (0..700u32).map(|i| (i * 167 + i / 256) as u8).collect();
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        for len in [
            0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 95, 96, 97, 127, 128, 300, 700,
        ] {
            for start in [0, 3] {
                let line = &bytes[start..(start + len).min(bytes.len())];
                // `classify` takes AVX2 where the CPU has it; SSE2 is tested on its own.
                classify(line, &classes, &mut fast);
                classify(line, &table_only, &mut slow);
                assert_eq!(fast, slow, "length {len} from {start}");
                #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
                {
                    fast.clear();
                    sse2_classify(line, &classes.punct.unwrap(), &classes, &mut fast);
                    assert_eq!(fast, slow, "SSE2, length {len} from {start}");
                }
            }
        }
        // A table the vector path cannot compute falls back to the table.
        let mut odd = classes.table;
        odd[b'#' as usize] |= EVENT;
        assert!(Classes::new(odd).punct.is_none());
    }
}
