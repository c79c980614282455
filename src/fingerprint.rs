//! One 64-bit digest for destinations and destination cells, the same everywhere: the input
//! keeps these for its duplicate and opt-out checks, and the resume index keeps them for each
//! recorded row, so a rerun compares and seeds them without holding any string per row.
//!
//! foldhash's quality hasher with a fixed seed: a few nanoseconds for a phone number (SipHash
//! was a visible part of a preflight), and among a million distinct destinations the odds of
//! any two colliding are about 1 in 37 million.

use std::hash::BuildHasher;

/// The digest of `text`.
pub fn of(text: &str) -> u64 {
    foldhash::quality::FixedState::with_seed(0x6361_6d70_6169_676e).hash_one(text)
}

/// 32 bits of [`of`], where a miss only costs time: the resume index keeps one for each
/// row's destination cell, and a changed cell that kept its short fingerprint (1 in 4
/// billion) would only skip re-checking a row already handled for good.
pub fn short(text: &str) -> u32 {
    of(text) as u32
}
