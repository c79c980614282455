//! campaign-sender: WhatsApp campaigns from a CSV, paced, retried, resumable, at most once.
//!
//! The pipeline a row goes through is visible in the module names: [`input`] reads and
//! validates it, [`pacing`] waits for its turn, a [`provider`] sends it, the [`journal`]
//! records it, and the [`runner`] ties them together. [`settings`] is the campaign's
//! configuration, [`sandbox`] the local fake API, [`progress`] what people see.

#![forbid(unsafe_code)]

mod blocking;
mod byte_scan;
pub(crate) mod cancel;
pub mod cli;
pub mod clock;
pub(crate) mod confirm;
pub mod connect;
pub(crate) mod delivery;
pub(crate) mod file_name;
pub(crate) mod fingerprint;
pub(crate) mod fmt;
pub mod identity;
pub(crate) mod ids;
pub mod input;
pub mod journal;
pub mod ledger;
pub(crate) mod message;
pub mod pacing;
pub mod plain_file;
pub mod progress;
pub mod provider;
pub(crate) mod remote;
pub(crate) mod report;
pub(crate) mod retry;
pub mod runner;
pub mod sandbox;
pub mod senders;
pub mod settings;
pub mod shutdown;
pub(crate) mod test_send;
pub(crate) mod toml_file;
pub(crate) mod window;

use std::sync::Mutex;

use cli::{Cli, Command};
use runner::Context;
use settings::Settings;

/// Exit code of a command that found another live run holding the campaign's lock: nothing
/// was done, and the scheduler's next tick simply tries again (not an alert).
pub const ALREADY_RUNNING: u8 = 4;

/// The exit code for a results file that cannot be used: [`ALREADY_RUNNING`] when another
/// run holds it, else 2 (set-up: a person must look).
pub(crate) fn exit_code_of(error: &journal::JournalError) -> u8 {
    match error {
        journal::JournalError::Locked { .. } => ALREADY_RUNNING,
        _ => 2,
    }
}

/// Logs why a command ended with `code` and returns it: at warning level for
/// [`ALREADY_RUNNING`] (routine under cron), as an error otherwise.
pub(crate) fn log_exit(code: u8, why: &dyn std::fmt::Display) -> u8 {
    if code == ALREADY_RUNNING {
        tracing::warn!("{why}");
    } else {
        tracing::error!("{why}");
    }
    code
}

/// Runs the command line and returns the process exit code (see the README's table).
pub fn run(cli: Cli) -> u8 {
    progress::init_logging(cli.verbosity(), cli.log_format);
    // The sandbox server, a server, gets a worker per core (at least two). Every other
    // command is a client waiting on the network and the disk: one worker polls all of its
    // connections, and a second only adds wake-ups between threads (at `--concurrency 64`
    // about a fifth of the client's CPU, in futex calls and context switches). Blocking work
    // goes through `blocking::blocking`, which hands the worker's tasks (signals, the
    // in-process sandbox, reqwest's connections) to a fresh thread meanwhile.
    let workers = match cli.command {
        Some(Command::Sandbox(_)) => {
            std::thread::available_parallelism().map_or(2, |n| n.get().max(2))
        }
        _ => 1,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        match cli.command {
            Some(Command::Sandbox(args)) => serve_sandbox(args).await,
            Some(Command::Status(args)) => {
                let (clock, shutdown) = operation();
                delivery::run(&args, clock, shutdown).await
            }
            Some(Command::Report(args)) => report::run(&args),
            Some(Command::Test(args)) => test_send::run(&args).await,
            Some(Command::Completions { shell }) => {
                printed(progress::print_out(cli::completions(shell)))
            }
            Some(Command::Man) => printed(progress::print_out(cli::man_page())),
            Some(Command::Cancel(args)) => {
                let (clock, shutdown) = operation();
                cancel::run(&args, clock, shutdown).await
            }
            None => {
                let show = cli.verbosity() >= 0;
                let csv = cli.csv.expect("clap requires the CSV");
                let (campaign, options) = (cli.campaign, cli.options);
                // On a runtime thread rather than this one, so the sends and reqwest's
                // connection tasks wake each other without a thread hand-off.
                tokio::spawn(async move { send(&csv, campaign.as_deref(), &options, show).await })
                    .await
                    .expect("the send task does not panic")
            }
        }
    })
}

/// The exit code of a command whose product is what it printed: 2 if it did not all reach
/// stdout.
fn printed(result: std::io::Result<()>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e) => log_exit(2, &format_args!("cannot write to stdout: {e}")),
    }
}

/// The real clock and a stop signal wired to SIGINT/SIGTERM, for `status` and `cancel`.
fn operation() -> (clock::Clock, shutdown::Shutdown) {
    let shutdown = shutdown::Shutdown::new();
    shutdown.listen_for_signals();
    (clock::Clock::real(), shutdown)
}

async fn serve_sandbox(args: sandbox::SandboxArgs) -> u8 {
    match sandbox::serve(&args, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            2
        }
    }
}

async fn send(
    csv: &std::path::Path,
    campaign: Option<&std::path::Path>,
    options: &settings::CampaignOptions,
    show_progress: bool,
) -> u8 {
    let resolved = Settings::resolve(csv, campaign, options, &|name| std::env::var(name).ok());
    let settings = match resolved {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!("{e}");
            return 2;
        }
    };
    let stdout = progress::Stdout::default();
    let context = Context {
        clock: clock::Clock::real(),
        shutdown: shutdown::Shutdown::new(),
        seed: None,
        show_progress,
        // Buffered: a dry run of a million rows prints a million lines.
        out: Mutex::new(Box::new(std::io::BufWriter::new(stdout.clone()))),
        interactive: confirm::interactive(),
    };
    context.shutdown.listen_for_signals();
    // The target is held to the end: a sandbox lives as long as it does.
    let (_target, providers) = match reach(&settings).await {
        Ok(reached) => reached,
        Err(e) => {
            tracing::error!("{e}");
            return 2;
        }
    };
    let outcome = runner::run_campaign(&settings, &providers, &context).await;
    // The dry-run bodies come before the summary.
    let _ = std::io::Write::flush(&mut *context.out.lock().expect("output mutex"));
    match outcome {
        // A dry run's product is its bodies: half of them is no dry run.
        Ok(summary) if let Some(e) = stdout.lost() => {
            let why =
                format!("the dry run's bodies did not all reach stdout ({e}): nothing was sent");
            runner::show_summary(&summary);
            log_exit(2, &why)
        }
        Ok(summary) => {
            runner::show_summary(&summary);
            summary.exit_code()
        }
        Err(e) => log_exit(e.exit_code(), &e),
    }
}

/// The send's target reached (see [`connect::reach`]), with one client per sender: a dry
/// run connects to nothing, so its host is only checked and no root certificate is read.
async fn reach(
    settings: &Settings,
) -> Result<(connect::Reached, Vec<Box<dyn provider::Provider>>), connect::ConnectError> {
    let target = connect::reach(
        &settings.target,
        settings.timeout,
        settings.keep_alive,
        !settings.dry_run,
    )
    .await?;
    let providers = target.providers(settings.provider, &settings.senders)?;
    Ok((target, providers))
}
