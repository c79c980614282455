//! The two APIs the sandbox fakes on one server: which path is which, and where their
//! vocabularies differ (validation, key refusals, account limits, answer shapes). Everything
//! else (auth, rate limit, fault mix, message store, log) is one code path for both.

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::error::ApiError;
use super::faults::FaultSpec;
use super::{msgflash, validate};

/// Which API a request was addressed to, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `POST /v1/messages/send`.
    PilotStatus,
    /// `POST /api/v1/messages/send`.
    MsgFlash,
}

impl Api {
    /// The API served at `path`, if any.
    pub(crate) fn at(path: &str) -> Option<Api> {
        match path {
            "/v1/messages/send" => Some(Api::PilotStatus),
            "/api/v1/messages/send" => Some(Api::MsgFlash),
            _ => None,
        }
    }

    /// The body's own problems, judged from that API's documentation.
    pub(crate) fn validate(self, body: &Value, now: Timestamp) -> Result<(), ApiError> {
        match self {
            Api::PilotStatus => validate::validate(body, now),
            Api::MsgFlash => msgflash::validate(body),
        }
    }

    /// The destination as received, for the log.
    pub(crate) fn destination(self, body: &Value) -> Option<String> {
        match self {
            Api::PilotStatus => validate::destination(body),
            Api::MsgFlash => body
                .get("to")
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
        }
    }

    /// A well-formed key this API still refuses (sandbox conventions by key prefix).
    pub(crate) fn refuse_key(self, key: &str) -> Option<ApiError> {
        match self {
            Api::PilotStatus if key.starts_with("ps_tenant") => Some(ApiError::new(
                StatusCode::FORBIDDEN,
                "TENANT_SCOPE_NOT_ALLOWED",
                "Tenant-scoped keys cannot call number endpoints",
            )),
            Api::MsgFlash if key.starts_with("msgf_inactive") => Some(subscription_inactive()),
            _ => None,
        }
    }

    /// The account-level refusal once `accepted` messages were stored, if a fault asks for one.
    pub(crate) fn account_limit(self, faults: &FaultSpec, accepted: u64) -> Option<ApiError> {
        let after = |limit: Option<u64>| limit.is_some_and(|n| accepted >= n);
        match self {
            Api::PilotStatus if after(faults.billing_suspended_after) => Some(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "BILLING_SUSPENDED",
                "Billing suspended",
            )),
            Api::MsgFlash if after(faults.billing_suspended_after) => Some(subscription_inactive()),
            Api::MsgFlash if after(faults.monthly_quota_after) => Some(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "MONTHLY_OUTBOUND_QUOTA_EXCEEDED",
                "Monthly outbound quota exhausted",
            )),
            _ => None,
        }
    }

    /// An error answer in this API's shape.
    pub(crate) fn error_body(self, error: &ApiError) -> Value {
        match self {
            Api::PilotStatus => json!({ "error": error.error, "code": error.code }),
            Api::MsgFlash => json!({ "error": { "code": error.code, "message": error.error } }),
        }
    }

    /// The documented 202 body for a stored message.
    pub(crate) fn accepted_body(self, id: &str, correlation_id: &str, request: &Value) -> Value {
        let now = format!("{:.3}", Timestamp::now());
        match self {
            Api::PilotStatus => json!({
                "id": id,
                "correlationId": correlation_id,
                "status": "QUEUED",
                "createdAt": now,
                "origin": "Sandbox",
                "sourceNumber": "+5511999999999",
            }),
            Api::MsgFlash => json!({ "data": {
                "id": id,
                "instanceId": request["instanceId"],
                "contactId": request.get("contactId").unwrap_or(&Value::Null),
                "campaignId": null,
                "type": request.get("type").map_or("text", |t| t.as_str().unwrap_or("text")),
                "to": request["to"],
                "body": request.get("text").unwrap_or(&Value::Null),
                "mediaUrl": request.get("mediaUrl").unwrap_or(&Value::Null),
                "status": "queued",
                "providerMessageId": null,
                "createdAt": now,
                "updatedAt": now,
            }}),
        }
    }
}

fn subscription_inactive() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "SUBSCRIPTION_INACTIVE",
        "Subscription not usable",
    )
}
