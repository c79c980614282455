//! Shell completions and the man page are generated from the clap definitions, so they
//! list every flag and subcommand the binary has.

mod common;

use common::*;

#[test]
fn the_bash_completion_script_completes_the_flags() {
    for shell in ["bash", "zsh", "fish"] {
        let output = binary().args(["completions", shell]).output().unwrap();
        assert_eq!(code(&output), 0, "{}", text(&output));
        let script = String::from_utf8_lossy(&output.stdout);
        // fish spells a long flag `-l template`, the others `--template`.
        let long = |flag: &str| match shell {
            "fish" => format!("-l {flag}"),
            _ => format!("--{flag}"),
        };
        assert!(script.contains(&long("template")), "{shell}: {script}");
        assert!(
            script.contains(&long("html")),
            "{shell}: the report's flags too"
        );
    }
}

#[test]
fn the_man_page_names_every_subcommand() {
    let output = binary().arg("man").output().unwrap();
    assert_eq!(code(&output), 0, "{}", text(&output));
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH"),
        "roff: {page}"
    );
    for subcommand in [
        "sandbox",
        "status",
        "report",
        "cancel",
        "completions",
        "man",
    ] {
        assert!(
            page.contains(&format!("campaign\\-sender\\-{subcommand}")),
            "{subcommand} missing from:\n{page}"
        );
    }
}
