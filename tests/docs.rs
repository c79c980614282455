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
