//! `campaign-sender test`: the campaign's real message, on the sender's own phone, before the
//! list gets it. The chosen rows are read, validated and rendered exactly as the campaign
//! would (same settings, campaign file, provider and pace), but each goes to the test numbers
//! instead of the row's destination, and the campaign's results file (and its lock) is never
//! read nor written: a test leaves the campaign as it was.

use std::path::PathBuf;

use crate::clock::Clock;
use crate::input::{CsvInput, Verdict};
use crate::journal::{Record, Status};
use crate::ledger::{CapReached, LedgerError, Refusal, Rules, RunLedger};
use crate::message::{Destination, Message};
use crate::pacing::hold::{self, Held};
use crate::pacing::{Pacer, WaitTooLong};
use crate::provider::{ErrorClass, Provider};
use crate::retry::honor;
use crate::settings::{CampaignOptions, Settings};

/// A test costs real messages: more than this is a campaign, not a test.
const MOST_MESSAGES: usize = 50;

/// `campaign-sender test <CSV> --to NUMBER [--to NUMBER…] [--rows LIST]` and the send options.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The campaign CSV, as for a real send.
    #[arg(value_name = "CSV")]
    pub csv: PathBuf,

    /// Campaign settings file [default: <csv stem>.toml beside the CSV, if present].
    #[arg(long, value_name = "FILE.toml")]
    pub campaign: Option<PathBuf>,

    /// A number to send the test to, checked like the CSV's phone numbers. Repeatable.
    #[arg(long = "to", value_name = "NUMBER", required = true)]
    pub to: Vec<String>,

    /// Data rows to send, e.g. 1,4-6 (numbered as in the results file) [default: the first
    /// valid row].
    #[arg(long, value_name = "LIST")]
    pub rows: Option<String>,

    #[command(flatten)]
    pub options: CampaignOptions,
}

/// Why a test cannot be sent: all found before the first send (exit 2).
#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error("{0}")]
    Settings(#[from] crate::settings::SettingsError),
    #[error("{0}")]
    Input(#[from] crate::input::InputError),
    #[error("{0}")]
    Connect(#[from] crate::connect::ConnectError),
    #[error("--to '{given}': {why}")]
    To { given: String, why: String },
    #[error(
        "--rows '{0}' is not a list of rows: write e.g. 1,4-6 (row 1 is the first under the header)"
    )]
    Rows(String),
    #[error("the file has no row {0}: choose rows between 1 and its last row")]
    NoSuchRow(u64),
    #[error(
        "row {row} would not be sent ({code}: {message}): fix it, or choose another row with --rows"
    )]
    NotSendable {
        row: u64,
        code: String,
        message: String,
    },
    #[error("no row of the file is valid: fix the rows (a --dry-run lists why each is invalid)")]
    NoValidRow,
    #[error("{0} test messages: a test sends at most {MOST_MESSAGES}; choose fewer --rows or --to")]
    TooMany(usize),
    /// Not confirmed at the terminal.
    #[error("{0}")]
    Run(#[from] crate::runner::RunError),
    #[error("{0}")]
    Ledger(#[from] LedgerError),
}

/// Runs the test send and returns the exit code: 0 every message accepted, 1 some refused
/// (or not sent: the API asked to wait longer than this tool waits), 2 nothing sent (set-up,
/// bad rows or numbers, not confirmed).
pub(crate) async fn run(args: &TestArgs) -> u8 {
    match send(args).await {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            tracing::error!("{e}");
            2
        }
    }
}

/// Whether every test message was accepted.
async fn send(args: &TestArgs) -> Result<bool, TestError> {
    let settings = Settings::resolve(&args.csv, args.campaign.as_deref(), &args.options, &|n| {
        std::env::var(n).ok()
    })?;
    let to = args
        .to
        .iter()
        .map(|given| {
            crate::input::test_destination(&settings.input, given)
                .map(|destination| (given.as_str(), destination))
                .map_err(|e| TestError::To {
                    given: given.clone(),
                    why: e.message,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let to = distinct(to);
    let chosen = match &args.rows {
        Some(list) => Some(rows(list).ok_or_else(|| TestError::Rows(list.clone()))?),
        None => None,
    };
    let messages = messages(&settings, chosen.as_deref())?;
    let count = messages.len() * to.len();
    if count > MOST_MESSAGES {
        return Err(TestError::TooMany(count));
    }
    let (_target, providers) = crate::reach(&settings).await?;
    crate::runner::confirmed(
        count as u64,
        &settings,
        crate::confirm::interactive(),
        false,
    )?;
    let clock = Clock::real();
    let mut pacer = Pacer::new(settings.rate, settings.spacing, clock.clone(), None);
    let tally = crate::blocking::blocking(|| Tally::open(&settings, &clock))?;
    if let Some(tally) = &tally {
        pacer.after_last_send(tally.ledger.last_send(&tally.label)?);
        // A wait an answer asked of the number, in any run: honored, or beyond what a run
        // waits, nothing is sent.
        match Held::at(tally.ledger.held_until(&tally.label)?, clock.wall()) {
            Held::No => {}
            Held::For(left) => pacer.hold(left),
            Held::Beyond(until) => {
                tracing::error!(
                    "the API asked this number to wait until {until}: no test message was \
                     sent; test again after that"
                );
                return Ok(false);
            }
        }
    }
    let provider = providers[0].as_ref();
    let mut all_accepted = true;
    let tests = messages
        .iter()
        .flat_map(|(row, message)| to.iter().map(move |to| (*row, message, to)));
    for (sent, (row, message, destination)) in tests.enumerate() {
        let message = Message {
            destination: destination.clone(),
            ..message.clone()
        };
        let tallied = Tallied {
            tally: tally.as_ref(),
            send: sent as u64 + 1,
        };
        // A spent cap is said at once, not after waiting for the number's pace.
        let outcome = match tallied.take(clock.wall()) {
            Ok(()) => {
                pacer.ready().await;
                send_one(
                    provider,
                    &pacer,
                    &tallied,
                    row,
                    &message,
                    &clock,
                    settings.dry_run,
                )
                .await
            }
            Err(stop) => Err(stop),
        };
        match outcome {
            Ok(accepted) => all_accepted &= accepted,
            Err(stop) => {
                // Whether message `sent + 1` itself went depends on the stop (a spent cap
                // sent nothing; a refusal answered it): the ones sent are printed on stdout.
                let (at, after) = (sent + 1, count - sent - 1);
                tracing::error!(
                    "{stop}. The test stopped at message {at} of {count}; the {after} after it \
                     were not sent"
                );
                return Ok(false);
            }
        }
    }
    Ok(all_accepted)
}

/// The ledger as a test uses it: a test message is a send of the number like any other, so
/// it counts against the number's `--daily-cap` and paces the number's next send across
/// runs; it is recorded under a campaign of its own (`test/…`), so a list's recipient is
/// never skipped as `ALREADY_SENT` because a test reached their phone.
struct Tally {
    ledger: RunLedger,
    label: String,
    /// The ledger's file, for its errors.
    path: PathBuf,
}

impl Tally {
    /// `None` when the ledger is off (or for a dry run, which opens none).
    fn open(settings: &Settings, clock: &Clock) -> Result<Option<Tally>, LedgerError> {
        let Some(mut ledger) = RunLedger::open(settings, clock.wall())? else {
            return Ok(None);
        };
        let test = format!("test/{}", ledger.sink.campaign.name);
        ledger.sink.campaign = crate::ledger::Campaign::named(test);
        ledger.sink.rules = Some(Rules {
            allow_resend: true,
            accepted_only: false,
            frequency_cap: None,
            ..ledger.checks.rules.clone()
        });
        let label = settings.senders.first().map(|s| s.label.clone());
        let path = match &settings.ledger {
            crate::ledger::Location::File(path) => path.clone(),
            crate::ledger::Location::Off => PathBuf::new(),
        };
        Ok(Some(Tally {
            ledger,
            label: label.unwrap_or_default(),
            path,
        }))
    }
}

/// An answer as the ledger keeps it: its message id (empty when none) and the wait it asked.
type Answer<'a> = (&'a str, Option<std::time::Duration>);

/// One test message's place in the ledger: its number in the run (the ledger's row).
struct Tallied<'a> {
    tally: Option<&'a Tally>,
    send: u64,
}

impl Tallied<'_> {
    /// Takes the send from the number's daily cap (as this run counts it).
    fn take(&self, now: jiff::Timestamp) -> Result<(), Stop> {
        match self.tally {
            Some(tally) => (tally.ledger.checks)
                .take(&tally.label, now.as_millisecond())
                .map_err(Stop::Cap),
            None => Ok(()),
        }
    }

    /// Records the intent before the request leaves; the cap spent by other runs meanwhile
    /// (judged again as the intent is recorded) stops the test. `Some`: another run of the
    /// number sent moments before, closer than the pace allows; nothing was recorded, and
    /// the message waits until then (ms since the epoch).
    fn intend(&self, to: &str, at: jiff::Timestamp) -> Result<Option<i64>, Stop> {
        let Some(tally) = self.tally else {
            return Ok(None);
        };
        let checks = &tally.ledger.checks;
        let refused = self.record(self.line(Status::Sending, to, at, ""))?;
        match refused.into_iter().next() {
            Some((_, Refusal::DailyCap { cap })) => Err(Stop::Cap(checks.cap_reached(
                &tally.label,
                cap,
                at.as_millisecond(),
            ))),
            Some((_, Refusal::Paced { until_ms })) => Ok(Some(until_ms)),
            // A test allows resends and has no frequency cap; the ledger's own failure
            // comes back as an error, not a refusal.
            Some((_, refusal)) => Err(Stop::Ledger(LedgerError {
                path: tally.path.clone(),
                problem: refusal.to_string(),
            })),
            None => Ok(None),
        }
    }

    /// Records how the send ended: accepted (with its id), uncertain, or not sent, with
    /// the wait the answer asked of the number.
    fn settle(
        &self,
        status: Status,
        to: &str,
        at: jiff::Timestamp,
        answer: Answer,
    ) -> Result<(), Stop> {
        let (id, wait) = answer;
        let error = hold::note(wait, at).unwrap_or_default();
        self.record(Record {
            error,
            ..self.line(status, to, at, id)
        })
        .map(drop)
    }

    /// A line for the ledger, as the results journal would write it.
    fn line(&self, status: Status, to: &str, at: jiff::Timestamp, id: &str) -> Record {
        Record {
            sender: self.tally.map(|t| t.label.clone()).unwrap_or_default(),
            message_id: id.to_string(),
            sent_at: at.to_string(),
            ..Record::new(self.send, to, status)
        }
    }

    fn record(&self, record: Record) -> Result<Vec<(usize, Refusal)>, Stop> {
        match self.tally {
            Some(tally) => Ok(tally.ledger.sink.record(&[record])?),
            None => Ok(Vec::new()),
        }
    }
}

/// The destinations of `--to` in the order given, each once: a number given twice, however
/// spelled (`+5511999990001` and `+55 11 99999-0001`), is one phone, and a phone is never
/// sent the same message twice. Each repeat is said, so the user knows the count is not a
/// mistake.
fn distinct(given: Vec<(&str, Destination)>) -> Vec<Destination> {
    let mut distinct: Vec<(&str, Destination)> = Vec::with_capacity(given.len());
    for (spelled, destination) in given {
        match distinct.iter().find(|(_, d)| *d == destination) {
            Some((first, _)) => tracing::warn!(
                "--to {}: given twice ('{first}' and '{spelled}'), sent once",
                destination.as_str()
            ),
            None => distinct.push((spelled, destination)),
        }
    }
    distinct.into_iter().map(|(_, d)| d).collect()
}

/// Why a test stops before its last message.
#[derive(Debug, thiserror::Error)]
enum Stop {
    /// A `Retry-After` longer than this tool waits, as it stops a campaign.
    #[error("{0}")]
    Wait(WaitTooLong),
    /// The number's `--daily-cap` is spent.
    #[error("{0}")]
    Cap(CapReached),
    /// The ledger could not record the send.
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    /// An answer that stops a campaign (a refused key, a suspended account, a redirect, a
    /// campaign setting the API refused): every later test message would meet it too.
    #[error("the API's answer ({0}) would refuse every test message the same way")]
    Refused(String),
}

impl From<WaitTooLong> for Stop {
    fn from(wait: WaitTooLong) -> Stop {
        Stop::Wait(wait)
    }
}

/// Sends one test message, once (with `--dry-run`, prints its body) and prints `row, to, id`
/// on stdout; whether it was accepted. Any answer's `Retry-After` holds the next test
/// message, as it holds a campaign's send.
async fn send_one(
    provider: &dyn Provider,
    pacer: &Pacer,
    tallied: &Tallied<'_>,
    row: u64,
    message: &Message,
    clock: &Clock,
    dry_run: bool,
) -> Result<bool, Stop> {
    let to = message.destination.as_str();
    // A dry run has no tally: it records nothing and waits for no other run.
    let now = loop {
        let now = clock.wall();
        match tallied.intend(to, now)? {
            None => break now,
            Some(until_ms) => {
                let wait = until_ms.saturating_sub(now.as_millisecond());
                pacer.hold(std::time::Duration::from_millis(
                    u64::try_from(wait).unwrap_or(0),
                ));
                pacer.ready().await;
            }
        }
    };
    let mut body = Vec::new();
    provider.write_body(message, now, &mut body);
    if dry_run {
        crate::progress::print_done(format!("{}\n", String::from_utf8_lossy(&body)));
        return Ok(true);
    }
    let answer = provider.send(body).await;
    let (status, id, wait) = match &answer {
        Ok(accepted) => (
            Status::Queued,
            accepted.message_id.as_str(),
            accepted.retry_after,
        ),
        Err(e) if e.class.may_have_sent() => (Status::Uncertain, "", e.retry_after),
        Err(e) => (Status::Failed, "", e.retry_after),
    };
    tallied.settle(status, to, now, (id, wait))?;
    match answer {
        Ok(accepted) => {
            crate::progress::print_done(format!(
                "row {row}, to {to}, id {}\n",
                accepted.message_id
            ));
            Ok(honor(pacer, accepted.retry_after).map(|()| true)?)
        }
        Err(e) => {
            let outcome = match e.class.may_have_sent() {
                true => "may or may not have been sent (look at the phone before testing again)",
                false => "not accepted",
            };
            tracing::error!("row {row}, to {to}: {outcome} ({}: {})", e.code, e.message);
            honor(pacer, e.retry_after)?;
            match e.class {
                ErrorClass::CampaignFatal
                | ErrorClass::Misdirected { .. }
                | ErrorClass::Setting(_) => Err(Stop::Refused(e.code)),
                ErrorClass::RowFatal | ErrorClass::Ambiguous | ErrorClass::Retryable => Ok(false),
            }
        }
    }
}

/// The messages of the chosen rows (default: the first valid row), as the campaign would send
/// them, with their row numbers.
fn messages(settings: &Settings, chosen: Option<&[u64]>) -> Result<Vec<(u64, Message)>, TestError> {
    let mut input_options = settings.input.clone();
    input_options.now = jiff::Timestamp::now();
    let mut found = Vec::new();
    let last = chosen.and_then(|c| c.iter().max().copied());
    for row in CsvInput::open(&settings.csv, &input_options)? {
        let row = row?;
        let wanted = chosen.is_none_or(|c| c.contains(&row.index));
        if !wanted {
            if last.is_some_and(|last| row.index > last) {
                break;
            }
            continue;
        }
        match (row.verdict, chosen) {
            (Verdict::Send(message), _) => {
                found.push((row.index, *message));
                if chosen.is_none() {
                    break;
                }
            }
            (Verdict::Invalid(e) | Verdict::Skip(e), Some(_)) => {
                return Err(TestError::NotSendable {
                    row: row.index,
                    code: e.code.to_string(),
                    message: e.message,
                });
            }
            _ => {}
        }
    }
    match chosen {
        None if found.is_empty() => Err(TestError::NoValidRow),
        None => Ok(found),
        Some(chosen) => match chosen.iter().find(|r| !found.iter().any(|(i, _)| i == *r)) {
            Some(&missing) => Err(TestError::NoSuchRow(missing)),
            None => Ok(found),
        },
    }
}

/// `1,4-6` → `[1, 4, 5, 6]`; `None` if malformed, a row is 0 or a range is reversed. Ranges
/// are bounded by [`MOST_MESSAGES`] so a typo cannot allocate a billion rows.
fn rows(list: &str) -> Option<Vec<u64>> {
    let mut rows = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        if a == 0 || b < a || b - a >= MOST_MESSAGES as u64 {
            return None;
        }
        rows.extend((a..=b).filter(|r| !rows.contains(r)).collect::<Vec<_>>());
    }
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::rows;

    #[test]
    fn row_lists() {
        assert_eq!(rows("1"), Some(vec![1]));
        assert_eq!(rows(" 1, 4-6 ,2"), Some(vec![1, 4, 5, 6, 2]));
        assert_eq!(rows("3,3"), Some(vec![3]));
        for bad in ["", "0", "a", "5-3", "1-1000", "1,,2", "-2"] {
            assert_eq!(rows(bad), None, "{bad}");
        }
    }
}
