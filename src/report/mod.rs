//! `campaign-sender report RESULTS.csv`: the campaign on one screen (or as JSON, or as a
//! self-contained HTML page with charts). Rows by send status and by delivery status,
//! failures by code with example rows, delivery and read rates, how long sending took and
//! the pace achieved. Read-only and lock-free, so it works while a send or status pass is
//! running; the file is streamed, so a million rows cost flat memory.

mod figures;
mod html;
mod sent_at;
mod svg;
mod tally;
mod text;
mod zone;

use std::io::Read as _;
use std::path::{Path, PathBuf};

pub use figures::Failure;
pub use tally::Tally;
pub use zone::Zone;

use crate::journal::delivery::fold_rows;

/// `campaign-sender report` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The campaign's results CSV.
    #[arg(value_name = "RESULTS.csv")]
    pub results: PathBuf,

    /// Print the figures as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Also write the report as one self-contained HTML page with charts (opens with no
    /// network, e.g. from an e-mail attachment).
    #[arg(long, value_name = "FILE.html")]
    pub html: Option<PathBuf>,

    /// Time zone for local times, as for the send (e.g. America/Sao_Paulo)
    /// [default: the machine's].
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,

    /// The ledger to show each number's last 24 h from, or `off` [default: as for a send].
    #[arg(long, value_name = "PATH|off")]
    pub ledger: Option<String>,

    /// Show each number's last 24 h in the ledger against this cap (as --daily-cap).
    #[arg(long, value_name = "N")]
    pub daily_cap: Option<u64>,

    /// The senders file the campaign was sent with: the ledger's numbers are shown by their
    /// labels, each against its own `daily-cap` (keys read from the environment as for a send,
    /// only to tell the numbers apart).
    #[arg(long, value_name = "FILE.toml")]
    pub senders: Option<PathBuf>,

    /// The provider the campaign was sent through (for --senders).
    #[arg(long, value_enum, default_value_t = crate::provider::ProviderKind::PilotStatus)]
    pub provider: crate::provider::ProviderKind,
}

/// Runs the report and returns the exit code (2 if the file cannot be read or the page
/// cannot be written).
pub fn run(args: &ReportArgs) -> u8 {
    match report(args) {
        Ok(()) => 0,
        Err(why) => {
            tracing::error!("{why}");
            2
        }
    }
}

/// Why the report did not reach stdout (a full disk under `> report.txt`).
fn lost(e: std::io::Error) -> String {
    format!("cannot write the report to stdout: {e}")
}

fn report(args: &ReportArgs) -> Result<(), String> {
    let zone = Zone::new(args.tz.as_deref())?;
    if let Some(page) = &args.html {
        refuse_overwriting_results(page, &args.results)?;
    }
    let tally = fold_rows(
        &args.results,
        || Tally::new(zone.clone()),
        |t, row| t.add(row),
    )
    .map_err(|e| e.to_string())?;
    let report = tally.finish(&args.results.display().to_string());
    if let Some(page) = &args.html {
        std::fs::write(page, html::page(&report, &zone))
            .map_err(|e| format!("cannot write {}: {e}", crate::fmt::path(&page)))?;
        tracing::info!("HTML report written to {}", crate::fmt::path(&page));
    }
    if args.json {
        let json = serde_json::to_string_pretty(&report).expect("a report always serializes");
        crate::progress::print_out(format_args!("{json}\n")).map_err(lost)?;
    } else {
        crate::progress::print_out(text::Text {
            report: &report,
            zone: &zone,
        })
        .map_err(lost)?;
        // The ledger's view of each number, when there is a ledger.
        if let Some(ledger) =
            crate::ledger::view::existing(args.ledger.as_deref(), false, Path::new(""))
        {
            let caps = crate::ledger::view::Caps::of(
                args.daily_cap,
                args.senders.as_deref(),
                args.provider,
                &|name| std::env::var(name).ok(),
            )?;
            let view = crate::ledger::view::last_day(&ledger, &caps, jiff::Timestamp::now());
            crate::progress::print_out(view.map_err(|e| e.to_string())?).map_err(lost)?;
        }
    }
    Ok(())
}

/// The results file, the campaign's CSV and any other file are the user's: `--html` naming
/// one (a slip of the shell) must not replace it with a page. Only an earlier page (a file
/// that starts as one) is written over; a pipe is refused unopened, as reading its start
/// (or writing the page into it) would wait for the other end forever.
fn refuse_overwriting_results(page: &Path, results: &Path) -> Result<(), String> {
    crate::plain_file::check(page, "give the page a file name (e.g. report.html)")
        .map_err(|e| format!("--html {e}"))?;
    let same = match (page.canonicalize(), results.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => page == results,
    };
    if same {
        return Err(format!(
            "--html {} names the results file itself: give the page another name (e.g. report.html)",
            crate::fmt::path(&page)
        ));
    }
    let mut start = [0; 15];
    let read = std::fs::File::open(page).and_then(|mut f| f.read(&mut start));
    match read {
        Ok(n) if n > 0 && !html::START.starts_with(&start[..n]) => Err(format!(
            "--html {} is a file that is not a report: it is left as it is. Give the page a \
             new name (e.g. report.html)",
            crate::fmt::path(&page)
        )),
        _ => Ok(()),
    }
}
