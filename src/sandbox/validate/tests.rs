use serde_json::json;

use super::*;

fn now() -> Timestamp {
    "2026-06-20T10:00:00Z".parse().unwrap()
}

/// `base` with `patch` merged in; a `null` in the patch removes the field.
fn merged(mut base: Value, patch: Value) -> Value {
    let fields = base.as_object_mut().unwrap();
    for (k, v) in patch.as_object().unwrap() {
        match v {
            Value::Null => fields.remove(k),
            _ => fields.insert(k.clone(), v.clone()),
        };
    }
    base
}

fn text_with(patch: Value) -> Value {
    merged(
        json!({ "destinationNumber": "+5511988887777", "text": "Oi" }),
        patch,
    )
}

fn media(patch: Value) -> Value {
    let base = json!({
        "destinationNumber": "+5511988887777",
        "media": "https://cdn.example.com/a.png",
        "mediaType": "image",
    });
    merged(base, patch)
}

fn buttons() -> Value {
    json!([{ "type": "reply", "displayText": "Yes", "id": "yes" }])
}

#[test]
fn accepts_every_documented_shape() {
    let valid = [
        json!({ "destinationNumber": "+5511999999999", "templateId": "boas_vindas", "variables": { "nome": "Ana" } }),
        text_with(json!({})),
        text_with(json!({ "destinationNumber": "BR.13491208655302741918" })),
        text_with(json!({ "destinationNumber": null, "groupId": "123456789-987654321@g.us" })),
        text_with(
            json!({ "destinationNumber": null, "newsletterId": "120363000000000000@newsletter" }),
        ),
        media(json!({ "caption": "Your report", "mediaType": "document" })),
        media(json!({ "media": "data:audio/ogg;base64,AAAA", "mediaType": "audio" })),
        json!({ "destinationNumber": "+5511999999999", "templateId": "promo", "media": "https://x.io/v.mp4", "mediaType": "video" }),
        text_with(
            json!({ "buttons": buttons(), "header": { "type": "text", "content": "Title" }, "footer": "bye" }),
        ),
        text_with(
            json!({ "buttons": buttons(), "header": { "type": "image", "content": "https://x.io/a.png" } }),
        ),
        text_with(json!({ "labels": ["pedido", "vip"], "aiRewriteEnabled": true })),
        text_with(
            json!({ "deliverAt": "2026-06-21T09:00:00Z", "deliverUntil": "2026-06-21T18:00:00-03:00" }),
        ),
    ];
    for body in valid {
        assert_eq!(validate(&body, now()), Ok(()), "{body}");
    }
}

#[test]
fn rejects_each_rule_with_the_documented_status_and_code() {
    let long = "x".repeat(61);
    let cases = [
        (
            json!(["not", "an", "object"]),
            400,
            "INVALID_JSON",
            "JSON object",
        ),
        (
            text_with(json!({ "destination": "+5511988887777" })),
            400,
            "VALIDATION_ERROR",
            "destination is not a field",
        ),
        (
            text_with(json!({ "destinationNumber": null })),
            400,
            "VALIDATION_ERROR",
            "Exactly one",
        ),
        (
            text_with(json!({ "groupId": "1@g.us" })),
            400,
            "VALIDATION_ERROR",
            "Exactly one",
        ),
        (
            text_with(json!({ "destinationNumber": "5511988887777" })),
            400,
            "VALIDATION_ERROR",
            "destinationNumber",
        ),
        (
            text_with(json!({ "destinationNumber": "+5511" })),
            400,
            "VALIDATION_ERROR",
            "destinationNumber",
        ),
        (
            text_with(json!({ "destinationNumber": "+55119888877776666" })),
            400,
            "VALIDATION_ERROR",
            "destinationNumber",
        ),
        (
            text_with(json!({ "destinationNumber": "br.1349" })),
            400,
            "VALIDATION_ERROR",
            "destinationNumber",
        ),
        (
            text_with(json!({ "destinationNumber": 5511988887777_u64 })),
            400,
            "VALIDATION_ERROR",
            "destinationNumber",
        ),
        (
            text_with(json!({ "destinationNumber": null, "groupId": "123@s.whatsapp.net" })),
            400,
            "VALIDATION_ERROR",
            "groupId",
        ),
        (
            text_with(json!({ "destinationNumber": null, "newsletterId": "@newsletter" })),
            400,
            "VALIDATION_ERROR",
            "newsletterId",
        ),
        (
            text_with(json!({ "text": null })),
            400,
            "VALIDATION_ERROR",
            "One of templateId, text",
        ),
        (
            text_with(json!({ "text": "" })),
            400,
            "VALIDATION_ERROR",
            "text must be",
        ),
        (
            text_with(json!({ "templateId": "t" })),
            400,
            "VALIDATION_ERROR",
            "templateId and text",
        ),
        (
            text_with(json!({ "media": "https://x.io/a.png", "mediaType": "image" })),
            400,
            "VALIDATION_ERROR",
            "media cannot be used with text",
        ),
        (
            media(json!({ "media": "ftp://x.io/a.png" })),
            400,
            "VALIDATION_ERROR",
            "media must be",
        ),
        (
            media(json!({ "mediaType": "sticker" })),
            400,
            "VALIDATION_ERROR",
            "mediaType must be",
        ),
        (
            media(json!({ "mediaType": null })),
            400,
            "VALIDATION_ERROR",
            "mediaType is required",
        ),
        (
            text_with(json!({ "mediaType": "image" })),
            400,
            "VALIDATION_ERROR",
            "mediaType requires media",
        ),
        (
            media(json!({ "mediaType": "audio", "caption": "hi" })),
            400,
            "VALIDATION_ERROR",
            "caption is not allowed",
        ),
        (
            text_with(json!({ "caption": "hi" })),
            400,
            "VALIDATION_ERROR",
            "caption is only allowed",
        ),
        (
            media(json!({ "buttons": buttons() })),
            400,
            "VALIDATION_ERROR",
            "buttons is not allowed",
        ),
        (
            media(json!({ "variables": {} })),
            400,
            "VALIDATION_ERROR",
            "variables is not allowed",
        ),
        (
            text_with(json!({ "variables": "{\"nome\":\"Ana\"}" })),
            400,
            "VALIDATION_ERROR",
            "not a string holding JSON",
        ),
        (
            text_with(json!({ "variables": { "n": 1 } })),
            400,
            "VALIDATION_ERROR",
            "variables must be",
        ),
        (
            text_with(json!({ "buttons": "[]" })),
            400,
            "VALIDATION_ERROR",
            "buttons must be",
        ),
        (
            text_with(
                json!({ "buttons": [buttons()[0], buttons()[0], buttons()[0], buttons()[0]] }),
            ),
            400,
            "VALIDATION_ERROR",
            "buttons must be",
        ),
        (
            text_with(json!({ "buttons": [buttons()[0], { "type": "url" }] })),
            400,
            "VALIDATION_ERROR",
            "buttons[1]",
        ),
        (
            text_with(json!({ "header": { "type": "text", "content": "T" } })),
            400,
            "VALIDATION_ERROR",
            "header requires buttons",
        ),
        (
            text_with(json!({ "footer": "f" })),
            400,
            "VALIDATION_ERROR",
            "footer requires buttons",
        ),
        (
            text_with(
                json!({ "buttons": buttons(), "header": { "type": "text", "content": long } }),
            ),
            400,
            "VALIDATION_ERROR",
            "header content",
        ),
        (
            text_with(json!({ "buttons": buttons(), "header": "Title" })),
            400,
            "VALIDATION_ERROR",
            "header must be",
        ),
        (
            text_with(json!({ "buttons": buttons(), "header": { "type": "gif", "content": "x" } })),
            400,
            "VALIDATION_ERROR",
            "header type",
        ),
        (
            text_with(json!({ "buttons": buttons(), "footer": long })),
            400,
            "VALIDATION_ERROR",
            "footer must be",
        ),
        (
            text_with(json!({ "labels": "vip" })),
            400,
            "VALIDATION_ERROR",
            "labels",
        ),
        (
            text_with(json!({ "labels": ["vip", 1] })),
            400,
            "VALIDATION_ERROR",
            "labels",
        ),
        (
            text_with(json!({ "aiRewriteEnabled": "true" })),
            400,
            "VALIDATION_ERROR",
            "aiRewriteEnabled",
        ),
        (
            text_with(json!({ "deliverAt": "21/06/2026 09:00" })),
            400,
            "VALIDATION_ERROR",
            "deliverAt must be",
        ),
        (
            text_with(json!({ "deliverAt": "2026-06-21T09:00:00" })),
            400,
            "VALIDATION_ERROR",
            "deliverAt must be",
        ),
        (
            text_with(json!({ "deliverUntil": "2026-06-20T09:59:59Z" })),
            400,
            "VALIDATION_ERROR",
            "deliverUntil is in the past",
        ),
        (
            text_with(
                json!({ "deliverAt": "2026-06-21T09:00:00Z", "deliverUntil": "2026-06-21T08:00:00Z" }),
            ),
            400,
            "VALIDATION_ERROR",
            "after deliverAt",
        ),
        (
            json!({ "destinationNumber": "+5511999999999", "templateId": "unknown_promo" }),
            404,
            "TEMPLATE_NOT_FOUND",
            "Template not found",
        ),
    ];
    for (body, status, code, words) in cases {
        let err = validate(&body, now()).expect_err(&body.to_string());
        assert_eq!((err.status.as_u16(), &*err.code), (status, code), "{body}");
        assert!(err.error.contains(words), "{body}: {}", err.error);
    }
}

#[test]
fn the_logged_destination_is_the_raw_value() {
    assert_eq!(
        destination(&text_with(json!({}))).as_deref(),
        Some("+5511988887777")
    );
    let group = text_with(json!({ "destinationNumber": null, "groupId": "1@g.us" }));
    assert_eq!(destination(&group).as_deref(), Some("1@g.us"));
    assert_eq!(destination(&Value::Null), None);
}
