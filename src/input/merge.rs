//! Merge fields in free text (`Olá {{nome|cliente}}!`): a text is parsed once into literal
//! pieces and column references, bound to the header's columns, then rendered for each row
//! without being parsed again (a cell's value is never read for merge fields).
//!
//! Syntax: `{{column}}` is the row's cell of that column (trimmed; the name is matched
//! ignoring case, as headers are unique ignoring case); `{{column|fallback}}` gives the
//! fallback when the cell is empty (spaces around the name and the fallback are ignored).
//! `\{{` writes a literal `{{`, and `\\{{` a backslash followed by a live field. A field
//! holds no brace of its own and none follows its `}}`: `{{a|{{b}}}}` and `{{a}}}` are
//! refused rather than guessed at, so a campaign's text never sends a stray `{{` or `}`.
//! Nothing else is special: a text without `{{` renders to itself.

use std::fmt;

/// One piece of a parsed text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment<C> {
    Literal(String),
    /// A column reference: `column` is its name until bound, then its index.
    Field {
        column: C,
        fallback: Option<String>,
    },
}

/// A parsed text whose merge fields name columns by `C`: `String` straight after parsing,
/// `usize` (the column's position) once [`Template::bind`] has checked them against the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template<C> {
    segments: Vec<Segment<C>>,
}

/// Why a text cannot be parsed, with the piece of text at fault: told to the user with the
/// text's flag or column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong.
    pub problem: Problem,
    /// The merge field as written (shortened when long), so the user can find it.
    pub at: String,
}

/// The kinds of [`SyntaxError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// `{{` with no `}}` after it.
    Unclosed,
    /// `{{}}` or `{{|x}}`.
    EmptyName,
    /// `{{a|{{b}}}}`: a fallback is plain text, never another field.
    Nested,
    /// A `{` or `}` inside a field or right after its `}}` (`{{a}}}`, `{{{a}}}`).
    StrayBrace,
    /// A `{{` in a field that takes no merge fields (a template id, labels, a date): it
    /// would be sent as written. Holds the field's API name, which is also its column.
    NotMerged(&'static str),
}

/// The longest piece of text an error quotes.
const QUOTED: usize = 60;

impl SyntaxError {
    /// The error `problem` at `text` (quoted up to [`QUOTED`] characters).
    pub(crate) fn new(problem: Problem, text: &str) -> SyntaxError {
        let mut at: String = text.chars().take(QUOTED).collect();
        if at.len() < text.len() {
            at.push('…');
        }
        SyntaxError { problem, at }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}': ", self.at)?;
        match self.problem {
            Problem::Unclosed => f.write_str(
                "a {{ is never closed by }}: close the merge field, or write \\{{ for a literal {{",
            ),
            Problem::EmptyName => f.write_str(
                "a merge field names no column: write {{column}}, or \\{{ for a literal {{",
            ),
            Problem::Nested => f.write_str(
                "a {{ inside a merge field: a field closes with }} before another opens, and a fallback is plain text, never another field: write e.g. {{nome|cliente}}",
            ),
            Problem::StrayBrace => f.write_str(
                "a stray brace in or after a merge field: write exactly {{column}} or {{column|fallback}}, with no other { or } inside or right after it",
            ),
            Problem::NotMerged(column) => write!(
                f,
                "merge fields are not filled in {column}, it would be sent as written: write the value itself, or put each row's value in a '{column}' column of the file (merge fields are filled in text, caption, footer, header, buttons, media, locationName and locationAddress)"
            ),
        }
    }
}

/// How a cell's value is written into the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// As is (text, caption, footer, location name and address).
    None,
    /// As the inside of a JSON string (header and buttons are JSON: a cell holding a quote
    /// must not break them).
    Json,
    /// Percent-encoded as one piece of a URL (media): a cell holding a space, `/`, `?` or
    /// `#` cannot break the URL nor point it at another path.
    Url,
}

/// Why a row's cell cannot fill its field ([`Template::render`]); the column is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unfilled {
    /// Empty, and the field has no fallback.
    Empty(usize),
    /// Only dots (`.`, `..`) in a URL: read as "this folder" or "the folder above", a path
    /// the cell would add to the campaign's URL.
    Dots(usize),
}

/// Whether a text holds anything [`Template::parse`] would treat specially.
pub(crate) fn has_fields(text: &str) -> bool {
    text.contains("{{")
}

impl Template<String> {
    /// Splits `text` into literals and column references.
    pub(crate) fn parse(text: &str) -> Result<Template<String>, SyntaxError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            let before = &rest[..open];
            let backslashes = before.len() - before.trim_end_matches('\\').len();
            // The backslash just before `{{` is an escape: `\{{` is a literal `{{`, and
            // `\\{{` a backslash then a field.
            literal.push_str(&before[..open - backslashes.min(1)]);
            if backslashes % 2 == 1 {
                literal.push_str("{{");
                rest = &rest[open + 2..];
                continue;
            }
            let inner_start = open + 2;
            let close = rest[inner_start..]
                .find("}}")
                .ok_or_else(|| SyntaxError::new(Problem::Unclosed, &rest[open..]))?;
            let inner = &rest[inner_start..inner_start + close];
            let end = inner_start + close + 2;
            // The field as written, with any braces stuck to its end, for the message.
            let stray = rest[end..].len() - rest[end..].trim_start_matches('}').len();
            let written = &rest[open..end + stray];
            let problem = if inner.contains("{{") {
                Some(Problem::Nested)
            } else if stray > 0 || inner.contains(['{', '}']) {
                Some(Problem::StrayBrace)
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(SyntaxError::new(problem, written));
            }
            let (name, fallback) = match inner.split_once('|') {
                Some((name, fallback)) => (name, Some(fallback.trim().to_owned())),
                None => (inner, None),
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(SyntaxError::new(Problem::EmptyName, written));
            }
            if !literal.is_empty() {
                segments.push(Segment::Literal(std::mem::take(&mut literal)));
            }
            segments.push(Segment::Field {
                column: name.to_owned(),
                fallback,
            });
            rest = &rest[end..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Template { segments })
    }

    /// Resolves every column name against the header (ignoring case), or gives back the
    /// first name that is not a column.
    pub(crate) fn bind(self, columns: &[String]) -> Result<Template<usize>, String> {
        let segments = self
            .segments
            .into_iter()
            .map(|s| match s {
                Segment::Literal(l) => Ok(Segment::Literal(l)),
                Segment::Field { column, fallback } => columns
                    .iter()
                    .position(|c| c.eq_ignore_ascii_case(&column))
                    .map(|i| Segment::Field {
                        column: i,
                        fallback,
                    })
                    .ok_or(column),
            })
            .collect::<Result<_, _>>()?;
        Ok(Template { segments })
    }
}

impl Template<usize> {
    /// The columns this text reads.
    pub(crate) fn columns(&self) -> impl Iterator<Item = usize> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Field { column, .. } => Some(*column),
            Segment::Literal(_) => None,
        })
    }

    /// The text for one row, `cell(i)` giving column `i`'s cell; or which column cannot
    /// fill its field, and why.
    pub(crate) fn render<'a>(
        &self,
        cell: impl Fn(usize) -> &'a str,
        escape: Escape,
    ) -> Result<String, Unfilled> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(l) => out.push_str(l),
                Segment::Field { column, fallback } => {
                    let value = super::visible::visible(cell(*column));
                    let value = match (value.is_empty(), fallback) {
                        (false, _) => value,
                        (true, Some(fallback)) => fallback.as_str(),
                        (true, None) => return Err(Unfilled::Empty(*column)),
                    };
                    match escape {
                        Escape::None => out.push_str(value),
                        Escape::Json => {
                            let quoted = serde_json::Value::from(value).to_string();
                            out.push_str(&quoted[1..quoted.len() - 1]);
                        }
                        // Percent-encoded dots are still dots to a URL's reader.
                        Escape::Url if value.bytes().all(|b| b == b'.') => {
                            return Err(Unfilled::Dots(*column));
                        }
                        Escape::Url => percent_encode(value, &mut out),
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Writes `value` into `out` with every byte but the URL's unreserved ones (letters, digits,
/// `-._~`) as `%XX`, so it stays one piece of the URL.
fn percent_encode(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn columns() -> Vec<String> {
        ["phone", "nome", "cidade"].map(String::from).to_vec()
    }

    fn render(text: &str, row: &[&str]) -> Result<String, Unfilled> {
        Template::parse(text)
            .unwrap()
            .bind(&columns())
            .unwrap()
            .render(|i| row[i], Escape::None)
    }

    #[test]
    fn fields_fallbacks_and_escapes() {
        let row = ["+5511", " Ana ", ""];
        assert_eq!(render("Olá {{nome}}!", &row).unwrap(), "Olá Ana!");
        assert_eq!(render("{{ NOME }}", &row).unwrap(), "Ana");
        assert_eq!(
            render("em {{cidade | sua cidade }}", &row).unwrap(),
            "em sua cidade"
        );
        assert_eq!(render("em {{cidade|}}.", &row).unwrap(), "em .");
        assert_eq!(render("em {{cidade}}", &row), Err(Unfilled::Empty(2)));
        assert_eq!(render(r"\{{nome}} e }}", &row).unwrap(), "{{nome}} e }}");
        assert_eq!(render(r"a\\{{nome}}", &row).unwrap(), r"a\Ana");
        assert_eq!(render(r"a\b {{nome}}", &row).unwrap(), r"a\b Ana");
    }

    fn problem(text: &str) -> Option<(Problem, String)> {
        Template::parse(text).err().map(|e| (e.problem, e.at))
    }

    #[test]
    fn syntax_and_unknown_columns() {
        let unclosed = (Problem::Unclosed, "{{nome".to_owned());
        assert_eq!(problem("Olá {{nome"), Some(unclosed));
        assert_eq!(problem("{{ |x}}").unwrap().0, Problem::EmptyName);
        let unknown = Template::parse("{{nme}}").unwrap().bind(&columns());
        assert_eq!(unknown, Err("nme".to_owned()));
    }

    #[test]
    fn fields_in_fallbacks_and_stray_braces_are_refused_with_the_text() {
        let nested = (Problem::Nested, "{{nome|{{cupom}}}}".to_owned());
        assert_eq!(problem("Olá {{nome|{{cupom}}}}, aproveite!"), Some(nested));
        assert_eq!(problem("{{nome {{x}}").unwrap().0, Problem::Nested);
        for (text, at) in [
            ("Olá {{nome|amigo}}}", "{{nome|amigo}}}"),
            ("{{{nome}}}", "{{{nome}}}"),
            ("a{{{nome}}", "{{{nome}}"),
            ("{{nome|a}b}}", "{{nome|a}b}}"),
            ("{{nome|{}} x", "{{nome|{}}"),
            (r#"{"content":{{nome}}}"#, "{{nome}}}"),
        ] {
            assert_eq!(
                problem(text),
                Some((Problem::StrayBrace, at.to_owned())),
                "{text}"
            );
        }
        // Braces away from a field are plain text, as in JSON.
        assert!(Template::parse(r#"{"a":{"b":"{{nome}}"}}"#).is_ok());
        let long = format!("{{{{{}", "x".repeat(200));
        assert!(problem(&long).unwrap().1.chars().count() <= QUOTED + 1);
    }

    #[test]
    fn cell_values_are_never_read_for_fields() {
        assert_eq!(
            render("Olá {{nome}}", &["", "{{cidade}} \\{{x", "Recife"]).unwrap(),
            "Olá {{cidade}} \\{{x"
        );
    }

    #[test]
    fn url_escaping_keeps_a_cell_one_piece_of_the_url() {
        let t = Template::parse("https://cdn.example.com/c-{{nome}}.png?v={{cidade|0}}")
            .unwrap()
            .bind(&columns())
            .unwrap();
        let row = ["", "ação 2/b?x#y", ""];
        assert_eq!(
            t.render(|i| row[i], Escape::Url).unwrap(),
            "https://cdn.example.com/c-a%C3%A7%C3%A3o%202%2Fb%3Fx%23y.png?v=0"
        );
    }

    #[test]
    fn a_cell_of_dots_adds_no_path_to_a_url() {
        let t = Template::parse("https://cdn.example.com/s/{{nome}}/a.png?v={{cidade|..}}")
            .unwrap()
            .bind(&columns())
            .unwrap();
        let at = |row: [&str; 3]| t.render(|i| row[i], Escape::Url);
        assert_eq!(at(["", "..", "1"]), Err(Unfilled::Dots(1)));
        assert_eq!(at(["", ".", "1"]), Err(Unfilled::Dots(1)));
        assert_eq!(at(["", "a", ""]), Err(Unfilled::Dots(2)), "a fallback too");
        assert!(at(["", "a..b", "1"]).is_ok_and(|url| url.contains("/s/a..b/")));
    }

    #[test]
    fn json_escaping_keeps_json_valid() {
        let t = Template::parse(r#"{"type":"text","content":"Oi {{nome}}"}"#)
            .unwrap()
            .bind(&columns())
            .unwrap();
        let out = t.render(|_| "A \"B\" \\ C", Escape::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["content"], "Oi A \"B\" \\ C");
    }

    /// A literal as the source must write it: `{{` behind a backslash.
    fn escaped(literal: &str) -> String {
        literal.replace("{{", "\\{{")
    }

    proptest! {
        /// Whatever the campaign writes (no `\\{{` escape), what is rendered holds no `{{`
        /// nor a `}` stuck to a value from the text: it is refused at parse time instead.
        #[test]
        fn no_rendered_text_holds_braces_from_the_template(
            text in "([a-z|{} ]|nome|cidade|\\{\\{|\\}\\}){0,24}",
            escape in prop_oneof![Just(Escape::None), Just(Escape::Json), Just(Escape::Url)],
        ) {
            let Ok(template) = Template::parse(&text) else {
                return Ok(());
            };
            let Ok(bound) = template.bind(&columns()) else {
                return Ok(());
            };
            for row in [["p", "Ana", ""], ["", "", ""]] {
                if let Ok(out) = bound.render(|i| row[i], escape) {
                    prop_assert!(!out.contains("{{"), "{text:?} rendered {out:?}");
                }
            }
        }

        /// Any text parses or is refused: never a panic, and a refusal quotes a piece of it.
        #[test]
        fn parsing_never_panics(text in "[a-z|{}\\\\ é]{0,40}") {
            if let Err(e) = Template::parse(&text) {
                let at = e.at.trim_end_matches('…');
                prop_assert!(text.contains(at), "{at:?} is not in {text:?}");
            }
        }

        #[test]
        fn text_without_braces_is_untouched(text in "[^{]*|[a-z{}\\\\ ]*") {
            prop_assume!(!text.contains("{{"));
            prop_assert!(!has_fields(&text));
            let t = Template::parse(&text).unwrap().bind(&columns()).unwrap();
            prop_assert_eq!(t.render(|_| "x", Escape::None).unwrap(), text);
        }

        #[test]
        fn parse_then_render_gives_back_literals_and_cells(
            pieces in prop::collection::vec(
                ("[a-z {}]{0,6}", 0usize..3, prop::option::of("[a-z ]{0,4}"), "[a-z ]{0,4}"),
                0..5,
            ),
        ) {
            let mut source = String::new();
            let mut expected = String::new();
            let cols = columns();
            let cells = ["p", "", "c"];
            for (literal, column, fallback, _) in &pieces {
                // A literal ending in `{` would make `{{{` with the field's braces, and one
                // starting with `}` a stray brace after the field before it: both refused.
                let literal = literal.trim_end_matches('{').trim_start_matches('}');
                source.push_str(&escaped(literal));
                expected.push_str(literal);
                match fallback {
                    Some(f) => source.push_str(&format!("{{{{{}|{f}}}}}", cols[*column])),
                    None => source.push_str(&format!("{{{{{}}}}}", cols[*column])),
                }
                let cell = cells[*column];
                expected.push_str(if cell.is_empty() {
                    fallback.as_deref().map(str::trim).unwrap_or("\u{0}")
                } else {
                    cell
                });
            }
            let t = Template::parse(&source).unwrap().bind(&cols).unwrap();
            match t.render(|i| cells[i], Escape::None) {
                Ok(out) => prop_assert_eq!(out, expected),
                Err(col) => {
                    prop_assert_eq!(col, Unfilled::Empty(1));
                    prop_assert!(expected.contains('\u{0}'), "a missing cell was rendered");
                }
            }
        }
    }
}
