//! Which message fields take merge fields, and the glue between [`merge`](super::merge) and
//! validation: the campaign's texts are parsed and checked against the header once, at
//! set-up, and each row's are rendered into the raw values that validation then parses, so
//! that the rendered text is what is checked (lengths, JSON) and sent.
//!
//! The fields that take merge fields are the texts the recipient reads and the media URL (a
//! coupon image per customer); every other field (template id, labels, dates, ids) refuses
//! a `{{`, at set-up in a flag and as the row's error in a cell, as it would otherwise be
//! sent as written.

use super::merge::{Escape, Problem, SyntaxError, Template, Unfilled, has_fields};
use super::validate::Field;
use super::visible::is_blank;
use super::{InputError, MessageDefaults, RowError, RowErrorCode};
use crate::message::MAX_CHARS;

/// The fields that take merge fields, and how a cell's value is written into each.
const MERGED: [(Field, Escape); 8] = [
    (Field::Text, Escape::None),
    (Field::Caption, Escape::None),
    (Field::Footer, Escape::None),
    (Field::LocationName, Escape::None),
    (Field::LocationAddress, Escape::None),
    (Field::Header, Escape::Json),
    (Field::Buttons, Escape::Json),
    (Field::Media, Escape::Url),
];

/// The fields that take no merge fields, where a `{{` is refused.
fn unmerged() -> impl Iterator<Item = Field> {
    Field::ALL
        .into_iter()
        .filter(|&field| MERGED.iter().all(|&(merged, _)| merged != field))
}

/// The flag that sets `field` (the campaign-file key is the same without the dashes): its
/// API name in kebab case, but for `--template`.
pub(crate) fn flag(field: Field) -> String {
    if field == Field::TemplateId {
        return "--template".to_owned();
    }
    let mut flag = String::from("--");
    for c in field.name().chars() {
        if c.is_ascii_uppercase() {
            flag.push('-');
        }
        flag.push(c.to_ascii_lowercase());
    }
    flag
}

/// The refusal of a `{{` in `text`, a value of `field`, which takes no merge fields.
fn not_merged(field: Field, text: &str) -> Option<SyntaxError> {
    let open = text.find("{{")?;
    let field_text = &text[open..];
    let end = field_text
        .find("}}")
        .map_or(field_text.len(), |close| close + 2);
    Some(SyntaxError::new(
        Problem::NotMerged(field.name()),
        &field_text[..end],
    ))
}

/// The campaign-level texts that hold merge fields, bound to the file's columns.
#[derive(Debug, Clone, Default)]
pub(crate) struct MergeFields {
    /// By position in [`MERGED`]: the campaign's text for that field when it has merge fields.
    defaults: [Option<Template<usize>>; MERGED.len()],
}

/// One row's rendered texts, by position in [`MERGED`]; `None` where the raw value stands.
pub(crate) struct Rendered([Option<String>; MERGED.len()]);

impl Rendered {
    /// No value rendered: what [`MergeFields::render`] gives for every row when
    /// [`MergeFields::renders`] is false.
    pub(crate) fn none() -> Rendered {
        Rendered(Default::default())
    }

    /// The rendered value of `field`, if it had merge fields.
    pub(crate) fn get(&self, field: Field) -> Option<&str> {
        let slot = MERGED.iter().position(|&(f, _)| f == field)?;
        self.0[slot].as_deref()
    }

    /// Whether any value was rendered (the row then differs from the plain defaults).
    pub(crate) fn any(&self) -> bool {
        self.0.iter().any(Option::is_some)
    }
}

impl MergeFields {
    /// Parses the campaign's texts and checks every merge field names a column: a typo
    /// would otherwise fail every row, so it stops the run before any send.
    pub(crate) fn new(
        defaults: &MessageDefaults,
        columns: &[String],
    ) -> Result<MergeFields, InputError> {
        if let Some((field, error)) = unmerged().find_map(|field| {
            let error = not_merged(field, field.default_in(defaults)?)?;
            Some((field, error))
        }) {
            return Err(InputError::MergeSyntax {
                flag: flag(field),
                error,
            });
        }
        let mut merge = MergeFields::default();
        for (slot, &(field, _)) in MERGED.iter().enumerate() {
            let Some(text) = field.default_in(defaults).filter(|t| has_fields(t)) else {
                continue;
            };
            let setting = flag(field);
            let template = Template::parse(text).map_err(|error| InputError::MergeSyntax {
                flag: setting.clone(),
                error,
            })?;
            let bound = template
                .bind(columns)
                .map_err(|name| InputError::UnknownMergeField {
                    flag: setting,
                    closest: super::header::nearest(columns, &name).map(str::to_owned),
                    name,
                    columns: super::header::list(columns),
                })?;
            merge.defaults[slot] = Some(bound);
        }
        Ok(merge)
    }

    /// Whether some campaign text has merge fields, so no row can reuse another's message.
    pub(crate) fn any(&self) -> bool {
        self.defaults.iter().any(Option::is_some)
    }

    /// Whether any row must go through [`MergeFields::render`]: a campaign text has merge
    /// fields, or a field has a column (`has_column`) whose cells may hold some (to fill in,
    /// or to refuse where the field takes none).
    pub(crate) fn renders(&self, has_column: impl Fn(Field) -> bool) -> bool {
        self.any() || Field::ALL.into_iter().any(has_column)
    }

    /// The columns the campaign's texts read (they are sent, whatever the mode).
    pub(crate) fn columns(&self) -> impl Iterator<Item = usize> + '_ {
        self.defaults.iter().flatten().flat_map(Template::columns)
    }

    /// `defaults` without the texts that have merge fields: those are rendered for each row
    /// instead, and a text rendered empty must leave the field empty, not fall back to the
    /// unrendered text.
    pub(crate) fn strip(&self, defaults: &MessageDefaults) -> MessageDefaults {
        let mut stripped = defaults.clone();
        for (slot, &(field, _)) in MERGED.iter().enumerate() {
            if self.defaults[slot].is_some() {
                *field.default_in_mut(&mut stripped) = None;
            }
        }
        stripped
    }

    /// One row's texts: `field_cell(f)` is the row's cell for field `f` ("" if none, which
    /// keeps the campaign's text), `cell(i)` its cell of column `i`. A cell with a `{{` in a
    /// field that takes no merge fields is the row's error.
    pub(crate) fn render<'a>(
        &self,
        columns: &[String],
        field_cell: impl Fn(Field) -> &'a str,
        cell: impl Fn(usize) -> &'a str,
    ) -> Result<Rendered, RowError> {
        if let Some(error) = unmerged()
            .find_map(|field| Some(cell_error(field, not_merged(field, field_cell(field))?)))
        {
            return Err(error);
        }
        let mut rendered: [Option<String>; MERGED.len()] = Default::default();
        for (slot, &(field, escape)) in MERGED.iter().enumerate() {
            let own = field_cell(field);
            let parsed;
            let text = if !is_blank(own) {
                if !has_fields(own) {
                    continue;
                }
                parsed = Template::parse(own)
                    .map_err(|e| cell_error(field, e))?
                    .bind(columns)
                    .map_err(|name| {
                        cell_error(field, format!("{{{{{name}}}}} is not a column of the file"))
                    })?;
                &parsed
            } else {
                match &self.defaults[slot] {
                    Some(template) => template,
                    None => continue,
                }
            };
            let value = text.render(&cell, escape).map_err(|unfilled| match unfilled {
                Unfilled::Empty(column) => {
                    let name = &columns[column];
                    RowError::new(
                        field.name(),
                        RowErrorCode::MissingVariable,
                        format!(
                            "column '{name}' is empty in this row and {{{{{name}}}}} in {} has no fallback: fill the cell, or write {{{{{name}|fallback}}}}",
                            field.name()
                        ),
                    )
                }
                // Only URLs (media) refuse dots.
                Unfilled::Dots(column) => RowError::new(
                    field.name(),
                    RowErrorCode::InvalidMedia,
                    format!(
                        "column '{}' holds only dots in this row: in the URL of {} that reads as another folder. Fix the cell",
                        columns[column],
                        field.name()
                    ),
                ),
            })?;
            check_rendered(field, &value)?;
            rendered[slot] = Some(value);
        }
        Ok(Rendered(rendered))
    }
}

/// A text or caption as its merge fields made it for one row: no longer than a message
/// holds (the cells are each checked, their sum is not), and a text not empty (its fields
/// filled with empty cells and fallbacks would send nothing, which the API refuses).
fn check_rendered(field: Field, value: &str) -> Result<(), RowError> {
    if !matches!(field, Field::Text | Field::Caption) {
        return Ok(());
    }
    if value.len() > MAX_CHARS && value.chars().count() > MAX_CHARS {
        return Err(RowError::new(
            field.name(),
            RowErrorCode::ValueTooLong,
            format!(
                "{} is {} characters with this row's merge fields filled, more than the {MAX_CHARS} a WhatsApp message holds: shorten the text or the cells",
                field.name(),
                value.chars().count()
            ),
        ));
    }
    if field == Field::Text && is_blank(value) {
        return Err(RowError::new(
            field.name(),
            RowErrorCode::MissingVariable,
            "text is empty in this row once its merge fields are filled (their cells are empty, and so are their fallbacks): fill the cells, or give a fallback ({{name|text}})",
        ));
    }
    Ok(())
}

/// A merge field in a row's own cell that cannot be rendered.
fn cell_error(field: Field, what: impl std::fmt::Display) -> RowError {
    RowError::new(
        field.name(),
        RowErrorCode::MissingVariable,
        format!("{} cell: {what}", field.name()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fields_flag_is_a_flag_of_the_campaign() {
        use clap::Args;
        let longs: Vec<String> = MessageDefaults::augment_args(clap::Command::new("t"))
            .get_arguments()
            .filter_map(|arg| arg.get_long().map(|l| format!("--{l}")))
            .collect();
        for field in Field::ALL {
            assert!(longs.contains(&flag(field)), "{field:?}: {}", flag(field));
        }
    }

    #[test]
    fn a_brace_in_a_field_without_merge_fields_is_quoted_up_to_its_close() {
        let error = not_merged(Field::Labels, "vip,{{id}},b").unwrap();
        assert_eq!(error.at, "{{id}}");
        assert_eq!(error.problem, Problem::NotMerged("labels"));
        assert!(not_merged(Field::Labels, "vip,{id}").is_none());
        assert_eq!(not_merged(Field::TemplateId, "a{{b").unwrap().at, "{{b");
    }
}
