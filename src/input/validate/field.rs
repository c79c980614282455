//! The table of send fields a campaign flag or a CSV column may set, and which of them a
//! provider reserves, supports or treats as the send mode.

use super::MessageDefaults;
use crate::message::Capabilities;

/// Declares [`Field`] from the table below: its variants, `ALL`, `COUNT`, the API name of
/// each and where [`MessageDefaults`] keeps its campaign-level value.
macro_rules! fields {
    ($($variant:ident => $name:literal, $member:ident;)*) => {
        /// The send fields a CSV column may override.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Field {
            $($variant,)*
        }

        impl Field {
            pub(crate) const ALL: [Field; Field::COUNT] = [$(Field::$variant,)*];
            pub(crate) const COUNT: usize = [$($name,)*].len();

            /// The API's field name, which is also the reserved column name (matched
            /// case-insensitively).
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }

            /// Where the campaign-level value for this field is kept (to clear one that
            /// is rendered per row instead).
            pub(crate) fn default_in_mut(self, d: &mut MessageDefaults) -> &mut Option<String> {
                match self {
                    $(Field::$variant => &mut d.$member,)*
                }
            }

            /// The campaign-level value for this field, if any.
            pub(crate) fn default_in(self, d: &MessageDefaults) -> Option<&str> {
                match self {
                    $(Field::$variant => d.$member.as_deref(),)*
                }
            }
        }
    };
}

// The one table of message fields: variant, API name (= CSV column), member of
// [`MessageDefaults`] (whose flag and campaign-file key are declared there). A new field is
// a member there, a line here, and its parsing in [`Fields`] and rules below.
fields! {
    TemplateId => "templateId", template_id;
    Text => "text", text;
    Media => "media", media;
    MediaType => "mediaType", media_type;
    Caption => "caption", caption;
    DeliverAt => "deliverAt", deliver_at;
    DeliverUntil => "deliverUntil", deliver_until;
    Labels => "labels", labels;
    Buttons => "buttons", buttons;
    Header => "header", header;
    Footer => "footer", footer;
    Type => "type", message_type;
    Latitude => "latitude", latitude;
    Longitude => "longitude", longitude;
    LocationName => "locationName", location_name;
    LocationAddress => "locationAddress", location_address;
    ContactId => "contactId", contact_id;
}

impl Field {
    /// Whether this field selects the send mode (used to refuse a campaign with nothing to send).
    pub(crate) fn is_mode(self) -> bool {
        matches!(
            self,
            Field::TemplateId
                | Field::Text
                | Field::Media
                | Field::Type
                | Field::Latitude
                | Field::ContactId
        )
    }

    /// Whether a column of this name is a send field for this provider rather than a
    /// template variable. The fields added for other providers (`type`, `latitude`,
    /// `contactId`, …) are reserved only where they mean something, so a Pilot Status file
    /// with a `type` column keeps sending it as a variable.
    pub(crate) fn reserved(self, caps: &Capabilities) -> bool {
        match self {
            Field::Type => caps.direct_type,
            Field::Latitude | Field::Longitude | Field::LocationName | Field::LocationAddress => {
                caps.location
            }
            Field::ContactId => caps.contact,
            _ => true,
        }
    }

    /// Whether the provider can send this field at all.
    pub(crate) fn supported(self, caps: &Capabilities) -> bool {
        match self {
            Field::Buttons | Field::Header | Field::Footer => caps.buttons,
            Field::Labels => caps.labels,
            Field::DeliverAt | Field::DeliverUntil => caps.schedule,
            _ => self.reserved(caps),
        }
    }
}
