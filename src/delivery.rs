//! `campaign-sender status RESULTS.csv`: the delivery report. Looks up every accepted
//! message whose delivery state can still change and records the answer in the results
//! file's delivery columns, one fsynced line per row, so a pass stopped half-way keeps what
//! it learned and a rerun carries on.

use std::fmt;

use crate::blocking::blocking;
use crate::clock::Clock;
use crate::journal::delivery::{Delivery, DeliveryStatus, ResultRow, Walk};
use crate::progress::Progress;
use crate::provider::ErrorClass;
use crate::provider::messages::{MessageState, shown};
use crate::remote::{ApiArgs, Refused, stamp};
use crate::shutdown::Shutdown;

/// `campaign-sender status` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub api: ApiArgs,
}

/// What one status pass did, printed at its end.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatusSummary {
    /// Rows looked up in this pass.
    pub looked_up: u64,
    /// Rows skipped because their delivery state is final (READ, FAILED, CANCELED).
    pub already_final: u64,
    /// Rows that got no answer of their own: a 404 (unknown within this key's scope), an
    /// answer about another message or unreadable, an id that cannot be asked about.
    pub failed_lookups: u64,
    /// Accepted rows still to look up when the pass stopped early.
    pub remaining: u64,
    /// Why the pass stopped early, if it did.
    pub stopped: Option<String>,
}

impl StatusSummary {
    /// 0: every lookup answered; 1: some rows could not be looked up; 3: stopped early.
    pub fn exit_code(&self) -> u8 {
        if self.stopped.is_some() {
            3
        } else if self.failed_lookups > 0 {
            1
        } else {
            0
        }
    }
}

impl fmt::Display for StatusSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "status: {} looked up, {} already final (not looked up), {} could not be looked up \
             (see deliveryError)",
            self.looked_up, self.already_final, self.failed_lookups
        )?;
        if let Some(why) = &self.stopped {
            writeln!(
                f,
                "stopped early ({why}); {} rows remain: rerun the same command to continue",
                self.remaining
            )?;
        }
        Ok(())
    }
}

/// Runs a status pass and returns the exit code: the summary's, or 2 refused before anything
/// was asked, or [`crate::ALREADY_RUNNING`] while a send holds the results file.
pub async fn run(args: &StatusArgs, clock: Clock, shutdown: Shutdown) -> u8 {
    let (api, mut journal, census) = match args.api.start().await {
        Ok(started) => started,
        Err(code) => return code,
    };
    if let Err(code) = args.api.begin(&mut journal, &api) {
        return code;
    }
    let mut summary = StatusSummary {
        already_final: census.settled,
        remaining: census.open,
        ..StatusSummary::default()
    };
    tracing::info!(
        "looking up {} messages at {} ({} already final)",
        census.open,
        args.api.rate,
        summary.already_final
    );
    let gate = args.api.gate(clock.clone(), shutdown);
    let progress = Progress::lookups(census.open, args.api.rate, gate.next_start(), &clock);
    let mut walk = Walk::default();
    // The census counted the open rows: once each is looked up, the rest of the file holds
    // nothing to ask about.
    'pass: while summary.remaining > 0 {
        let rows = match blocking(|| walk.next(&journal)) {
            Ok(rows) if rows.is_empty() => break,
            Ok(rows) => rows,
            Err(e) => {
                summary.stopped = Some(e.to_string());
                break;
            }
        };
        let open = |r: &&ResultRow| {
            r.is_trackable() && !r.delivery.status.is_some_and(DeliveryStatus::is_terminal)
        };
        for row in rows.iter().filter(open) {
            let id = &row.record.message_id;
            let what = format!("{} {}", row.record.named(), shown(id));
            let answer = gate
                .call(&api, &row.record, &what, |messages| messages.lookup(id))
                .await;
            let (delivery, answered) = match answer {
                Ok(state) => (observed(&state, &row.delivery, &clock), known(&state)),
                Err(Refused::Api(e)) if e.class == ErrorClass::RowFatal => {
                    tracing::warn!("{what}: {} {}", e.code, e.message);
                    (unanswered(row, e.code, &clock), false)
                }
                Err(refused) => {
                    summary.stopped = Some(refused.reason());
                    break 'pass;
                }
            };
            // Durable before the next lookup (a killed pass loses at most the answer in
            // flight), with the fsync off the runtime's workers.
            if let Err(e) = blocking(|| journal.record_deliveries(&[(row.slot, delivery)])) {
                summary.stopped = Some(e.to_string());
                break 'pass;
            }
            if answered {
                summary.looked_up += 1;
            } else {
                summary.failed_lookups += 1;
            }
            progress.step();
            summary.remaining = summary.remaining.saturating_sub(1);
        }
    }
    progress.finish();
    // A pass that recorded nothing left the file as it found it: rewriting a million
    // unchanged lines would cost more than the pass.
    if summary.stopped.is_none()
        && summary.looked_up > 0
        && let Err(e) = blocking(|| journal.compact())
    {
        summary.stopped = Some(e.to_string());
    }
    if let Some(why) = &summary.stopped {
        tracing::error!("status pass stopped: {why}");
    }
    let results = crate::fmt::path(&args.api.results);
    crate::progress::print_done(format_args!("{summary}results: {results}\n"));
    summary.exit_code()
}

/// The row's delivery cells as they were, with why this pass learned nothing about it in
/// `deliveryError` (a code, or `NOT_CANCELED: reason`) and when it tried.
pub(crate) fn unanswered(row: &ResultRow, error: String, clock: &Clock) -> Delivery {
    Delivery {
        error,
        checked_at: stamp(clock),
        ..row.delivery.clone()
    }
}

/// Whether the answer gives a state this tool knows: an unknown word is an answer that
/// says nothing usable, counted with the lookups that failed (exit 1), not as looked up.
fn known(state: &MessageState) -> bool {
    if DeliveryStatus::parse(&state.status).is_some() {
        return true;
    }
    tracing::warn!("UNKNOWN_STATUS {}", state.status);
    false
}

/// The delivery cells for what the API said. An unknown status word is kept out of the
/// typed column and reported in `deliveryError` instead of being guessed at.
fn observed(state: &MessageState, before: &Delivery, clock: &Clock) -> Delivery {
    let status = DeliveryStatus::parse(&state.status);
    let error = match (status, &state.error_message) {
        (None, _) => format!("UNKNOWN_STATUS {}", state.status),
        (_, Some(message)) => message.clone(),
        (_, None) => String::new(),
    };
    Delivery {
        status: status.or(before.status),
        delivered_at: state.delivered_at.clone().unwrap_or_default(),
        read_at: state.read_at.clone().unwrap_or_default(),
        error,
        checked_at: stamp(clock),
    }
}
