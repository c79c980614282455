//! What a campaign is, in short stable words a file can keep: the fingerprint of its
//! message settings, recorded on every send so a rerun can tell that the campaign's message
//! changed half way (half a list on one template and half on another is a mistake).
//!
//! The digest is FNV-1a written out here, not a library hasher: it is stored in results
//! files, so it must read the same in every version of this program.

use std::fmt;

use crate::input::MessageDefaults;
use crate::input::validate::Field;
use crate::message::Content;

/// The fingerprint of a campaign's message settings, written `m:1a2b3c4d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageFingerprint(u32);

impl MessageFingerprint {
    /// Reads a `message` cell; `None` for an empty or foreign cell ("unknown").
    pub fn parse(cell: &str) -> Option<MessageFingerprint> {
        let hex = cell.trim().strip_prefix("m:")?;
        (hex.len() == 8)
            .then(|| u32::from_str_radix(hex, 16).ok())
            .flatten()
            .map(MessageFingerprint)
    }
}

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

/// The content fields of a message, in a fixed order.
fn content_fields() -> impl Iterator<Item = Field> {
    Field::ALL.into_iter().filter(|f| is_content(*f))
}

/// The message settings a row sends with, with their values as the request uses them
/// (trimmed, as a cell or flag is read; an empty one is unset), in a fixed order: the row's
/// own cell of a field (`cell`, "" when it has none) where it has one, else the campaign's.
fn effective<'a>(
    defaults: &'a MessageDefaults,
    cell: impl Fn(Field) -> &'a str,
) -> impl Iterator<Item = (&'static str, &'a str)> {
    content_fields().filter_map(move |f| {
        let own = cell(f).trim();
        let value = match own.is_empty() {
            true => f.default_in(defaults)?.trim(),
            false => own,
        };
        (!value.is_empty()).then_some((f.name(), value))
    })
}

/// The campaign-level message settings (not the rows' own cells) that make up the message,
/// with their values, in a fixed order.
pub fn message_settings(defaults: &MessageDefaults) -> impl Iterator<Item = (&'static str, &str)> {
    effective(defaults, |_| "")
}

/// The fingerprint of the campaign's message settings: equal settings give equal
/// fingerprints in every version; an unset field adds nothing, so a field added to the
/// program later leaves older campaigns' fingerprints as they were. Of the values as sent:
/// `--template " promo "` sends `promo`, so it is the campaign of `--template promo`.
pub fn message_fingerprint(defaults: &MessageDefaults) -> MessageFingerprint {
    digest(message_settings(defaults))
}

/// The fingerprint of the message one row sends: the campaign's settings with the row's own
/// cells (`cell(field)`, "" when none) laid over them, as [`message_fingerprint`] would give
/// for a campaign that set them. So a template reached by `--template promo`, by a
/// `templateId` column or by a column overriding another `--template` is one message, and a
/// row's own media or text tells its message apart. Template variables (and the values the
/// campaign's merge fields take) are not part of it.
pub(crate) fn row_fingerprint<'a>(
    defaults: &'a MessageDefaults,
    cell: impl Fn(Field) -> &'a str,
) -> MessageFingerprint {
    digest(effective(defaults, cell))
}

/// The fingerprint the previous release gave these settings: of the values as given, spaces
/// around them included. It differs from [`message_fingerprint`] only where a value has
/// some; its results files and ledgers keep it, so it still names their campaign.
pub fn untrimmed_fingerprint(defaults: &MessageDefaults) -> MessageFingerprint {
    digest(content_fields().filter_map(|f| Some((f.name(), f.default_in(defaults)?))))
}

/// FNV-1a over `(name, value)` pairs, each part ended by a zero byte.
fn digest<'a, 'b>(pairs: impl Iterator<Item = (&'a str, &'b str)>) -> MessageFingerprint {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, value) in pairs {
        for byte in name.bytes().chain([0]).chain(value.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    MessageFingerprint((hash ^ (hash >> 32)) as u32)
}

/// Whether the campaign's settings name a message (a template, text, media, pin or
/// contact), which its rows may override, or leave every row to name its own.
pub fn names_a_message(defaults: &MessageDefaults) -> bool {
    [
        &defaults.template_id,
        &defaults.text,
        &defaults.media,
        &defaults.latitude,
        &defaults.contact_id,
    ]
    .iter()
    .any(|setting| setting.is_some())
}

/// How the previous release told a row's message from the campaign's, kept as it was
/// because its ledgers hold the names built on it (`<campaign>/row/<this>` or
/// `<campaign>/own/<this>`): the fingerprint of the template id, the text, the media or the
/// map pin the row's content names, `None` when it took the row for the campaign's message.
/// It missed a template's media and took a `text` cell under `--text` for the campaign's
/// text; [`row_fingerprint`] is what tells messages apart now.
pub fn earlier_row_message(
    defaults: &MessageDefaults,
    content: &Content,
) -> Option<MessageFingerprint> {
    let location;
    // The campaign's own value, where a row's can be compared with it; a text is rendered
    // per row and a pin is read from two settings, so a campaign's one is the row's.
    let (kind, named, campaign) = match content {
        Content::Template { id, .. } => ("template", id.as_str(), defaults.template_id.as_deref()),
        Content::Text { body } => {
            let campaign = defaults.text.as_ref().map(|_| body.as_str());
            ("text", body.as_str(), campaign)
        }
        Content::Media { media, .. } => ("media", media.url.as_str(), defaults.media.as_deref()),
        Content::Location {
            latitude,
            longitude,
            ..
        } => {
            location = format!("{latitude},{longitude}");
            let campaign = defaults.latitude.as_ref().map(|_| location.as_str());
            ("location", location.as_str(), campaign)
        }
        Content::Contact { contact_id } => {
            let campaign = defaults.contact_id.as_deref();
            ("contact", contact_id.as_str(), campaign)
        }
    };
    (campaign.map(str::trim) != Some(named.trim()))
        .then(|| digest([(kind, named.trim())].into_iter()))
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
            "m:a49103bd"
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

    #[test]
    fn the_fingerprint_is_of_the_values_as_sent_and_the_earlier_one_of_them_as_given() {
        let spaced = template(" promo ");
        assert_eq!(
            message_fingerprint(&spaced),
            message_fingerprint(&template("promo")),
            "the request trims the id"
        );
        let blank = MessageDefaults {
            caption: Some(" ".into()),
            ..template("promo")
        };
        assert_eq!(
            message_fingerprint(&blank),
            message_fingerprint(&template("promo")),
            "a blank value is unset"
        );
        // The previous release's, still read from its results files and ledgers: the same
        // as today's unless a value has spaces around it.
        assert_ne!(untrimmed_fingerprint(&spaced), message_fingerprint(&spaced));
        assert_eq!(
            untrimmed_fingerprint(&template("promo")),
            message_fingerprint(&template("promo"))
        );
    }

    #[test]
    fn a_row_s_message_is_the_campaign_s_settings_with_its_own_cells_over_them() {
        let cells = |pairs: &'static [(Field, &'static str)]| {
            move |f: Field| pairs.iter().find(|(g, _)| *g == f).map_or("", |(_, v)| *v)
        };
        let (none, other, promo_t, t) = (
            MessageDefaults::default(),
            template("other"),
            template("promo"),
            template("t"),
        );
        let promo = message_fingerprint(&promo_t);
        // One template however the list names it.
        let column = cells(&[(Field::TemplateId, " promo ")]);
        assert_eq!(row_fingerprint(&none, column), promo);
        assert_eq!(row_fingerprint(&other, column), promo);
        assert_eq!(row_fingerprint(&promo_t, cells(&[])), promo);
        let labelled = cells(&[(Field::Labels, "vip"), (Field::Media, "  ")]);
        assert_eq!(row_fingerprint(&promo_t, labelled), promo);
        // A row's own media or text is another message.
        let (a, b) = (
            row_fingerprint(&t, cells(&[(Field::Media, "https://x/a.png")])),
            row_fingerprint(&t, cells(&[(Field::Media, "https://x/b.png")])),
        );
        assert_ne!(a, b);
        assert_ne!(a, message_fingerprint(&t));
        let hi = MessageDefaults {
            text: Some("Hi".into()),
            ..MessageDefaults::default()
        };
        let (promo_a, promo_b) = (
            row_fingerprint(&hi, cells(&[(Field::Text, "Promo A")])),
            row_fingerprint(&hi, cells(&[(Field::Text, "Promo B")])),
        );
        assert_ne!(promo_a, promo_b);
        assert_ne!(promo_a, message_fingerprint(&hi));
    }

    /// The previous release's names, kept as they were: its ledgers hold them.
    #[test]
    fn a_row_s_own_template_or_text_tells_its_message_apart_and_the_campaign_s_does_not() {
        let of = |id: &str| Content::Template {
            id: id.into(),
            media: None,
            contact_id: None,
        };
        let none = MessageDefaults::default();
        let (welcome, promo) = (
            earlier_row_message(&none, &of("boas_vindas")),
            earlier_row_message(&none, &of("promo")),
        );
        assert!(welcome.is_some());
        assert_ne!(welcome, promo, "two templates named in the rows");
        assert_eq!(welcome, earlier_row_message(&none, &of(" boas_vindas ")));
        let text = |body: &str| Content::Text { body: body.into() };
        assert_ne!(
            earlier_row_message(&none, &text("Oi")),
            earlier_row_message(&none, &text("Olá"))
        );
        assert_ne!(
            earlier_row_message(&none, &text("boas_vindas")),
            welcome,
            "the kind counts"
        );
        // The campaign names it: every row sends the campaign's message, unless its own
        // cell names another.
        assert_eq!(
            earlier_row_message(&template("boas_vindas"), &of("boas_vindas")),
            None
        );
        assert_eq!(
            earlier_row_message(&template("boas_vindas"), &of("promo")),
            promo
        );
        let texts = MessageDefaults {
            text: Some("Oi {{nome}}".into()),
            ..MessageDefaults::default()
        };
        assert_eq!(earlier_row_message(&texts, &text("Oi Ana")), None);
    }

    #[test]
    fn a_cell_reads_back_and_anything_else_is_unknown() {
        let fingerprint = message_fingerprint(&template("x"));
        let cell = fingerprint.to_string();
        assert!(cell.starts_with("m:") && cell.len() == 10, "{cell}");
        assert_eq!(MessageFingerprint::parse(&cell), Some(fingerprint));
        for foreign in ["", "m:", "m:xyz", "1a2b3c4d", "m:1a2b3c4d5"] {
            assert_eq!(MessageFingerprint::parse(foreign), None, "{foreign}");
        }
    }
}
