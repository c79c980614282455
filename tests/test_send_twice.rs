//! `campaign-sender test --to X --to X`: a phone given twice, however spelled, gets the test
//! message once (never send twice), and the output says the repeat was noticed.

mod common;

use common::{Rig, binary, code, phone, text};

/// `campaign-sender test` of a one-row campaign, through the sandbox, to `to` (each a `--to`).
fn test_to(rig: &Rig, to: &[&str]) -> std::process::Output {
    let csv = rig.file("c.csv", &format!("phone,nome\n{},Ana\n", phone(0)));
    let mut command = binary();
    command
        .arg("test")
        .arg(&csv)
        .args(["--base-url", &rig.sandbox.base_url()])
        .args([
            "--spacing",
            "0",
            "--rate",
            "10000/s",
            "--text",
            "Oi {{nome}}",
        ])
        .args(["--default-country", "BR"]);
    for number in to {
        command.args(["--to", number]);
    }
    rig.run(&mut command)
}

/// The destination of every request the sandbox saw, accepted or not, in order.
fn requested(rig: &Rig) -> Vec<String> {
    rig.log()
        .into_iter()
        .filter_map(|e| e.destination)
        .collect()
}

#[test]
fn a_number_given_twice_however_spelled_is_sent_once_and_said() {
    const ONE: &str = "+5511999990001";
    for spellings in [
        &[ONE, ONE][..],
        &[ONE, "+55 11 99999-0001"],
        &["(11) 99999-0001", ONE, "+55 (11) 999990001"],
    ] {
        let rig = Rig::new();
        let output = test_to(&rig, spellings);
        assert_eq!(code(&output), 0, "{spellings:?}: {}", text(&output));
        assert_eq!(
            requested(&rig),
            [ONE],
            "{spellings:?}: sent once, to the number"
        );
        let said = text(&output);
        assert!(
            said.contains(&format!("--to {ONE}: given twice")) && said.contains("sent once"),
            "{spellings:?}: {said}"
        );
    }
}

#[test]
fn distinct_numbers_each_get_it_once_in_the_order_given() {
    let rig = Rig::new();
    let output = test_to(
        &rig,
        &[
            "+5511999990002",
            "+5511999990001",
            "11 99999-0002",
            "+5511999990001",
        ],
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_eq!(requested(&rig), ["+5511999990002", "+5511999990001"]);
    assert_eq!(text(&output).matches("given twice").count(), 2);
}
