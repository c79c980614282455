//! How values are written for people, shared by the log lines, the preflight report, the
//! window's messages and `report`: one place, so that a duration reads the same everywhere,
//! a value quoted in an error (a cell, a flag, a settings file's) is escaped and cut the
//! same way, a file's path in a message stays on its line, and a settings file's parse error
//! never repeats the file's text (it may hold a key).

use std::path::Path;
use std::time::Duration;

/// A duration for people: `1h 02m`, `3m 05s`, `12s`, `250ms`.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 => format!("{}ms", duration.as_millis()),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

/// The most characters of a value quoted in a message: the rest of a long one is counted,
/// not copied into logs and results.
const SHOWN_CHARS: usize = 60;

/// `text` as a message quotes it: characters that cannot be seen (controls, zero-width
/// characters, unusual spaces) written as `\u{200b}` so the reader can find and delete
/// them, and a long text cut to its start with its length, so that no value of any size is
/// copied whole into a log line or the results file.
pub(crate) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    let plain = text.len() <= SHOWN_CHARS && !text.chars().any(invisible);
    if plain {
        return text.into();
    }
    let mut out = String::new();
    for c in text.chars().take(SHOWN_CHARS) {
        if invisible(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    let count = text.chars().count();
    if count > SHOWN_CHARS {
        out.push_str(&format!("… ({count} characters)"));
    }
    out.into()
}

/// `path` as a message or log line quotes it: as [`Path::display`] writes it (bytes that
/// are not UTF-8 as U+FFFD), except that characters that cannot be seen are escaped, a line
/// break as `\n` (also `\r`, `\t`, `\0`) and the others as `\u{1b}`, so that a file named
/// `"a\nERROR forged.csv"` cannot start a line of its own in a log. Whole, not cut: the
/// reader needs the path to find the file.
pub fn path<P: AsRef<Path> + ?Sized>(path: &P) -> ShownPath<'_> {
    ShownPath(path.as_ref())
}

/// A path written for people: see [`path`].
pub struct ShownPath<'a>(&'a Path);

impl std::fmt::Display for ShownPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        let text = self.0.to_string_lossy();
        if !text.chars().any(invisible) {
            return f.write_str(&text);
        }
        for c in text.chars() {
            match c {
                '\n' | '\r' | '\t' | '\0' => write!(f, "{}", c.escape_debug())?,
                c if invisible(c) => write!(f, "{}", c.escape_unicode())?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The first `most` of `items` as a message lists them (each written by `show`), then how
/// many more: a header may hold a million names, and a log line must stay a line.
pub(crate) fn listed<T>(items: &[T], most: usize, show: impl Fn(&T) -> String) -> String {
    let mut listed = (items.iter().take(most))
        .map(show)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > most {
        listed.push_str(&format!(" and {} more", items.len() - most));
    }
    listed
}

/// A character that shows as nothing, or as a plain space although it is not one.
pub(crate) fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{a0}'
                | '\u{ad}'
                | '\u{34f}'
                | '\u{61c}'
                | '\u{115f}'
                | '\u{1160}'
                | '\u{17b4}'
                | '\u{17b5}'
                | '\u{180e}'
                | '\u{2000}'..='\u{200f}'
                | '\u{2028}'..='\u{202f}'
                | '\u{205f}'..='\u{206f}'
                | '\u{3000}'
                | '\u{3164}'
                | '\u{feff}'
                | '\u{ffa0}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// `n` in decimal, as `write!` would put it, without the formatting machinery (a seventh of
/// the dry-run body writer's time; most of a results line's numbers).
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20]; // u64::MAX has 20
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// A TOML parse error of a file that may hold a key (a senders file, a campaign file): where
/// it is (line, column) and what is wrong, never the text there. The crate's own message
/// quotes the offending line, and errors go to stderr, which cron appends to a log.
pub(crate) fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    let place = e.span().map_or_else(String::new, |span| {
        let before = text.get(..span.start).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}: ")
    });
    format!("{place}{}", without_values(e.message()))
}

/// A parse error's message with what it quotes from the file left out: serde's and toml's
/// messages quote the value (`invalid type: string "ps_live_…"`) or the key (`unknown field
/// `…``) before the word "expected"; what follows it is the format's own vocabulary.
fn without_values(message: &str) -> String {
    let (head, tail) = message
        .find("expected")
        .map_or((message, ""), |at| message.split_at(at));
    let mut out = String::with_capacity(message.len());
    let mut rest = head;
    while let Some(open) = rest.find(['`', '"', '\'']) {
        out.push_str(&rest[..open]);
        let quote = rest[open..].chars().next().expect("found above");
        match rest[open + 1..].find(quote) {
            Some(close) => {
                out.push_str("(not shown)");
                rest = &rest[open + 1 + close + 1..];
            }
            // An unmatched quote: the rest may be the value itself.
            None => {
                out.push_str("(not shown) ");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.push_str(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_read_as_write_puts_them() {
        for n in [0, 7, 10, 99, 100, 4_294_967_296, u64::MAX] {
            let mut out = b"x".to_vec();
            push_decimal(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());
        }
    }

    #[test]
    fn each_range_reads_in_its_own_unit() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(12)), "12s");
        assert_eq!(human(Duration::from_secs(185)), "3m 05s");
        assert_eq!(human(Duration::from_secs(3720)), "1h 02m");
        // Whatever a server asks for, it is written, not a panic.
        assert!(human(Duration::MAX).ends_with("m"));
    }

    #[cfg(unix)]
    #[test]
    fn a_path_stays_on_its_line() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt as _;
        for plain in ["c.csv", "/tmp/a b/çà.results.csv", "a\\nb.csv", ""] {
            assert_eq!(
                path(plain).to_string(),
                Path::new(plain).display().to_string()
            );
        }
        assert_eq!(
            path("/tmp/a\nERROR forged.csv").to_string(),
            "/tmp/a\\nERROR forged.csv"
        );
        assert_eq!(
            path("a\r\t\0\u{1b}[31m\u{85}\u{2028}z").to_string(),
            "a\\r\\t\\0\\u{1b}[31m\\u{85}\\u{2028}z"
        );
        // Bytes that are not UTF-8 read as display() writes them, and still on one line.
        let bytes = Path::new(OsStr::from_bytes(b"x\xff\ny"));
        assert_eq!(path(bytes).to_string(), "x\u{fffd}\\ny");
        assert_eq!(
            path(Path::new(OsStr::from_bytes(b"x\xff"))).to_string(),
            Path::new(OsStr::from_bytes(b"x\xff")).display().to_string()
        );
    }

    #[test]
    fn parse_errors_say_where_and_what_but_not_the_text() {
        let text = "[a]\nkey = \"ps_live_X\nother = 1\n";
        let e = toml::from_str::<toml::Table>(text).unwrap_err();
        let shown = toml_problem(text, &e);
        assert!(shown.starts_with("line 2, column 17: "), "{shown}");
        assert!(!shown.contains("ps_live"), "{shown}");
        for (message, want) in [
            (
                "invalid type: string \"ps_live_X\", expected u32",
                "invalid type: string (not shown), expected u32",
            ),
            (
                "unknown field `ps_live_X`, expected one of `key`, `key-env`",
                "unknown field (not shown), expected one of `key`, `key-env`",
            ),
            ("a 'b' c `d", "a (not shown) c (not shown) "),
            (
                "invalid basic string, expected `\"`",
                "invalid basic string, expected `\"`",
            ),
        ] {
            assert_eq!(without_values(message), want);
        }
    }
}
