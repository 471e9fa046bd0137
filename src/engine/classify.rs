//! Byte classification of a whole line into bit masks, one bit per byte.
//!
//! A scanner that walks a line byte by byte and branches at every token end pays a branch
//! misprediction per token: on typical logs (a token every 7 bytes) that caps it near
//! 200 MB/s whatever it does with the tokens. Here the line is first turned into masks
//! (letters and digits, digits, events, first bytes of literals), eight bytes at a time and without a
//! branch: eight class-table loads packed into one word, then one multiply per mask gathers
//! the flag bits. The scanner then visits only the set bits it cares about (the start of each
//! digit run, each event byte, each literal start), with `trailing_zeros`.

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

/// Classify `line` into `out` (cleared first), one [`Block`] per 64 bytes; bytes past the end
/// of the line have no class.
pub(crate) fn classify(line: &[u8], classes: &[u8; 256], out: &mut Vec<Block>) {
    out.clear();
    out.reserve(line.len().div_ceil(64));
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
        let t = table();
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
            let c = t[b as usize];
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
}
