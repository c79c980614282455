//! What kind of message a layer of settings sends, so that content chosen on the command
//! line replaces the campaign file's content instead of mixing with it: a user who passes
//! `--text` over a file's `template = "…"` wants a text message, not a refusal (or a template
//! with a stray text).

use crate::input::MessageDefaults;
use crate::input::validate::Field;
use crate::message::DirectKind;

/// The kinds of content; a message is exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContentKind {
    Template,
    Text,
    Media,
    Location,
    Contact,
}

/// The fields that make up a message's content (the kind-choosing ones, see
/// [`Field::is_mode`], and their companions); labels, buttons, the schedule and the rest go
/// with any kind and are merged field by field.
const CONTENT: [Field; 11] = [
    Field::TemplateId,
    Field::Text,
    Field::Media,
    Field::MediaType,
    Field::Caption,
    Field::Type,
    Field::Latitude,
    Field::Longitude,
    Field::LocationName,
    Field::LocationAddress,
    Field::ContactId,
];

impl ContentKind {
    /// The kind `defaults` send, chosen in the validator's order: a template, else the kind
    /// `type` names, else the first kind whose field is filled.
    fn of(defaults: &MessageDefaults) -> Option<ContentKind> {
        if defaults.template_id.is_some() {
            return Some(ContentKind::Template);
        }
        if let Some(kind) = ContentKind::named_by_type(defaults) {
            return Some(kind);
        }
        [
            (ContentKind::Text, Field::Text),
            (ContentKind::Media, Field::Media),
            (ContentKind::Location, Field::Latitude),
            (ContentKind::Location, Field::Longitude),
            (ContentKind::Contact, Field::ContactId),
        ]
        .into_iter()
        .find(|(_, field)| field.default_in(defaults).is_some())
        .map(|(kind, _)| kind)
    }

    /// The kind a valid `type` names (a wrong one is refused later, by validation).
    fn named_by_type(defaults: &MessageDefaults) -> Option<ContentKind> {
        Some(
            match DirectKind::parse(defaults.message_type.as_deref()?)? {
                DirectKind::Text => ContentKind::Text,
                DirectKind::Media(_) => ContentKind::Media,
                DirectKind::Location => ContentKind::Location,
                DirectKind::Contact => ContentKind::Contact,
            },
        )
    }

    /// Whether a message of this kind takes the kind-choosing `field` as `flags` set it (a
    /// template carries its media and contact context).
    fn takes(self, field: Field, flags: &MessageDefaults) -> bool {
        use ContentKind::{Contact, Location, Media, Template, Text};
        match field {
            Field::TemplateId => self == Template,
            Field::Text => self == Text,
            Field::Media => matches!(self, Template | Media),
            Field::Type => ContentKind::named_by_type(flags) == Some(self),
            Field::Latitude => self == Location,
            Field::ContactId => matches!(self, Template | Contact),
            _ => true,
        }
    }

    /// How the log names it.
    fn noun(self) -> &'static str {
        match self {
            ContentKind::Template => "template",
            ContentKind::Text => "text",
            ContentKind::Media => "media",
            ContentKind::Location => "location",
            ContentKind::Contact => "contact",
        }
    }
}

/// The campaign file's message settings as the flags leave them: whole, unless the flags
/// choose content of another kind than the file's (`--text` over `template = …`, `--template`
/// over `text = …`, `--media` over either), which then replaces all of the file's content.
/// Content of the same kind is merged field by field (`--media` swaps a template's media).
pub(super) fn under_flags(flags: &MessageDefaults, mut file: MessageDefaults) -> MessageDefaults {
    let Some(kind) = ContentKind::of(&file) else {
        return file;
    };
    let foreign = CONTENT
        .into_iter()
        .filter(|field| field.is_mode() && field.default_in(flags).is_some())
        .any(|field| !kind.takes(field, flags));
    if foreign {
        tracing::info!(
            "the message content given on the command line replaces the campaign file's {}",
            kind.noun()
        );
        for field in CONTENT {
            *field.default_in_mut(&mut file) = None;
        }
        // The API rewrites templates only: the file's ai-rewrite went with its template.
        if kind == ContentKind::Template {
            file.ai_rewrite = None;
        }
    }
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(fields: &[(Field, &str)]) -> MessageDefaults {
        let mut message = MessageDefaults::default();
        for (field, value) in fields {
            *field.default_in_mut(&mut message) = Some((*value).to_owned());
        }
        message
    }

    /// The content fields set in `message`, with their values.
    fn content(message: &MessageDefaults) -> Vec<(Field, &str)> {
        CONTENT
            .into_iter()
            .filter_map(|f| Some((f, f.default_in(message)?)))
            .collect()
    }

    /// Some message fields with their values.
    type Set<'a> = &'a [(Field, &'a str)];

    #[test]
    fn content_of_another_kind_replaces_the_files_and_of_the_same_kind_merges() {
        use Field::*;
        let template_with_media = [(TemplateId, "t"), (Media, "https://a/i.png")];
        let media = [
            (Media, "https://a/i.png"),
            (MediaType, "image"),
            (Caption, "c"),
        ];
        let cases: [(Set, Set, Set); 8] = [
            (&[(TemplateId, "t")], &[(Text, "x")], &[(Text, "x")]),
            (&[(Text, "x")], &[(TemplateId, "t")], &[(TemplateId, "t")]),
            (&media, &[(Text, "x")], &[(Text, "x")]),
            (
                &[(Text, "x")],
                &[(Media, "https://b")],
                &[(Media, "https://b")],
            ),
            (&[(Text, "x")], &[(Type, "location")], &[(Type, "location")]),
            (
                &template_with_media,
                &[(TemplateId, "u")],
                &[(TemplateId, "u"), (Media, "https://a/i.png")],
            ),
            (
                &template_with_media,
                &[(Media, "https://b")],
                &[(TemplateId, "t"), (Media, "https://b")],
            ),
            // Not a kind of its own: merged, and validation judges the mix.
            (
                &[(Text, "x")],
                &[(Caption, "c")],
                &[(Text, "x"), (Caption, "c")],
            ),
        ];
        for (file, flags, sent) in cases {
            let flags = message(flags);
            let merged = flags.clone().over(under_flags(&flags, message(file)));
            assert_eq!(content(&merged), sent, "{file:?} under {flags:?}");
        }
    }

    #[test]
    fn what_is_not_content_stays_whatever_the_flags_choose() {
        let file = message(&[
            (Field::TemplateId, "t"),
            (Field::Labels, "vip"),
            (Field::DeliverUntil, "4h"),
        ]);
        let under = under_flags(&message(&[(Field::Text, "x")]), file);
        assert_eq!(under.labels.as_deref(), Some("vip"));
        assert_eq!(under.deliver_until.as_deref(), Some("4h"));
        assert_eq!(under.template_id, None);
    }

    #[test]
    fn a_files_ai_rewrite_goes_with_its_template_when_the_flags_replace_it() {
        let mut file = message(&[(Field::TemplateId, "t")]);
        file.ai_rewrite = Some(true);
        let text = under_flags(&message(&[(Field::Text, "x")]), file.clone());
        assert_eq!(text.ai_rewrite, None);
        let other = under_flags(&message(&[(Field::TemplateId, "u")]), file);
        assert_eq!(
            other.ai_rewrite,
            Some(true),
            "a template for a template keeps it"
        );
    }
}
