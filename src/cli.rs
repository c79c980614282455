//! The command line: clap definitions, and what is generated from them (shell completions,
//! the man page). The work happens in [`crate::run`].

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::progress::LogFormat;
use crate::sandbox::SandboxArgs;
use crate::settings::CampaignOptions;

/// Send a WhatsApp campaign from a CSV: paced, retried, resumable, never twice.
///
/// The API key comes from the environment only: PILOT_STATUS_API_KEY (or
/// PILOT_STATUS_API_KEY_ID), MSGFLASH_API_KEY with --provider msgflash, or the variables a
/// --senders file names. Exit codes: 0 all rows accepted; 1 all rows final, some not
/// accepted; 2 bad usage, input or results file, nothing sent; 3 stopped early, rerun to
/// resume; 4 another run holds this campaign, nothing done.
#[derive(Debug, Parser)]
#[command(
    name = "campaign-sender",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The campaign CSV: one row per recipient, a header row first.
    #[arg(required = true, value_name = "CSV")]
    pub csv: Option<PathBuf>,

    /// Campaign settings file [default: <csv stem>.toml beside the CSV, if present].
    #[arg(long, value_name = "FILE.toml")]
    pub campaign: Option<PathBuf>,

    #[command(flatten)]
    pub options: CampaignOptions,

    /// More log detail (-vv for even more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Less log detail (-qq for errors only).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,

    /// Log line format.
    #[arg(long, value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
}

impl Cli {
    /// The command line as people write it. The log flags (`-q`, `-v`, `--log-format`) are
    /// the same for every command and may come before a command's name too
    /// (`campaign-sender -q status r.csv`): clap would read that name as the CSV, since a
    /// send's own flags must not be given to another command, so they are moved after it.
    pub fn from_command_line() -> Result<Cli, clap::Error> {
        Cli::try_parse_from(log_flags_after_command(std::env::args_os().collect()))
    }

    /// -v minus -q.
    pub fn verbosity(&self) -> i8 {
        self.verbose.min(3) as i8 - self.quiet.min(3) as i8
    }
}

/// Actions other than sending.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the local fake of the API, for rehearsals and tests.
    Sandbox(SandboxArgs),
    /// Look up the delivery of every accepted message and record it in the results file
    /// (deliveryStatus, deliveredAt, readAt, deliveryError, checkedAt). Rerunnable.
    Status(crate::delivery::StatusArgs),
    /// Print the campaign's figures: send and delivery counts, failures, rates, pace.
    Report(crate::report::ReportArgs),
    /// Cancel the campaign's messages that are still scheduled (a future deliverAt).
    Cancel(crate::cancel::CancelArgs),
    /// Send the campaign's message, rendered from chosen rows (default: the first valid one),
    /// to test numbers instead of the list; prints each message id. Same options and campaign
    /// file as a send; never reads or writes the campaign's results file.
    Test(Box<crate::test_send::TestArgs>),
    /// Print a shell completion script: `campaign-sender completions bash > campaign-sender.bash`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `campaign-sender man > campaign-sender.1`.
    Man,
}

/// The completion script for `shell`, generated from these definitions so it never lags
/// behind a new flag.
pub fn completions(shell: clap_complete::Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "campaign-sender", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

/// The man page (roff), generated from these definitions.
pub fn man_page() -> String {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .expect("rendering into memory cannot fail");
    String::from_utf8_lossy(&page).into_owned()
}

/// `args` with the log flags that come before a command's name moved right after it.
fn log_flags_after_command(mut args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while let Some(arg) = args.get(i).and_then(|a| a.to_str()) {
        i += match arg {
            "--log-format" => 2,
            "--quiet" | "--verbose" => 1,
            _ if arg.starts_with("--log-format=") => 1,
            _ if arg.len() > 1
                && arg
                    .strip_prefix('-')
                    .is_some_and(|f| f.bytes().all(|b| b == b'q' || b == b'v')) =>
            {
                1
            }
            _ => break,
        };
    }
    let named = |name: &str| {
        name == "help"
            || Cli::command()
                .get_subcommands()
                .any(|c| c.get_name() == name)
    };
    if i > 1 && args.get(i).and_then(|a| a.to_str()).is_some_and(named) {
        let command = args.remove(i);
        args.insert(1, command);
    }
    args
}

/// A command line clap refused (or `--help`, `--version`), said and turned into the exit
/// code: under `--log-format json` as one JSON log line, like every other refusal, so a
/// log collector reads it; otherwise as clap prints it.
pub fn refused(error: clap::Error) -> u8 {
    let json = {
        let args: Vec<OsString> = std::env::args_os().collect();
        args.windows(2)
            .any(|w| w[0] == "--log-format" && w[1] == "json")
            || args.iter().any(|a| a == "--log-format=json")
    };
    if !json || !error.use_stderr() {
        let _ = error.print();
        return u8::try_from(error.exit_code()).unwrap_or(2);
    }
    crate::progress::init_logging(0, LogFormat::Json);
    let text = error.render().to_string();
    let lines: Vec<&str> = (text.lines().map(str::trim))
        .filter(|l| !l.is_empty())
        .collect();
    let said = lines.join(" ");
    crate::log_exit(2, &said.strip_prefix("error: ").unwrap_or(&said))
}
