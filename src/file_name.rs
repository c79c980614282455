//! Names of the files the tool makes beside a user's file (a results file's lock, its
//! rewrite, copies kept aside, a rehearsal's ledger): they must fit the file system's limit
//! whenever the user's own name does.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};

/// The longest file name the usual file systems take, in bytes.
pub(crate) const NAME_MAX: usize = 255;

/// `name` as the start of a name `extra` bytes longer (the results file's lock, its rewrite,
/// a copy kept beside it): as it is when the whole fits in [`NAME_MAX`], else its start and a
/// digest of all of it. A results file's name that fits can then never leave a file the
/// run needs unmakeable, which would stop a campaign after its sends, run after run.
pub(crate) fn fitted(name: &OsStr, extra: usize) -> Cow<'_, OsStr> {
    let room = NAME_MAX.saturating_sub(extra);
    if name.len() <= room {
        return Cow::Borrowed(name);
    }
    let digest = format!("~{:016x}", fnv(name.as_encoded_bytes()));
    let lossy = name.to_string_lossy();
    let mut keep = room.saturating_sub(digest.len()).min(lossy.len());
    while !lossy.is_char_boundary(keep) {
        keep -= 1;
    }
    let mut short = OsString::from(&lossy[..keep]);
    short.push(digest);
    Cow::Owned(short)
}

/// FNV-1a: stable across builds, so a later version finds the names an earlier one made.
pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    (bytes.iter()).fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
