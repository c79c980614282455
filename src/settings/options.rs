//! The campaign options as the user writes them, on the command line and in the campaign
//! file, and how the two are laid one over the other (a flag over the file over the default).

use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;
use toml::de::{DeTable, Deserializer};

use super::SettingsError;
use crate::input::MessageDefaults;
use crate::provider::ProviderKind;

/// Every campaign option, as a flag and as a key of the campaign TOML file (same names,
/// kebab-case). All optional here: defaults are applied in [`super::Settings::resolve`], so
/// a campaign file value is only overridden by a flag the user really passed, and a boolean
/// the file turns on can be turned off by `--flag=false`.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[command(mut_args(switch))]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CampaignOptions {
    /// The API to send through [default: pilot-status].
    #[arg(long, value_enum, help_heading = "Target")]
    pub provider: Option<ProviderKind>,

    /// MsgFlash: the WhatsApp instance (UUID) to send from; required with --provider msgflash.
    #[arg(long, value_name = "UUID", help_heading = "Target")]
    pub instance_id: Option<String>,

    /// Several numbers: a TOML file with one [label] table per number and its key-env (see README).
    #[arg(long, value_name = "FILE", help_heading = "Target")]
    pub senders: Option<PathBuf>,

    /// API base URL [default: the provider's; env PILOT_STATUS_BASE_URL / MSGFLASH_BASE_URL].
    #[arg(long, value_name = "URL", help_heading = "Target")]
    pub base_url: Option<String>,

    /// Send to the built-in sandbox (started in-process on a free loopback port); no key
    /// needed. A flag for one run, never a campaign-file key.
    #[arg(long, help_heading = "Target")]
    #[serde(skip)]
    pub sandbox: bool,

    /// Faults for the in-process sandbox, e.g. "429=0.1,drop=0.02" (see `campaign-sender sandbox --help`).
    #[arg(
        long,
        value_name = "SPEC",
        requires = "sandbox",
        help_heading = "Target"
    )]
    pub sandbox_faults: Option<String>,

    /// What to send; read from the campaign file apart (see [`read_file`]), as serde's
    /// flatten would lose the line of a mistake in these keys.
    #[command(flatten)]
    #[serde(skip)]
    pub message: MessageDefaults,

    /// Column holding the phone number, when it is not destinationNumber, phone or to.
    #[arg(long, value_name = "NAME", help_heading = "Input")]
    pub phone_column: Option<String>,

    /// Country of numbers written without a country code, e.g. BR for (11) 98888-7777.
    #[arg(long, value_name = "CC", help_heading = "Input")]
    pub default_country: Option<String>,

    /// Field delimiter of the CSV: , ; | or tab [default: detected from the header line].
    #[arg(long, value_name = "CHAR", help_heading = "Input")]
    pub delimiter: Option<String>,

    /// Text encoding of the CSV, e.g. windows-1252 [default: UTF-8, else Windows-1252 with a warning].
    #[arg(long, value_name = "NAME", help_heading = "Input")]
    pub encoding: Option<String>,

    /// Opt-out list (CSV or one number per line); its numbers are SKIPPED. Repeatable.
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    #[serde(default, deserialize_with = "one_or_many")]
    pub suppress: Vec<PathBuf>,

    /// Refuse to send anything if any row is invalid (--strict=false overrides the campaign file).
    #[arg(long, value_name = "BOOL", help_heading = "Input")]
    pub strict: Option<bool>,

    /// Refuse to send when more than this share of rows is invalid (a wrong column or file) [default: 20%].
    #[arg(long, value_name = "PCT", help_heading = "Input")]
    pub max_invalid: Option<String>,

    /// Quota: at most N sends per s, min, h or d [default: 30/min].
    #[arg(long, value_name = "N/UNIT", help_heading = "Pace")]
    pub rate: Option<String>,

    /// At most N sends per sender number in any rolling 24 h, counted across every campaign
    /// in the ledger; once reached, that number stops (exit 3, rows stay pending).
    #[arg(long, value_name = "N", help_heading = "Pace")]
    pub daily_cap: Option<u64>,

    /// At most N messages to one recipient within DURATION from any campaign in the ledger,
    /// e.g. 1/7d; a recipient over it is SKIPPED (FREQUENCY_CAP).
    #[arg(long, value_name = "N/DURATION", help_heading = "Pace")]
    pub frequency_cap: Option<String>,

    /// Random pause between the starts of consecutive sends, MIN..MAX; 0 disables [default: 8s..25s].
    #[arg(long, value_name = "MIN..MAX", help_heading = "Pace")]
    pub spacing: Option<String>,

    /// Requests in flight at once, for utility campaigns with no spacing; always within the quota [default: 1].
    #[arg(long, value_name = "N", help_heading = "Pace")]
    pub concurrency: Option<usize>,

    /// Timeout of one request [default: 30s].
    #[arg(long, value_name = "DURATION", help_heading = "Pace")]
    pub timeout: Option<String>,

    /// How long a connection to the API may sit idle and still carry the next send; keep it below the server's own keep-alive, or a send on a connection the server is closing ends UNCERTAIN; 0 opens one per send [default: 2s].
    #[arg(long, value_name = "DURATION", help_heading = "Pace")]
    pub keep_alive: Option<String>,

    /// Attempts per row per run before it is left DEFERRED [default: 6].
    #[arg(long, value_name = "N", help_heading = "Pace")]
    pub max_attempts: Option<u32>,

    /// Exponential backoff between retries without Retry-After, MIN..MAX [default: 1s..60s].
    #[arg(long, value_name = "MIN..MAX", help_heading = "Pace")]
    pub backoff: Option<String>,

    /// Daily send window in the recipients' local time, HH:MM-HH:MM (22:00-06:00 wraps
    /// midnight); no send starts outside it. Needs --tz.
    #[arg(long, value_name = "HH:MM-HH:MM", help_heading = "Window")]
    pub window: Option<String>,

    /// Time zone of --window, an IANA name such as America/Sao_Paulo (the recipients', not the server's).
    #[arg(long, value_name = "ZONE", help_heading = "Window")]
    pub tz: Option<String>,

    /// Outside the window, sleep until it opens instead of stopping (exit 3);
    /// --wait-for-window=false overrides the campaign file.
    #[arg(long, value_name = "BOOL", help_heading = "Window")]
    pub wait_for_window: Option<bool>,

    /// Results CSV, also the checkpoint; it records each send's target [default: <csv
    /// stem>.results.csv beside the CSV; <csv stem>.sandbox.results.csv with --sandbox].
    #[arg(long, value_name = "PATH", help_heading = "Results")]
    pub results: Option<PathBuf>,

    /// Field delimiter of the results CSV: , ; or tab (`;` opens in a Brazilian Excel).
    #[arg(long, value_name = "CHAR", help_heading = "Results")]
    pub results_delimiter: Option<String>,

    /// Send without the confirmation a real send asks for at an interactive terminal
    /// (--yes=false overrides the campaign file). Without a terminal it is never asked.
    #[arg(long, value_name = "BOOL", help_heading = "Results")]
    pub yes: Option<bool>,

    /// Validate every row and print the request bodies; send nothing, change nothing.
    #[arg(long, help_heading = "Results")]
    #[serde(skip)]
    pub dry_run: bool,

    /// Send UNCERTAIN rows again (only after checking they were not delivered). A flag for
    /// one run, never a campaign-file key.
    #[arg(long, help_heading = "Results")]
    #[serde(skip)]
    pub resend_uncertain: bool,

    /// Stop a number after N consecutive FAILED rows with the same error code, or N UNCERTAIN
    /// ones (an outage; exit 3; the rest stay pending); 0 turns it off [default: 10].
    #[arg(long, value_name = "N", help_heading = "Results")]
    pub max_consecutive_failures: Option<u32>,

    /// Send FAILED rows again (all, or only those with the given error codes); never touches
    /// QUEUED, UNCERTAIN, SKIPPED or INVALID rows. A flag for one run, never a campaign-file key.
    #[arg(
        long,
        value_name = "CODE,CODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = super::retry_failed::ALL,
        help_heading = "Results"
    )]
    #[serde(skip)]
    pub retry_failed: Option<String>,

    /// Send although the message settings differ from those the results file was sent with
    /// (the change is intended). A flag for one run, never a campaign-file key.
    #[arg(long, help_heading = "Results")]
    #[serde(skip)]
    pub message_changed: bool,

    /// Send now although an earlier run's answer asked to wait longer (the API lifted the
    /// limit early). A flag for one run, never a campaign-file key.
    #[arg(long, help_heading = "Results")]
    #[serde(skip)]
    pub ignore_earlier_retry_after: bool,
    /// The ledger shared by all campaigns on this machine (a SQLite file), or `off`
    /// [default: env CAMPAIGN_SENDER_LEDGER, else $XDG_STATE_HOME/campaign-sender/ledger.sqlite3].
    #[arg(long, value_name = "PATH|off", help_heading = "Results")]
    pub ledger: Option<String>,

    /// Send to a destination this campaign already reached from another results file (per
    /// the ledger) instead of SKIPPING it as ALREADY_SENT. A flag for one run.
    #[arg(long, help_heading = "Results")]
    #[serde(skip)]
    pub allow_resend: bool,

    /// Carry on a results file recorded against another --base-url or MsgFlash instance,
    /// because the API moved: its rows are not sent again. A flag for one run, never a
    /// campaign-file key; never for a sandbox rehearsal's file.
    #[arg(long, help_heading = "Results")]
    #[serde(skip)]
    pub retarget: bool,
}

impl CampaignOptions {
    /// These options (the flags) laid over `file`'s: each value set here wins, each unset one
    /// is the file's; the flag-only decisions are this run's alone. Message content of
    /// another kind than the file's replaces the file's content (see [`super::content`]).
    pub fn over(self, file: CampaignOptions) -> CampaignOptions {
        let file_message = super::content::under_flags(&self.message, file.message);
        CampaignOptions {
            provider: self.provider.or(file.provider),
            instance_id: self.instance_id.or(file.instance_id),
            senders: self.senders.or(file.senders),
            base_url: self.base_url.or(file.base_url),
            sandbox: self.sandbox,
            sandbox_faults: self.sandbox_faults.or(file.sandbox_faults),
            message: self.message.over(file_message),
            phone_column: self.phone_column.or(file.phone_column),
            default_country: self.default_country.or(file.default_country),
            delimiter: self.delimiter.or(file.delimiter),
            encoding: self.encoding.or(file.encoding),
            suppress: if self.suppress.is_empty() {
                file.suppress
            } else {
                self.suppress
            },
            strict: self.strict.or(file.strict),
            max_invalid: self.max_invalid.or(file.max_invalid),
            rate: self.rate.or(file.rate),
            daily_cap: self.daily_cap.or(file.daily_cap),
            frequency_cap: self.frequency_cap.or(file.frequency_cap),
            spacing: self.spacing.or(file.spacing),
            concurrency: self.concurrency.or(file.concurrency),
            timeout: self.timeout.or(file.timeout),
            keep_alive: self.keep_alive.or(file.keep_alive),
            max_attempts: self.max_attempts.or(file.max_attempts),
            backoff: self.backoff.or(file.backoff),
            window: self.window.or(file.window),
            tz: self.tz.or(file.tz),
            wait_for_window: self.wait_for_window.or(file.wait_for_window),
            results: self.results.or(file.results),
            results_delimiter: self.results_delimiter.or(file.results_delimiter),
            yes: self.yes.or(file.yes),
            dry_run: self.dry_run,
            resend_uncertain: self.resend_uncertain,
            max_consecutive_failures: self
                .max_consecutive_failures
                .or(file.max_consecutive_failures),
            retry_failed: self.retry_failed,
            message_changed: self.message_changed,
            ignore_earlier_retry_after: self.ignore_earlier_retry_after,
            retarget: self.retarget,
            ledger: self.ledger.or(file.ledger),
            allow_resend: self.allow_resend,
        }
    }
}

/// Makes each option with a boolean value (`--strict`, `--ai-rewrite`, `--wait-for-window`)
/// a switch: alone it means true, `--strict=false` turns off the campaign file's
/// `strict = true`, and it never takes the next argument as its value.
fn switch(arg: clap::Arg) -> clap::Arg {
    let boolean = arg.get_value_parser().type_id() == std::any::TypeId::of::<bool>()
        && matches!(arg.get_action(), clap::ArgAction::Set);
    if !boolean {
        return arg;
    }
    arg.num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .hide_possible_values(true)
}

/// The options a campaign file may not set: decisions for one run, taken by whoever starts
/// it, because a file applies them to every run (a cron rerun included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOnly {
    Sandbox,
    DryRun,
    ResendUncertain,
    Retarget,
    RetryFailed,
    MessageChanged,
    IgnoreEarlierRetryAfter,
    AllowResend,
}

impl FlagOnly {
    const ALL: [FlagOnly; 8] = [
        FlagOnly::Sandbox,
        FlagOnly::DryRun,
        FlagOnly::ResendUncertain,
        FlagOnly::Retarget,
        FlagOnly::RetryFailed,
        FlagOnly::MessageChanged,
        FlagOnly::IgnoreEarlierRetryAfter,
        FlagOnly::AllowResend,
    ];

    /// The flag's name without dashes, as it would be written in the file.
    pub fn key(self) -> &'static str {
        match self {
            FlagOnly::Sandbox => "sandbox",
            FlagOnly::DryRun => "dry-run",
            FlagOnly::ResendUncertain => "resend-uncertain",
            FlagOnly::Retarget => "retarget",
            FlagOnly::RetryFailed => "retry-failed",
            FlagOnly::MessageChanged => "message-changed",
            FlagOnly::IgnoreEarlierRetryAfter => "ignore-earlier-retry-after",
            FlagOnly::AllowResend => "allow-resend",
        }
    }

    /// Why a file must not decide it.
    pub fn why(self) -> &'static str {
        match self {
            FlagOnly::Sandbox => {
                "a rehearsal is chosen run by run; written in the file, it would keep the real \
                 campaign from ever being sent"
            }
            FlagOnly::DryRun => {
                "written in the file, it would keep the campaign from ever being sent; check a \
                 campaign with --dry-run on the command line"
            }
            FlagOnly::ResendUncertain => {
                "it would resend the UNCERTAIN rows on every run, cron reruns included, without \
                 anyone checking they were not delivered; pass --resend-uncertain to one run, \
                 after checking"
            }
            FlagOnly::Retarget => {
                "it says the API moved, a decision for the one run that carries the results on: \
                 pass --retarget to that run"
            }
            FlagOnly::RetryFailed => {
                "it would send the FAILED rows again on every run, cron reruns included; pass \
                 --retry-failed to the one run after fixing what made them fail"
            }
            FlagOnly::MessageChanged => {
                "it would let every later change of the message through unnoticed; pass \
                 --message-changed to the one run whose change is intended"
            }
            FlagOnly::IgnoreEarlierRetryAfter => {
                "it would send through every wait the API asks for, on every run; pass \
                 --ignore-earlier-retry-after to the one run after the API lifted its limit"
            }
            FlagOnly::AllowResend => {
                "it would message again, on every run, people this campaign already reached \
                 from another results file; pass --allow-resend to the one run meant to"
            }
        }
    }
}

/// The long names of `A`'s flags, which are also its campaign-file keys.
fn keys<A: Args>() -> Vec<String> {
    A::augment_args(clap::Command::new("keys"))
        .get_arguments()
        .filter_map(|arg| arg.get_long().map(str::to_owned))
        .collect()
}

/// Reads a campaign file: refuses the flag-only and unknown keys by name, and makes its
/// relative paths relative to the file. The message keys are read apart into
/// [`CampaignOptions::message`], each part keeping the line of any mistake in it.
pub(super) fn read_file(path: &Path) -> Result<CampaignOptions, SettingsError> {
    let text = crate::toml_file::read(path).map_err(|source| SettingsError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    // Where and what, never the text there: the file may hold a pasted key.
    let syntax = |e: toml::de::Error| SettingsError::Syntax {
        path: path.to_owned(),
        problem: crate::fmt::toml_problem(&text, &e),
    };
    let document = DeTable::parse(&text).map_err(syntax)?;
    let span = document.span();
    let (message_keys, known) = (keys::<MessageDefaults>(), keys::<CampaignOptions>());
    let (mut message, mut rest) = (DeTable::new(), DeTable::new());
    for (key, value) in document.into_inner() {
        let name: &str = key.get_ref();
        if let Some(&flag) = FlagOnly::ALL.iter().find(|f| f.key() == name) {
            return Err(SettingsError::FlagOnly {
                path: path.to_owned(),
                flag,
            });
        }
        if !known.iter().any(|k| k == name) {
            let line = text[..key.span().start.min(text.len())]
                .matches('\n')
                .count()
                + 1;
            return Err(SettingsError::UnknownKey {
                path: path.to_owned(),
                line,
                key: shown_key(name),
            });
        }
        if message_keys.iter().any(|k| k == name) {
            message.insert(key, value);
        } else {
            rest.insert(key, value);
        }
    }
    let part = |table| Deserializer::from(toml::Spanned::new(span.clone(), table));
    let mut options = CampaignOptions::deserialize(part(rest)).map_err(syntax)?;
    options.message = MessageDefaults::deserialize(part(message)).map_err(syntax)?;
    // Relative paths written in the file are relative to the file, not to the shell.
    let base = path.parent().unwrap_or(Path::new("."));
    let beside = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    options.results.iter_mut().for_each(beside);
    options.senders.iter_mut().for_each(beside);
    options.suppress.iter_mut().for_each(beside);
    // The ledger too: read from two working folders (cron's and a person's), a relative
    // ledger would be two ledgers, each blind to the other's sends.
    if let Some(ledger) = options
        .ledger
        .as_mut()
        .filter(|l| !matches!(l.trim(), "" | "off"))
    {
        let mut path = PathBuf::from(&*ledger);
        beside(&mut path);
        *ledger = path.to_string_lossy().into_owned();
    }
    Ok(options)
}

/// An unknown key as an error may show it: a misspelled setting is shown, anything else
/// (a pasted key or number, say) is not, because errors go to logs.
fn shown_key(key: &str) -> Option<String> {
    let setting_like = key.len() <= 40
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    setting_like.then(|| key.to_owned())
}

/// A campaign file's list of files, or one file written on its own
/// (`suppress = "opt-out.txt"` as well as `suppress = ["opt-out.txt"]`).
fn one_or_many<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    match serde::Deserialize::deserialize(deserializer) {
        Ok(OneOrMany::One(path)) => Ok(vec![path]),
        Ok(OneOrMany::Many(paths)) => Ok(paths),
        Err(_) => Err(serde::de::Error::custom(
            "expected a file name or a list of them, e.g. suppress = [\"opt-out.txt\"]",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::validate::Field;

    /// Writes `text` as a campaign file and reads it.
    fn read(text: &str) -> Result<CampaignOptions, SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        read_file(&path)
    }

    #[test]
    fn a_flag_only_key_in_a_file_is_refused_by_name() {
        for flag in FlagOnly::ALL {
            let error = read(&format!("template = \"t\"\n{} = true\n", flag.key())).unwrap_err();
            assert!(
                matches!(error, SettingsError::FlagOnly { flag: f, .. } if f == flag),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(message.contains(&format!("--{}", flag.key())), "{message}");
            assert!(message.contains(flag.why()), "{message}");
        }
        // Set to false it is refused all the same: a file does not decide it either way.
        assert!(matches!(
            read("dry-run = false\n"),
            Err(SettingsError::FlagOnly {
                flag: FlagOnly::DryRun,
                ..
            })
        ));
    }

    #[test]
    fn an_unknown_key_names_its_line_and_shows_only_a_settings_name() {
        let error = read("rate = \"1/s\"\n\ntemplat = \"x\"\n").unwrap_err();
        assert!(
            matches!(&error, SettingsError::UnknownKey { line: 3, key: Some(k), .. } if k == "templat"),
            "{error:?}"
        );
        let secret = "ps_live_9c2e41";
        let error = read(&format!("{secret} = 1\n")).unwrap_err();
        assert!(
            matches!(
                error,
                SettingsError::UnknownKey {
                    line: 1,
                    key: None,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(!error.to_string().contains(secret), "{error}");
    }

    #[test]
    fn a_wrong_value_of_a_message_key_keeps_its_line() {
        for (text, line) in [
            ("rate = \"1/s\"\n\nlatitude = [1]\n", "line 3"),
            ("text = \"x\"\nai-rewrite = \"yes\"\n", "line 2"),
            ("template = \"t\"\nrate = 5\n", "line 2"),
        ] {
            let error = read(text).unwrap_err();
            assert!(matches!(error, SettingsError::Syntax { .. }), "{error:?}");
            assert!(error.to_string().contains(line), "{text}: {error}");
        }
    }

    #[test]
    fn every_key_of_the_file_is_read_into_its_option() {
        let options = read(
            "template = \"t\"\nlatitude = -23.5\nlongitude = 46\nai-rewrite = false\n\
             rate = \"2/s\"\nstrict = true\nsuppress = [\"opt-out.txt\"]\nresults = \"/abs/r.csv\"\n",
        )
        .unwrap();
        assert_eq!(options.message.template_id.as_deref(), Some("t"));
        assert_eq!(options.message.latitude.as_deref(), Some("-23.5"));
        assert_eq!(options.message.longitude.as_deref(), Some("46"));
        assert_eq!(options.message.ai_rewrite, Some(false));
        assert_eq!(options.rate.as_deref(), Some("2/s"));
        assert_eq!(options.strict, Some(true));
        assert!(options.suppress[0].is_absolute(), "relative to the file");
        assert_eq!(options.results, Some(PathBuf::from("/abs/r.csv")));
        // One list file may be written on its own; anything else says what is expected.
        let one = read("suppress = \"opt-out.txt\"\n").unwrap();
        assert!(one.suppress.len() == 1 && one.suppress[0].ends_with("opt-out.txt"));
        let wrong = read("suppress = 3\n").unwrap_err().to_string();
        assert!(wrong.contains("a file name or a list of them"), "{wrong}");
    }

    #[test]
    fn a_flag_wins_over_the_file_and_false_turns_a_true_off() {
        let file = read(
            "template = \"t\"\nlabels = \"a\"\nstrict = true\nai-rewrite = true\n\
             wait-for-window = true\nrate = \"1/s\"\nsuppress = [\"f.txt\"]\n",
        )
        .unwrap();
        let flags = CampaignOptions {
            strict: Some(false),
            wait_for_window: Some(false),
            rate: Some("2/s".into()),
            message: MessageDefaults {
                labels: Some("b".into()),
                ai_rewrite: Some(false),
                ..MessageDefaults::default()
            },
            ..CampaignOptions::default()
        };
        let merged = flags.over(file.clone());
        assert_eq!(merged.strict, Some(false));
        assert_eq!(merged.wait_for_window, Some(false));
        assert_eq!(merged.message.ai_rewrite, Some(false));
        assert_eq!(merged.rate.as_deref(), Some("2/s"));
        assert_eq!(merged.message.labels.as_deref(), Some("b"));
        assert_eq!(merged.message.template_id.as_deref(), Some("t"), "kept");
        assert_eq!(merged.suppress, file.suppress, "kept");
        let unset = CampaignOptions::default().over(file);
        assert_eq!(unset.strict, Some(true));
        assert_eq!(unset.wait_for_window, Some(true));
        assert_eq!(unset.message.ai_rewrite, Some(true));
    }

    /// The table of message fields and [`MessageDefaults`] describe the same fields: each
    /// flag of the struct (but --ai-rewrite, no column) is read by exactly one [`Field`].
    #[test]
    fn every_message_flag_is_one_field_of_the_table() {
        use clap::FromArgMatches;
        let flags: Vec<String> = keys::<MessageDefaults>()
            .into_iter()
            .filter(|k| k != "ai-rewrite")
            .collect();
        assert_eq!(flags.len(), Field::COUNT);
        for flag in flags {
            let command = MessageDefaults::augment_args(clap::Command::new("t"));
            let matches = command.try_get_matches_from(["t", &format!("--{flag}=v")]);
            let set = MessageDefaults::from_arg_matches(&matches.unwrap()).unwrap();
            let fields = Field::ALL
                .iter()
                .filter(|f| f.default_in(&set) == Some("v"));
            assert_eq!(fields.count(), 1, "--{flag}");
        }
    }
}
