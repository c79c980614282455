//! How the file is written (its encoding and delimiter), decided from its first bytes so
//! that exports from Excel in any locale read without flags.

use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};
use encoding_rs_io::DecodeReaderBytesBuilder;

use super::InputError;
use super::quotes::Quotes;

/// How much of the file is looked at before reading it as CSV.
const SAMPLE_BYTES: u64 = 256 * 1024;

/// Delimiters spreadsheets export, in order of preference when counts tie.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The file as a UTF-8 byte stream ready for the CSV reader, and its delimiter.
pub(crate) struct Dialect {
    pub reader: Box<dyn Read + Send>,
    pub delimiter: u8,
    /// The encoding the bytes were decoded from, if not UTF-8: a U+FFFD in a row then
    /// means a byte that encoding could not map, and the row is refused.
    pub transcoded: Option<&'static Encoding>,
    /// Lines taken off the start of the file before the CSV (Excel's `sep=;` line): the
    /// lines the reader counts start after them.
    pub skipped_lines: u64,
}

/// What the campaign and opt-out readers share: raw records, any field count (a row's
/// count is checked against the header by the caller, never silently shifted), over a
/// stream whose quoting is followed (see [`Quotes`]).
pub(crate) type Records = csv::Reader<Quotes<Box<dyn Read + Send>>>;

impl Dialect {
    /// A CSV reader over the decoded stream, with the detected delimiter; also says which
    /// encoding the bytes were decoded from, if not UTF-8.
    pub(crate) fn into_records(self) -> (Records, Option<&'static Encoding>) {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.delimiter)
            .from_reader(Quotes::new(self.reader, self.delimiter).after_lines(self.skipped_lines));
        (reader, self.transcoded)
    }

    /// Reads a sample of `file`, picks the encoding and delimiter, then hands back a
    /// stream that still starts at byte 0 (the sample is replayed, so pipes work too).
    ///
    /// With no `encoding` label: a UTF-16 byte order mark is obeyed; valid UTF-8 is read
    /// as is (rows with bad bytes further on become INVALID_ENCODING); a sample with no
    /// valid multi-byte UTF-8 but invalid bytes is an old Excel export and is decoded as
    /// Windows-1252 with a warning. A sample mixing valid UTF-8 and invalid bytes is not
    /// guessed at, since either reading would garble part of it: its bad rows are refused.
    pub(crate) fn detect(
        path: &Path,
        mut file: File,
        delimiter: Option<u8>,
        encoding: Option<&str>,
        warnings: &mut Vec<String>,
    ) -> Result<Dialect, InputError> {
        let mut sample = Vec::new();
        (&mut file)
            .take(SAMPLE_BYTES)
            .read_to_end(&mut sample)
            .map_err(InputError::Sample)?;
        if let Some(format) = workbook(&sample) {
            return Err(InputError::Workbook {
                path: path.to_owned(),
                format,
            });
        }
        let truncated = sample.len() as u64 == SAMPLE_BYTES;
        let encoding =
            choose_encoding(&sample, truncated, encoding, warnings).map_err(|e| match e {
                Chosen::Unknown(given) => InputError::UnknownEncoding { given },
                Chosen::Utf8(forced, example) => InputError::Utf8Forced {
                    path: path.to_owned(),
                    encoding: forced.name(),
                    example,
                },
            })?;
        let sep = excel_sep_line(&sample).filter(|_| encoding.is_none_or(|e| e.is_single_byte()));
        let skip = sep.map_or(0, |(_, len)| len);
        let delimiter = delimiter
            .or(sep.map(|(d, _)| d))
            .unwrap_or_else(|| match encoding {
                None => sniff_delimiter(&sample),
                Some(e) => sniff_delimiter(e.decode_with_bom_removal(&sample).0.as_bytes()),
            });
        if let Some((d, _)) = sep {
            warnings.push(format!(
                "the first line, sep={}, is Excel's note of the delimiter: skipped",
                char::from(d)
            ));
        }
        sample.drain(..skip);
        let raw = Cursor::new(sample).chain(file);
        let reader: Box<dyn Read + Send> = match encoding {
            None => Box::new(raw),
            Some(e) => Box::new(
                DecodeReaderBytesBuilder::new()
                    .encoding(Some(e))
                    .bom_override(true)
                    .strip_bom(true)
                    .build(raw),
            ),
        };
        Ok(Dialect {
            reader,
            delimiter,
            transcoded: encoding,
            skipped_lines: u64::from(sep.is_some()),
        })
    }
}

/// Why an encoding given by name cannot be used.
#[derive(Debug)]
enum Chosen {
    /// Not an encoding's name.
    Unknown(String),
    /// A single-byte encoding forced on a file whose bytes are UTF-8 with accents: decoding
    /// them would turn each accent into two wrong letters (`José` into `JosÃ©`). Carries a
    /// word of the file that has one.
    Utf8(&'static Encoding, String),
}

/// The encoding to decode from, or `None` to read the bytes as UTF-8 unchanged.
fn choose_encoding(
    sample: &[u8],
    truncated: bool,
    label: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Option<&'static Encoding>, Chosen> {
    if let Some(label) = label {
        let e = Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| Chosen::Unknown(label.to_owned()))?;
        // A byte order mark overrides the label (see `detect`); valid UTF-8 with accents in
        // a legacy single-byte encoding is all but certain to be UTF-8 mislabeled.
        if e.is_single_byte()
            && Encoding::for_bom(sample).is_none()
            && let Some(word) = utf8_accented_word(sample, truncated)
        {
            return Err(Chosen::Utf8(e, word));
        }
        return Ok((e != UTF_8).then_some(e));
    }
    if let Some((e, _)) = Encoding::for_bom(sample) {
        if e == UTF_8 {
            return Ok(None);
        }
        warnings.push(format!(
            "decoded as {} (the file starts with its byte order mark)",
            e.name()
        ));
        return Ok(Some(e));
    }
    if let Some(e) = bomless_utf16(sample) {
        warnings.push(format!(
            "decoded as {} (the file has no byte order mark; save it as CSV UTF-8 to be sure)",
            e.name()
        ));
        return Ok(Some(e));
    }
    let (mut multibyte, mut invalid) = (false, false);
    let mut chunks = sample.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        multibyte |= !chunk.valid().is_ascii();
        // A character cut in two by the end of the sample is not an error.
        let cut = truncated && chunks.peek().is_none();
        invalid |= !chunk.invalid().is_empty() && !cut;
    }
    match (invalid, multibyte) {
        (false, _) => Ok(None),
        (true, true) => {
            warnings.push(
                "the file mixes UTF-8 with other bytes: rows with those bytes are refused (INVALID_ENCODING); save it as CSV UTF-8 or pass --encoding".into(),
            );
            Ok(None)
        }
        (true, false) => {
            warnings.push(format!(
                "the file is not UTF-8: decoded as {} (pass --encoding NAME if accents look wrong)",
                WINDOWS_1252.name()
            ));
            Ok(Some(WINDOWS_1252))
        }
    }
}

/// A word with a multi-byte character, if `sample` is valid UTF-8 (but for a character cut
/// by the end of a `truncated` sample) and holds any: the sign that the file is UTF-8.
fn utf8_accented_word(sample: &[u8], truncated: bool) -> Option<String> {
    let text = match std::str::from_utf8(sample) {
        Ok(text) => text,
        Err(e) if truncated && e.error_len().is_none() => {
            std::str::from_utf8(&sample[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    let at = text.find(|c: char| !c.is_ascii())?;
    let in_word = |c: char| c.is_alphanumeric() || !c.is_ascii();
    let start = text[..at]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| in_word(c))
        .take(20)
        .last()
        .map_or(at, |(i, _)| i);
    let word: String = text[start..]
        .chars()
        .take_while(|&c| in_word(c))
        .take(40)
        .collect();
    Some(super::error::shown(&word).into_owned())
}

/// Excel's first line `sep=;` (any case, after a UTF-8 byte order mark or not), which names
/// the delimiter and is no row: the delimiter and the bytes the line takes, its line break
/// included.
fn excel_sep_line(sample: &[u8]) -> Option<(u8, usize)> {
    let bom = if sample.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let line = &sample[bom..];
    let (prefix, rest) = line.split_at_checked(4)?;
    if !prefix.eq_ignore_ascii_case(b"sep=") {
        return None;
    }
    let (&d, end) = rest.split_first()?;
    let usable = d.is_ascii_punctuation() && d != b'"' || d == b'\t' || d == b' ';
    let breaks = match end {
        [b'\r', b'\n', ..] => 2,
        [b'\n' | b'\r', ..] => 1,
        _ => return None,
    };
    usable.then_some((d, bom + 5 + breaks))
}

/// The kind of spreadsheet workbook the file starts like, if it does: a workbook is not
/// CSV, whatever its name, and read as text it is garbage.
fn workbook(sample: &[u8]) -> Option<&'static str> {
    if sample.starts_with(b"PK\x03\x04") {
        Some(".xlsx, a zipped workbook")
    } else if sample.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        Some(".xls, Excel 97-2003")
    } else {
        None
    }
}

/// UTF-16 without a byte order mark, as some exports write it: a NUL in every other byte of
/// the start of the file (the high bytes of its ASCII header), none in the others.
fn bomless_utf16(sample: &[u8]) -> Option<&'static Encoding> {
    let start = &sample[..sample.len().min(512) & !1];
    let pairs = start.len() / 2;
    let nuls = |parity: usize| {
        start
            .iter()
            .skip(parity)
            .step_by(2)
            .filter(|&&b| b == 0)
            .count()
    };
    let (even, odd) = (nuls(0), nuls(1));
    match () {
        _ if pairs < 2 => None,
        _ if even == 0 && odd * 10 >= pairs * 9 => Some(UTF_16LE),
        _ if odd == 0 && even * 10 >= pairs * 9 => Some(UTF_16BE),
        _ => None,
    }
}

/// The candidate delimiter that occurs most often in the header line outside quotes
/// (`,` when none does, e.g. a one-column file).
fn sniff_delimiter(sample: &[u8]) -> u8 {
    let mut counts = [0usize; DELIMITERS.len()];
    let mut quoted = false;
    for &b in sample.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(sample) {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = DELIMITERS.iter().position(|&d| d == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..DELIMITERS.len())
        .rev()
        .max_by_key(|&i| counts[i])
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        DELIMITERS[best]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(
        sample: &[u8],
        truncated: bool,
        label: Option<&str>,
    ) -> (Option<&'static str>, Vec<String>) {
        let mut w = Vec::new();
        let e = choose_encoding(sample, truncated, label, &mut w).unwrap();
        (e.map(Encoding::name), w)
    }

    #[test]
    fn encoding_is_utf8_else_windows_1252_unless_told() {
        assert_eq!(
            choose("phone,nome\nJosé".as_bytes(), false, None),
            (None, vec![])
        );
        let (e, w) = choose(b"phone,nome\nJos\xe9\n", false, None);
        assert_eq!(e, Some("windows-1252"));
        assert!(w[0].contains("decoded as windows-1252"), "{w:?}");
        let (e, w) = choose("nome\nJosé,Jos\u{e9}".as_bytes(), false, None);
        assert_eq!((e, w.len()), (None, 0));
        let (e, w) = choose(b"nome\nJos\xc3\xa9\nJos\xe9\n", false, None);
        assert_eq!(e, None, "mixed files are not guessed at");
        assert!(w[0].contains("mixes UTF-8"), "{w:?}");
        // "é" cut in half by the end of a full sample is still UTF-8.
        assert_eq!(choose(b"nome\nJos\xc3", true, None), (None, vec![]));
        assert_eq!(
            choose(b"nome\nJos\xc3", false, None).0,
            Some("windows-1252")
        );
        assert_eq!(choose(b"\xff\xfep\0", false, None).0, Some("UTF-16LE"));
        assert_eq!(choose(b"\xef\xbb\xbfp", false, None), (None, vec![]));
        assert_eq!(
            choose(b"a", false, Some(" Latin1 ")).0,
            Some("windows-1252")
        );
        assert_eq!(choose(b"a\xe9", false, Some("utf8")).0, None);
        let mut w = Vec::new();
        assert!(matches!(
            choose_encoding(b"", false, Some("klingon"), &mut w),
            Err(Chosen::Unknown(_))
        ));
    }

    #[test]
    fn a_legacy_encoding_forced_on_utf8_accents_is_refused() {
        let mut w = Vec::new();
        for label in ["windows-1252", "latin1", "iso-8859-15"] {
            let e = choose_encoding(
                "phone,nome\n+551,José\n".as_bytes(),
                false,
                Some(label),
                &mut w,
            );
            assert!(
                matches!(&e, Err(Chosen::Utf8(_, word)) if word == "José"),
                "{label}: {e:?}"
            );
        }
        // Real Windows-1252 bytes, plain ASCII, a UTF-8 byte order mark (which wins), and
        // UTF-8 cut at the end of a full sample are all read as told.
        assert_eq!(
            choose(b"nome\nJos\xe9\n", false, Some("latin1")).0,
            Some("windows-1252")
        );
        assert_eq!(
            choose(b"nome\nJose\n", false, Some("latin1")).0,
            Some("windows-1252")
        );
        assert_eq!(
            choose("\u{feff}nome\nJosé\n".as_bytes(), false, Some("latin1")).0,
            Some("windows-1252")
        );
        let e = choose_encoding(b"nome\nJos\xc3\xa9 \xc3", true, Some("latin1"), &mut w);
        assert!(matches!(e, Err(Chosen::Utf8(..))), "{e:?}");
        assert_eq!(
            choose(b"nome\nJos\xc3\xa9 \xc3", false, Some("latin1")).0,
            Some("windows-1252")
        );
    }

    #[test]
    fn excels_sep_line_names_the_delimiter() {
        assert_eq!(excel_sep_line(b"sep=;\nphone;nome\n"), Some((b';', 6)));
        assert_eq!(
            excel_sep_line(b"\xEF\xBB\xBFSEP=|\r\nphone|nome\n"),
            Some((b'|', 10))
        );
        assert_eq!(excel_sep_line(b"sep=\t\rphone\n"), Some((b'\t', 6)));
        for not in [
            &b"sep=;"[..],
            b"sep=ab\n",
            b"sep=a\n",
            b"sep=\"\n",
            b"sep\n",
            b"phone,sep\n",
        ] {
            assert_eq!(
                excel_sep_line(not),
                None,
                "{:?}",
                String::from_utf8_lossy(not)
            );
        }
    }

    #[test]
    fn workbooks_and_utf16_without_a_bom_are_recognized() {
        assert!(workbook(b"PK\x03\x04\x14\0\x06\0").is_some());
        assert!(workbook(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0").is_some());
        assert!(workbook(b"phone,nome\n").is_none());
        let le: Vec<u8> = "phone,nome\n+55"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let be: Vec<u8> = "phone,nome\n+55"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(choose(&le, false, None).0, Some("UTF-16LE"));
        assert_eq!(choose(&be, false, None).0, Some("UTF-16BE"));
        let (e, w) = choose(&le[..le.len() - 1], false, None);
        assert_eq!(e, Some("UTF-16LE"), "an odd length still reads");
        assert!(w[0].contains("no byte order mark"), "{w:?}");
        assert_eq!(choose(b"ph\0ne,nome\n", false, None).0, None);
    }

    #[test]
    fn delimiter_is_the_most_frequent_outside_quotes_in_the_header_line() {
        assert_eq!(sniff_delimiter(b"phone;nome;cidade\n+55,1;a;b\n"), b';');
        assert_eq!(sniff_delimiter(b"phone\tnome\n"), b'\t');
        assert_eq!(sniff_delimiter(b"phone|nome|x,y\n"), b'|');
        assert_eq!(
            sniff_delimiter(b"\xEF\xBB\xBFphone,\"a;b;c\",nome\r\n"),
            b','
        );
        assert_eq!(sniff_delimiter(b"\"a,\nb\";c\n,,,,\n"), b';');
        assert_eq!(sniff_delimiter(b"phone\n1,2,3\n"), b',');
        assert_eq!(sniff_delimiter(b"a,b;c\n"), b',', "ties prefer the comma");
    }
}
