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
use crate::connect::{self, ConnectError, Reached, Target};
use crate::journal::delivery::{DeliveryStatus, Walk};
use crate::journal::{Journal, JournalError, Record};
use crate::ledger::{Ledger as _, LedgerError, SqliteLedger, sender_fingerprint};
use crate::pacing::hold::{Held, asked_of, asked_until, same};
use crate::pacing::{Backoff, MAX_RETRY_AFTER, Pacer, Rate, Spacing, WaitTooLong};
use crate::provider::messages::Messages;
use crate::provider::{ErrorClass, ProviderKind, SendError};
use crate::retry::{Attempt, RetryGate};
use crate::sandbox::FaultSpec;
use crate::senders::KeySource;
use crate::settings::{self, ForeignTarget};
use crate::shutdown::Shutdown;

/// The flags of `status` and `cancel`; the key comes from the environment, as for a send.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// The campaign's results CSV (written by the send run).
    #[arg(value_name = "RESULTS.csv")]
    pub results: PathBuf,

    /// API base URL.
    #[arg(long, env = "PILOT_STATUS_BASE_URL", value_name = "URL")]
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

/// The API to talk to, one client per number; holds the target (an in-process sandbox
/// for `--sandbox`) alive.
pub struct Numbers {
    numbers: Vec<Number>,
    /// The target in the words of the results file's `target` column (see
    /// [`settings::target_id`]): a file recorded against another is refused.
    target: String,
    /// The ledger, if there is one: where waits asked of the numbers are read and kept.
    ledger: Option<SqliteLedger>,
    /// The wait asked of each number before this pass (by label), until its first request.
    asked: Mutex<HashMap<String, Timestamp>>,
    _target: Reached,
}

/// One number the pass asks with.
struct Number {
    label: String,
    messages: Messages,
    /// The number as the ledger knows it ([`sender_fingerprint`]).
    fingerprint: String,
}

impl Numbers {
    /// The number that sent `record` (checked to exist by [`ApiArgs::start`]).
    fn number(&self, record: &Record) -> &Number {
        self.named(&record.sender)
            .expect("every row's sender was checked at start")
    }

    /// Whether this pass has a key for the number labeled `sender`.
    fn knows(&self, sender: &str) -> bool {
        self.named(sender).is_some()
    }

    /// The number a `sender` cell names: its label as written, or as a spreadsheet re-saved
    /// a label of digits (`01` as `1`, see [`same`]); one at most, since a senders file
    /// holding two labels that compare the same is refused.
    fn named(&self, sender: &str) -> Option<&Number> {
        (self.numbers.iter())
            .find(|number| number.label == sender)
            .or_else(|| (self.numbers.iter()).find(|number| same(sender, &number.label)))
    }

    /// Before the first request to `number`: holds `pacer` for what is left of the wait
    /// asked of it earlier, said once; a wait beyond what a run waits refuses instead.
    fn wait_asked(&self, number: &Number, pacer: &Pacer, clock: &Clock) -> Result<(), Refused> {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&until) = asked.get(&number.label) else {
            return Ok(());
        };
        let who = who(&number.label);
        match Held::at(Some(until), clock.wall()) {
            Held::No => {}
            Held::For(left) => {
                tracing::warn!(
                    "waiting until {until} before asking about the messages of {who}: an \
                     earlier answer asked it to wait (Retry-After, noted in the results file or \
                     kept in the ledger); --ignore-earlier-retry-after asks at once"
                );
                pacer.hold(left);
            }
            Held::Beyond(until) => return Err(Refused::Held { who, until }),
        }
        asked.remove(&number.label);
        Ok(())
    }

    /// Keeps in the ledger that an answer at `now` asked `number` to wait `retry_after`.
    /// A ledger that cannot take it is said, not fatal: this pass honors the wait anyway.
    fn keep_wait(&self, number: &Number, retry_after: Option<Duration>, now: Timestamp) {
        let (Some(ledger), Some(until)) = (&self.ledger, asked_until(retry_after, now)) else {
            return;
        };
        let kept = blocking(|| ledger.hold(&number.fingerprint, until.as_millisecond()));
        if let Err(e) = kept {
            tracing::warn!("the wait asked of {} is not kept: {e}", who(&number.label));
        }
    }
}

/// A number in a log line: its label, or the single key's.
fn who(label: &str) -> String {
    match label {
        "" => "the number".into(),
        label => format!("number {label}"),
    }
}

/// What one walk over the rows before the first request finds: how much there is to do,
/// and the numbers this pass has no key for.
#[derive(Debug, Default)]
pub struct Census {
    /// Accepted rows whose delivery state can still change: the ones `status` looks up.
    pub open: u64,
    /// Accepted rows whose delivery state is final (READ, FAILED, CANCELED).
    pub settled: u64,
    /// Accepted rows last known as QUEUED or never looked up: the ones `cancel` tries.
    pub scheduled: u64,
    /// Labels of the accepted rows' numbers this pass has no key for (the first few).
    missing: Vec<String>,
    /// Whether more numbers have no key than [`Census::missing`] names.
    more_missing: bool,
}

/// How many unknown numbers a refusal names (a hostile file may hold a million).
const MISSING_NAMED: usize = 10;

impl Census {
    /// Walks every row once (a batch at a time, see [`Walk`]).
    fn take(journal: &Journal, api: &Numbers) -> Result<Census, JournalError> {
        let mut census = Census::default();
        let mut walk = Walk::default();
        loop {
            let rows = walk.next(journal)?;
            if rows.is_empty() {
                return Ok(census);
            }
            for row in rows.iter().filter(|r| r.is_trackable()) {
                let status = row.delivery.status;
                if status.is_some_and(DeliveryStatus::is_terminal) {
                    census.settled += 1;
                } else {
                    census.open += 1;
                }
                census.scheduled +=
                    u64::from(matches!(status, None | Some(DeliveryStatus::Queued)));
                let sender = &row.record.sender;
                if api.knows(sender) || census.missing.contains(sender) {
                    continue;
                }
                if census.missing.len() < MISSING_NAMED {
                    census.missing.push(sender.clone());
                } else {
                    census.more_missing = true;
                }
            }
        }
    }
}

/// The MsgFlash target a results file records, if any: its messages cannot be looked up or
/// canceled here.
fn msgflash_target(journal: &Journal) -> Option<String> {
    (journal.checkpoint().targets().into_iter())
        .find(|target| target.starts_with("msgflash"))
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
                base_url: kind.default_base_url().to_string(),
            },
        };
        let target_id = settings::target_id(&target, kind, &senders);
        let target = connect::reach(&target, self.timeout, connect::KEEP_ALIVE, true).await?;
        let numbers = senders
            .into_iter()
            .map(|sender| match target.api(sender.credential.clone()) {
                Ok(api) => Ok(Number {
                    fingerprint: sender_fingerprint(&sender),
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
                "{} was sent through MsgFlash ({target}); `status` and `cancel` use Pilot \
                 Status' message lookup and cancel endpoints, and MsgFlash documents neither: \
                 follow that campaign's delivery in the MsgFlash dashboard",
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
            let mut named: Vec<&str> = (census.missing.iter())
                .map(|l| if l.is_empty() { "(the single key)" } else { l })
                .collect();
            if census.more_missing {
                named.push("and others");
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
                number.fingerprint = ledger.known_as(&number.fingerprint)?;
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
        if !self.results.is_file() {
            return Err(JournalError::Io {
                action: "find the results file",
                path: self.results.clone(),
                source: std::io::ErrorKind::NotFound.into(),
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

/// Why a request through the [`Gate`] did not succeed.
#[derive(Debug)]
pub enum Refused {
    /// SIGINT/SIGTERM: stop the pass, keep what was learned (exit 3).
    Stopped,
    /// A `Retry-After` above [`crate::pacing::MAX_RETRY_AFTER`]: stop, rerun later.
    WaitTooLong(WaitTooLong),
    /// An earlier answer asked number `who` to wait until `until`, beyond what a run waits.
    Held { who: String, until: Timestamp },
    /// The API's answer after any retries; its class says whether the pass goes on.
    Api(SendError),
}

impl Refused {
    /// One line for the log and the summary: why the pass stopped.
    pub fn reason(&self) -> String {
        match self {
            Refused::Stopped => "interrupted".into(),
            Refused::WaitTooLong(wait) => wait.to_string(),
            Refused::Held { who, until } => format!(
                "an earlier answer asked {who} to wait until {until}, beyond the {} this tool \
                 waits: rerun after then (or with --ignore-earlier-retry-after once the API \
                 lifted its limit)",
                crate::fmt::human(MAX_RETRY_AFTER)
            ),
            // The client has already made its texts fit for one line (`messages::shown`).
            Refused::Api(e) => format!(
                "HTTP {} {}: {}",
                e.http_status.map_or("-".into(), |s| s.to_string()),
                e.code,
                e.message
            ),
        }
    }
}

impl From<WaitTooLong> for Refused {
    fn from(wait: WaitTooLong) -> Refused {
        Refused::WaitTooLong(wait)
    }
}

impl Attempt for Refused {
    /// Lookups and cancels are safe to repeat: anything transient is asked again.
    fn transient(&self) -> Option<&SendError> {
        match self {
            Refused::Api(error) if error.class == ErrorClass::Retryable => Some(error),
            _ => None,
        }
    }
}

/// A lookup's or a cancel's failure: a final answer beyond the ceiling stops the pass like a
/// retried one (the request is safe to repeat on the rerun).
impl crate::retry::Answered for Refused {
    fn answer(&self) -> Option<&SendError> {
        match self {
            Refused::Api(error) => Some(error),
            _ => None,
        }
    }
}

/// An answer that can ask the next request to wait (a `Retry-After` on a 200).
pub trait AsksToWait {
    fn retry_after(&self) -> Option<Duration>;
}

impl AsksToWait for crate::provider::messages::MessageState {
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl AsksToWait for crate::provider::messages::CancelAnswer {
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// Paces every request and retries the transient ones through the [`RetryGate`].
pub struct Gate {
    pacer: Pacer,
    backoff: Backoff,
    clock: Clock,
    shutdown: Shutdown,
    /// A successful answer's `Retry-After` beyond what this tool waits: that answer is kept,
    /// and every later request stops with it.
    too_long: std::sync::Mutex<Option<WaitTooLong>>,
}

impl Gate {
    /// Where the pacer publishes the next request's turn, for the progress view.
    pub fn next_start(&self) -> crate::pacing::NextStart {
        self.pacer.next_start()
    }

    /// Runs `request` with the client of the number that sent `record`, in its turn, until
    /// it succeeds, fails for good, or attempts run out (then the last error comes back,
    /// still [`ErrorClass::Retryable`]). The number's first request waits what an earlier
    /// answer asked of it; any answer's `Retry-After` holds the next request, and is kept
    /// for the number in the ledger.
    pub async fn call<'a, T, F, Fut>(
        &self,
        api: &'a Numbers,
        record: &Record,
        what: &str,
        mut request: F,
    ) -> Result<T, Refused>
    where
        T: AsksToWait,
        F: FnMut(&'a Messages) -> Fut,
        Fut: Future<Output = Result<T, SendError>>,
    {
        let too_long = || self.too_long.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(wait) = *too_long() {
            return Err(Refused::WaitTooLong(wait));
        }
        let number = api.number(record);
        api.wait_asked(number, &self.pacer, &self.clock)?;
        let gate = RetryGate {
            backoff: &self.backoff,
            clock: &self.clock,
            pacer: &self.pacer,
            stop: &self.shutdown,
            halt: None,
        };
        let attempt = || {
            let request = request(&number.messages);
            async move {
                tokio::select! {
                    biased;
                    _ = self.shutdown.requested() => return Err(Refused::Stopped),
                    _ = self.pacer.ready() => {}
                }
                let answer = request.await;
                let asked = match &answer {
                    Ok(answer) => answer.retry_after(),
                    Err(error) => error.retry_after,
                };
                api.keep_wait(number, asked, self.clock.wall());
                answer.map_err(Refused::Api)
            }
        };
        let answer = gate.run(|| what.to_string(), attempt).await?;
        if let Err(wait) = crate::retry::honor(&self.pacer, answer.retry_after()) {
            too_long().get_or_insert(wait);
        }
        Ok(answer)
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
