//! The report as one self-contained HTML page: inline CSS and SVG only, no script, font,
//! image or stylesheet fetched (a Content-Security-Policy says so to the browser too), so
//! it opens from a mail attachment with no network. Every cell from the results file is
//! escaped.

use std::fmt::Write;

use super::figures::Report;
use super::svg::{Item, bars, columns, escape};
use super::text::{rate, span};
use super::zone::Zone;

const STYLE: &str = "body{font-family:sans-serif;margin:24px auto;max-width:980px;color:#1a202c;padding:0 12px}\
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}\
.meta{color:#555;font-size:13px}.cards{display:flex;flex-wrap:wrap;gap:12px}\
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:110px}\
.card b{display:block;font-size:22px}.card span{font-size:12px;color:#555}\
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}\
td.n{text-align:right}svg{max-width:100%;height:auto}.note{font-size:12px;color:#555}";

/// Colour of a delivery state's bar.
fn colour(status: &str) -> &'static str {
    match status {
        "READ" => "#276749",
        "DELIVERED" => "#38a169",
        "SENT" => "#63b3ed",
        "QUEUED" => "#a0aec0",
        "FAILED" => "#e53e3e",
        "CANCELED" => "#dd6b20",
        "NOT_FOUND" => "#805ad5",
        _ => "#cbd5e0",
    }
}

/// How every page starts: a file that does not is not written over ([`super::report`]).
pub(super) const START: &[u8] = b"<!DOCTYPE html>";

/// The whole page.
pub fn page(report: &Report, zone: &Zone) -> String {
    let mut html = String::with_capacity(16 * 1024);
    let file = escape(&report.results);
    let now = zone.local(jiff::Timestamp::now());
    let _ = write!(
        html,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Campaign report: {file}</title><style>{STYLE}</style></head><body><h1>Campaign report</h1><p class="meta">Results file: <code>{file}</code><br>Local times in {tz}. Generated {now}.</p>"#,
        tz = escape(&report.time_zone),
    );
    cards(&mut html, report, zone);
    funnel(&mut html, report);
    over_time(&mut html, report);
    delivery(&mut html, report);
    failures(&mut html, report);
    senders(&mut html, report);
    html.push_str(
        r#"<p class="note">Rows are data rows: row 1 is the first row after the header, so its spreadsheet line is row + 1, unless a blank line or a cell with line breaks comes above the row. READ is only reported by recipients with read receipts on: the read rate is a floor, not the true figure. Rates are "n/a" until <code>campaign-sender status</code> has looked rows up.</p></body></html>"#,
    );
    html.push('\n');
    html
}

fn cards(html: &mut String, report: &Report, zone: &Zone) {
    let duration = span(report, zone).map_or_else(|| "-".to_string(), |(_, _, took)| took);
    let pace = report
        .sends_per_minute
        .map_or_else(|| "-".to_string(), |p| format!("{p:.1}/min"));
    let cards = [
        ("rows", report.rows.to_string()),
        ("accepted (QUEUED)", report.queued.to_string()),
        ("delivered (of accepted)", rate(report.delivered_rate)),
        ("read* (of accepted)", rate(report.read_rate)),
        ("sending took", duration),
        ("pace", pace),
    ];
    html.push_str(r#"<div class="cards">"#);
    for (label, value) in cards {
        let _ = write!(
            html,
            r#"<div class="card"><b>{}</b><span>{}</span></div>"#,
            escape(&value),
            escape(label)
        );
    }
    html.push_str("</div>");
}

fn funnel(html: &mut String, report: &Report) {
    let of_rows = |n: u64| format!("{n} ({:.1}%)", super::figures::percent(n, report.rows));
    let checked = |n: Option<u64>| n.map_or_else(|| "n/a: not checked yet".into(), of_rows);
    let items = [
        ("rows", report.rows, of_rows(report.rows), "#2c5282"),
        ("valid", report.valid, of_rows(report.valid), "#2b6cb0"),
        ("accepted", report.queued, of_rows(report.queued), "#3182ce"),
        (
            "delivered",
            report.delivered.unwrap_or(0),
            checked(report.delivered),
            "#38a169",
        ),
        (
            "read*",
            report.read.unwrap_or(0),
            checked(report.read),
            "#276749",
        ),
    ];
    let items: Vec<Item<'_>> = (items.into_iter())
        .map(|(label, value, note, color)| Item {
            label,
            value,
            note,
            color,
        })
        .collect();
    html.push_str("<h2>Funnel</h2>");
    html.push_str(&bars("Funnel", &items, true));
}

fn over_time(html: &mut String, report: &Report) {
    let per = match report.sends_over_time.hours_per_bar {
        1 => "hour".to_string(),
        24 => "day".to_string(),
        168 => "week".to_string(),
        n if n % 168 == 0 => format!("{} weeks", n / 168),
        n => format!("{n} hours"),
    };
    let _ = write!(html, "<h2>Sends per {per}</h2>");
    let bars = &report.sends_over_time.bars;
    if bars.is_empty() {
        html.push_str("<p>Nothing sent yet.</p>");
        return;
    }
    let data: Vec<(String, u64)> = bars.iter().map(|b| (b.start.clone(), b.sends)).collect();
    html.push_str(&columns(&format!("Sends per {per}"), &data));
}

fn delivery(html: &mut String, report: &Report) {
    let _ = write!(
        html,
        "<h2>Delivery outcomes (of {} accepted; {} checked)</h2>",
        report.queued, report.checked
    );
    if report.delivery.is_empty() {
        html.push_str("<p>No row accepted yet.</p>");
        return;
    }
    let items: Vec<Item<'_>> = (report.delivery.iter())
        .map(|c| Item {
            label: &c.status,
            value: c.rows,
            note: format!("{} ({:.1}%)", c.rows, c.percent),
            color: colour(&c.status),
        })
        .collect();
    html.push_str(&bars("Delivery outcomes", &items, false));
}

fn failures(html: &mut String, report: &Report) {
    html.push_str("<h2>Failures by reason</h2>");
    if report.failures.is_empty() {
        html.push_str("<p>None.</p>");
        return;
    }
    let items: Vec<(String, &super::Failure)> = (report.failures.iter())
        .map(|f| (format!("{} {}", f.stage.as_str(), f.code), f))
        .collect();
    let chart: Vec<Item<'_>> = (items.iter())
        .map(|(label, f)| Item {
            label,
            value: f.rows,
            note: f.rows.to_string(),
            color: "#e53e3e",
        })
        .collect();
    html.push_str(&bars("Failures by reason", &chart, false));
    html.push_str("<table><tr><th>stage</th><th>code</th><th>rows</th><th>example rows</th></tr>");
    for (_, f) in &items {
        let examples: Vec<String> = (f.examples.iter()).map(|e| e.row.to_string()).collect();
        let _ = write!(
            html,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td>{}</td></tr>"#,
            f.stage.as_str(),
            escape(&f.code),
            f.rows,
            examples.join(", ")
        );
    }
    html.push_str("</table>");
}

fn senders(html: &mut String, report: &Report) {
    if report.senders.is_empty() {
        return;
    }
    html.push_str("<h2>By sender number</h2><table><tr><th>number</th><th>rows</th><th>accepted</th><th>delivered</th><th>read*</th></tr>");
    for s in &report.senders {
        let _ = write!(
            html,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            escape(&s.sender),
            s.rows,
            s.queued,
            rate(s.delivered_rate),
            rate(s.read_rate)
        );
    }
    html.push_str("</table>");
}
