//! campaign-sender: WhatsApp campaigns from a CSV, paced, retried, resumable, at most once.
//!
//! The pipeline a row goes through is visible in the module names: [`input`] reads and
//! validates it, [`pacing`] waits for its turn, a [`provider`] sends it, the [`journal`]
//! records it, and the [`runner`] ties them together. [`settings`] is the campaign's
//! configuration, [`sandbox`] the local fake API, [`progress`] what people see.

#![forbid(unsafe_code)]

pub mod cancel;
pub mod cli;
pub mod clock;
pub mod delivery;
pub mod fingerprint;
pub mod fmt;
pub mod input;
pub mod journal;
pub mod message;
pub mod pacing;
pub mod progress;
pub mod provider;
pub mod remote;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod senders;
pub mod settings;
pub mod shutdown;
pub mod window;

use std::sync::Mutex;

use cli::{Cli, Command};
use runner::Context;
use settings::{Settings, Target};

/// Exit code of a command that found another live run holding the campaign's lock: nothing
/// was done, and the scheduler's next tick simply tries again (not an alert).
pub const ALREADY_RUNNING: u8 = 4;

/// The exit code for a results file that cannot be used: [`ALREADY_RUNNING`] when another
/// run holds it, else 2 (set-up: a person must look).
pub fn exit_code_of(error: &journal::JournalError) -> u8 {
    match error {
        journal::JournalError::Locked { .. } => ALREADY_RUNNING,
        _ => 2,
    }
}

/// Logs why a command ended with `code` and returns it: at warning level for
/// [`ALREADY_RUNNING`] (routine under cron), as an error otherwise.
pub fn log_exit(code: u8, why: &dyn std::fmt::Display) -> u8 {
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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
            Some(Command::Completions { shell }) => {
                progress::print_out(cli::completions(shell));
                0
            }
            Some(Command::Man) => {
                progress::print_out(cli::man_page());
                0
            }
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
    let context = Context {
        clock: clock::Clock::real(),
        shutdown: shutdown::Shutdown::new(),
        seed: None,
        show_progress,
        // Buffered: a dry run of a million rows prints a million lines.
        out: Mutex::new(Box::new(std::io::BufWriter::new(std::io::stdout()))),
    };
    context.shutdown.listen_for_signals();
    let (_sandbox, base_url) = match &settings.target {
        Target::Sandbox { faults } => {
            let config = sandbox::SandboxConfig {
                faults: faults.clone(),
                ..sandbox::SandboxConfig::default()
            };
            match sandbox::Sandbox::start(config, 0).await {
                Ok(sandbox) => {
                    tracing::info!("sandbox listening on {}", sandbox.base_url());
                    let url = sandbox.base_url();
                    (Some(sandbox), url)
                }
                Err(e) => {
                    tracing::error!("cannot start the sandbox: {e}");
                    return 2;
                }
            }
        }
        Target::Remote { base_url } => (None, base_url.clone()),
    };
    let providers = match settings.connect(&base_url) {
        Ok(providers) => providers,
        Err(e) => {
            tracing::error!("{e}");
            return 2;
        }
    };
    let outcome = runner::run_campaign(&settings, &providers, &context).await;
    // The dry-run bodies come before the summary.
    let _ = std::io::Write::flush(&mut *context.out.lock().expect("output mutex"));
    match outcome {
        Ok(summary) => {
            progress::show_summary(&summary);
            summary.exit_code()
        }
        Err(e) => log_exit(e.exit_code(), &e),
    }
}
