//! Text a server wrote, made safe to record and log: the API key it may echo back taken
//! out, line breaks and other control characters turned into spaces (a log line cannot be
//! forged), and a length cap (a results cell stays a cell a spreadsheet can hold).

/// What stands in for the API key wherever a server's answer repeated it.
pub const KEY_REDACTED: &str = "[API key]";

/// Keys shorter than this are not searched for: a real key is far longer, and taking out
/// every `k` of an answer would garble it without protecting anything.
const SHORTEST_KEY: usize = 8;

/// `text` with every occurrence of `key` (in any letter case: a host name comes back
/// lowercased) replaced by [`KEY_REDACTED`]; `None` when it holds none.
pub fn redact(text: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    if key.len() < SHORTEST_KEY {
        return None;
    }
    let mut hit = find(text, key, 0)?;
    let mut out = Vec::with_capacity(text.len());
    let mut copied = 0;
    loop {
        out.extend_from_slice(&text[copied..hit]);
        out.extend_from_slice(KEY_REDACTED.as_bytes());
        copied = hit + key.len();
        match find(text, key, copied) {
            Some(next) => hit = next,
            None => break,
        }
    }
    out.extend_from_slice(&text[copied..]);
    Some(out)
}

/// Where `key` next starts in `text` at or after `from`, in any letter case. Only where its
/// first letter appears is the rest compared: every answer is searched, so this stays a
/// `memchr` scan rather than a comparison at each byte.
fn find(text: &[u8], key: &[u8], from: usize) -> Option<usize> {
    let (lower, upper) = (key[0].to_ascii_lowercase(), key[0].to_ascii_uppercase());
    let mut at = from;
    while let Some(offset) = memchr::memchr2(lower, upper, text.get(at..)?) {
        let start = at + offset;
        let candidate = text.get(start..start + key.len())?;
        if candidate.eq_ignore_ascii_case(key) {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

/// [`redact`] for an answer's body, in place, also where JSON escapes spell the key
/// (`"ps_live_\u0053ECRET"`): every id and error text is read from the body decoded, so a
/// body with an escape in it is searched decoded too, and when the key is found that way
/// the body is written back without the escapes, then redacted. Other bodies are searched
/// as they came and left byte for byte.
pub fn redact_answer(body: &mut Vec<u8>, key: &[u8]) {
    if key.len() < SHORTEST_KEY {
        return;
    }
    if memchr::memchr(b'\\', body).is_some()
        && let Some(decoded) = unescaped(body)
        && find(&decoded, key, 0).is_some()
    {
        *body = decoded;
    }
    if let Some(clean) = redact(body, key) {
        *body = clean;
    }
}

/// The body with its first JSON value written back by serde_json, which escapes only quotes,
/// backslashes and control characters (none of them in a real key), then what
/// followed that value as it came: what [`super::http::Answer::read`] reads, decoded. `None`
/// when the body does not start with a JSON value.
fn unescaped(body: &[u8]) -> Option<Vec<u8>> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let text = body.strip_prefix(BOM).unwrap_or(body);
    let mut values = serde_json::Deserializer::from_slice(text).into_iter::<serde_json::Value>();
    let value = values.next()?.ok()?;
    let mut out = serde_json::to_vec(&value).ok()?;
    out.extend_from_slice(&text[values.byte_offset()..]);
    Some(out)
}

/// [`redact`] for a string, in place. The key is ASCII (it travels in a header), so the
/// cuts fall between characters and the text stays UTF-8.
pub fn redact_in(text: &mut String, key: &[u8]) {
    if let Some(clean) = redact(text.as_bytes(), key) {
        *text = String::from_utf8_lossy(&clean).into_owned();
    }
}

/// At most `max` characters of `text` (then `…`), each control character (a line break, a
/// tab, an escape) and each bidirectional override (which can make a log line read as
/// something else) a space.
pub fn clean(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() || bidi(c) { ' ' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// The invisible characters that reorder the text around them (Unicode's explicit
/// directional embeddings, overrides, isolates and marks).
fn bidi(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_key_is_taken_out_in_any_case_and_as_often_as_it_appears() {
        let key = b"ps_live_SECRET123";
        let text = b"bad key ps_live_SECRET123 (ps_live_secret123)";
        let out = String::from_utf8(redact(text, key).unwrap()).unwrap();
        assert_eq!(out, "bad key [API key] ([API key])");
        assert_eq!(redact(b"nothing here", key), None);
        assert_eq!(
            redact(b"ps_live_SECRET12", key),
            None,
            "a prefix is not the key"
        );
        assert_eq!(redact(b"a k b", b"k"), None, "a short key is left alone");
    }

    #[test]
    fn a_key_spelled_with_json_escapes_is_taken_out_decoded() {
        let key = b"ps_live_SECRETKEY123";
        let mut body =
            br#"{"id":"ps_live_SECRET\u004bEY123","error":"ps_live_SECRETKEY123"} x"#.to_vec();
        redact_answer(&mut body, key);
        let body = String::from_utf8(body).unwrap();
        assert!(!body.contains("\\u004b"), "{body}");
        assert_eq!(body.matches(KEY_REDACTED).count(), 2, "{body}");
        assert!(body.ends_with(" x"), "what follows the value stays: {body}");
        let mut slash = br#"{"error":"ps_live_SECRET\/KEY"}"#.to_vec();
        redact_answer(&mut slash, b"ps_live_SECRET/KEY");
        assert_eq!(slash, br#"{"error":"[API key]"}"#);
        // Escapes without the key behind them: the body stays byte for byte.
        let plain = br#"{"id":"a","id":"b","note":"\u0041"}"#.to_vec();
        let mut same = plain.clone();
        redact_answer(&mut same, key);
        assert_eq!(same, plain);
    }

    #[test]
    fn clean_text_is_one_line_and_capped() {
        assert_eq!(clean("a\nINFO forged\r\tb", 100), "a INFO forged  b");
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(clean("ção", 3), "ção");
        assert_eq!(clean("id\u{202E}gnp.exe\u{2066}x", 100), "id gnp.exe x");
    }

    proptest! {
        #[test]
        fn no_copy_of_the_key_survives(
            parts in proptest::collection::vec("[a-zA-Z0-9 _:{}\"\n-]{0,12}", 0..6),
            key in "[a-zA-Z0-9_]{8,20}",
            upper in any::<bool>(),
        ) {
            let shown = if upper { key.to_uppercase() } else { key.clone() };
            let text = parts.join(&shown);
            let mut out = text.clone();
            redact_in(&mut out, key.as_bytes());
            prop_assert!(!out.to_lowercase().contains(&key.to_lowercase()), "{out}");
        }

        #[test]
        fn the_scan_takes_out_what_a_comparison_at_every_byte_would(
            text in proptest::collection::vec(
                prop_oneof![Just(b'k'), Just(b'K'), Just(b'e'), Just(b'y'), any::<u8>()],
                0..80,
            ),
            key in "[kK][eEyY]{7,9}",
        ) {
            let key = key.as_bytes();
            let (mut expected, mut at, mut found) = (Vec::new(), 0, false);
            while at < text.len() {
                if text[at..].len() >= key.len() && text[at..at + key.len()].eq_ignore_ascii_case(key) {
                    expected.extend_from_slice(KEY_REDACTED.as_bytes());
                    (at, found) = (at + key.len(), true);
                } else {
                    expected.push(text[at]);
                    at += 1;
                }
            }
            prop_assert_eq!(redact(&text, key), found.then_some(expected));
        }

        #[test]
        fn clean_text_has_no_control_character(text in any::<String>(), max in 0usize..50) {
            let out = clean(&text, max);
            prop_assert!(!out.chars().any(|c| c.is_control() || bidi(c)));
            prop_assert!(out.chars().count() <= max + 1);
        }
    }
}
