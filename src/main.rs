// The one exception, below: the name under which jemalloc looks for its settings.
#![deny(unsafe_code)]

use std::process::ExitCode;

use campaign_sender::cli::Cli;

/// jemalloc in place of glibc's malloc: reqwest and hyper allocate and free large blocks for
/// every request, which glibc pays for by merging its free lists each time, and the
/// preflight's threads free what others allocated. With jemalloc (and the setting below) a
/// send at `--concurrency 64` took about 13 % less CPU, and a million-row preflight about
/// 14 % less (alternating runs on the bench machine; docs/dependencies.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, a C string it reads as it starts: blocks of 256 KiB and more (a
/// million-row resume's indexes, grown by doubling) come from its arena that hands freed
/// pages back at once. At the default 8 MiB the smaller steps of each doubling stayed
/// resident for seconds after they were freed: a million-row resume peaked at 75 MiB
/// (1 MiB: 67 MiB), against 55 MiB with glibc and 54–57 MiB with this setting.
#[cfg(not(target_env = "msvc"))]
#[allow(unsafe_code)] // a symbol name only; jemalloc reads the bytes, nothing is called
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 26] = b"oversize_threshold:262144\0";

fn main() -> ExitCode {
    ExitCode::from(match Cli::from_command_line() {
        Ok(cli) => campaign_sender::run(cli),
        Err(refused) => campaign_sender::cli::refused(refused),
    })
}
