//! What `status` and `cancel` share: where the API is and which key to use, the pace and
//! patience of their requests, and the results file they work on.
//!
//! They reach the API as a send does ([`connect`]); their requests go through the same
//! [`Pacer`] as sends (a quota of their own, and a `Retry-After` holds every request) and
//! the same [`RetryGate`], which retries 429/503/5xx/lost answers with backoff: a lookup or
//! a cancel is safe to repeat, unlike a send.
//!
//! A `Retry-After` asked of a number binds these requests too (the API does not say it binds
//! only sends): the wait noted in the results file or kept in the ledger is honored before
//! the first request to that number, and one answered here is kept in the ledger, so the
//! next campaign run waits as well.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

use crate::blocking::blocking;
use crate::clock::Clock;
use crate::connect::{self, ConnectError, Target};
use crate::journal::{Journal, JournalError};
use crate::ledger::{Ledger as _, LedgerError, SqliteLedger, sender_fingerprint};
use crate::pacing::hold::asked_of;
use crate::pacing::{Backoff, Pacer, Rate, Spacing};
use crate::provider::ProviderKind;
use crate::provider::messages::Messages;
use crate::sandbox::FaultSpec;
use crate::senders::KeySource;
use crate::settings::{self, ForeignTarget};
use crate::shutdown::Shutdown;

mod gate;
mod numbers;

pub use gate::{Gate, Refused};
use numbers::Number;
pub use numbers::{Census, Numbers};

/// The flags of `status` and `cancel`; the key comes from the environment, as for a send.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// The campaign's results CSV (written by the send run).
    #[arg(value_name = "RESULTS.csv")]
    pub results: PathBuf,

    /// API base URL [default: the provider's; env PILOT_STATUS_BASE_URL]. The variable is
    /// read after the flags, so --sandbox wins over it and its value (which may carry a
    /// gateway's credentials) is never shown in help.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// Rehearse against a fresh in-process sandbox (it knows none of your message ids).
    #[arg(long, conflicts_with = "base_url")]
    pub sandbox: bool,

    /// The senders file the campaign was sent with: each row is asked about with the key
    /// of the number that sent it (keys are number-scoped).
    #[arg(long, value_name = "FILE")]
    pub senders: Option<PathBuf>,

    /// Quota for these requests, separate from the send quota.
    #[arg(long, value_name = "N/s|N/min|N/h", default_value = "5/s")]
    pub rate: Rate,

    /// Per request (above zero).
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = settings::bounds::timeout_flag)]
    pub timeout: Duration,

    /// Attempts per request on 429 / 503 / 5xx / no answer (at most 100).
    #[arg(long, value_name = "N", default_value_t = 6,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::settings::bounds::MAX_ATTEMPTS)))]
    pub max_attempts: u32,

    /// Exponential backoff with jitter, when the answer has no Retry-After.
    #[arg(long, value_name = "MIN..MAX", default_value = "1s..60s", value_parser = settings::bounds::backoff_flag)]
    pub backoff: Spacing,

    /// The API moved: ask at this base URL about a results file sent through another, and
    /// record the new address in the file (as a send run with --retarget does).
    #[arg(long)]
    pub retarget: bool,

    /// The ledger: a wait the API asked of a number is honored before the first request to
    /// it, and one asked here is kept for the next runs [default: as for a send].
    #[arg(long, value_name = "PATH|off")]
    pub ledger: Option<String>,

    /// Ask now although an earlier answer asked a number to wait longer (noted in its row's
    /// error cell and kept in the ledger, which forgets it): once the API lifted its limit.
    #[arg(long)]
    pub ignore_earlier_retry_after: bool,
}

/// The MsgFlash target a results file records, if any: its messages cannot be looked up or
/// canceled here.
fn msgflash_target(journal: &Journal) -> Option<String> {
    (journal.checkpoint().targets().into_iter())
        .find(|target| target.starts_with("msgflash") || target.starts_with("sandbox msgflash"))
        .map(|target| connect::without_credentials(&target).into_owned())
}

/// A results file that cannot be read or written, logged; its exit code.
fn logged(e: JournalError) -> u8 {
    crate::log_exit(crate::exit_code_of(&e), &e)
}

/// Why a pass could not start (exit 2) before anything was asked of the API.
pub fn usage_error(message: impl std::fmt::Display) -> u8 {
    tracing::error!("{message}");
    2
}

impl ApiArgs {
    /// The API and keys these flags and `env` describe, reached the way a send reaches it
    /// (see [`connect`]): the same keys, the same base URL checks, the same client.
    pub async fn connect(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Numbers, ConnectError> {
        let kind = ProviderKind::PilotStatus;
        let keys = KeySource {
            env,
            sandbox: self.sandbox,
            optional: false,
        };
        let senders = connect::senders(kind, self.senders.as_deref(), None, &keys)?;
        let target = match &self.base_url {
            _ if self.sandbox => Target::Sandbox {
                faults: FaultSpec::default(),
            },
            Some(base_url) => Target::Remote {
                base_url: base_url.clone(),
            },
            None => Target::Remote {
                base_url: (env(kind.base_url_env()).filter(|v| !v.trim().is_empty()))
                    .unwrap_or_else(|| kind.default_base_url().to_string()),
            },
        };
        let target_id = settings::target_id(&target, kind, &senders);
        let target = connect::reach(&target, self.timeout, connect::KEEP_ALIVE, true).await?;
        let numbers = senders
            .into_iter()
            .map(|sender| match target.api(sender.credential.clone()) {
                Ok(api) => Ok(Number {
                    fingerprint: sender_fingerprint(&sender),
                    adopts: crate::ledger::adopted_name(&sender),
                    label: sender.label,
                    messages: Messages::new(api),
                }),
                Err(source) => Err(ConnectError::Build {
                    label: sender.label,
                    source,
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Numbers {
            numbers,
            target: target_id,
            ledger: None,
            asked: Mutex::default(),
            _target: target,
        })
    }

    /// Everything a pass needs before its first request: the API (key checked), the lock
    /// and a [`Census`] of the rows (read a batch at a time; the pass walks them again). On
    /// failure, the error is logged and the exit code returned (2, or
    /// [`crate::ALREADY_RUNNING`] when a send holds the lock).
    pub async fn start(&self) -> Result<(Numbers, Journal, Census), u8> {
        let journal = blocking(|| self.open()).map_err(logged)?;
        if let Some(target) = msgflash_target(&journal) {
            return Err(usage_error(format!(
                "{} was sent through MsgFlash ({target}); `status` and `cancel` speak Pilot \
                 Status' lookup and cancel endpoints. MsgFlash documents no cancel, and for its \
                 lookup (GET /api/v1/messages/{{id}}) only the path, not what it answers, so \
                 this tool does not guess at it: follow that campaign's delivery in the \
                 MsgFlash dashboard or its webhooks",
                crate::fmt::path(&self.results)
            )));
        }
        let mut api = self
            .connect(&|name| std::env::var(name).ok())
            .await
            .map_err(usage_error)?;
        if let Some(why) = self.foreign_target(&journal, &api.target) {
            return Err(usage_error(why));
        }
        let census = blocking(|| Census::take(&journal, &api)).map_err(logged)?;
        if !census.missing.is_empty() {
            let mut named: Vec<std::borrow::Cow<'_, str>> = (census.missing.iter())
                .map(|l| match l.is_empty() {
                    true => "(the single key)".into(),
                    false => crate::fmt::shown(l),
                })
                .collect();
            if census.more_missing {
                named.push("and others".into());
            }
            return Err(usage_error(format!(
                "{} has rows sent by {} that this command has no key for: pass --senders FILE \
                 with the senders file the campaign was sent with (or, for a campaign sent with \
                 one key, leave --senders out and export that key); if a spreadsheet re-saved the \
                 results, it may have retyped a label (as a date or a number): put the label \
                 back in those rows' sender cells",
                crate::fmt::path(&self.results),
                named.join(", ")
            )));
        }
        blocking(|| self.asked_waits(&mut api, &journal)).map_err(usage_error)?;
        Ok((api, journal, census))
    }

    /// What earlier answers asked each number to wait until: the results file's notes and
    /// the ledger's holds, honored before the first request to it (forgotten with
    /// `--ignore-earlier-retry-after`). Opens the ledger, if one exists, for the pass.
    fn asked_waits(&self, api: &mut Numbers, journal: &Journal) -> Result<(), LedgerError> {
        let place =
            crate::ledger::view::existing(self.ledger.as_deref(), self.sandbox, &self.results);
        if let Some(path) = place {
            let ledger = SqliteLedger::open(&path)?;
            for number in &mut api.numbers {
                let adopts = number.adopts.as_deref();
                number.fingerprint =
                    crate::ledger::sender_name(&ledger, &number.fingerprint, adopts)?;
            }
            api.ledger = Some(ledger);
        }
        let (holds, count) = (journal.checkpoint().holds(), api.numbers.len());
        let mut asked = HashMap::new();
        for number in &api.numbers {
            let kept = match &api.ledger {
                // Forgotten only once the pass goes ahead ([`ApiArgs::begin`]).
                Some(_) if self.ignore_earlier_retry_after => None,
                Some(ledger) => ledger.held_until(&number.fingerprint)?,
                None => None,
            };
            let kept = kept.and_then(|ms| Timestamp::from_millisecond(ms).ok());
            let until = asked_of(holds, &number.label, count).max(kept);
            if let Some(until) = until.filter(|_| !self.ignore_earlier_retry_after) {
                asked.insert(number.label.clone(), until);
            }
        }
        api.asked = Mutex::new(asked);
        Ok(())
    }

    /// Why the results file, recorded against other targets, must not be asked about at
    /// `now` (decided as for a send run, see [`ForeignTarget`]), in the words of a pass;
    /// `None` when it may be.
    fn foreign_target(&self, journal: &Journal, now: &str) -> Option<String> {
        let path = crate::fmt::path(&self.results);
        Some(
            match ForeignTarget::of(&journal.checkpoint().targets(), now)? {
                ForeignTarget::Rehearsal => format!(
                    "{path} holds a sandbox rehearsal: its rows reached no one, so there is nothing \
                 to look up or cancel through {now}. Nothing was asked of the API; give the real \
                 campaign's results file (or --sandbox to rehearse this command on it)"
                ),
                ForeignTarget::RealSends { was } => format!(
                    "{path} holds the real sends of this campaign (through {was}): the in-process \
                 sandbox knows none of their ids, and a rehearsal must not record its answers \
                 in the real campaign's file. Nothing was asked of the API; leave out --sandbox \
                 and give the --base-url the campaign was sent through"
                ),
                ForeignTarget::Moved { was } if self.retarget => {
                    tracing::warn!(
                        "--retarget: {path} was sent through {was}; asked through {now}"
                    );
                    return None;
                }
                ForeignTarget::Moved { was } => format!(
                    "{path} was sent through {was}, but this command would ask {now}. Nothing was \
                 asked of the API. If it is the same campaign and only the API's address moved, \
                 rerun with --retarget (the file then records the new address, as after a send \
                 run with --retarget); otherwise give the --base-url the campaign was sent \
                 through"
                ),
            },
        )
    }

    /// Once nothing refuses the pass (a "no" at `cancel`'s question) and before its first
    /// request, the decisions that outlive it: `--retarget` (every line then records this
    /// pass's target, so later runs and passes take the file without the flag, as after a
    /// send run with it), and `--ignore-earlier-retry-after` (the ledger forgets the
    /// numbers' holds, as a send run does once it goes on to send).
    pub fn begin(&self, journal: &mut Journal, api: &Numbers) -> Result<(), u8> {
        if let Some(ledger) = api
            .ledger
            .as_ref()
            .filter(|_| self.ignore_earlier_retry_after)
        {
            for number in &api.numbers {
                (ledger.forget_hold(&number.fingerprint))
                    .map_err(|e| usage_error(e.to_string()))?;
            }
        }
        let targets = journal.checkpoint().targets();
        if !self.retarget || targets.iter().all(|t| *t == api.target) {
            return Ok(());
        }
        blocking(|| journal.retarget(&api.target)).map_err(logged)
    }

    /// Takes the results file's lock (the one a send run holds) and reads its index.
    /// A missing file is refused rather than created: there is nothing to look up. A file
    /// a spreadsheet re-saved is rewritten only when the pass records its first answer, so
    /// a pass refused before then leaves it as it was.
    pub fn open(&self) -> Result<Journal, JournalError> {
        crate::journal::plain_file(&self.results)?;
        if let Err(source) = std::fs::metadata(&self.results) {
            return Err(JournalError::Io {
                action: "find the results file",
                path: self.results.clone(),
                source,
            });
        }
        Journal::open_as_is(&self.results, b',')
    }

    /// The pacing and retry gate for this pass.
    pub fn gate(&self, clock: Clock, shutdown: Shutdown) -> Gate {
        Gate {
            pacer: Pacer::new(Some(self.rate), Spacing::NONE, clock.clone(), None),
            backoff: Backoff {
                max_attempts: self.max_attempts,
                min: self.backoff.min,
                max: self.backoff.max,
            },
            clock,
            shutdown,
            too_long: std::sync::Mutex::new(None),
        }
    }
}

/// Now, in the form the results file uses for timestamps.
pub fn stamp(clock: &Clock) -> String {
    clock
        .wall()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| clock.wall())
        .to_string()
}
