//! How the file is written (its delimiter), decided from its first bytes so that exports
//! from Excel in any locale read without flags.

use std::fs::File;
use std::io::{Cursor, Read};

/// How much of the file is looked at before reading it as CSV.
const SAMPLE_BYTES: u64 = 256 * 1024;

/// Delimiters spreadsheets export, in order of preference when counts tie.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The file as a byte stream ready for the CSV reader, and its delimiter.
pub(crate) struct Dialect {
    pub reader: Box<dyn Read + Send>,
    pub delimiter: u8,
}

impl Dialect {
    /// Reads a sample of `file`, then hands back a stream that still starts at byte 0 (the
    /// sample is replayed, so pipes work as well as files).
    pub(crate) fn detect(mut file: File, delimiter: Option<u8>) -> std::io::Result<Dialect> {
        let mut sample = Vec::new();
        (&mut file).take(SAMPLE_BYTES).read_to_end(&mut sample)?;
        let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(&sample));
        Ok(Dialect {
            reader: Box::new(Cursor::new(sample).chain(file)),
            delimiter,
        })
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
