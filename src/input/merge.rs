//! Merge fields in free text (`Olá {{nome|cliente}}!`): a text is parsed once into literal
//! pieces and column references, bound to the header's columns, then rendered for each row
//! without being parsed again.
//!
//! Syntax: `{{column}}` is the row's cell of that column (trimmed; the name is matched
//! ignoring case, as headers are unique ignoring case); `{{column|fallback}}` gives the
//! fallback when the cell is empty (spaces around the name and the fallback are ignored).
//! `\{{` writes a literal `{{`, and `\\{{` a backslash followed by a live field. Nothing
//! else is special: a text without `{{` renders to itself.

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

/// Why a text cannot be parsed: told to the user with the text's field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxError {
    /// `{{` with no `}}` after it.
    Unclosed,
    /// `{{}}` or `{{|x}}`.
    EmptyName,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyntaxError::Unclosed => {
                "a {{ is never closed by }}: close the merge field, or write \\{{ for a literal {{"
            }
            SyntaxError::EmptyName => {
                "a merge field names no column: write {{column}}, or \\{{ for a literal {{"
            }
        })
    }
}

/// How a cell's value is written into the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// As is (text, caption, footer).
    None,
    /// As the inside of a JSON string (header and buttons are JSON: a cell holding a quote
    /// must not break them).
    Json,
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
                .ok_or(SyntaxError::Unclosed)?;
            let inner = &rest[inner_start..inner_start + close];
            let (name, fallback) = match inner.split_once('|') {
                Some((name, fallback)) => (name, Some(fallback.trim().to_owned())),
                None => (inner, None),
            };
            let name = name.trim();
            if name.is_empty() {
                return Err(SyntaxError::EmptyName);
            }
            if !literal.is_empty() {
                segments.push(Segment::Literal(std::mem::take(&mut literal)));
            }
            segments.push(Segment::Field {
                column: name.to_owned(),
                fallback,
            });
            rest = &rest[inner_start + close + 2..];
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

    /// The text for one row, `cell(i)` giving column `i`'s cell; or the column whose cell is
    /// empty where no fallback stands in.
    pub(crate) fn render<'a>(
        &self,
        cell: impl Fn(usize) -> &'a str,
        escape: Escape,
    ) -> Result<String, usize> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(l) => out.push_str(l),
                Segment::Field { column, fallback } => {
                    let value = cell(*column).trim();
                    let value = match (value.is_empty(), fallback) {
                        (false, _) => value,
                        (true, Some(fallback)) => fallback.as_str(),
                        (true, None) => return Err(*column),
                    };
                    match escape {
                        Escape::None => out.push_str(value),
                        Escape::Json => {
                            let quoted = serde_json::Value::from(value).to_string();
                            out.push_str(&quoted[1..quoted.len() - 1]);
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn columns() -> Vec<String> {
        ["phone", "nome", "cidade"].map(String::from).to_vec()
    }

    fn render(text: &str, row: &[&str]) -> Result<String, usize> {
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
        assert_eq!(render("em {{cidade}}", &row), Err(2));
        assert_eq!(render(r"\{{nome}} e }}", &row).unwrap(), "{{nome}} e }}");
        assert_eq!(render(r"a\\{{nome}}", &row).unwrap(), r"a\Ana");
        assert_eq!(render(r"a\b {{nome}}", &row).unwrap(), r"a\b Ana");
    }

    #[test]
    fn syntax_and_unknown_columns() {
        assert_eq!(Template::parse("Olá {{nome"), Err(SyntaxError::Unclosed));
        assert_eq!(Template::parse("{{ |x}}"), Err(SyntaxError::EmptyName));
        let unknown = Template::parse("{{nme}}").unwrap().bind(&columns());
        assert_eq!(unknown, Err("nme".to_owned()));
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
                // A literal ending in `{` would make `{{` with the field's braces.
                let literal = literal.trim_end_matches('{');
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
                    prop_assert_eq!(col, 1);
                    prop_assert!(expected.contains('\u{0}'), "a missing cell was rendered");
                }
            }
        }
    }
}
