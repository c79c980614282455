//! `campaign-sender cancel RESULTS.csv`: cancel the campaign's messages that are still
//! scheduled.
//!
//! The results file does not store `deliverAt`, so the candidates are the accepted rows
//! whose last known delivery state is QUEUED or unknown (never looked up). They are sent to
//! `DELETE /v1/messages/cancel` in batches of at most 100 and the API itself refuses those
//! no longer schedulable: one request per 100 rows instead of a lookup per row first.
//! Each row's outcome lands in the delivery columns: `CANCELED`, or the reason in
//! `deliveryError`.

use std::io::{BufRead, IsTerminal, Write};

use crate::blocking::blocking;
use crate::clock::Clock;
use crate::delivery::unanswered;
use crate::journal::Journal;
use crate::journal::delivery::{Delivery, DeliveryStatus, ResultRow, Slot, Walk};
use crate::progress::print_done;
use crate::provider::ErrorClass;
use crate::provider::messages::{CANCEL_BATCH, CancelAnswer, UnusableId, shown};
use crate::remote::{ApiArgs, Gate, Numbers, Refused, stamp, usage_error};
use crate::shutdown::Shutdown;

/// `campaign-sender cancel` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct CancelArgs {
    #[command(flatten)]
    pub api: ApiArgs,

    /// Do not ask for confirmation (required when stdin is not a terminal: cron, scripts).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Runs a cancel pass and returns the exit code: 0 all candidates canceled (or none
/// left), 1 some could not be, 2 refused before anything was asked, 3 stopped early,
/// [`crate::ALREADY_RUNNING`] while a send holds the results file.
pub async fn run(args: &CancelArgs, clock: Clock, shutdown: Shutdown) -> u8 {
    let (api, mut journal, census) = match args.api.start().await {
        Ok(started) => started,
        Err(code) => return code,
    };
    // A person may take their time: the prompt keeps off the runtime's workers, so Ctrl-C
    // is still handled while it waits.
    if census.scheduled > 0
        && let Err(refusal) = blocking(|| confirm(args, census.scheduled))
    {
        return usage_error(refusal);
    }
    if let Err(code) = args.api.begin(&mut journal, &api) {
        return code;
    }
    if census.scheduled == 0 {
        print_done("nothing to cancel: no accepted message is still known as scheduled\n");
        return 0;
    }
    let mut pass = Pass {
        api: &api,
        gate: args.api.gate(clock.clone(), shutdown),
        clock: &clock,
        canceled: 0,
        refused: 0,
    };
    if let Err(why) = pass.cancel_all(&mut journal).await {
        tracing::error!("cancel stopped: {why}; rerun the same command to continue");
        print_done(format_args!(
            "canceled {}, could not cancel {}; stopped early ({why})\n",
            pass.canceled, pass.refused
        ));
        return 3;
    }
    if let Err(e) = blocking(|| journal.compact()) {
        tracing::error!("{e}");
        return 3;
    }
    print_done(format_args!(
        "canceled {} of {} scheduled messages; {} could not be (see deliveryError)\nresults: {}\n",
        pass.canceled,
        census.scheduled,
        pass.refused,
        crate::fmt::path(&args.api.results)
    ));
    u8::from(pass.refused > 0)
}

/// A cancel pass under way: what it talks to and what it has done so far.
struct Pass<'a> {
    api: &'a Numbers,
    gate: Gate,
    clock: &'a Clock,
    canceled: u64,
    refused: u64,
}

impl Pass<'_> {
    /// Walks the rows once, cancelling each number's candidates in batches of at most
    /// [`CANCEL_BATCH`] (a key only reaches the messages of its own number) as they fill,
    /// then what is left of each; it holds one walk batch and less than one cancel batch
    /// per number. `Err` says why it stopped early.
    async fn cancel_all(&mut self, journal: &mut Journal) -> Result<(), String> {
        let mut by_sender: Vec<(String, Vec<ResultRow>)> = Vec::new();
        let mut walk = Walk::default();
        loop {
            let rows = blocking(|| walk.next(journal)).map_err(|e| e.to_string())?;
            if rows.is_empty() {
                break;
            }
            let scheduled = |r: &ResultRow| {
                r.is_trackable() && matches!(r.delivery.status, None | Some(DeliveryStatus::Queued))
            };
            for row in rows.into_iter().filter(scheduled) {
                let at = match (by_sender.iter()).position(|(s, _)| *s == row.record.sender) {
                    Some(at) => at,
                    None => {
                        by_sender.push((row.record.sender.clone(), Vec::new()));
                        by_sender.len() - 1
                    }
                };
                let group = &mut by_sender[at].1;
                group.push(row);
                if group.len() == CANCEL_BATCH {
                    let batch = std::mem::take(group);
                    self.settle(journal, &batch).await?;
                }
            }
        }
        for (_, batch) in by_sender.into_iter().filter(|(_, b)| !b.is_empty()) {
            self.settle(journal, &batch).await?;
        }
        Ok(())
    }

    /// Cancels one batch and records each row's outcome durably.
    async fn settle(&mut self, journal: &mut Journal, batch: &[ResultRow]) -> Result<(), String> {
        let updates = cancel_batch(self.api, &self.gate, batch, self.clock).await?;
        for (_, delivery) in &updates {
            if delivery.status == Some(DeliveryStatus::Canceled) {
                self.canceled += 1;
            } else {
                self.refused += 1;
            }
        }
        blocking(|| journal.record_deliveries(&updates))
            .map_err(|e| format!("{e}; the API canceled them, rerun `status` to record it"))
    }
}

/// Asks on the terminal, or insists on `--yes` when there is none to ask on.
fn confirm(args: &CancelArgs, count: u64) -> Result<(), String> {
    if args.yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(
            "cancel needs confirmation and stdin is not a terminal: pass --yes \
             to cancel without asking"
                .into(),
        );
    }
    crate::progress::print_err(format_args!(
        "Cancel {count} scheduled messages of {}? [y/N] ",
        crate::fmt::path(&args.api.results)
    ));
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = stdin.lock().read_line(&mut answer);
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err("not confirmed: nothing was canceled".into()),
    }
}

/// Cancels one batch (one number's) and works out each row's outcome. A row whose id
/// cannot be asked about ([`UnusableId`]) gets that as its outcome and stays out of the
/// request. The answer counts canceled ids without listing them; when the counts do not
/// account for every id not refused, those ids are looked up one by one instead of being
/// assumed canceled. A refusal is believed only from a first attempt: after a retry, an
/// earlier attempt may have canceled the message with its answer lost, and the refusal
/// ("no longer scheduled") would then say the opposite of what happened, so the id is
/// looked up too. A request refused for good (a 4xx other than the key's, an unreadable
/// answer) is these rows' problem, not the pass's: a rerun would be refused the same way, so
/// the rows are looked up (an unreadable answer may come from a cancel carried out) and the
/// pass goes on.
async fn cancel_batch(
    api: &Numbers,
    gate: &Gate,
    batch: &[ResultRow],
    clock: &Clock,
) -> Result<Vec<(Slot, Delivery)>, String> {
    let mut updates = Vec::with_capacity(batch.len());
    let mut asked = Vec::with_capacity(batch.len());
    for row in batch {
        match UnusableId::check(&row.record.message_id) {
            Ok(()) => asked.push(row),
            Err(unusable) => {
                tracing::warn!("{}: {}: {unusable}", row.record.named(), UnusableId::CODE);
                let error = UnusableId::CODE.to_string();
                updates.push((row.slot, unanswered(row, error, clock)));
            }
        }
    }
    if asked.is_empty() {
        return Ok(updates);
    }
    let ids: Vec<String> = asked.iter().map(|r| r.record.message_id.clone()).collect();
    let what = format!("cancel of {} messages", ids.len());
    let mut attempts = 0;
    let called = gate
        .call(api, &batch[0].record, &what, |messages| {
            attempts += 1;
            messages.cancel(&ids)
        })
        .await;
    let (answer, refused_batch): (CancelAnswer, _) = match called {
        Ok(answer) => (answer, None),
        Err(Refused::Api(e)) if e.class == ErrorClass::RowFatal => {
            tracing::warn!("{what} refused: {} {}", e.code, e.message);
            (CancelAnswer::default(), Some(e.code))
        }
        Err(refused) => return Err(refused.reason()),
    };
    let not_canceled = |reason: Option<&str>| match reason {
        Some(reason) => format!("NOT_CANCELED: {reason}"),
        None => "NOT_CANCELED".to_string(),
    };
    let (mut unexplained, mut refused) = (Vec::new(), 0);
    for row in asked {
        let refusal = (answer.failed.iter())
            .find(|f| f.id == row.record.message_id)
            .map(|f| f.reason.as_str())
            .or(refused_batch.as_deref());
        match refusal {
            Some(reason) if attempts == 1 && refused_batch.is_none() => {
                let error = not_canceled(Some(reason));
                updates.push((row.slot, unanswered(row, error, clock)));
            }
            Some(reason) => {
                refused += 1;
                unexplained.push((row, Some(reason)));
            }
            None => unexplained.push((row, None)),
        }
    }
    let all_canceled = answer.cancelled as usize == unexplained.len() - refused;
    for (row, refusal) in unexplained {
        let outcome = if all_canceled && refusal.is_none() {
            Ok(Some(DeliveryStatus::Canceled))
        } else {
            let id = &row.record.message_id;
            let what = shown(id);
            match gate.call(api, &row.record, &what, |m| m.lookup(id)).await {
                Ok(state) => Ok(DeliveryStatus::parse(&state.status)),
                Err(Refused::Api(e)) if e.class == ErrorClass::RowFatal => Err(e.code),
                Err(refused) => return Err(refused.reason()),
            }
        };
        let delivery = match outcome {
            Ok(status @ Some(DeliveryStatus::Canceled)) => Delivery {
                status,
                error: String::new(),
                checked_at: stamp(clock),
                ..row.delivery.clone()
            },
            Ok(status) => Delivery {
                status: status.or(row.delivery.status),
                ..unanswered(row, not_canceled(refusal), clock)
            },
            Err(code) => unanswered(row, code, clock),
        };
        updates.push((row.slot, delivery));
    }
    updates.sort_by_key(|(row, _)| *row);
    Ok(updates)
}
