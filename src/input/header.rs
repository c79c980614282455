//! The header row: which column feeds which API field, decided once per file so rows
//! only index into their cells.

use super::error::shown;
use super::phone::DestKind;
use super::validate::Field;
use super::{InputError, MessageDefaults};
use crate::message::Capabilities;

/// The reserved destination column names (matched case-insensitively).
const DESTINATIONS: [(&str, DestKind); 5] = [
    ("destinationNumber", DestKind::Phone),
    ("phone", DestKind::Phone),
    ("to", DestKind::Phone),
    ("groupId", DestKind::Group),
    ("newsletterId", DestKind::Newsletter),
];

/// What each column of the file is used for.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Destination columns (index, kind), in file order: at most one of each kind.
    pub destinations: Vec<(usize, DestKind)>,
    /// The column overriding each send field, indexed by `Field as usize`.
    pub fields: [Option<usize>; Field::COUNT],
    /// Template-variable columns, in file order.
    pub variables: Vec<usize>,
    /// Number of columns in the header; every row must have exactly this many fields.
    pub width: usize,
}

/// Columns named in an error message at most: the rest are counted.
const LISTED: usize = 20;

/// The header names as a readable list for error messages (invisible characters shown
/// escaped, a long list cut after its first [`LISTED`]).
pub(crate) fn list(columns: &[String]) -> String {
    if columns.is_empty() {
        return "(none)".into();
    }
    crate::fmt::listed(columns, LISTED, |c| format!("'{}'", shown(c)))
}

impl Layout {
    /// Assigns every column a role, refusing headers that would make rows ambiguous.
    /// `defaults` tell whether the campaign flags already choose what to send; `merged` are
    /// the columns the campaign's merge fields read (used, whatever the mode).
    pub(crate) fn new(
        columns: &[String],
        phone_column: Option<&str>,
        defaults: &MessageDefaults,
        caps: &Capabilities,
        merged: &[usize],
        warnings: &mut Vec<String>,
    ) -> Result<Layout, InputError> {
        let found = || list(columns);
        if let Some(i) = columns.iter().position(String::is_empty) {
            return Err(InputError::EmptyColumnName {
                position: i + 1,
                columns: found(),
            });
        }
        // One pass with a set: a header of a hundred thousand columns is checked at once.
        let mut names: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            if let Some(&other) = names.get(&c.to_ascii_lowercase()) {
                return Err(InputError::DuplicateColumn {
                    first: shown(columns[other].as_str()).into_owned(),
                    second: shown(c).into_owned(),
                    columns: found(),
                });
            }
            names.insert(c.to_ascii_lowercase(), i);
        }

        let mut layout = Layout {
            destinations: Vec::new(),
            fields: [None; Field::COUNT],
            variables: Vec::new(),
            width: columns.len(),
        };
        let mut phone: Option<usize> = None;
        for (i, c) in columns.iter().enumerate() {
            let reserved_dest = DESTINATIONS
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(c))
                .map(|&(_, k)| k);
            let kind = match (phone_column, reserved_dest) {
                (Some(pc), _) if pc.trim().eq_ignore_ascii_case(c) => Some(DestKind::Phone),
                // --phone-column names the one phone column; same-named others are plain data.
                (Some(pc), Some(DestKind::Phone)) => {
                    warnings.push(format!(
                        "column '{}' is not used as the destination: --phone-column '{}' was given",
                        shown(c),
                        shown(pc)
                    ));
                    None
                }
                (_, k) => k,
            };
            let unsupported = || InputError::UnsupportedColumn {
                column: c.clone(),
                provider: caps.name,
            };
            if let Some(kind) = kind {
                if kind != DestKind::Phone && !caps.groups {
                    return Err(unsupported());
                }
                if kind == DestKind::Phone {
                    if let Some(first) = phone {
                        return Err(InputError::TwoPhoneColumns {
                            first: columns[first].clone(),
                            second: c.clone(),
                            columns: found(),
                        });
                    }
                    phone = Some(i);
                }
                layout.destinations.push((i, kind));
            } else if let Some(f) = Field::ALL
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(c) && f.reserved(caps))
            {
                if !f.supported(caps) {
                    return Err(unsupported());
                }
                layout.fields[*f as usize] = Some(i);
            } else {
                layout.variables.push(i);
            }
        }

        if let Some(pc) = phone_column
            && phone.is_none()
        {
            return Err(InputError::PhoneColumnNotFound {
                name: pc.to_owned(),
                columns: found(),
                closest: closest(columns, &[pc]).map(str::to_owned),
            });
        }
        if layout.destinations.is_empty() {
            let names: Vec<&str> = DESTINATIONS.iter().map(|(n, _)| *n).collect();
            if columns.iter().any(|c| looks_like_data(c)) {
                return Err(InputError::NoHeader {
                    first_line: found(),
                });
            }
            if let [only] = columns
                && only.contains([',', ';', '\t', '|'])
            {
                return Err(InputError::WrongDelimiter { columns: found() });
            }
            return Err(InputError::NoDestinationColumn {
                columns: found(),
                closest: closest(columns, &names).map(str::to_owned),
            });
        }
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        let has_column = |f: Field| layout.fields[f as usize].is_some();
        let template = set(&defaults.template_id) || has_column(Field::TemplateId);
        let any_mode = [
            &defaults.template_id,
            &defaults.text,
            &defaults.media,
            &defaults.message_type,
            &defaults.latitude,
            &defaults.contact_id,
        ]
        .into_iter()
        .any(set)
            || Field::ALL.iter().any(|&f| f.is_mode() && has_column(f));
        if !any_mode {
            let given_blank = [
                ("template", &defaults.template_id),
                ("text", &defaults.text),
                ("media", &defaults.media),
            ]
            .into_iter()
            .find(|(_, v)| v.as_deref().is_some_and(|s| s.trim().is_empty()));
            return Err(match given_blank {
                Some((name, _)) => InputError::BlankMode(name),
                None => InputError::NoMode,
            });
        }
        let unsent: Vec<String> = layout
            .variables
            .iter()
            .filter(|i| !merged.contains(i))
            .map(|&i| columns[i].clone())
            .collect();
        if !template && !unsent.is_empty() {
            let names = unsent;
            warnings.push(format!(
                "columns {} are not sent: variables only go with templates (there is no templateId column and no --template)",
                list(&names)
            ));
        }
        Ok(layout)
    }
}

/// Whether a header cell is really a data value (a phone number or a WhatsApp id), which
/// means the file starts with data and has no header row.
pub(crate) fn looks_like_data(cell: &str) -> bool {
    let digits = cell.bytes().filter(u8::is_ascii_digit).count();
    let phone_like = digits >= 8
        && cell
            .bytes()
            .all(|b| b.is_ascii_digit() || b" +-().".contains(&b));
    phone_like
        || cell.ends_with("@g.us")
        || cell.ends_with("@newsletter")
        || super::phone::is_bsuid(cell)
}

/// Words spreadsheets use for a phone column (Portuguese, Spanish and English exports).
const PHONE_WORDS: [&str; 9] = [
    "phone", "fone", "celular", "whats", "mobile", "cell", "numero", "número", "contato",
];

/// A name lower-cased with spaces and punctuation dropped (`"Phone Number"` → `phonenumber`).
fn normalized(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
}

fn has_phone_word(name: &str) -> bool {
    let n: String = normalized(name).collect();
    PHONE_WORDS.iter().any(|w| n.contains(w))
}

/// Whether a column name says it holds phone numbers: a reserved phone name or a usual
/// phone word (`Telefone`, `Celular`, `WhatsApp`), for lists whose columns we do not choose.
pub(crate) fn is_phone_name(name: &str) -> bool {
    DESTINATIONS
        .iter()
        .any(|&(d, k)| k == DestKind::Phone && d.eq_ignore_ascii_case(name))
        || has_phone_word(name)
}

/// The column most likely meant as one of `targets`: one containing a usual phone word,
/// else the nearest by edit distance (ignoring case, spaces and punctuation) if that is close.
fn closest<'a>(columns: &'a [String], targets: &[&str]) -> Option<&'a str> {
    nearest_by(columns, targets, has_phone_word)
}

/// The column most likely meant by `name` (a misspelt merge field): the nearest by edit
/// distance, ignoring case, spaces and punctuation, if that is close.
pub(crate) fn nearest<'a>(columns: &'a [String], name: &str) -> Option<&'a str> {
    nearest_by(columns, &[name], |_| false)
}

/// The nearest column to one of `targets`, a column `matches` counting as an exact match.
fn nearest_by<'a>(
    columns: &'a [String],
    targets: &[&str],
    matches: impl Fn(&str) -> bool,
) -> Option<&'a str> {
    let norm = |s: &str| -> Vec<char> { normalized(s).collect() };
    let targets: Vec<Vec<char>> = targets.iter().map(|t| norm(t)).collect();
    let scored = columns.iter().map(|c| {
        let n = norm(c);
        let word = matches(c);
        let distance = targets
            .iter()
            .map(|t| levenshtein(&n, t))
            .min()
            .unwrap_or(usize::MAX);
        (c.as_str(), if word { 0 } else { distance }, n.len())
    });
    scored
        .filter(|&(_, d, len)| d == 0 || d <= 2.max(len / 3))
        .min_by_key(|&(_, d, _)| d)
        .map(|(c, _, _)| c)
}

/// Classic edit distance (insertions, deletions, substitutions), two rows of memory.
fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::MessageDefaults;

    fn cols(s: &str) -> Vec<String> {
        s.split(',').map(|c| c.trim().to_owned()).collect()
    }

    fn template() -> MessageDefaults {
        MessageDefaults {
            template_id: Some("t".into()),
            ..MessageDefaults::default()
        }
    }

    fn layout(
        header: &str,
        phone_column: Option<&str>,
        d: &MessageDefaults,
    ) -> Result<(Layout, Vec<String>), InputError> {
        let mut w = Vec::new();
        let caps = &crate::provider::pilot_status::CAPABILITIES;
        Layout::new(&cols(header), phone_column, d, caps, &[], &mut w).map(|l| (l, w))
    }

    #[test]
    fn roles_are_case_insensitive_and_the_rest_are_variables() {
        let (l, w) = layout(
            "Nome,PHONE,TemplateID,cidade,groupid,Footer",
            None,
            &MessageDefaults::default(),
        )
        .unwrap();
        assert_eq!(
            l.destinations,
            vec![(1, DestKind::Phone), (4, DestKind::Group)]
        );
        assert_eq!(l.fields[Field::TemplateId as usize], Some(2));
        assert_eq!(l.fields[Field::Footer as usize], Some(5));
        assert_eq!(l.fields[Field::Text as usize], None);
        assert_eq!(l.variables, vec![0, 3]);
        assert_eq!(l.width, 6);
        assert!(w.is_empty());
    }

    #[test]
    fn phone_column_option_picks_the_phone_column() {
        let (l, w) = layout("Nome,Celular,phone", Some("celular"), &template()).unwrap();
        assert_eq!(l.destinations, vec![(1, DestKind::Phone)]);
        assert_eq!(l.variables, vec![0, 2]);
        assert!(
            w[0].contains("'phone' is not used as the destination"),
            "{w:?}"
        );
        let e = layout("Nome,Celular", Some("Celuar"), &template()).unwrap_err();
        assert!(
            matches!(&e, InputError::PhoneColumnNotFound { closest: Some(c), .. } if c == "Celular"),
            "{e}"
        );
    }

    #[test]
    fn a_header_read_with_the_wrong_delimiter_says_so() {
        let e = layout("phone;nome;cupom", None, &template()).unwrap_err();
        assert!(matches!(&e, InputError::WrongDelimiter { .. }), "{e}");
        assert!(e.to_string().contains("--delimiter"), "{e}");
    }

    #[test]
    fn header_problems_are_set_up_errors() {
        let t = template();
        let e = layout("nome,telefone", None, &t).unwrap_err();
        assert!(
            matches!(&e, InputError::NoDestinationColumn { closest: Some(c), .. } if c == "telefone"),
            "{e}"
        );
        assert!(
            e.to_string().contains("'nome', 'telefone'"),
            "lists the columns: {e}"
        );
        let e = layout("nome,fone_", None, &t).unwrap_err();
        assert!(
            matches!(&e, InputError::NoDestinationColumn { closest: Some(c), .. } if c == "fone_"),
            "{e}"
        );
        let e = layout("nome,Phnoe", None, &t).unwrap_err();
        assert!(
            matches!(&e, InputError::NoDestinationColumn { closest: Some(c), .. } if c == "Phnoe"),
            "{e}"
        );
        let e = layout("nome,cidade", None, &t).unwrap_err();
        assert!(
            matches!(&e, InputError::NoDestinationColumn { closest: None, .. }),
            "{e}"
        );
        let e = layout("phone,to", None, &t).unwrap_err();
        assert!(
            matches!(&e, InputError::TwoPhoneColumns { first, second, .. } if first == "phone" && second == "to"),
            "{e}"
        );
        assert!(e.to_string().contains("(columns: 'phone', 'to')"), "{e}");
        let e = layout("phone,nome,Nome", None, &t).unwrap_err();
        assert!(
            matches!(&e, InputError::DuplicateColumn { second, .. } if second == "Nome"),
            "{e}"
        );
        let e = layout("phone,,nome", None, &t).unwrap_err();
        assert!(
            matches!(&e, InputError::EmptyColumnName { position: 2, .. }),
            "{e}"
        );
        let e = layout("+55 (11) 98888-7777,Ana", None, &t).unwrap_err();
        assert!(matches!(&e, InputError::NoHeader { .. }), "{e}");
        let e = layout("phone,nome", None, &MessageDefaults::default()).unwrap_err();
        assert!(matches!(&e, InputError::NoMode), "{e}");
        // A text given empty (an unset shell variable) is said as such.
        let blank = MessageDefaults {
            text: Some("  ".into()),
            ..MessageDefaults::default()
        };
        let e = layout("phone,nome", None, &blank).unwrap_err();
        assert!(matches!(&e, InputError::BlankMode("text")), "{e}");
        assert!(e.to_string().starts_with("--text is empty"), "{e}");
    }

    #[test]
    fn variables_without_any_template_are_warned_about() {
        let text = MessageDefaults {
            text: Some("oi".into()),
            ..MessageDefaults::default()
        };
        let (_, w) = layout("phone,nome,cidade", None, &text).unwrap();
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with(
                "columns 'nome', 'cidade' are not sent: variables only go with templates"
            ),
            "{w:?}"
        );
        let (_, w) = layout("phone,nome,templateId", None, &text).unwrap();
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn phone_names() {
        for yes in [
            "to",
            "Phone Number",
            "Telefone",
            "CELULAR",
            "WhatsApp",
            "Número",
        ] {
            assert!(is_phone_name(yes), "{yes}");
        }
        for no in ["nome", "email", "groupId", "total"] {
            assert!(!is_phone_name(no), "{no}");
        }
    }

    #[test]
    fn edit_distance() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(levenshtein(&c("kitten"), &c("sitting")), 3);
        assert_eq!(levenshtein(&c(""), &c("abc")), 3);
        assert_eq!(levenshtein(&c("phone"), &c("phone")), 0);
    }
}
