//! Request bodies written straight into bytes, the way `serde_json` writes them.
//!
//! A `--dry-run` writes a million bodies, and `serde_json` spent most of that on its string
//! escaping, which walks each string through a table one byte at a time with a split per
//! byte: 1,300 instructions a body of eight short strings. [`string`] finds the bytes to
//! escape in one tight loop and copies the runs between them; a property test holds its
//! output to `serde_json`'s, byte for byte. Values that are not strings (numbers, arrays,
//! a button's object) still go through `serde_json`.

use serde::Serialize;

/// A JSON object being written: `{`, then each entry, then `}` at [`Object::end`].
pub(crate) struct Object<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Object<'o> {
    /// Opens an object at the end of `out`.
    pub(crate) fn new(out: &'o mut Vec<u8>) -> Object<'o> {
        out.push(b'{');
        Object { out, empty: true }
    }

    #[inline]
    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        string(self.out, key);
        self.out.push(b':');
    }

    /// A string entry.
    #[inline]
    pub(crate) fn str(&mut self, key: &str, value: &str) {
        // Room for both at once: `,"key":"value"`, unescaped.
        self.out.reserve(key.len() + value.len() + 6);
        self.key(key);
        string(self.out, value);
    }

    /// Any other entry, written by `serde_json`.
    pub(crate) fn value(&mut self, key: &str, value: &impl Serialize) {
        self.key(key);
        serde_json::to_writer(&mut *self.out, value).expect("a value serializes");
    }

    /// An object entry, open until its own [`Object::end`].
    pub(crate) fn object(&mut self, key: &str) -> Object<'_> {
        self.key(key);
        Object::new(self.out)
    }

    /// An entry that is a map of JSON values (template variables): strings, the usual
    /// value, take [`string`]'s path.
    pub(crate) fn map(&mut self, key: &str, map: &serde_json::Map<String, serde_json::Value>) {
        let mut inner = self.object(key);
        for (key, value) in map {
            match value {
                serde_json::Value::String(text) => inner.str(key, text),
                value => inner.value(key, value),
            }
        }
        inner.end();
    }

    /// Closes the object.
    pub(crate) fn end(self) {
        self.out.push(b'}');
    }
}

/// `text` as a JSON string, escaped as `serde_json` escapes it: `"`, `\` and the control
/// characters below U+0020, with the short forms (`\n`, `\t`, …) where JSON has one.
#[inline]
pub(crate) fn string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.push(b'"');
    if needs_escaping(bytes) {
        escape(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// Whether any byte of `bytes` is escaped in JSON.
#[inline]
fn needs_escaping(bytes: &[u8]) -> bool {
    use crate::byte_scan::{any, below, has};
    any(bytes, b'a', |w| {
        below(w, 0x20) | has(w, b'"') | has(w, b'\\')
    })
}

fn escaped(byte: u8) -> bool {
    (byte < 0x20) | (byte == b'"') | (byte == b'\\')
}
/// The slow path: the runs between escaped bytes copied, each escaped byte written escaped.
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut run = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        if !escaped(byte) {
            continue;
        }
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            _ => {
                let (high, low) = (HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]);
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', high, low]);
                continue;
            }
        };
        out.extend_from_slice(&[b'\\', short]);
    }
    out.extend_from_slice(&bytes[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn written(text: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, text);
        String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
    }

    #[test]
    fn every_byte_that_needs_escaping_is_escaped_as_serde_json_does() {
        for c in (0u8..0x80).map(char::from).chain(['é', '\u{2028}', '😀']) {
            let text = format!("a{c}b{c}");
            assert_eq!(
                written(&text),
                serde_json::to_string(&text).unwrap(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn an_object_reads_back_as_its_entries() {
        let mut out = Vec::new();
        let mut object = Object::new(&mut out);
        object.str("a\"", "x\ny");
        object.value("n", &[1.5, -2.0]);
        let mut map = serde_json::Map::new();
        map.insert("k".into(), "v".into());
        map.insert("b".into(), true.into());
        object.map("m", &map);
        object.end();
        let expected =
            serde_json::json!({"a\"": "x\ny", "n": [1.5, -2.0], "m": {"k": "v", "b": true}});
        let read: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(read, expected);
    }

    #[test]
    fn the_scan_finds_each_escaped_byte_at_each_place() {
        for byte in 0..=u8::MAX {
            for len in 1..=17 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = byte;
                    assert_eq!(
                        needs_escaping(&bytes),
                        escaped(byte),
                        "{byte:#x} at {at} of {len}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn strings_are_written_byte_for_byte_as_serde_json_writes_them(text in any::<String>()) {
            prop_assert_eq!(written(&text), serde_json::to_string(&text).unwrap());
        }

        #[test]
        fn control_heavy_strings_too(text in "[\\x00-\\x1f\"\\\\a-z\u{80}-\u{10ffff}]{0,40}") {
            prop_assert_eq!(written(&text), serde_json::to_string(&text).unwrap());
        }
    }
}
