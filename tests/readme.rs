//! The README's "Try it in one minute", followed literally (on a copy of the samples, at a
//! faster pace so no test waits seconds): each command does what the text beside it says.

use std::path::Path;
use std::process::Command;

const TRY_IT: &str = "cargo run --release -- samples/campaign.csv --sandbox";

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The README's command with `cargo run --release --` replaced by the built binary, run in a
/// copy of the repository's samples, with a test pace appended (flags override the sample's
/// campaign file).
fn run_try_it(dir: &Path) -> (Option<i32>, String, String) {
    let args: Vec<&str> = TRY_IT.split(' ').skip(4).collect();
    let output = Command::new(env!("CARGO_BIN_EXE_campaign-sender"))
        .current_dir(dir)
        .args(&args)
        .args(["--spacing", "0", "--rate", "1000/s"])
        .env_remove("PILOT_STATUS_API_KEY")
        .env_remove("PILOT_STATUS_API_KEY_ID")
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn try_it_sends_the_sample_once_then_says_it_is_done() {
    assert!(
        readme().contains(TRY_IT),
        "the README's Try-it command changed"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("samples")).unwrap();
    for name in ["campaign.csv", "campaign.toml"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("samples")
                .join(name),
            dir.path().join("samples").join(name),
        )
        .unwrap();
    }
    let (code, stdout, stderr) = run_try_it(dir.path());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    // "writes samples/campaign.sandbox.results.csv" with the 8 rows sent.
    let results = dir.path().join("samples/campaign.sandbox.results.csv");
    assert!(
        readme().contains("samples/campaign.sandbox.results.csv"),
        "the README names the rehearsal's results file"
    );
    let text = std::fs::read_to_string(&results).unwrap();
    assert_eq!(text.matches(",QUEUED,").count(), 8, "{text}");
    assert!(!dir.path().join("samples/campaign.results.csv").exists());

    // "Run the same command again: nothing is sent twice; it reports the campaign is done."
    let (code, stdout, stderr) = run_try_it(dir.path());
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("campaign done"), "{stdout}\n{stderr}");
    let again = std::fs::read_to_string(&results).unwrap();
    assert_eq!(again.matches(",QUEUED,").count(), 8, "{again}");
    assert!(
        (stdout.clone() + &stderr).contains("to send                0"),
        "the rerun sends nothing: {stdout}\n{stderr}"
    );
}
