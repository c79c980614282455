//! Opt-out lists: destinations that asked not to be messaged and must be skipped,
//! whatever the campaign file says.

use std::fs::File;
use std::path::{Path, PathBuf};

use csv::ByteRecord;

use super::dialect::Dialect;
use super::error::shown;
use super::phone::Phones;
use super::visible::visible;
use super::{InputError, header};

/// Destinations that must not be messaged, kept as fingerprints of their normalized form
/// so a list of millions stays small.
#[derive(Debug, Default)]
pub struct Suppression {
    /// A fingerprint is already a uniform hash: it is its own table hash.
    fingerprints: hashbrown::HashTable<u64>,
}

impl Suppression {
    /// How many distinct destinations are suppressed (for the start-up summary).
    pub fn len(&self) -> usize {
        self.fingerprints.len()
    }

    /// Whether the lists held no destination at all.
    pub fn is_empty(&self) -> bool {
        self.fingerprints.is_empty()
    }

    /// Whether a normalized destination is on a list.
    pub(crate) fn contains(&self, destination: &str) -> bool {
        let f = crate::fingerprint::of(destination);
        self.fingerprints.find(f, |&x| x == f).is_some()
    }
}

/// Reads opt-out lists: CSV files with a phone-like column (`phone`, `Telefone`,
/// `Celular`...), or one number per line, normalized the same way as the campaign file.
///
/// An entry that cannot be normalized stops the run instead of being skipped: an opt-out
/// that silently fails to match is a message sent to someone who said no.
pub fn load_suppression(
    paths: &[PathBuf],
    default_country: Option<&str>,
) -> Result<Suppression, InputError> {
    let phones = Phones::new(default_country)?;
    let mut suppression = Suppression::default();
    for path in paths {
        load_one(path, &phones, &mut suppression)?;
    }
    Ok(suppression)
}

fn load_one(path: &Path, phones: &Phones, into: &mut Suppression) -> Result<(), InputError> {
    crate::plain_file::check(path, "save the opt-out list to a file and give that")?;
    let file = File::open(path).map_err(|source| InputError::Open {
        path: path.to_owned(),
        source,
    })?;
    let (mut reader, _) = Dialect::detect(path, file, None, None, &mut Vec::new())?.into_records();
    let mut record = ByteRecord::new();
    let mut records = 0;
    let mut column = None;
    loop {
        // The line the record starts on, as the file counts it (blank lines and cells with
        // line breaks included).
        let line = match reader.read_byte_record(&mut record) {
            Ok(true) => {
                records += 1;
                reader.get_mut().next_record_line()
            }
            // A quote never closed took in every number after it: they would not be opted out.
            Ok(false) => match reader.get_ref().unclosed() {
                Some(opened) => {
                    return Err(InputError::SuppressionEntry {
                        path: path.to_owned(),
                        line: opened.line,
                        reason: "a quote opened here is never closed, so the numbers below it would not be read".into(),
                    });
                }
                None => return Ok(()),
            },
            Err(source) => return Err(InputError::read(path, records, source)),
        };
        let entry_error = |reason: String| InputError::SuppressionEntry {
            path: path.to_owned(),
            line,
            reason,
        };
        let cells: Vec<&str> = record
            .iter()
            .map(|c| std::str::from_utf8(c).map(visible))
            .collect::<Result<_, _>>()
            .map_err(|_| entry_error("not valid UTF-8: save the list as CSV UTF-8".into()))?;
        let columns = match &column {
            Some(columns) => columns,
            None => {
                // Every phone-named column: a list with `Telefone` and `Celular` opts out
                // the numbers of both.
                let found: Vec<usize> = (cells.iter().enumerate())
                    .filter(|(_, c)| names_phone_column(c))
                    .map(|(i, _)| i)
                    .collect();
                match (found.is_empty(), cells.len()) {
                    (false, _) => {
                        column = Some(found);
                        continue;
                    }
                    (true, 1) => column.insert(vec![0]),
                    (true, _) => {
                        return Err(InputError::SuppressionColumn {
                            path: path.to_owned(),
                            first_line: shown(&cells.join(", ")).into_owned(),
                        });
                    }
                }
            }
        };
        for cell in columns.iter().filter_map(|&i| cells.get(i).copied()) {
            if cell.is_empty() {
                continue;
            }
            let normalized = if cell.ends_with("@g.us") || cell.ends_with("@newsletter") {
                cell.to_owned()
            } else {
                phones.normalize(cell).map_err(entry_error)?
            };
            let f = crate::fingerprint::of(&normalized);
            if into.fingerprints.find(f, |&x| x == f).is_none() {
                into.fingerprints.insert_unique(f, f, |&x| x);
            }
        }
    }
}

/// Digits enough to make a cell a number rather than a column's name.
const NUMBER_DIGITS: usize = 5;

/// Whether a first line's `cell` names the phone column: a phone word (`Telefone`,
/// `Celular`), but not a number with a note (`+55 11 98888-7777 (celular)`,
/// `whatsapp:+5511988887777`). Such a first line is an entry, read (or refused) as one: taken
/// for a header, its number would be messaged although it opted out.
fn names_phone_column(cell: &str) -> bool {
    header::is_phone_name(cell) && cell.bytes().filter(u8::is_ascii_digit).count() < NUMBER_DIGITS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[&str], country: Option<&str>) -> Result<Suppression, InputError> {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = files
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let p = dir.path().join(format!("optout{i}.csv"));
                std::fs::write(&p, text).unwrap();
                p
            })
            .collect();
        load_suppression(&paths, country)
    }

    #[test]
    fn lists_with_a_phone_column_or_one_number_per_line() {
        let s = load(
            &[
                "Nome;Telefone\nAna;(11) 98888-7777\nBia;\n",
                "+55 11 97777-6666\n5511966665555\n\n1-2@g.us\n",
            ],
            Some("BR"),
        )
        .unwrap();
        assert_eq!(s.len(), 4);
        for d in [
            "+5511988887777",
            "+5511977776666",
            "+5511966665555",
            "1-2@g.us",
        ] {
            assert!(s.contains(d), "{d}");
        }
        assert!(!s.contains("+5511955554444"));
    }

    #[test]
    fn unusable_lists_stop_the_run() {
        let e = load(&["phone\n+5511988887777\n11977776666\n"], None).unwrap_err();
        assert!(
            matches!(&e, InputError::SuppressionEntry { line: 3, .. }),
            "{e}"
        );
        // Lines as the file counts them: blank lines, a cell with a line break, CRLF.
        let e = load(
            &["phone,n\r\n\r\n+5511988887777,\"a\r\nb\"\r\n11977776666,c\r\n"],
            None,
        )
        .unwrap_err();
        assert!(
            matches!(&e, InputError::SuppressionEntry { line: 5, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("--default-country"), "{e}");
        let e = load(&["phone,nome\n+5511988887777,\"Ana\n"], None).unwrap_err();
        assert!(
            matches!(&e, InputError::SuppressionEntry { line: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("never closed"), "{e}");
        // A first line with a phone word beside a number is an entry, not a header.
        for first in [
            "+55 11 98888-7777 (celular)",
            "whatsapp:+5511988887777 (fone)",
        ] {
            let e = load(&[&format!("{first}\n+5511977776666\n")], None).unwrap_err();
            assert!(
                matches!(&e, InputError::SuppressionEntry { line: 1, .. }),
                "{first}: {e}"
            );
        }
        let s = load(&["Celular 2\n+5511977776666\n"], None).unwrap();
        // Every phone column of a list is read.
        let both = load(
            &["Telefone,Celular,Nome\n+5511977776666,+5511966665555,Ana\n"],
            None,
        );
        let both = both.unwrap();
        assert!(both.contains("+5511977776666") && both.contains("+5511966665555"));
        assert!(s.contains("+5511977776666") && s.len() == 1);
        let e = load(&["nome,email\nAna,a@x.io\n"], Some("BR")).unwrap_err();
        assert!(matches!(e, InputError::SuppressionColumn { .. }), "{e}");
        let e = load_suppression(&[PathBuf::from("/nonexistent/optout.csv")], None).unwrap_err();
        assert!(matches!(e, InputError::Open { .. }), "{e}");
    }
}
