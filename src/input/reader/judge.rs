//! A row judged: its bytes decoded, its destination read (or taken as the reading thread
//! read it), its cells checked and its message built, then screened against opt-outs and
//! the rows before it.

use std::borrow::Cow;

use csv::{ByteRecord, StringRecord};
use serde_json::{Map, Value};

use super::{CsvInput, Row, Verdict, shown_long};
use crate::input::error::shown;
use crate::input::merge_fields::Rendered;
use crate::input::validate::{Field, Resolved};
use crate::input::visible::{is_blank, visible};
use crate::input::{RowError, RowErrorCode, phone, values};
use crate::message::{Content, Message};

/// A row judged: the destination's column and normalized form whenever that part was valid,
/// and the message or why the row cannot be sent.
type Judged = (Option<(usize, String)>, Result<Box<Message>, RowError>);

impl CsvInput {
    /// Validates and screens the row just read into `rec`.
    pub(super) fn judge_record(&mut self, rec: ByteRecord) -> Row {
        // Not UTF-8, or (after decoding) a U+FFFD standing for a byte the encoding lacks,
        // or UTF-8 text decoded as a single-byte encoding (`JosÃ©`).
        let text = match StringRecord::from_byte_record(rec) {
            Ok(r) => match self.transcoded.and_then(|e| {
                r.iter()
                    .position(|f| f.contains('\u{FFFD}') || mislabeled(e, f))
            }) {
                Some(field) => Err((field, r.into_byte_record())),
                None => Ok(r),
            },
            Err(bad) => Err((bad.utf8_error().field(), bad.into_byte_record())),
        };
        let (raw_destination, valid, verdict, message) = match text {
            Ok(rec) if rec.iter().all(is_blank) => {
                self.record = Some(rec.into_byte_record());
                let empty = RowError::new(
                    "row",
                    RowErrorCode::EmptyRow,
                    "every cell is empty (a spreadsheet saves such rows after the data): \
                     nothing to send",
                );
                (self.raw_text(""), None, Verdict::Skip(empty), None)
            }
            Ok(rec) => {
                let (first, count) = self.destinations.first(|i| rec.get(i));
                let raw = self.raw_text(first.map_or("", |(_, c)| c));
                let spare = self.spare.pop();
                let (valid, outcome) = self.judge(&rec, first, count, spare);
                let message = (outcome.is_ok() && self.has_own_cells(&rec)).then(|| {
                    crate::identity::row_fingerprint(&self.settings, |f| self.cell(&rec, f))
                });
                self.record = Some(rec.into_byte_record());
                let verdict = outcome.map_or_else(Verdict::Invalid, Verdict::Send);
                (raw, valid, verdict, message)
            }
            Err((field, rec)) => {
                let (raw, e) = self.encoding_error(&rec, field);
                self.record = Some(rec);
                (raw, None, Verdict::Invalid(e), None)
            }
        };
        let (destination, verdict) = match valid {
            Some((column, d)) => {
                let verdict = self.screen(column, &d, verdict);
                (d, verdict)
            }
            None => (self.text(&raw_destination), verdict),
        };
        Row {
            index: self.index,
            line: self.line,
            raw_destination,
            destination,
            verdict,
            message,
        }
    }

    /// Whether the row fills a send field's cell of its own.
    fn has_own_cells(&self, rec: &StringRecord) -> bool {
        (self.field_columns.iter()).any(|&i| rec.get(i).is_some_and(|c| !is_blank(c)))
    }

    /// The row's cell of `field`, "" when the file has no such column.
    fn cell<'r>(&self, rec: &'r StringRecord, field: Field) -> &'r str {
        self.layout.fields[field as usize]
            .and_then(|i| rec.get(i))
            .unwrap_or("")
    }

    /// Judges one UTF-8 row: shape, destination, then send fields and variables. Also
    /// returns the destination's column and normalized form whenever that part was valid.
    fn judge(
        &mut self,
        rec: &StringRecord,
        first: Option<(usize, &str)>,
        count: usize,
        spare: Option<Box<Message>>,
    ) -> Judged {
        if rec.len() != self.layout.width {
            let e = RowError::new(
                "row",
                RowErrorCode::MalformedRow,
                format!(
                    "row has {} fields, header has {}: check for a missing or extra delimiter, or a quote that is not closed",
                    rec.len(),
                    self.layout.width
                ),
            );
            return (None, Err(e));
        }
        let names = |pick: &dyn Fn(usize) -> bool| -> String {
            self.layout
                .destinations
                .iter()
                .filter(|&&(i, _)| pick(i))
                .map(|&(i, _)| self.columns[i].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some((slot, cell)) = first else {
            let e = RowError::new(
                names(&|_| true),
                RowErrorCode::MissingDestination,
                format!("no destination: fill one of {}", names(&|_| true)),
            );
            return (None, Err(e));
        };
        if count > 1 {
            let filled = names(&|i| rec.get(i).is_some_and(|c| !is_blank(c)));
            let e = RowError::new(
                filled.clone(),
                RowErrorCode::MultipleDestinations,
                format!("{filled} are all filled: keep exactly one destination per row"),
            );
            return (None, Err(e));
        }
        let (col, _) = self.layout.destinations[slot];
        let read = match self.early.read.take() {
            // Read ahead from this very record, which it travelled with.
            Some((early, read)) if early == slot => read,
            unused => {
                self.early.read = unused;
                let out = self.texts.pop().unwrap_or_default();
                self.destinations.read(slot, cell, out)
            }
        };
        let destination = match read {
            Ok(d) if !self.capabilities.bsuid && phone::is_bsuid(d.as_str()) => {
                let e = RowError::new(
                    self.columns[col].as_str(),
                    RowErrorCode::InvalidDestination,
                    format!(
                        "{} is a BSUID, which {} cannot send to: use the E.164 number",
                        d.as_str(),
                        self.capabilities.name
                    ),
                );
                return (None, Err(e));
            }
            Ok(d) => d,
            Err(e) => return (None, Err(e)),
        };
        let valid = Some((col, self.text(destination.as_str())));
        let media = self.layout.fields[Field::Media as usize];
        let clean = values::clean(rec);
        if !clean
            && let Err(e) =
                values::check(rec, self.sent_columns.iter().copied(), &self.columns, media)
        {
            return (valid, Err(e));
        }
        if let Err(e) = values::unmerged(rec, self.merged_columns.iter().copied(), &self.columns) {
            return (valid, Err(e));
        }
        let cell = |f: Field| self.cell(rec, f);
        let rendered = if self.renders {
            match self
                .merge
                .render(&self.columns, cell, |i| rec.get(i).unwrap_or(""))
            {
                Ok(r) => r,
                Err(e) => return (valid, Err(e)),
            }
        } else {
            Rendered::none()
        };
        let overridden = rendered.any() || self.has_own_cells(rec);
        let resolved = if overridden {
            self.defaults
                .overridden_by(|f| rendered.get(f).unwrap_or_else(|| cell(f)))
                .and_then(|f| f.resolve(self.now, self.capabilities))
                .map(Cow::Owned)
        } else {
            self.plain.as_ref().map(Cow::Borrowed).map_err(Clone::clone)
        };
        let resolved = match resolved {
            Ok(r) => r,
            Err(e) => return (valid, Err(e)),
        };
        if matches!(resolved.content, Content::Template { .. })
            && !clean
            && let Err(e) = values::check(
                rec,
                self.layout.variables.iter().copied(),
                &self.columns,
                None,
            )
        {
            return (valid, Err(e));
        }
        if matches!(resolved.content, Content::Template { .. })
            && let Err(e) =
                values::unmerged(rec, self.layout.variables.iter().copied(), &self.columns)
        {
            return (valid, Err(e));
        }
        let mut message = match spare {
            Some(mut message) => {
                let used = std::mem::replace(&mut message.destination, destination);
                refill(&mut message, resolved);
                self.recycle_strings([used.into_string()]);
                message
            }
            None => {
                let resolved = resolved.into_owned();
                Box::new(Message {
                    destination,
                    content: resolved.content,
                    variables: Map::new(),
                    interactive: resolved.interactive,
                    labels: resolved.labels,
                    ai_rewrite: false,
                    deliver_at: resolved.deliver_at,
                    deliver_until: resolved.deliver_until,
                })
            }
        };
        if let Some(at) = message.deliver_at
            && let Some(window) = &self.window
            && let Some(where_) = window.outside(at)
        {
            return (valid, Err(outside_window(&where_)));
        }
        // The API rewrites templates only: a row whose own cells make it text or media
        // goes without the flag.
        message.ai_rewrite = self.ai_rewrite && matches!(message.content, Content::Template { .. });
        self.fill_variables(&mut message, rec);
        (valid, Ok(message))
    }

    /// The row's template variables (none for other content): the cells of the variable
    /// columns, empty ones left out. A recycled message that had the same columns keeps its
    /// map and strings, only the values are overwritten.
    fn fill_variables(&self, message: &mut Message, rec: &StringRecord) {
        let variables = &mut message.variables;
        if !matches!(message.content, Content::Template { .. }) {
            variables.clear();
            return;
        }
        let cells = self
            .layout
            .variables
            .iter()
            .map(|&i| (&self.columns[i], visible(&rec[i])))
            .filter(|(_, v)| !v.is_empty());
        // One pass while the keys agree (the common case: every cell filled, as in the row
        // before); a row whose filled columns differ rebuilds the map.
        let mut slots = variables.iter_mut();
        let same_columns = cells.clone().all(|(column, v)| match slots.next() {
            Some((key, Value::String(value))) if key == column => {
                value.clear();
                value.push_str(v);
                true
            }
            _ => false,
        }) && slots.next().is_none();
        if !same_columns {
            // Sized at once: grown insert by insert, the map took a tenth of judging a row.
            *variables = Map::with_capacity(self.layout.variables.len());
            for (column, v) in cells {
                variables.insert(column.clone(), Value::String(v.to_owned()));
            }
        }
    }

    /// Checks a row's valid destination against the opt-out lists (skipped, even if the
    /// row is otherwise invalid: it would never be sent) and against the rest of the file (a
    /// destination already sent to earlier is refused, so nobody gets the campaign twice).
    fn screen(&mut self, column: usize, destination: &str, verdict: Verdict) -> Verdict {
        if self
            .suppression
            .as_ref()
            .is_some_and(|s| s.contains(destination))
        {
            return Verdict::Skip(RowError::new(
                self.columns[column].as_str(),
                RowErrorCode::OptedOut,
                format!("{destination} is on the opt-out list: it is not sent"),
            ));
        }
        let Verdict::Send(_) = verdict else {
            return verdict;
        };
        let row = u32::try_from(self.index).expect("next() stops at row 2^32");
        match self.seen.first(row, crate::fingerprint::of(destination)) {
            Some(first) => Verdict::Invalid(RowError::new(
                self.columns[column].as_str(),
                RowErrorCode::DuplicateDestination,
                match first {
                    0 => "an earlier run of this campaign already sent to this destination, from a row no longer in the CSV: delete this row".to_string(),
                    first => format!(
                        "same destination as {}: delete this row (each destination gets the campaign once)",
                        self.lines.at(u64::from(first), self.index)
                    ),
                },
            )),
            None => verdict,
        }
    }

    /// A row with bytes its encoding cannot map, or UTF-8 read as another encoding:
    /// reported, never passed on as mojibake.
    fn encoding_error(&self, rec: &ByteRecord, field: usize) -> (String, RowError) {
        let raw = self.destination_cell(rec).0.map_or("", |(_, c)| c);
        let raw = shown_long(raw).into_owned();
        let column = self.columns.get(field).map_or("row", String::as_str);
        let cell = std::str::from_utf8(rec.get(field).unwrap_or_default()).unwrap_or_default();
        let message = match self.transcoded {
            Some(e) if mislabeled(e, cell) => format!(
                "column {} is UTF-8 text read as {} ('{}'): save the whole file as CSV UTF-8, and remove any encoding setting (--encoding, or encoding in the campaign file)",
                shown(column),
                e.name(),
                shown(cell)
            ),
            _ => format!(
                "column {} has bytes that are not valid in the file's encoding: save the file as CSV UTF-8, or pass --encoding with its real encoding (e.g. windows-1252)",
                shown(column)
            ),
        };
        let e = RowError::new(column, RowErrorCode::InvalidEncoding, message);
        (raw, e)
    }
}

/// Whether `cell`, decoded from the single-byte `encoding`, was UTF-8 with accents: its
/// bytes encoded back are valid UTF-8 beyond ASCII, which text in a legacy encoding all but
/// never is (`é` alone is no UTF-8), and reads as two wrong letters (`Ã©`) if sent.
fn mislabeled(encoding: &'static encoding_rs::Encoding, cell: &str) -> bool {
    if cell.is_ascii() || !encoding.is_single_byte() {
        return false;
    }
    let (bytes, _, unmappable) = encoding.encode(cell);
    !unmappable && std::str::from_utf8(&bytes).is_ok()
}

/// Makes a recycled message carry `resolved`'s body, cloning only what differs from the
/// message it was (most often the same template as the row before: nothing).
fn refill(message: &mut Message, resolved: Cow<'_, Resolved>) {
    message.deliver_at = resolved.deliver_at;
    message.deliver_until = resolved.deliver_until;
    match resolved {
        Cow::Owned(r) => {
            message.content = r.content;
            message.interactive = r.interactive;
            message.labels = r.labels;
        }
        Cow::Borrowed(r) => {
            if message.content != r.content {
                message.content = r.content.clone();
            }
            if message.interactive != r.interactive {
                message.interactive = r.interactive.clone();
            }
            if message.labels != r.labels {
                message.labels = r.labels.clone();
            }
        }
    }
}

/// A row scheduled outside the send window: delivered then, it would reach someone at an
/// hour the window keeps free.
fn outside_window(where_: &str) -> RowError {
    RowError::new(
        "deliverAt",
        RowErrorCode::DeliverAtOutsideWindow,
        format!(
            "deliverAt is {where_}: move it inside the window, or leave deliverAt empty to send \
             within it"
        ),
    )
}
