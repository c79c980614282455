#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = campaign_sender::cli::Cli::parse();
    ExitCode::from(campaign_sender::run(cli))
}
