//! Unit tests of the per-field and per-message rules.

use super::cells::is_media_url;
use super::*;
use crate::message::Media;
use jiff::SignedDuration;

fn now() -> Timestamp {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

fn defaults() -> MessageDefaults {
    MessageDefaults::default()
}

fn resolve(d: &MessageDefaults) -> Result<Resolved, RowError> {
    Fields::from_defaults(d)?.resolve(now(), &crate::provider::pilot_status::CAPABILITIES)
}

fn code(d: &MessageDefaults) -> (String, RowErrorCode) {
    let e = resolve(d).unwrap_err();
    (e.field, e.code)
}

#[test]
fn codes_are_screaming_snake_case() {
    assert_eq!(
        RowErrorCode::DeliverUntilNotAfterDeliverAt.as_str(),
        "DELIVER_UNTIL_NOT_AFTER_DELIVER_AT"
    );
    assert_eq!(
        RowErrorCode::InvalidDestination.to_string(),
        "INVALID_DESTINATION"
    );
    let e = RowError::new("media", RowErrorCode::InvalidMedia, "bad");
    assert_eq!(e.to_string(), "field media: bad");
}

#[test]
fn modes() {
    let d = MessageDefaults {
        template_id: Some("boas_vindas".into()),
        media: Some("https://cdn.x.com/a.png".into()),
        ..defaults()
    };
    assert_eq!(
        resolve(&d).unwrap().content,
        Content::Template {
            id: "boas_vindas".into(),
            media: Some(Media {
                url: "https://cdn.x.com/a.png".into(),
                kind: None
            }),
            contact_id: None
        }
    );
    let d = MessageDefaults {
        text: Some(" Olá ".into()),
        ..defaults()
    };
    assert_eq!(
        resolve(&d).unwrap().content,
        Content::Text {
            body: "Olá".into()
        }
    );
    let d = MessageDefaults {
        media: Some("data:image/png;base64,AAAA".into()),
        media_type: Some("Image".into()),
        caption: Some("Veja".into()),
        ..defaults()
    };
    assert_eq!(
        resolve(&d).unwrap().content,
        Content::Media {
            media: Media {
                url: "data:image/png;base64,AAAA".into(),
                kind: Some(MediaType::Image)
            },
            caption: Some("Veja".into())
        }
    );
    assert_eq!(
        code(&defaults()),
        ("templateId".into(), RowErrorCode::MissingMode)
    );
}

#[test]
fn mode_conflicts() {
    let t = || MessageDefaults {
        template_id: Some("t".into()),
        ..defaults()
    };
    let x = || MessageDefaults {
        text: Some("hi".into()),
        ..defaults()
    };
    let m = "https://cdn.x.com/a.png".to_string();
    assert_eq!(
        code(&MessageDefaults {
            text: Some("hi".into()),
            ..t()
        }),
        ("text".into(), RowErrorCode::ConflictingModes)
    );
    assert_eq!(
        code(&MessageDefaults {
            media: Some(m.clone()),
            ..x()
        }),
        ("media".into(), RowErrorCode::ConflictingModes)
    );
    assert_eq!(
        code(&MessageDefaults {
            media_type: Some("image".into()),
            ..x()
        }),
        ("mediaType".into(), RowErrorCode::ConflictingModes)
    );
    assert_eq!(
        code(&MessageDefaults {
            caption: Some("c".into()),
            ..x()
        }),
        ("caption".into(), RowErrorCode::CaptionNotAllowed)
    );
    assert_eq!(
        code(&MessageDefaults {
            caption: Some("c".into()),
            ..t()
        }),
        ("caption".into(), RowErrorCode::CaptionNotAllowed)
    );
    assert_eq!(
        code(&MessageDefaults {
            media_type: Some("image".into()),
            ..t()
        }),
        ("mediaType".into(), RowErrorCode::InvalidMediaType)
    );
    let media = || MessageDefaults {
        media: Some(m.clone()),
        ..defaults()
    };
    assert_eq!(
        code(&media()),
        ("mediaType".into(), RowErrorCode::InvalidMediaType)
    );
    assert_eq!(
        code(&MessageDefaults {
            media_type: Some("audio".into()),
            caption: Some("c".into()),
            ..media()
        }),
        ("caption".into(), RowErrorCode::CaptionNotAllowed)
    );
    assert_eq!(
        code(&MessageDefaults {
            media_type: Some("image".into()),
            buttons: Some(BUTTONS.into()),
            ..media()
        }),
        ("buttons".into(), RowErrorCode::NotAllowedWithMedia)
    );
    assert_eq!(
        code(&MessageDefaults {
            media_type: Some("gif".into()),
            ..media()
        }),
        ("mediaType".into(), RowErrorCode::InvalidMediaType)
    );
}

const BUTTONS: &str = r#"[{"type":"reply","displayText":"Sim","id":"s"}]"#;

#[test]
fn media_locations() {
    for ok in [
        "https://cdn.x.com/a.png",
        "HTTP://x.io",
        "http://u@h:8080/p?q",
        "data:audio/ogg;base64,AAAA",
    ] {
        assert!(is_media_url(ok), "{ok}");
    }
    for bad in [
        "cdn.x.com/a.png",
        "https:///a.png",
        "ftp://x.com/a",
        "data:nocomma",
        "https://x.com/a b.png",
        "http://:80/",
    ] {
        assert!(!is_media_url(bad), "{bad}");
        assert_eq!(
            parse_media(bad).unwrap_err().code,
            RowErrorCode::InvalidMedia
        );
    }
}

#[test]
fn buttons_rules() {
    assert_eq!(parse_buttons(BUTTONS).unwrap().len(), 1);
    // Both vocabularies of the vendor's docs pass.
    assert!(parse_buttons(r#"[{"type":"QUICK_REPLY","displayText":"a"},{"type":"url","displayText":"b","url":"https://x.io"}]"#).is_ok());
    let four = r#"[{"type":"reply","displayText":"1"},{"type":"reply","displayText":"2"},{"type":"reply","displayText":"3"},{"type":"reply","displayText":"4"}]"#;
    assert_eq!(
        parse_buttons(four).unwrap_err().code,
        RowErrorCode::TooManyButtons
    );
    for bad in [
        "[",
        "{}",
        "[]",
        r#"[{"displayText":"a"}]"#,
        r#"[{"type":"","displayText":"a"}]"#,
        r#"[{"type":"reply"}]"#,
        r#"[{"type":"reply","displayText":1}]"#,
        // Nothing to show: the API refuses it.
        r#"[{"type":"reply","displayText":" "}]"#,
    ] {
        let e = parse_buttons(bad).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.code),
            ("buttons", RowErrorCode::InvalidButtons),
            "{bad}"
        );
    }
}

#[test]
fn header_and_footer_rules() {
    assert!(parse_header(r#"{"type":"text","content":"Oferta"}"#).is_ok());
    assert!(parse_header(r#"{"type":"image","content":"https://x.io/a.png"}"#).is_ok());
    let long = format!(r#"{{"type":"text","content":"{}"}}"#, "é".repeat(61));
    let sixty = format!(r#"{{"type":"text","content":"{}"}}"#, "é".repeat(60));
    assert!(parse_header(&sixty).is_ok());
    for bad in [
        long.as_str(),
        "[]",
        r#"{"type":"gif","content":"x"}"#,
        r#"{"type":"image","content":"a.png"}"#,
        r#"{"type":"text"}"#,
        // A media header takes a public URL; a data: URI goes only as `media`.
        r#"{"type":"image","content":"data:image/png;base64,AAAA"}"#,
    ] {
        assert_eq!(
            parse_header(bad).unwrap_err().code,
            RowErrorCode::InvalidHeader,
            "{bad}"
        );
    }
    assert!(
        parse_footer(&"é".repeat(60)).is_ok(),
        "60 characters (120 bytes) is allowed"
    );
    assert_eq!(
        parse_footer(&"é".repeat(61)).unwrap_err().code,
        RowErrorCode::FooterTooLong
    );

    let t = || MessageDefaults {
        template_id: Some("t".into()),
        ..defaults()
    };
    let header = r#"{"type":"text","content":"Oferta"}"#.to_string();
    assert_eq!(
        code(&MessageDefaults {
            header: Some(header.clone()),
            ..t()
        }),
        ("header".into(), RowErrorCode::HeaderWithoutButtons)
    );
    assert_eq!(
        code(&MessageDefaults {
            footer: Some("f".into()),
            ..t()
        }),
        ("footer".into(), RowErrorCode::FooterWithoutButtons)
    );
    let ok = resolve(&MessageDefaults {
        header: Some(header),
        footer: Some("f".into()),
        buttons: Some(BUTTONS.into()),
        ..t()
    })
    .unwrap();
    assert_eq!(ok.interactive.footer.as_deref(), Some("f"));
    assert_eq!(ok.interactive.header.unwrap()["content"], "Oferta");
}

#[test]
fn labels_are_trimmed_and_empties_dropped() {
    assert_eq!(parse_labels(" vip, pedido ,,"), vec!["vip", "pedido"]);
}

#[test]
fn schedule_rules() {
    let t = || MessageDefaults {
        template_id: Some("t".into()),
        ..defaults()
    };
    let r = resolve(&MessageDefaults {
        deliver_at: Some("2026-06-02T09:00:00-03:00".into()),
        deliver_until: Some("4h".into()),
        ..t()
    })
    .unwrap();
    assert_eq!(r.deliver_at, Some("2026-06-02T12:00:00Z".parse().unwrap()));
    assert_eq!(
        r.deliver_until,
        Some(DeliverUntil::After(SignedDuration::from_hours(4)))
    );
    let r = resolve(&MessageDefaults {
        deliver_until: Some("2026-06-02T18:00:00Z".into()),
        ..t()
    })
    .unwrap();
    assert_eq!(
        r.deliver_until,
        Some(DeliverUntil::At("2026-06-02T18:00:00Z".parse().unwrap()))
    );
    assert_eq!(
        parse_deliver_until("90m").unwrap(),
        DeliverUntil::After(SignedDuration::from_mins(90))
    );

    let e = |at: Option<&str>, until: &str| {
        code(&MessageDefaults {
            deliver_at: at.map(Into::into),
            deliver_until: Some(until.into()),
            ..t()
        })
    };
    assert_eq!(
        e(Some("2026-06-02T18:00:00Z"), "2026-06-02T18:00:00Z"),
        (
            "deliverUntil".into(),
            RowErrorCode::DeliverUntilNotAfterDeliverAt
        )
    );
    assert_eq!(
        e(None, "2026-06-01T11:59:59Z"),
        ("deliverUntil".into(), RowErrorCode::DeliverUntilPast)
    );
    assert_eq!(
        e(None, "-4h"),
        ("deliverUntil".into(), RowErrorCode::InvalidTimestamp)
    );
    assert_eq!(
        e(None, "tomorrow"),
        ("deliverUntil".into(), RowErrorCode::InvalidTimestamp)
    );
    // Past what a time can hold, a span would drop out of the request without a word.
    for long in ["367d", "100000000h"] {
        assert_eq!(
            e(None, long),
            ("deliverUntil".into(), RowErrorCode::InvalidTimestamp),
            "{long}"
        );
    }
    assert_eq!(
        e(Some("2026-06-02 09:00"), "4h"),
        ("deliverAt".into(), RowErrorCode::InvalidTimestamp)
    );
    // A deadline that expires before WhatsApp can deliver: a span under a minute, an instant
    // under a minute ahead of now or of deliverAt.
    for short in ["1ms", "30s", "59s", "PT30S"] {
        let error = resolve(&MessageDefaults {
            deliver_until: Some(short.into()),
            ..t()
        })
        .unwrap_err();
        assert_eq!(error.code, RowErrorCode::InvalidTimestamp, "{short}");
        assert_eq!(
            error.to_string(),
            format!(
                "field deliverUntil: '{short}' is shorter than a minute: the message would expire \
                 before it can be delivered; write a span of at least 1m (90m, 4h) or a time"
            )
        );
    }
    for enough in ["1m", "60s", "PT1M"] {
        assert_eq!(
            parse_deliver_until(enough).unwrap(),
            DeliverUntil::After(SignedDuration::from_mins(1))
        );
    }
    assert_eq!(
        e(None, "2026-06-01T12:00:59Z"),
        ("deliverUntil".into(), RowErrorCode::DeliverUntilPast)
    );
    assert!(
        resolve(&MessageDefaults {
            deliver_until: Some("2026-06-01T12:01:00Z".into()),
            ..t()
        })
        .is_ok()
    );
    assert_eq!(
        e(Some("2026-06-02T18:00:00Z"), "2026-06-02T18:00:30Z"),
        (
            "deliverUntil".into(),
            RowErrorCode::DeliverUntilNotAfterDeliverAt
        )
    );
}

#[test]
fn a_deadline_is_judged_again_when_the_message_goes_out() {
    let message = |until: &str| crate::message::Message {
        destination: crate::message::Destination::Phone("+5511988887777".into()),
        content: Content::Text { body: "oi".into() },
        variables: Default::default(),
        interactive: Default::default(),
        labels: Vec::new(),
        ai_rewrite: false,
        deliver_at: None,
        deliver_until: Some(parse_deliver_until(until).unwrap()),
    };
    let at = |t: &str| t.parse::<Timestamp>().unwrap();
    let noon = message("2026-06-01T12:00:00Z");
    assert_eq!(deliverable(&noon, at("2026-06-01T11:59:00Z")), Ok(()));
    for late in [
        "2026-06-01T11:59:01Z",
        "2026-06-01T12:00:00Z",
        "2026-06-01T13:00:00Z",
    ] {
        let error = deliverable(&noon, at(late)).unwrap_err();
        assert_eq!(error.code, RowErrorCode::DeliverUntilPast, "{late}");
    }
    // A span counts from the send itself: never late.
    assert_eq!(
        deliverable(&message("90m"), at("2030-01-01T00:00:00Z")),
        Ok(())
    );
}

#[test]
fn validate_defaults_refuses_only_what_no_cell_can_cure() {
    let validate_defaults = |_: (), d: &MessageDefaults, now| {
        validate_defaults(d, now, &crate::provider::pilot_status::CAPABILITIES)
    };
    // Completed by a mediaType column, or replaced by a templateId column: fine at start-up.
    let media_only = MessageDefaults {
        media: Some("https://x.io/a.png".into()),
        ..defaults()
    };
    assert_eq!(validate_defaults((), &media_only, now()), Ok(()));
    assert_eq!(validate_defaults((), &defaults(), now()), Ok(()));
    let both = MessageDefaults {
        template_id: Some("t".into()),
        text: Some("x".into()),
        ..defaults()
    };
    assert_eq!(
        validate_defaults((), &both, now()).unwrap_err().code,
        RowErrorCode::ConflictingModes
    );
    let bad_url = MessageDefaults {
        media: Some("x.png".into()),
        ..defaults()
    };
    assert_eq!(
        validate_defaults((), &bad_url, now()).unwrap_err().code,
        RowErrorCode::InvalidMedia
    );
    let past = MessageDefaults {
        deliver_until: Some("2020-01-01T00:00:00Z".into()),
        ..defaults()
    };
    assert_eq!(
        validate_defaults((), &past, now()).unwrap_err().code,
        RowErrorCode::DeliverUntilPast
    );
    let audio = MessageDefaults {
        media_type: Some("audio".into()),
        caption: Some("c".into()),
        ..defaults()
    };
    assert_eq!(
        validate_defaults((), &audio, now()).unwrap_err().code,
        RowErrorCode::CaptionNotAllowed
    );
}
