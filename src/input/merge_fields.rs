//! Which message fields take merge fields, and the glue between [`merge`](super::merge) and
//! validation: the campaign's texts are parsed and checked against the header once, at
//! set-up, and each row's are rendered into the raw values that validation then parses, so
//! that the rendered text is what is checked (lengths, JSON) and sent.

use super::merge::{Escape, Template, has_fields};
use super::validate::Field;
use super::{InputError, MessageDefaults, RowError, RowErrorCode};

/// The free-text fields, and how a cell's value is written into each.
const MERGED: [(Field, Escape); 5] = [
    (Field::Text, Escape::None),
    (Field::Caption, Escape::None),
    (Field::Footer, Escape::None),
    (Field::Header, Escape::Json),
    (Field::Buttons, Escape::Json),
];

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
        let mut merge = MergeFields::default();
        for (slot, &(field, _)) in MERGED.iter().enumerate() {
            let Some(text) = field.default_in(defaults).filter(|t| has_fields(t)) else {
                continue;
            };
            let flag = format!("--{}", field.name());
            let template = Template::parse(text).map_err(|error| InputError::MergeSyntax {
                flag: flag.clone(),
                error,
            })?;
            let bound = template
                .bind(columns)
                .map_err(|name| InputError::UnknownMergeField {
                    flag,
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

    /// Whether any row can render a value: a campaign text has merge fields, or one of the
    /// free-text fields has a column (`has_column`) whose cells may hold some.
    pub(crate) fn renders(&self, has_column: impl Fn(Field) -> bool) -> bool {
        self.any() || MERGED.iter().any(|&(field, _)| has_column(field))
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
    /// keeps the campaign's text), `cell(i)` its cell of column `i`.
    pub(crate) fn render<'a>(
        &self,
        columns: &[String],
        field_cell: impl Fn(Field) -> &'a str,
        cell: impl Fn(usize) -> &'a str,
    ) -> Result<Rendered, RowError> {
        let mut rendered: [Option<String>; MERGED.len()] = Default::default();
        for (slot, &(field, escape)) in MERGED.iter().enumerate() {
            let own = field_cell(field);
            let parsed;
            let text = if !own.trim().is_empty() {
                if !has_fields(own) {
                    continue;
                }
                parsed = Template::parse(own)
                    .map_err(|e| cell_error(field, e.to_string()))?
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
            let value = text.render(&cell, escape).map_err(|column| {
                let name = &columns[column];
                RowError::new(
                    field.name(),
                    RowErrorCode::MissingVariable,
                    format!(
                        "column '{name}' is empty in this row and {{{{{name}}}}} in {} has no fallback: fill the cell, or write {{{{{name}|fallback}}}}",
                        field.name()
                    ),
                )
            })?;
            rendered[slot] = Some(value);
        }
        Ok(Rendered(rendered))
    }
}

/// A merge field in a row's own cell that cannot be rendered.
fn cell_error(field: Field, what: String) -> RowError {
    RowError::new(
        field.name(),
        RowErrorCode::MissingVariable,
        format!("{} cell: {what}", field.name()),
    )
}
