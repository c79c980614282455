//! Campaign settings: the flags and the campaign file are one set of options (a flag
//! overrides the file), validated once into [`Settings`] before anything is sent.

pub mod bounds;
mod content;
mod error;
mod options;
mod retry_failed;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bounds::Written;
pub use error::SettingsError;
pub use options::{CampaignOptions, FlagOnly};
pub use retry_failed::RetryFailed;

pub use crate::connect::Target;
use crate::connect::{self, ConnectError};
use crate::identity::MessageFingerprint;
use crate::input::{InputOptions, validate};
use crate::ledger::{FrequencyCap, Location, own_file, resolve_location};
use crate::message::Capabilities;
use crate::pacing::{Backoff, Rate, Spacing};
use crate::provider::ProviderKind;
use crate::sandbox::FaultSpec;
use crate::senders::{self, Sender};
use crate::window::{SendWindow, Window, WindowError};

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub csv: PathBuf,
    pub results: PathBuf,
    /// The API the campaign goes through, whichever [`Target`] it is sent to.
    pub provider: ProviderKind,
    pub target: Target,
    /// The [`Target`] in the words each results line records in its `target` column, e.g.
    /// `sandbox` or `pilot-status https://pilotstatus.com.br`: a file recorded against
    /// another target is refused (see [`Settings::foreign_target`]).
    pub target_id: String,
    /// `--retarget`: the API moved; carry the file on to [`Settings::target_id`].
    pub retarget: bool,
    /// The numbers sent from, each a lane of its own (one unnamed sender by default).
    pub senders: Vec<Sender>,
    pub input: InputOptions,
    pub rate: Option<Rate>,
    pub spacing: Spacing,
    /// Sends in flight at once (1 whenever a spacing is set: spacing orders sends one by one).
    pub concurrency: usize,
    pub backoff: Backoff,
    pub timeout: Duration,
    /// `--keep-alive`: the longest an idle connection is reused ([`crate::connect::reach`]).
    pub keep_alive: Duration,
    pub dry_run: bool,
    pub resend_uncertain: bool,
    /// `--retry-failed`: which FAILED rows this run sends again.
    pub retry_failed: RetryFailed,
    /// Stop a lane after this many consecutive FAILED rows with one error code (0: never).
    pub max_consecutive_failures: u32,
    /// `--message-changed`: send although the results file was sent with other message
    /// settings.
    pub message_changed: bool,
    /// `--ignore-earlier-retry-after`: the waits earlier runs wrote down are not honored.
    pub ignore_earlier_retry_after: bool,
    /// The fingerprint of the campaign's message settings, recorded with every send.
    pub message: MessageFingerprint,
    /// The fingerprint the previous release wrote for the same settings (of the values
    /// untrimmed): rows it sent with them were sent with this run's message.
    pub earlier_message: MessageFingerprint,
    /// Refuse to send if any row is invalid.
    pub strict: bool,
    /// Refuse to send if more than this fraction (0..=1) of the rows is invalid.
    pub max_invalid: f64,
    pub results_delimiter: u8,
    /// The daily send window, if the campaign has one.
    pub window: Option<SendWindow>,
    /// `--yes` / `yes = true`: a real send from a terminal goes out without asking.
    pub yes: bool,
    /// The ledger shared across runs and campaigns (off for a dry run).
    pub ledger: Location,
    /// `--daily-cap`: sends per number in any rolling 24 h (a senders file may set its own).
    pub daily_cap: Option<u64>,
    /// `--frequency-cap`: messages per recipient within a window, across campaigns.
    pub frequency_cap: Option<FrequencyCap>,
    /// `--allow-resend`: send even where the ledger says this campaign already reached.
    pub allow_resend: bool,
}

impl Settings {
    /// Lays the flags over the campaign file over the defaults and validates the result.
    /// `env` reads the environment (injected for tests); keys come only from there, never
    /// from flags.
    pub fn resolve(
        csv: &Path,
        campaign_file: Option<&Path>,
        flags: &CampaignOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let options = merge(csv, campaign_file, flags)?;
        let provider = options.provider.unwrap_or_default();
        let target = target(&options, provider, env)?;
        let senders = senders(&options, provider, env)?;
        let target_id = target_id(&target, provider, &senders);
        let results = results(csv, flags, &options);
        let defaults = options.message.clone();
        let modes = [&defaults.template_id, &defaults.text]
            .into_iter()
            .filter(|m| m.is_some())
            .count()
            + usize::from(defaults.media.is_some() && defaults.template_id.is_none());
        if modes > 1 {
            return Err(SettingsError::TwoModes);
        }
        let now = jiff::Timestamp::now();
        let spacing = flag(
            "spacing",
            bounds::range(
                &bounds::SPACING,
                options.spacing.as_deref().unwrap_or("8s..25s"),
                Written::FlagOrFile,
            ),
        )?;
        let capabilities = provider.capabilities();
        let ledger = flag(
            "ledger",
            resolve_location(
                options.ledger.as_deref(),
                env,
                options.sandbox,
                options.dry_run,
                &results,
            )
            .and_then(|location| own_file(location, &results, csv)),
        )?;
        if let Some((flag, problem)) = crate::input::control_in_settings(&defaults) {
            return Err(SettingsError::ControlCharacter { flag, problem });
        }
        validate::validate_defaults(&defaults, now, capabilities)
            .map_err(SettingsError::Message)?;
        let message = crate::identity::message_fingerprint(&defaults);
        let earlier_message = crate::identity::untrimmed_fingerprint(&defaults);
        let send_window = window(&options, capabilities)?;
        let settings = Settings {
            csv: csv.to_path_buf(),
            results,
            provider,
            target,
            target_id,
            retarget: flags.retarget,
            senders,
            input: InputOptions {
                window: send_window.clone(),
                phone_column: options.phone_column.clone(),
                defaults,
                now,
                default_country: options.default_country.clone(),
                delimiter: options
                    .delimiter
                    .as_deref()
                    .map(|d| delimiter("delimiter", d, b"|"))
                    .transpose()?,
                encoding: options.encoding.clone(),
                suppression: suppression(&options)?,
                capabilities,
            },
            rate: Some(flag(
                "rate",
                options.rate.as_deref().unwrap_or("30/min").parse::<Rate>(),
            )?),
            concurrency: concurrency(&options, &spacing)?,
            spacing,
            backoff: backoff(&options)?,
            timeout: flag(
                "timeout",
                bounds::timeout(
                    options.timeout.as_deref().unwrap_or("30s"),
                    Written::FlagOrFile,
                ),
            )?,
            keep_alive: match options.keep_alive.as_deref() {
                Some(text) => flag("keep-alive", bounds::keep_alive(text, Written::FlagOrFile))?,
                None => connect::KEEP_ALIVE,
            },
            dry_run: options.dry_run,
            resend_uncertain: options.resend_uncertain,
            retry_failed: flag(
                "retry-failed",
                RetryFailed::from_flag(options.retry_failed.as_deref()),
            )?,
            max_consecutive_failures: options.max_consecutive_failures.unwrap_or(10),
            message_changed: options.message_changed,
            ignore_earlier_retry_after: options.ignore_earlier_retry_after,
            message,
            earlier_message,
            strict: options.strict.unwrap_or(false),
            max_invalid: percent(options.max_invalid.as_deref().unwrap_or("20%"))?,
            results_delimiter: match options.results_delimiter.as_deref() {
                Some(d) => delimiter("results-delimiter", d, b"")?,
                None => b',',
            },
            window: send_window,
            yes: options.yes.unwrap_or(false),
            ledger,
            daily_cap: match options.daily_cap {
                Some(0) => return Err(at_least_one("daily-cap")),
                cap => cap,
            },
            frequency_cap: (options.frequency_cap.as_deref())
                .map(|cap| flag("frequency-cap", frequency_cap(cap)))
                .transpose()?,
            allow_resend: options.allow_resend,
        };
        settings.caps_have_a_ledger()?;
        Ok(settings)
    }

    /// A cap is counted in the ledger: with the ledger off (not for a dry run, which sends
    /// nothing) it would hold nothing, not even within the run, so the run is refused.
    fn caps_have_a_ledger(&self) -> Result<(), SettingsError> {
        if self.ledger != Location::Off || self.dry_run {
            return Ok(());
        }
        let caps = [
            (self.daily_cap.is_some(), "--daily-cap"),
            (
                self.senders.iter().any(|s| s.daily_cap.is_some()),
                "the senders file's daily-cap",
            ),
            (self.frequency_cap.is_some(), "--frequency-cap"),
        ];
        match caps.into_iter().find(|(set, _)| *set) {
            Some((_, cap)) => Err(SettingsError::CapWithoutLedger { cap }),
            None => Ok(()),
        }
    }
}

/// The run's results file: `--results` if given; else a rehearsal (`--sandbox`) writes
/// `<stem>.sandbox.results.csv` beside the input, so it never touches the real campaign's
/// checkpoint, and a real run the campaign file's `results` or `<stem>.results.csv` beside
/// the input.
fn results(csv: &Path, flags: &CampaignOptions, options: &CampaignOptions) -> PathBuf {
    let beside = |kind: &str| {
        let stem = csv.file_stem().unwrap_or_default().to_string_lossy();
        csv.with_file_name(format!("{stem}.{kind}csv"))
    };
    match &flags.results {
        Some(path) => path.clone(),
        None if options.sandbox => beside("sandbox.results."),
        None => (options.results.clone()).unwrap_or_else(|| beside("results.")),
    }
}

/// The campaign file: `--campaign FILE`, else `<csv stem>.toml` beside the CSV if present.
fn campaign_file(csv: &Path, explicit: Option<&Path>) -> Option<PathBuf> {
    explicit.map(Path::to_path_buf).or_else(|| {
        let beside = csv.with_extension("toml");
        beside.is_file().then_some(beside)
    })
}

/// The flags laid over the campaign file's options, if there is a campaign file.
fn merge(
    csv: &Path,
    explicit: Option<&Path>,
    flags: &CampaignOptions,
) -> Result<CampaignOptions, SettingsError> {
    let Some(path) = campaign_file(csv, explicit) else {
        return Ok(flags.clone());
    };
    let file = options::read_file(&path)?;
    tracing::info!("campaign settings from {}", crate::fmt::path(&path));
    Ok(flags.clone().over(file))
}

fn target(
    options: &CampaignOptions,
    kind: ProviderKind,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Target, SettingsError> {
    if options.sandbox {
        let faults = match &options.sandbox_faults {
            Some(spec) => flag("sandbox-faults", sandbox_faults(spec))?,
            None => FaultSpec::default(),
        };
        return Ok(Target::Sandbox { faults });
    }
    let base_url = options
        .base_url
        .clone()
        .or_else(|| env(kind.base_url_env()).filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| kind.default_base_url().to_string());
    connect::base_url(&base_url).map_err(|problem| SettingsError::Value {
        flag: "base-url",
        problem,
    })?;
    Ok(Target::Remote { base_url })
}

/// What the results lines record as their target, one line and no secret: `sandbox`,
/// `pilot-status https://pilotstatus.com.br`, `msgflash https://… instance <id>`. Keys are not
/// in it; the number behind a Pilot Status key is in each line's `sender`.
pub(crate) fn target_id(target: &Target, kind: ProviderKind, senders: &[Sender]) -> String {
    let provider = clap::ValueEnum::to_possible_value(&kind).expect("no provider is hidden");
    let Target::Remote { base_url } = target else {
        // The provider of a rehearsal other than Pilot Status's, so `status` and `cancel`
        // can tell a MsgFlash rehearsal (whose messages they cannot ask about).
        return match kind {
            ProviderKind::PilotStatus => SANDBOX_TARGET.to_string(),
            _ => format!("{SANDBOX_TARGET} {}", provider.get_name()),
        };
    };
    let base_url = connect::without_credentials(base_url);
    let mut id = format!("{} {}", provider.get_name(), base_url.trim_end_matches('/'));
    let instances: Vec<&str> = senders
        .iter()
        .filter_map(|s| s.instance_id.as_deref())
        .collect();
    if !instances.is_empty() {
        id = format!("{id} instance {}", instances.join(","));
    }
    id
}

/// The [`target_id`] of a rehearsal against the built-in sandbox (then the provider, but
/// for Pilot Status's, as files recorded it before there was a choice).
const SANDBOX_TARGET: &str = "sandbox";

/// Whether a [`target_id`] is a rehearsal's.
fn is_sandbox(target: &str) -> bool {
    target == SANDBOX_TARGET || target.starts_with("sandbox ")
}

/// Why a results file must not be used at another target: decided once, worded by each
/// command (a send run in [`Settings::foreign_target`], `status` and `cancel` in theirs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForeignTarget {
    /// Every line went to the in-process sandbox: its rows reached no one.
    Rehearsal,
    /// Real sends (through `was`), and the command would use the in-process sandbox.
    RealSends { was: String },
    /// Sent through `was`, another base URL or instance: `--retarget` carries the file on.
    Moved { was: String },
}

impl ForeignTarget {
    /// A results file recorded against `recorded` (its distinct targets) at `now` (a
    /// [`target_id`]); `None` when it may be used. A file without targets (written before
    /// they were recorded) is taken as is. A rehearsal's sends reached no one and a
    /// rehearsal must not settle rows of the real campaign, so sandbox and real never mix.
    pub fn of(recorded: &[String], now: &str) -> Option<ForeignTarget> {
        if recorded.is_empty() || recorded.iter().any(|t| same_target(t, now)) {
            return None;
        }
        if recorded.iter().all(|t| is_sandbox(t)) {
            return Some(ForeignTarget::Rehearsal);
        }
        // Cells of a file that may have been edited: each shown escaped, a few at most.
        let was = crate::fmt::listed(recorded, 3, |t| {
            crate::fmt::shown(&connect::without_credentials(t)).into_owned()
        });
        Some(if is_sandbox(now) {
            ForeignTarget::RealSends { was }
        } else {
            ForeignTarget::Moved { was }
        })
    }
}

/// Whether a recorded [`target_id`] names the API `now` names. A file written before
/// credentials were taken out of targets is the same target. MsgFlash numbers are instances:
/// the same provider and base URL with at least one instance in common is the same campaign
/// with a number added or removed (docs/senders.md), and an instance id is the same in upper
/// or lower case.
fn same_target(recorded: &str, now: &str) -> bool {
    // A rehearsal is one, whichever provider it rehearsed (a file recorded before the
    // provider was named says only `sandbox`).
    if is_sandbox(recorded) && is_sandbox(now) {
        return true;
    }
    let recorded = connect::without_credentials(recorded);
    let split = |t: &str| match t.split_once(" instance ") {
        Some((api, ids)) => (api.to_string(), Some(ids.to_ascii_lowercase())),
        None => (t.to_string(), None),
    };
    match (split(&recorded), split(now)) {
        ((was, Some(was_ids)), (is, Some(ids))) => {
            was == is
                && was_ids
                    .split(',')
                    .any(|id| ids.split(',').any(|now| now == id))
        }
        ((was, None), (is, None)) => was == is,
        _ => false,
    }
}

impl Settings {
    /// Why the results file, recorded against `recorded` (its distinct targets), must not
    /// be used by this run (see [`ForeignTarget`]); `None` when it may. Another base URL or
    /// instance is refused unless `--retarget` says the API moved.
    pub fn foreign_target(&self, recorded: &[String]) -> Option<String> {
        let path = crate::fmt::path(&self.results);
        let now = &self.target_id;
        let file_stem = self.csv.file_stem().unwrap_or_default().to_string_lossy();
        let stem = crate::fmt::path(&*file_stem);
        Some(match ForeignTarget::of(recorded, now)? {
            ForeignTarget::Rehearsal => {
                // Where the real campaign's sends are is not known here: a results file
                // that already holds them must be the one named, never a fresh one.
                let rehearsal_name = format!("{file_stem}.sandbox.results.csv");
                let unsent = if self.results.file_name() == Some(rehearsal_name.as_ref()) {
                    format!("leave out --results: it then writes {stem}.results.csv beside the CSV")
                } else {
                    format!(
                        "rename this file to {}.sandbox.results.csv (where --sandbox keeps its \
                         rehearsal) and rerun: {path} then holds the real campaign",
                        stem
                    )
                };
                let repair = format!(
                    "if the real campaign was already sent with another --results file, give \
                     that file; if it has not been sent yet, {unsent}"
                );
                format!(
                    "{path} belongs to the sandbox rehearsal: its rows reached no one, so the real \
                     campaign (through {now}) cannot resume from it. Nothing was sent; {repair}"
                )
            }
            ForeignTarget::RealSends { was } => format!(
                "{path} holds the real sends of this campaign (through {was}): a rehearsal must \
                 not mark its rows as sent. Nothing was sent; leave out --results and the \
                 rehearsal keeps its own {stem}.sandbox.results.csv beside the CSV"
            ),
            ForeignTarget::Moved { was } if self.retarget => {
                tracing::warn!(
                    "--retarget: {path} was sent through {was}; it goes on through {now}"
                );
                return None;
            }
            ForeignTarget::Moved { was } => format!(
                "{path} was sent through {was}, but this run would send through {now}. Nothing \
                 was sent. If it is the same campaign and only the API's address (or the \
                 number's instance) moved, rerun with --retarget: the rows it holds are not sent \
                 again. Otherwise give the run the --provider, --base-url or --instance-id the \
                 campaign was sent with"
            ),
        })
    }
}

/// The numbers to send from, with their keys (see [`connect::senders`]).
fn senders(
    options: &CampaignOptions,
    kind: ProviderKind,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Sender>, SettingsError> {
    let keys = senders::KeySource {
        env,
        sandbox: options.sandbox,
        optional: options.dry_run,
    };
    let (file, instance) = (options.senders.as_deref(), options.instance_id.as_deref());
    connect::senders(kind, file, instance, &keys).map_err(|e| match e {
        ConnectError::NoKey { provider } => SettingsError::NoKey { provider },
        other => SettingsError::Senders(other.to_string()),
    })
}

/// A delimiter flag `name`: `,` `;` `tab` (or a real tab), and any of `extra`.
fn delimiter(name: &'static str, text: &str, extra: &[u8]) -> Result<u8, SettingsError> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "," => Ok(b','),
        ";" => Ok(b';'),
        _ if text.len() == 1 && extra.contains(&text.as_bytes()[0]) => Ok(text.as_bytes()[0]),
        _ => Err(SettingsError::Value {
            flag: name,
            problem: format!(
                "'{}' is not a delimiter we read or write (use , ; tab{})",
                crate::fmt::shown(text),
                if extra.is_empty() { "" } else { " or |" }
            ),
        }),
    }
}

/// `--max-invalid`: `20%`, `20` or `0.5%` as a fraction.
fn percent(text: &str) -> Result<f64, SettingsError> {
    let problem = match text.trim().trim_end_matches('%').parse::<f64>() {
        Ok(number) if (0.0..=100.0).contains(&number) => return Ok(number / 100.0),
        Ok(_) => format!("'{}' must be between 0% and 100%", crate::fmt::shown(text)),
        Err(_) => format!(
            "'{}' is not a percentage (e.g. 20%)",
            crate::fmt::shown(text)
        ),
    };
    Err(SettingsError::Value {
        flag: "max-invalid",
        problem,
    })
}

/// Loads the opt-out lists once, normalized like the campaign's numbers.
fn suppression(
    options: &CampaignOptions,
) -> Result<Option<std::sync::Arc<crate::input::Suppression>>, SettingsError> {
    if options.suppress.is_empty() {
        return Ok(None);
    }
    crate::input::load_suppression(&options.suppress, options.default_country.as_deref())
        .map(|s| Some(std::sync::Arc::new(s)))
        .map_err(SettingsError::Suppress)
}

/// `--concurrency`: more than one request in flight only makes sense without spacing,
/// whose whole point is one send at a time with a pause between starts.
fn concurrency(options: &CampaignOptions, spacing: &Spacing) -> Result<usize, SettingsError> {
    match options.concurrency {
        Some(0) => Err(at_least_one("concurrency")),
        Some(n) if n > 1 && !spacing.is_none() => {
            tracing::warn!(
                "--concurrency {n} ignored: with --spacing {spacing} sends go one at a time (add --spacing 0)"
            );
            Ok(1)
        }
        Some(n) => Ok(n.min(1024)),
        None => Ok(1),
    }
}

/// `--window`, `--tz`, `--wait-for-window`: all or nothing. The zone is never guessed: the
/// server's own zone is often not the recipients'.
fn window(
    options: &CampaignOptions,
    capabilities: &Capabilities,
) -> Result<Option<SendWindow>, SettingsError> {
    let wait = options.wait_for_window.unwrap_or(false);
    let (spec, zone) = match (&options.window, &options.tz) {
        (Some(spec), Some(zone)) => (spec, zone),
        (Some(spec), None) => {
            return Err(SettingsError::WindowWithoutZone { spec: spec.clone() });
        }
        (None, Some(_)) => return Err(SettingsError::ZoneWithoutWindow),
        (None, None) if wait => return Err(SettingsError::WaitWithoutWindow),
        (None, None) => return Ok(None),
    };
    let window = Window::parse(spec, zone).map_err(|e| SettingsError::Value {
        flag: match e {
            WindowError::UnknownZone(_) => "tz",
            _ => "window",
        },
        problem: e.to_string(),
    })?;
    Ok(Some(SendWindow {
        window,
        wait,
        deliver_until: capabilities.schedule,
    }))
}

/// `--frequency-cap N/DURATION` with its period within [`bounds::FREQUENCY_CAP`].
fn frequency_cap(text: &str) -> Result<FrequencyCap, String> {
    let cap: FrequencyCap = text.parse()?;
    (bounds::FREQUENCY_CAP)
        .check(text, cap.within, Written::FlagOrFile)
        .map(|()| cap)
}

/// `--sandbox-faults` with its delays within [`bounds::SANDBOX_DELAY`].
fn sandbox_faults(text: &str) -> Result<FaultSpec, String> {
    let faults: FaultSpec = text.parse()?;
    let slowest = faults.latency.max(faults.late_by());
    (bounds::SANDBOX_DELAY)
        .check(text, slowest, Written::FlagOrFile)
        .map(|()| faults)
}

/// Ties a value's parse error to the flag (and campaign-file key) it came from.
fn flag<T>(name: &'static str, result: Result<T, String>) -> Result<T, SettingsError> {
    result.map_err(|problem| SettingsError::Value {
        flag: name,
        problem,
    })
}

/// A count of zero where at least one is needed.
fn at_least_one(name: &'static str) -> SettingsError {
    SettingsError::Value {
        flag: name,
        problem: "must be at least 1".into(),
    }
}

fn backoff(options: &CampaignOptions) -> Result<Backoff, SettingsError> {
    let max_attempts = options.max_attempts.unwrap_or(6);
    if max_attempts == 0 {
        return Err(at_least_one("max-attempts"));
    }
    if max_attempts > bounds::MAX_ATTEMPTS {
        return Err(SettingsError::Value {
            flag: "max-attempts",
            problem: format!(
                "{max_attempts} is more than {}: a row the API still refuses after that many \
                 attempts is left DEFERRED for a rerun. Write --max-attempts 6 (or \
                 max-attempts = 6 in the campaign file)",
                bounds::MAX_ATTEMPTS
            ),
        });
    }
    let range = flag(
        "backoff",
        bounds::range(
            &bounds::BACKOFF,
            options.backoff.as_deref().unwrap_or("1s..60s"),
            Written::FlagOrFile,
        ),
    )?;
    Ok(Backoff {
        max_attempts,
        min: range.min,
        max: range.max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::MessageDefaults;

    const INSTANCE: &str = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";

    fn resolve(flags: CampaignOptions) -> Settings {
        let env = |name: &str| (name == "MSGFLASH_API_KEY").then(|| "msgf_test".to_string());
        let flags = CampaignOptions {
            ledger: Some("off".into()),
            message: MessageDefaults {
                text: Some("Oi".into()),
                ..MessageDefaults::default()
            },
            ..flags
        };
        Settings::resolve(Path::new("/tmp/c.csv"), None, &flags, &env).unwrap()
    }

    #[test]
    fn a_rehearsal_keeps_its_own_results_unless_told_otherwise() {
        let rehearsal = resolve(CampaignOptions {
            sandbox: true,
            ..CampaignOptions::default()
        });
        assert_eq!(rehearsal.results, Path::new("/tmp/c.sandbox.results.csv"));
        assert_eq!(rehearsal.target_id, "sandbox");
        let told = resolve(CampaignOptions {
            sandbox: true,
            results: Some("/tmp/r.csv".into()),
            ..CampaignOptions::default()
        });
        assert_eq!(told.results, Path::new("/tmp/r.csv"));
    }

    #[test]
    fn a_number_added_removed_or_written_in_capitals_is_the_same_target() {
        let api = "msgflash https://api.example.com instance";
        // (recorded, now, the same target)
        let table = [
            (format!("{api} a,b"), format!("{api} a,b,c"), true),
            (format!("{api} a,b,c"), format!("{api} b"), true),
            (format!("{api} ABC"), format!("{api} abc"), true),
            (format!("{api} a,b"), format!("{api} c"), false),
            (
                format!("{api} a"),
                "msgflash https://new.example.com instance a".into(),
                false,
            ),
            (
                format!("{api} a"),
                "msgflash https://api.example.com".into(),
                false,
            ),
            (
                "pilot-status https://user:pw@api.example.com".into(),
                "pilot-status https://api.example.com".into(),
                true,
            ),
            (
                "sandbox".into(),
                "pilot-status https://api.example.com".into(),
                false,
            ),
            // A MsgFlash rehearsal of a file recorded before rehearsals named their provider.
            ("sandbox".into(), "sandbox msgflash".into(), true),
        ];
        for (recorded, now, same) in table {
            assert_eq!(same_target(&recorded, &now), same, "{recorded} / {now}");
        }
    }

    #[test]
    fn the_target_names_provider_address_and_instance_but_no_key() {
        let settings = resolve(CampaignOptions {
            provider: Some(ProviderKind::MsgFlash),
            base_url: Some("https://api.example.com/".into()),
            instance_id: Some(INSTANCE.into()),
            ..CampaignOptions::default()
        });
        assert_eq!(
            settings.target_id,
            format!("msgflash https://api.example.com instance {INSTANCE}")
        );
        let refusal = settings
            .foreign_target(&["msgflash https://old.example.com instance x".into()])
            .unwrap();
        assert!(refusal.contains("--retarget"), "{refusal}");
        assert!(!refusal.contains("msgf_test"));
        assert_eq!(
            settings.foreign_target(std::slice::from_ref(&settings.target_id)),
            None
        );
        assert_eq!(settings.foreign_target(&[]), None, "older files pass");
    }

    /// Resolves a command line against `file` written as the CSV's campaign file.
    fn resolve_with_file(file: &str, args: &[&str]) -> Result<Settings, SettingsError> {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("c.csv");
        std::fs::write(csv.with_extension("toml"), file).unwrap();
        let line = ["campaign-sender", csv.to_str().unwrap()];
        let cli = crate::cli::Cli::try_parse_from(line.iter().chain(args)).unwrap();
        Settings::resolve(&csv, None, &cli.options, &|_| None)
    }

    #[test]
    fn a_flag_turns_off_what_the_campaign_file_turns_on() {
        let file = "template = \"t\"\nstrict = true\nai-rewrite = true\n\
                    window = \"09:00-20:00\"\ntz = \"UTC\"\nwait-for-window = true\n";
        let on = resolve_with_file(file, &["--sandbox"]).unwrap();
        assert!(on.strict);
        assert_eq!(on.input.defaults.ai_rewrite, Some(true));
        assert!(on.window.unwrap().wait);
        let off = [
            "--strict=false",
            "--ai-rewrite=false",
            "--wait-for-window=false",
        ];
        let off = resolve_with_file(file, &[&["--sandbox"][..], &off].concat()).unwrap();
        assert!(!off.strict);
        assert_eq!(off.input.defaults.ai_rewrite, Some(false));
        assert!(!off.window.unwrap().wait);
        let again = resolve_with_file("strict = false\ntext = \"x\"\n", &["--sandbox", "--strict"]);
        assert!(again.unwrap().strict, "a bare flag is true");
    }

    /// Whether an error is of the variant a case expects.
    type Expected = fn(&SettingsError) -> bool;

    #[test]
    fn each_kind_of_set_up_mistake_is_its_own_error() {
        let cases: [(&[&str], Expected); 8] = [
            (&["--rate", "fast"], |e| {
                matches!(e, SettingsError::Value { flag: "rate", .. })
            }),
            (&["--concurrency", "0"], |e| {
                matches!(
                    e,
                    SettingsError::Value {
                        flag: "concurrency",
                        ..
                    }
                )
            }),
            (&["--max-invalid", "120%"], |e| {
                matches!(
                    e,
                    SettingsError::Value {
                        flag: "max-invalid",
                        ..
                    }
                )
            }),
            (&["--text", "x", "--template", "u"], |e| {
                matches!(e, SettingsError::TwoModes)
            }),
            (
                &["--media-type", "gif"],
                |e| matches!(e, SettingsError::Message(r) if r.field == "mediaType"),
            ),
            (&["--window", "09:00-20:00"], |e| {
                matches!(e, SettingsError::WindowWithoutZone { .. })
            }),
            (&["--wait-for-window"], |e| {
                matches!(e, SettingsError::WaitWithoutWindow)
            }),
            (
                &["--text", "Oi\u{b}"],
                |e| matches!(e, SettingsError::ControlCharacter { flag, .. } if flag == "--text"),
            ),
        ];
        for (args, expected) in cases {
            let error =
                resolve_with_file("template = \"t\"\n", &[&["--sandbox"][..], args].concat())
                    .unwrap_err();
            assert!(expected(&error), "{args:?}: {error:?}");
        }
        let error = resolve_with_file("template = \"t\"\n", &[]).unwrap_err();
        assert!(
            matches!(
                error,
                SettingsError::NoKey {
                    provider: ProviderKind::PilotStatus
                }
            ),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("PILOT_STATUS_API_KEY"),
            "{error}"
        );
    }
}
