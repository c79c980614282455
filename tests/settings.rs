//! The campaign file and the flags: a flag overrides the file, a `true` there included, and
//! the decisions for one run (`--sandbox`, `--dry-run`, `--resend-uncertain`) are flags only.

mod common;

use common::*;

#[test]
fn resend_uncertain_in_a_campaign_file_is_refused_and_resends_nothing() {
    // The sandbox takes every request and drops the connection: the rows are UNCERTAIN.
    let rig = Rig::with_faults("drop=1");
    let csv = rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(rig.command(&csv).args(["--template", "t"]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let results = rig.dir.path().join("c.results.csv");
    let before = std::fs::read_to_string(&results).unwrap();
    assert!(before.contains("UNCERTAIN"), "{before}");
    let requests = rig.log().len();

    rig.file("c.toml", "template = \"t\"\nresend-uncertain = true\n");
    let output = rig.run(&mut rig.command(&csv));
    assert_eq!(code(&output), 2, "{}", text(&output));
    for needle in [
        "resend-uncertain",
        "UNCERTAIN",
        "cron",
        "remove it from the file",
    ] {
        assert!(
            text(&output).contains(needle),
            "{needle}: {}",
            text(&output)
        );
    }
    assert_eq!(rig.log().len(), requests, "nothing was resent");
    assert_eq!(std::fs::read_to_string(&results).unwrap(), before);
}

#[test]
fn sandbox_dry_run_or_allow_resend_in_a_campaign_file_is_refused_naming_the_flag() {
    for key in ["sandbox", "dry-run", "allow-resend"] {
        let rig = Rig::new();
        let csv = rig.file("c.csv", &campaign_csv(1));
        rig.file("c.toml", &format!("template = \"t\"\n{key} = true\n"));
        let output = rig.run(&mut rig.command(&csv));
        assert_eq!(code(&output), 2, "{}", text(&output));
        assert!(rig.log().is_empty(), "something was sent");
        let flag = format!("only the --{key} flag may");
        assert!(text(&output).contains(&flag), "{}", text(&output));
        assert!(
            !rig.dir.path().join("c.sandbox.results.csv").exists(),
            "no rehearsal ran"
        );
    }
}

#[test]
fn strict_false_turns_off_the_campaign_files_strict() {
    let rig = Rig::new();
    // One invalid row in six: under --max-invalid's 20%, refused by strict alone.
    let csv = rig.file("c.csv", &format!("{}not a number,Bia\n", campaign_csv(5)));
    rig.file("c.toml", "template = \"t\"\nstrict = true\n");
    assert_refused(&rig, &mut rig.command(&csv), &["--strict"]);
    let output = rig.run(rig.command(&csv).arg("--strict=false"));
    assert_eq!(code(&output), 1, "{}", text(&output));
    assert_eq!(rig.sent(), (0..5).map(phone).collect::<Vec<_>>());
}

#[test]
fn ai_rewrite_false_turns_off_the_campaign_files_ai_rewrite() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(2));
    rig.file("c.toml", "template = \"t\"\nai-rewrite = true\n");
    let results = |name: &str| rig.dir.path().join(name);
    let output = rig.run(rig.command(&csv).arg("--results").arg(results("on.csv")));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let mut off = rig.command(&csv);
    off.arg("--ai-rewrite=false")
        .arg("--allow-resend")
        .arg("--results")
        .arg(results("off.csv"));
    let output = rig.run(&mut off);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let rewrite: Vec<_> = rig
        .accepted()
        .iter()
        .map(|e| e.body.get("aiRewriteEnabled").cloned())
        .collect();
    let on = Some(serde_json::json!(true));
    assert_eq!(rewrite, [on.clone(), on, None, None]);
}

#[test]
fn a_toml_date_time_in_a_campaign_file_is_a_time() {
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    // Unquoted: TOML's own date-time, which a spreadsheet-minded user writes as they see it.
    rig.file(
        "c.toml",
        "template = \"t\"\ndeliver-at = 2099-12-25T09:00:00-03:00\n",
    );
    let output = rig.run(&mut rig.command(&csv));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let bodies: Vec<_> = rig.accepted().into_iter().map(|e| e.body).collect();
    assert_eq!(bodies[0]["deliverAt"], "2099-12-25T12:00:00Z");

    // Without an offset it cannot be a moment: refused before any send, saying so.
    let rig = Rig::new();
    let csv = rig.file("c.csv", &campaign_csv(1));
    rig.file(
        "c.toml",
        "template = \"t\"\ndeliver-at = 2099-12-25T09:00:00\n",
    );
    let output = rig.run(&mut rig.command(&csv));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(rig.log().is_empty(), "something was sent");
    assert!(
        !text(&output).contains("invalid type: map"),
        "{}",
        text(&output)
    );
}
