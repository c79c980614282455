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
use crate::journal::delivery::{Delivery, DeliveryStatus, ResultRow, Slot};
use crate::progress::print_out;
use crate::provider::ErrorClass;
use crate::provider::messages::{CANCEL_BATCH, CancelAnswer};
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
    let (api, mut journal, rows) = match args.api.start().await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let candidates: Vec<&ResultRow> = rows
        .iter()
        .filter(|r| r.is_trackable())
        .filter(|r| matches!(r.delivery.status, None | Some(DeliveryStatus::Queued)))
        .collect();
    if candidates.is_empty() {
        print_out("nothing to cancel: no accepted message is still known as scheduled\n");
        return 0;
    }
    // A person may take their time: the prompt keeps off the runtime's workers, so Ctrl-C
    // is still handled while it waits.
    if let Err(refusal) = blocking(|| confirm(args, candidates.len())) {
        return usage_error(refusal);
    }
    let gate = args.api.gate(clock.clone(), shutdown);
    let (mut canceled, mut refused) = (0, 0);
    for batch in batches(&candidates) {
        let updates = match cancel_batch(&api, &gate, &batch, &clock).await {
            Ok(updates) => updates,
            Err(why) => {
                tracing::error!("cancel stopped: {why}; rerun the same command to continue");
                print_out(format_args!(
                    "canceled {canceled}, could not cancel {refused}; stopped early ({why})\n"
                ));
                return 3;
            }
        };
        for (_, delivery) in &updates {
            if delivery.status == Some(DeliveryStatus::Canceled) {
                canceled += 1;
            } else {
                refused += 1;
            }
        }
        if let Err(e) = journal.record_deliveries(&updates) {
            tracing::error!("{e}; the API canceled them, rerun `status` to record it");
            return 3;
        }
    }
    if let Err(e) = journal.compact() {
        tracing::error!("{e}");
        return 3;
    }
    print_out(format_args!(
        "canceled {canceled} of {} scheduled messages; {refused} could not be (see deliveryError)\nresults: {}\n",
        candidates.len(),
        args.api.results.display()
    ));
    u8::from(refused > 0)
}

/// Asks on the terminal, or insists on `--yes` when there is none to ask on.
fn confirm(args: &CancelArgs, count: usize) -> Result<(), String> {
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
    eprint!(
        "Cancel {count} scheduled messages of {}? [y/N] ",
        args.api.results.display()
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = stdin.lock().read_line(&mut answer);
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err("not confirmed: nothing was canceled".into()),
    }
}

/// Batches of at most [`CANCEL_BATCH`] rows sent by one number: a key only reaches the
/// messages of its own number.
fn batches<'a>(candidates: &[&'a ResultRow]) -> Vec<Vec<&'a ResultRow>> {
    let mut by_sender: Vec<Vec<&ResultRow>> = Vec::new();
    for row in candidates {
        match by_sender
            .iter_mut()
            .find(|group| group[0].record.sender == row.record.sender)
        {
            Some(group) => group.push(row),
            None => by_sender.push(vec![row]),
        }
    }
    by_sender
        .iter()
        .flat_map(|group| group.chunks(CANCEL_BATCH).map(<[_]>::to_vec))
        .collect()
}

/// Cancels one batch (one number's) and works out each row's outcome. The answer counts canceled ids
/// without listing them; when the counts do not account for every id not refused, those
/// ids are looked up one by one instead of being assumed canceled.
async fn cancel_batch(
    api: &Numbers,
    gate: &Gate,
    batch: &[&ResultRow],
    clock: &Clock,
) -> Result<Vec<(Slot, Delivery)>, String> {
    let messages = api.messages(&batch[0].record);
    let ids: Vec<String> = batch.iter().map(|r| r.record.message_id.clone()).collect();
    let what = format!("cancel of {} messages", ids.len());
    let answer: CancelAnswer = gate
        .call(&what, || messages.cancel(&ids))
        .await
        .map_err(|r| r.reason())?;
    let mut updates = Vec::with_capacity(batch.len());
    let mut unexplained = Vec::new();
    for row in batch {
        let refusal = answer.failed.iter().find(|f| f.id == row.record.message_id);
        match refusal {
            Some(f) => updates.push((
                row.slot,
                Delivery {
                    error: format!("NOT_CANCELED: {}", f.reason),
                    checked_at: stamp(clock),
                    ..row.delivery.clone()
                },
            )),
            None => unexplained.push(*row),
        }
    }
    let all_canceled = answer.cancelled as usize == unexplained.len();
    for row in unexplained {
        let outcome = if all_canceled {
            Ok(Some(DeliveryStatus::Canceled))
        } else {
            let id = &row.record.message_id;
            match gate.call(id, || messages.lookup(id)).await {
                Ok(state) => Ok(DeliveryStatus::parse(&state.status)),
                Err(Refused::Api(e)) if e.class == ErrorClass::RowFatal => Err(e.code),
                Err(refused) => return Err(refused.reason()),
            }
        };
        let delivery = match outcome {
            Ok(status @ Some(DeliveryStatus::Canceled)) => Delivery {
                status,
                error: String::new(),
                ..row.delivery.clone()
            },
            Ok(status) => Delivery {
                status: status.or(row.delivery.status),
                error: "NOT_CANCELED".into(),
                ..row.delivery.clone()
            },
            Err(code) => Delivery {
                error: code,
                ..row.delivery.clone()
            },
        };
        updates.push((
            row.slot,
            Delivery {
                checked_at: stamp(clock),
                ..delivery
            },
        ));
    }
    updates.sort_by_key(|(row, _)| *row);
    Ok(updates)
}
