#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// jemalloc in place of glibc's malloc: reqwest and hyper allocate and free large blocks for
/// every request, which glibc pays for by merging its free lists each time, and the
/// preflight's threads free what others allocated. With jemalloc a send at
/// `--concurrency 64` took about 15 % less CPU, and a million-row preflight about 17 % less
/// (alternating runs on the bench machine; docs/dependencies.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = campaign_sender::cli::Cli::parse();
    ExitCode::from(campaign_sender::run(cli))
}
