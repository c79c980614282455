//! The reference and `--help` must agree: every long flag of the send command is documented in
//! docs/reference.md's option table, and every flag the table names exists.

use std::collections::BTreeSet;

use campaign_sender::cli::Cli;
use clap::CommandFactory;

/// The send command's long flags, as clap knows them.
fn help_flags() -> BTreeSet<String> {
    Cli::command()
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .filter(|long| *long != "help" && *long != "version")
        .map(|long| format!("--{long}"))
        .collect()
}

/// The flags named in the first cell of each row of the reference's options table.
fn documented_flags() -> BTreeSet<String> {
    let reference =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md"))
            .expect("docs/reference.md");
    let table = reference
        .split("## Options")
        .nth(1)
        .expect("an Options section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut flags = BTreeSet::new();
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let first_cell = line.split(" | ").next().unwrap();
        for word in
            first_cell.split(|c: char| c == '`' || c.is_whitespace() || c == '/' || c == '[')
        {
            if let Some(name) = word.strip_prefix("--") {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                if !name.is_empty() {
                    flags.insert(format!("--{name}"));
                }
            }
        }
    }
    flags
}

#[test]
fn every_flag_in_help_is_in_the_reference_and_back() {
    let help = help_flags();
    let documented = documented_flags();
    let undocumented: Vec<_> = help.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&help).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "flags in --help missing from docs/reference.md: {undocumented:?}; \
         flags in docs/reference.md that --help does not have: {unknown:?}"
    );
}

/// Flags that are decisions for one run, never campaign-file keys, and flags of the command
/// line itself.
const NOT_KEYS: [&str; 12] = [
    "--campaign",
    "--verbose",
    "--quiet",
    "--log-format",
    "--sandbox",
    "--dry-run",
    "--resend-uncertain",
    "--retarget",
    "--retry-failed",
    "--message-changed",
    "--ignore-earlier-retry-after",
    "--allow-resend",
];

#[test]
fn the_example_campaign_file_shows_every_key() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/campaigns/black-friday.toml"
    ))
    .expect("campaigns/black-friday.toml");
    let keys: BTreeSet<String> = example
        .lines()
        .filter_map(|line| {
            let line = line.trim_start_matches(['#', ' ']);
            let (key, _) = line.split_once(" = ")?;
            let key = key.trim();
            key.chars()
                .all(|c| c.is_ascii_lowercase() || c == '-')
                .then(|| format!("--{key}"))
        })
        .collect();
    let missing: Vec<_> = help_flags()
        .into_iter()
        .filter(|flag| !NOT_KEYS.contains(&flag.as_str()) && !keys.contains(flag))
        .collect();
    assert!(
        missing.is_empty(),
        "campaigns/black-friday.toml documents every key, but lacks {missing:?}"
    );
}

#[test]
fn the_example_campaign_file_is_accepted_as_it_stands() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("clientes.csv");
    std::fs::write(&csv, "phone,nome,cupom\n(11) 98888-7777,Ana,BF10\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_campaign-sender"))
        .arg(&csv)
        .arg("--campaign")
        .arg(format!("{root}/campaigns/black-friday.toml"))
        .arg("--dry-run")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("to send                1"), "{stderr}");
}
