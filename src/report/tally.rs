//! Counting the figures: one pass over the rows' last lines, in any order, in memory bounded
//! by the numbers of distinct codes, senders and bars kept (each capped: the file is hostile
//! input), never by the number of rows.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::figures::{
    Bar, Count, Example, Failure, NOT_CHECKED, Report, SenderFigures, SendsOverTime, Stage, percent,
};
use super::sent_at;
use super::zone::{LocalHours, Zone};
use crate::journal::Status;
use crate::journal::delivery::{DeliveryStatus, RowView};

/// How many example rows a failure line names.
const EXAMPLES: usize = 3;

/// Distinct failure codes, and sender numbers, kept; the rest are summed under one label.
const MAX_KEYS: usize = 200;

/// The longest code or sender name kept (the rest of a hostile cell is cut).
const MAX_LABEL: usize = 64;

/// The most bars the sends-over-time chart gets: wider bars beyond that.
const MAX_BARS: i64 = 120;

/// Hours per bar, coarsest last: each divides the next, so bars merge without splitting.
/// Past a week, bars hold twice as many weeks each time ([`wider`]).
const BAR_HOURS: [i64; 6] = [1, 2, 6, 12, 24, 168];

/// The bar width after `width` hours: the next of [`BAR_HOURS`], then twice as many weeks.
/// Bars never stop widening, so sends centuries apart (a `sentAt` typed over in the
/// results file) still make at most [`MAX_BARS`] bars, not one for each week between.
fn wider(width: i64) -> i64 {
    (BAR_HOURS.into_iter())
        .find(|&hours| hours > width)
        .unwrap_or(width.saturating_mul(2))
}

/// Send statuses in the README's order (SENDING is a row whose request was in flight).
const SEND_ORDER: [Status; 7] = [
    Status::Queued,
    Status::Failed,
    Status::Invalid,
    Status::Uncertain,
    Status::Skipped,
    Status::Deferred,
    Status::Sending,
];

/// What is known of an accepted row's delivery, in the order reports list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reach {
    Known(DeliveryStatus),
    /// Looked up, and the API has no such message (`NOT_FOUND`).
    NotFound,
    /// Looked up (`checkedAt` is filled), with no state of its own: an unreadable answer,
    /// one about another message, an id that cannot be asked about (`deliveryError` says).
    Unanswered,
    /// Never looked up.
    NotChecked,
}

impl Reach {
    fn of(row: &RowView<'_>) -> Reach {
        match row.delivery.status {
            Some(status) => Reach::Known(status),
            None if code_of(row.delivery.error) == "NOT_FOUND" => Reach::NotFound,
            None if !row.delivery.checked_at.trim().is_empty() => Reach::Unanswered,
            None => Reach::NotChecked,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Reach::Known(status) => status.as_str(),
            Reach::NotFound => "NOT_FOUND",
            Reach::Unanswered => "UNANSWERED",
            Reach::NotChecked => NOT_CHECKED,
        }
    }
}

/// A code from a hostile cell: its first word (a `deliveryError` may be `NOT_CANCELED: …`),
/// cut to [`MAX_LABEL`] characters.
fn code_of(text: &str) -> &str {
    let word = text
        .split(|c: char| c == ':' || c.is_whitespace())
        .find(|w| !w.is_empty())
        .unwrap_or("-");
    cut(word)
}

fn cut(text: &str) -> &str {
    text.char_indices()
        .nth(MAX_LABEL)
        .map_or(text, |(i, _)| &text[..i])
}

/// Delivery counts of a set of queued rows.
#[derive(Debug, Clone, Copy, Default)]
struct Reached {
    queued: u64,
    checked: u64,
    delivered: u64,
    read: u64,
}

impl Reached {
    fn add(&mut self, reach: Reach) {
        self.queued += 1;
        if let Reach::Known(status) = reach {
            self.checked += 1;
            self.delivered += u64::from(status.reached_device());
            self.read += u64::from(status == DeliveryStatus::Read);
        }
    }

    /// A rate of queued rows, None until one row is checked (0% would be a lie).
    fn rate(&self, part: u64) -> Option<f64> {
        (self.checked > 0).then(|| percent(part, self.queued))
    }
}

/// Sends by local hour, merged into wider bars as the campaign's span grows.
#[derive(Debug, Clone)]
struct Hours {
    /// Hours per bar: one of [`BAR_HOURS`], or a week times a power of two.
    width: i64,
    /// Bar start (local hours since the epoch) to sends.
    bars: BTreeMap<i64, u64>,
}

impl Hours {
    fn add(&mut self, local_hour: i64) {
        let start = local_hour.div_euclid(self.width) * self.width;
        if let Some(sends) = self.bars.get_mut(&start) {
            // Most rows fall in a bar already drawn: the span stays what it was.
            *sends += 1;
            return;
        }
        self.bars.insert(start, 1);
        while self.span() > MAX_BARS {
            self.width = wider(self.width);
            let width = self.width;
            let mut merged = BTreeMap::new();
            for (start, sends) in std::mem::take(&mut self.bars) {
                *merged.entry(start.div_euclid(width) * width).or_insert(0) += sends;
            }
            self.bars = merged;
        }
    }

    /// Bars from the first to the last (the count a chart would draw).
    fn span(&self) -> i64 {
        match (self.bars.keys().next(), self.bars.keys().next_back()) {
            (Some(first), Some(last)) => (last - first) / self.width + 1,
            _ => 0,
        }
    }
}

/// Accumulates the figures one row at a time.
pub struct Tally {
    zone: Zone,
    local: LocalHours,
    rows: u64,
    not_in_csv: u64,
    send: [u64; SEND_ORDER.len()],
    delivery: BTreeMap<Reach, u64>,
    reached: Reached,
    /// Rows and example rows by stage and code.
    failures: BTreeMap<Stage, BTreeMap<String, (u64, Vec<u64>)>>,
    /// Codes in `failures`, every stage's.
    codes: usize,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    sends: u64,
    hours: Hours,
    senders: BTreeMap<String, (u64, Reached)>,
}

/// The label rows of codes or senders beyond [`MAX_KEYS`] are counted under.
const OTHERS: &str = "(others)";

/// The tally of `key` in `map`: `key`'s if it is already counted or there is room for
/// another (`kept` labels are, in every map that shares the cap), else [`OTHERS`]'s. A
/// label is copied in when first seen, not for every row.
fn counted<'m, V: Default>(map: &'m mut BTreeMap<String, V>, kept: usize, key: &str) -> &'m mut V {
    let key = if map.contains_key(key) || kept < MAX_KEYS {
        key
    } else {
        OTHERS
    };
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

impl Tally {
    /// An empty tally whose local times are in `zone`.
    pub fn new(zone: Zone) -> Tally {
        Tally {
            local: zone.hours(),
            zone,
            rows: 0,
            not_in_csv: 0,
            send: [0; SEND_ORDER.len()],
            delivery: BTreeMap::new(),
            reached: Reached::default(),
            failures: BTreeMap::new(),
            codes: 0,
            first: None,
            last: None,
            sends: 0,
            hours: Hours {
                width: BAR_HOURS[0],
                bars: BTreeMap::new(),
            },
            senders: BTreeMap::new(),
        }
    }

    /// Counts one row's last line: borrowed as the file is read, or an owned row lent.
    pub fn add<'r>(&mut self, row: impl Into<RowView<'r>>) {
        let row = row.into();
        let record = &row.record;
        let status = record.status;
        self.rows += 1;
        self.not_in_csv += u64::from(record.row == 0);
        let order = SEND_ORDER.iter().position(|s| *s == status).unwrap_or(0);
        self.send[order] += 1;
        if let Some(at) = sent_at::parse(record.sent_at) {
            self.sends += 1;
            self.first = Some(self.first.map_or(at, |f| f.min(at)));
            self.last = Some(self.last.map_or(at, |l| l.max(at)));
            self.hours.add(self.local.of(at));
        }
        let stage = match status {
            Status::Queued | Status::Skipped | Status::Deferred => None,
            Status::Invalid => Some(Stage::Input),
            Status::Failed | Status::Uncertain | Status::Sending => Some(Stage::Send),
        };
        if let Some(stage) = stage {
            self.fail(stage, code_of(record.error_code), record.row);
        }
        let reach = (status == Status::Queued).then(|| Reach::of(&row));
        if !record.sender.is_empty() {
            let sender = cut(record.sender);
            let kept = self.senders.len();
            let tally = counted(&mut self.senders, kept, sender);
            tally.0 += 1;
            if let Some(reach) = reach {
                tally.1.add(reach);
            }
        }
        let Some(reach) = reach else {
            return;
        };
        self.reached.add(reach);
        *self.delivery.entry(reach).or_insert(0) += 1;
        if !row.delivery.error.trim().is_empty() && reach != Reach::NotFound {
            let stage = match row.delivery.status {
                Some(DeliveryStatus::Failed) => Stage::Delivery,
                _ => Stage::Check,
            };
            self.fail(stage, code_of(row.delivery.error), record.row);
        }
    }

    fn fail(&mut self, stage: Stage, code: &str, row: u64) {
        let codes = self.failures.entry(stage).or_default();
        let before = codes.len();
        let (rows, examples) = counted(codes, self.codes, code);
        *rows += 1;
        // Row 0: a recipient no longer in the CSV, counted but not a row to look at.
        if row > 0 && (examples.len() < EXAMPLES || examples.last() > Some(&row)) {
            let at = examples.partition_point(|r| *r < row);
            examples.insert(at, row);
            examples.truncate(EXAMPLES);
        }
        self.codes += codes.len() - before;
    }

    /// The report of the rows counted, for the file named `results`.
    pub fn finish(self, results: &str) -> Report {
        let Tally {
            zone,
            local: _,
            rows,
            not_in_csv,
            send,
            delivery,
            reached,
            failures,
            codes: _,
            first,
            last,
            sends,
            hours,
            senders,
        } = self;
        let invalid = (SEND_ORDER.iter().zip(send))
            .find(|(s, _)| **s == Status::Invalid)
            .map_or(0, |(_, n)| n);
        let send = (SEND_ORDER.iter().zip(send))
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| Count {
                status: s.as_str().to_string(),
                rows: n,
                percent: percent(n, rows),
            })
            .collect();
        let delivery = (delivery.into_iter())
            .map(|(reach, n)| Count {
                status: reach.label().to_string(),
                rows: n,
                percent: percent(n, reached.queued),
            })
            .collect();
        let mut failures: Vec<Failure> = (failures.into_iter())
            .flat_map(|(stage, codes)| {
                codes
                    .into_iter()
                    .map(move |(code, (rows, examples))| Failure {
                        stage,
                        code,
                        rows,
                        examples: (examples.into_iter()).map(|row| Example { row }).collect(),
                    })
            })
            .collect();
        failures.sort_by_key(|f| std::cmp::Reverse(f.rows));
        let duration = first
            .zip(last)
            .map(|(a, b)| b.duration_since(a).as_secs_f64());
        let width = hours.width;
        let bars = match (hours.bars.keys().next(), hours.bars.keys().next_back()) {
            (Some(&from), Some(&to)) => (0..=(to - from) / width)
                .map(|i| from + i * width)
                .map(|start| Bar {
                    start: zone.local_hour(start),
                    sends: hours.bars.get(&start).copied().unwrap_or(0),
                })
                .collect(),
            _ => Vec::new(),
        };
        let checked = reached.checked > 0;
        Report {
            results: results.to_string(),
            time_zone: zone.describe(),
            rows,
            not_in_csv,
            valid: rows - invalid,
            send,
            queued: reached.queued,
            checked: reached.checked,
            delivery,
            delivered: checked.then_some(reached.delivered),
            read: checked.then_some(reached.read),
            delivered_rate: reached.rate(reached.delivered),
            read_rate: reached.rate(reached.read),
            failures,
            first_sent_at: first.map(|t| t.to_string()),
            last_sent_at: last.map(|t| t.to_string()),
            duration_seconds: duration,
            sends_per_minute: duration
                .filter(|d| *d > 0.0)
                .map(|d| ((sends - 1) as f64 * 600.0 / d).round() / 10.0),
            sends_over_time: SendsOverTime {
                hours_per_bar: width,
                bars,
            },
            senders: (senders.into_iter())
                .map(|(sender, (rows, reached))| SenderFigures {
                    sender,
                    rows,
                    queued: reached.queued,
                    delivered_rate: reached.rate(reached.delivered),
                    read_rate: reached.rate(reached.read),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Record;
    use crate::journal::delivery::{Delivery, ResultRow, Slot};

    fn row(row: u64, status: Status) -> ResultRow {
        let mut record = Record::new(row, &format!("+55119999{row:05}"), status);
        if matches!(status, Status::Queued | Status::Failed | Status::Uncertain) {
            record.sent_at = format!("2026-03-02T12:00:{:02}Z", row % 60);
        }
        ResultRow {
            record,
            delivery: Delivery::default(),
            slot: Slot::Row(u32::try_from(row).unwrap_or(0)),
        }
    }

    fn checked(mut r: ResultRow, status: Option<DeliveryStatus>, error: &str) -> ResultRow {
        r.delivery.status = status;
        r.delivery.error = error.into();
        r.delivery.checked_at = "2026-06-01T12:00:00Z".into();
        r
    }

    fn report(rows: &[ResultRow]) -> Report {
        let mut tally = Tally::new(Zone::new(Some("UTC")).unwrap());
        rows.iter().for_each(|r| tally.add(r));
        tally.finish("r.csv")
    }

    #[test]
    fn rates_are_none_not_zero_when_nothing_was_checked() {
        let r = report(&[row(1, Status::Queued), row(2, Status::Queued)]);
        assert_eq!((r.queued, r.checked), (2, 0));
        assert_eq!((r.delivered_rate, r.read_rate), (None, None));
        assert_eq!((r.delivered, r.read), (None, None));
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["deliveredRate"].is_null(), "{json}");
        assert_eq!(r.delivery[0].status, NOT_CHECKED);
        let text = super::super::text::Text {
            report: &r,
            zone: &Zone::new(Some("UTC")).unwrap(),
        }
        .to_string();
        assert!(text.contains("n/a"), "{text}");
        assert!(!text.contains(" 0.0%\n  read"), "{text}");

        // One row checked: rates of queued, and the unchecked one still says so.
        let r = report(&[
            checked(row(1, Status::Queued), Some(DeliveryStatus::Delivered), ""),
            row(2, Status::Queued),
        ]);
        assert_eq!((r.delivered_rate, r.read_rate), (Some(50.0), Some(0.0)));
    }

    #[test]
    fn rows_looked_up_without_a_state_are_not_counted_as_not_checked() {
        let r = report(&[
            checked(row(1, Status::Queued), None, "NOT_FOUND"),
            row(2, Status::Queued),
            checked(row(3, Status::Queued), None, "ANSWER_FOR_ANOTHER_ID"),
        ]);
        let labels: Vec<(&str, u64)> = (r.delivery.iter())
            .map(|c| (c.status.as_str(), c.rows))
            .collect();
        assert_eq!(
            labels,
            [("NOT_FOUND", 1), ("UNANSWERED", 1), (NOT_CHECKED, 1)]
        );
        assert_eq!(r.delivered_rate, None, "a 404 is not a delivery status");
    }

    #[test]
    fn invalid_rows_are_input_failures_not_send_failures() {
        let mut bad = row(3, Status::Invalid);
        bad.record.error_code = "INVALID_DESTINATION".into();
        let mut refused = row(4, Status::Failed);
        refused.record.error_code = "TEMPLATE_NOT_FOUND".into();
        let r = report(&[bad.clone(), bad, refused]);
        let stages: Vec<(Stage, &str, u64)> = (r.failures.iter())
            .map(|f| (f.stage, f.code.as_str(), f.rows))
            .collect();
        assert_eq!(
            stages,
            [
                (Stage::Input, "INVALID_DESTINATION", 2),
                (Stage::Send, "TEMPLATE_NOT_FOUND", 1)
            ]
        );
        assert_eq!(r.failures[0].examples, [Example { row: 3 }; 2]);
    }

    #[test]
    fn all_invalid_means_nothing_valid_nothing_sent() {
        let r = report(&[row(1, Status::Invalid), row(2, Status::Invalid)]);
        assert_eq!((r.rows, r.valid, r.queued), (2, 0, 0));
        assert!(r.delivery.is_empty() && r.sends_over_time.bars.is_empty());
        assert_eq!((r.first_sent_at.as_ref(), r.duration_seconds), (None, None));
        assert_eq!(r.sends_per_minute, None);
        assert_eq!(r.failures[0].stage, Stage::Input);
    }

    #[test]
    fn one_row_has_no_pace_and_one_bar() {
        let r = report(&[row(1, Status::Queued)]);
        assert_eq!(r.duration_seconds, Some(0.0));
        assert_eq!(r.sends_per_minute, None, "no pace from one send");
        assert_eq!(
            r.sends_over_time.bars,
            [Bar {
                start: "2026-03-02 12:00".into(),
                sends: 1
            }]
        );
    }

    #[test]
    fn empty_file_has_no_figures() {
        let r = report(&[]);
        assert_eq!((r.rows, r.queued, r.delivered_rate), (0, 0, None));
        assert!(r.send.is_empty() && r.failures.is_empty());
    }

    #[test]
    fn recipients_no_longer_in_the_csv_count_but_are_no_examples() {
        let mut gone = row(0, Status::Uncertain);
        gone.record.error_code = "TIMEOUT".into();
        let mut late = row(9, Status::Uncertain);
        late.record.error_code = "TIMEOUT".into();
        let r = report(&[gone.clone(), gone, late, row(1, Status::Queued)]);
        assert_eq!((r.rows, r.not_in_csv), (4, 2));
        assert_eq!(r.failures[0].rows, 3);
        assert_eq!(r.failures[0].examples, [Example { row: 9 }]);
    }

    #[test]
    fn examples_are_the_lowest_rows_whatever_the_order() {
        let rows: Vec<ResultRow> = [7, 2, 9, 1, 5]
            .into_iter()
            .map(|n| checked(row(n, Status::Queued), Some(DeliveryStatus::Failed), "X"))
            .collect();
        let r = report(&rows);
        let examples: Vec<u64> = r.failures[0].examples.iter().map(|e| e.row).collect();
        assert_eq!(examples, [1, 2, 5]);
    }

    #[test]
    fn hostile_codes_and_senders_are_capped() {
        let rows: Vec<ResultRow> = (1..=1000)
            .map(|n| {
                let mut r = row(n, Status::Failed);
                r.record.error_code = format!("CODE_{n}_{}", "x".repeat(200));
                r.record.sender = format!("<script>{n}</script>");
                r
            })
            .collect();
        let r = report(&rows);
        assert_eq!(r.failures.len(), MAX_KEYS + 1);
        assert_eq!(r.failures.iter().map(|f| f.rows).sum::<u64>(), 1000);
        assert!(
            r.failures
                .iter()
                .all(|f| f.code.chars().count() <= MAX_LABEL)
        );
        assert_eq!(r.senders.len(), MAX_KEYS + 1);
        assert!(r.senders.iter().any(|s| s.sender == OTHERS));
    }

    #[test]
    fn a_long_campaign_gets_wider_bars_never_more_than_the_cap() {
        let mut tally = Tally::new(Zone::new(Some("America/Sao_Paulo")).unwrap());
        for day in 0..400 {
            let mut r = row(day + 1, Status::Queued);
            let start: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
            r.record.sent_at =
                (start + jiff::SignedDuration::from_hours(24 * day as i64)).to_string();
            tally.add(&r);
        }
        let r = tally.finish("r.csv");
        let over = &r.sends_over_time;
        assert_eq!(over.hours_per_bar, 168);
        assert!(over.bars.len() as i64 <= MAX_BARS, "{}", over.bars.len());
        assert_eq!(over.bars.iter().map(|b| b.sends).sum::<u64>(), 400);
        // Local hours: 12:00 UTC is 09:00 in São Paulo.
        let mut short = Tally::new(Zone::new(Some("America/Sao_Paulo")).unwrap());
        short.add(&row(1, Status::Queued));
        assert_eq!(
            short.finish("r").sends_over_time.bars[0].start,
            "2026-03-02 09:00"
        );
    }
}
