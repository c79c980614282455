//! What a status or cancel pass learns about a row: the delivery columns and their values.
//! A type of its own (not in delivery.rs, which reads and writes the passes' lines) so that
//! the record and checkpoint code can carry the cells without depending on the passes.

use std::fmt;

/// The columns after [`COLUMNS`] once a status or cancel pass has run, in order.
pub const DELIVERY_COLUMNS: [&str; 5] = [
    "deliveryStatus",
    "deliveredAt",
    "readAt",
    "deliveryError",
    "checkedAt",
];

/// Where an accepted message is, as `GET /v1/messages/{id}` last reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeliveryStatus {
    /// Waiting to be processed, or scheduled for a later `deliverAt`.
    Queued,
    /// Handed to WhatsApp.
    Sent,
    /// On the recipient's device; READ may still follow, so it is looked up again.
    Delivered,
    /// Read. Only ever reported when the recipient has read receipts on.
    Read,
    /// Failed after acceptance; `deliveryError` holds the API's error code.
    Failed,
    /// A scheduled send canceled through the cancel endpoint.
    Canceled,
}

impl DeliveryStatus {
    /// Every state, in lifecycle order: the order reports list them in.
    pub const ALL: [DeliveryStatus; 6] = [
        DeliveryStatus::Queued,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
        DeliveryStatus::Failed,
        DeliveryStatus::Canceled,
    ];

    /// The word in the `deliveryStatus` column (the API's own word).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "QUEUED",
            DeliveryStatus::Sent => "SENT",
            DeliveryStatus::Delivered => "DELIVERED",
            DeliveryStatus::Read => "READ",
            DeliveryStatus::Failed => "FAILED",
            DeliveryStatus::Canceled => "CANCELED",
        }
    }

    /// Reads a `deliveryStatus` cell or the API's `status` field.
    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Nothing can change any more, so a status pass does not look the row up again.
    /// DELIVERED is not terminal: READ may follow (if the recipient has read receipts on).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Read | DeliveryStatus::Failed | DeliveryStatus::Canceled
        )
    }

    /// Whether the message reached the device (READ implies DELIVERED), for delivery rates.
    pub fn reached_device(self) -> bool {
        matches!(self, DeliveryStatus::Delivered | DeliveryStatus::Read)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The delivery cells of one row; all empty until a pass has looked the row up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Delivery {
    pub status: Option<DeliveryStatus>,
    pub delivered_at: String,
    pub read_at: String,
    /// The API's `errorMessage` for FAILED, or why a lookup or cancel did not succeed.
    pub error: String,
    /// When the row was last looked up or canceled (RFC 3339, UTC).
    pub checked_at: String,
}
