//! The report as a table for a terminal or a cron mail.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

use super::figures::{NOT_CHECKED, Report};
use crate::fmt::{human, shown};

/// The text form of a [`Report`], local times in `zone`.
pub struct Text<'a> {
    pub report: &'a Report,
    pub zone: &'a super::Zone,
}

/// A rate for people: `n/a` (not 0%) when nothing was checked.
pub fn rate(rate: Option<f64>) -> String {
    rate.map_or_else(|| "n/a".to_string(), |r| format!("{r:.1}%"))
}

/// The first and last send to the second and the time between those two displayed
/// seconds, so the three figures agree (the JSON keeps the full precision).
pub fn span(report: &Report, zone: &super::Zone) -> Option<(String, String, String)> {
    let parse = |t: &Option<String>| {
        t.as_deref()?
            .parse::<Timestamp>()
            .ok()?
            .round(jiff::Unit::Second)
            .ok()
    };
    let (first, last) = (parse(&report.first_sent_at)?, parse(&report.last_sent_at)?);
    let seconds = last.duration_since(first).as_secs().max(0).unsigned_abs();
    let took = match seconds {
        0 => "0s".to_string(),
        s => human(Duration::from_secs(s)),
    };
    Some((zone.local(first), zone.local(last), took))
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.report;
        let width = report
            .failures
            .iter()
            .map(|x| x.stage.as_str().len() + 1 + shown(&x.code).chars().count())
            .chain([26])
            .max()
            .unwrap_or(26);
        let line = |f: &mut fmt::Formatter<'_>, label: &str, rows: u64, pct: f64| {
            writeln!(f, "  {label:<width$} {rows:>7} {pct:>7.1}%")
        };
        writeln!(f, "Campaign report: {}", crate::fmt::path(&report.results))?;
        writeln!(f)?;
        writeln!(f, "{:<w$} {:>7} {:>8}", "Send", "rows", "%", w = width + 2)?;
        for count in &report.send {
            line(f, &count.status, count.rows, count.percent)?;
        }
        let all = if report.rows > 0 { 100.0 } else { 0.0 };
        line(f, "total", report.rows, all)?;
        if report.not_in_csv > 0 {
            writeln!(
                f,
                "  {:<width$} {:>7}",
                "of which no longer in CSV", report.not_in_csv
            )?;
        }
        if report.queued > 0 {
            writeln!(f)?;
            let title = format!("Delivery (of {} queued)", report.queued);
            writeln!(f, "{title:<w$} {:>7} {:>8}", "rows", "%", w = width + 2)?;
            for count in &report.delivery {
                line(f, &count.status, count.rows, count.percent)?;
            }
            writeln!(f)?;
            writeln!(
                f,
                "Rates (of queued; {} of {} checked)",
                report.checked, report.queued
            )?;
            let delivered = rate(report.delivered_rate);
            writeln!(
                f,
                "  {:<width$} {delivered:>16}",
                "delivered (DELIVERED+READ)"
            )?;
            writeln!(f, "  {:<width$} {:>16}", "read*", rate(report.read_rate))?;
        }
        if !report.senders.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<w$} {:>7} {:>7} {:>10} {:>6}",
                "By number",
                "rows",
                "queued",
                "delivered",
                "read*",
                w = width + 2
            )?;
            for s in &report.senders {
                writeln!(
                    f,
                    "  {:<width$} {:>7} {:>7} {:>10} {:>6}",
                    shown(&s.sender),
                    s.rows,
                    s.queued,
                    rate(s.delivered_rate),
                    rate(s.read_rate)
                )?;
            }
        }
        if !report.failures.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<w$} {:>7}  example rows",
                "Failures",
                "rows",
                w = width + 2
            )?;
            for failure in &report.failures {
                // Codes and labels are a results file's cells, which anyone may have
                // written: an escape sequence in one (clearing the screen, writing the
                // clipboard) or a bidirectional override is shown escaped, never run.
                let label = format!("{} {}", failure.stage.as_str(), shown(&failure.code));
                let examples: Vec<String> = (failure.examples.iter())
                    .map(|e| e.row.to_string())
                    .collect();
                writeln!(
                    f,
                    "  {label:<width$} {:>7}  {}",
                    failure.rows,
                    examples.join(", ")
                )?;
            }
        }
        if let Some((first, last, took)) = span(report, self.zone) {
            writeln!(f)?;
            writeln!(f, "Sending ({})", report.time_zone)?;
            writeln!(f, "  {:<width$} {first:>19}", "first")?;
            writeln!(f, "  {:<width$} {last:>19}", "last")?;
            writeln!(f, "  {:<width$} {took:>19}", "duration")?;
            if let Some(pace) = report.sends_per_minute {
                writeln!(f, "  {:<width$} {:>19}", "pace", format!("{pace:.1}/min"))?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "Rows are data rows: row 1 is the first row after the header (spreadsheet line = row + 1, unless a blank line or a cell with line breaks comes above the row)."
        )?;
        if report.queued > 0 {
            writeln!(
                f,
                "* READ is only reported by recipients with read receipts on: a floor, not the true read rate."
            )?;
            if report.delivery.iter().any(|c| c.status == NOT_CHECKED) {
                writeln!(
                    f,
                    "  NOT_CHECKED rows have not been looked up: run `campaign-sender status` first."
                )?;
            }
        }
        Ok(())
    }
}
