//! Whether a string holds any byte of a small set, eight bytes at a time.
//!
//! A preflight checks every row for control characters and writes every string of every
//! `--dry-run` body through JSON escaping; the strings are short and nearly always clean.
//! Asked byte by byte, the question costs a few instructions a byte; asked of a whole
//! 64-bit word with a few arithmetic tricks, a few instructions a word.

/// `byte` in every byte of a word.
pub(crate) const fn repeat(byte: u8) -> u64 {
    u64::from_le_bytes([byte; 8])
}

/// Whether some byte of `word` is below `n` (at most 0x80): subtracting `n` from every
/// byte borrows into a high bit that was clear only there (a borrow from a lower byte
/// below `n` may flag a byte above it too, but then the answer is yes anyway).
pub(crate) fn below(word: u64, n: u8) -> bool {
    word.wrapping_sub(repeat(n)) & !word & repeat(0x80) != 0
}

/// Whether some byte of `word` is `byte`.
pub(crate) fn has(word: u64, byte: u8) -> bool {
    below(word ^ repeat(byte), 1)
}

/// Whether `found` says yes of any word of `bytes`. Past eight bytes the last word
/// overlaps the one before it; shorter strings are padded with `pad`, a byte `found` must
/// say no of.
#[inline]
pub(crate) fn any(bytes: &[u8], pad: u8, found: impl Fn(u64) -> bool) -> bool {
    let word = |chunk: &[u8]| u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
    if bytes.len() >= 8 {
        let mut words = bytes.chunks_exact(8);
        words.by_ref().any(|chunk| found(word(chunk))) || found(word(&bytes[bytes.len() - 8..]))
    } else {
        // The bytes shifted in from the top, last first: the first ends in the lowest byte.
        found((bytes.iter().rev()).fold(repeat(pad), |w, &b| (w << 8) | u64::from(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_at_every_place_of_every_length_is_found() {
        let set = |b: u8| b < 0x20 || b == b'"' || b == 0xc2;
        let found = |w: u64| below(w, 0x20) | has(w, b'"') | has(w, 0xc2);
        for byte in 0..=u8::MAX {
            for len in 0..=17 {
                for at in 0..len {
                    for fill in [b'a', 0xff, 0x21] {
                        let mut bytes = vec![fill; len];
                        bytes[at] = byte;
                        let what = format!("{byte:#x} at {at} of {len} in {fill:#x}");
                        assert_eq!(any(&bytes, b'a', found), set(byte), "{what}");
                    }
                }
                assert!(!any(&vec![b'a'; len], b'a', found), "clean {len}");
            }
        }
    }
}
