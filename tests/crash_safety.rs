//! Never twice, never lost: the promise under kill -9 at random instants, a hostile fault
//! mix, a campaign-fatal answer mid-run, overlapping runs, a full disk and signals. Every
//! assertion is made from the sandbox's own log of what it accepted.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

use campaign_sender::sandbox::LogEntry;
use common::*;

/// Checks the whole promise for a finished campaign of `rows` rows and returns the results.
fn assert_never_twice_never_lost(
    rig_logs: &[LogEntry],
    results_path: &Path,
    rows: usize,
) -> Vec<HashMap<String, String>> {
    let per_destination = accepted_per_destination(rig_logs);
    let twice: Vec<_> = per_destination.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "accepted more than once: {twice:?}");
    let results = results(results_path);
    assert_eq!(results.len(), rows, "every row has a line");
    assert_eq!(
        result_lines(results_path),
        rows,
        "compacted to one line per row"
    );
    for entry in rig_logs.iter().filter(|e| e.accepted) {
        let destination = entry.destination.clone().unwrap();
        let row = results
            .iter()
            .find(|r| r["destination"] == destination)
            .expect("accepted row is in the results");
        let recorded = match row["status"].as_str() {
            "QUEUED" => Some(&row["messageId"]) == entry.message_id.as_ref(),
            "UNCERTAIN" => true,
            _ => false,
        };
        assert!(
            recorded,
            "{destination} was accepted as {:?} but recorded as {row:?}",
            entry.message_id
        );
    }
    for row in &results {
        assert!(
            matches!(row["status"].as_str(), "QUEUED" | "UNCERTAIN" | "FAILED"),
            "not final: {row:?}"
        );
    }
    results
}

/// A tiny deterministic generator for kill instants (no test depends on the OS's entropy).
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

/// Kills a campaign at random instants, reruns it to the end, and checks the promise.
fn kill_loop(concurrency: usize) {
    let rig = Rig::with_faults("latency=4ms");
    let rows = 36;
    let path = rig.file("c.csv", &campaign_csv(rows));
    let results_path = rig.dir.path().join("c.results.csv");
    let pace = if concurrency == 1 { "1ms..3ms" } else { "0" };
    let mut seed = 7 + concurrency as u64;
    let mut kills = 0;
    for _ in 0..12 {
        let mut child = rig
            .command(&path)
            .args([
                "--template",
                "t",
                "--spacing",
                pace,
                "--concurrency",
                &concurrency.to_string(),
                "-q",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + next(&mut seed) % 40));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    let (mut final_code, mut said) = (3, String::new());
    for _ in 0..5 {
        let output = rig.run(
            rig.command(&path)
                .args(["--template", "t", "--spacing", "0"]),
        );
        (final_code, said) = (code(&output), text(&output));
        if final_code != 3 {
            break;
        }
    }
    assert!(
        matches!(final_code, 0 | 1),
        "the campaign never finished; the last rerun said:\n{said}"
    );
    assert!(
        kills >= 3,
        "only {kills} kills landed; the test proves little"
    );
    let results = assert_never_twice_never_lost(&rig.log(), &results_path, rows);
    let uncertain = results
        .iter()
        .filter(|r| r["status"] == "UNCERTAIN")
        .count();
    assert!(
        uncertain <= kills * concurrency,
        "{uncertain} UNCERTAIN rows for {kills} kills"
    );
    assert!(results.iter().all(|r| r["status"] != "FAILED"));
}

#[test]
fn kill_9_at_random_instants_never_sends_twice_nor_loses_an_accepted_send() {
    kill_loop(1);
}

#[test]
fn kill_9_with_eight_sends_in_flight_never_sends_twice_nor_loses_one() {
    kill_loop(8);
}

/// Runs a campaign under every fault at once and checks each lands in its documented status.
fn fault_mix(concurrency: &str) {
    let rig = Rig::with_faults(
        "429=0.1,503=0.1,500=0.06,drop=0.06,late=0.06,late-by=600ms,retry-after=0",
    );
    let rows = 50;
    let path = rig.file("c.csv", &campaign_csv(rows));
    let output = rig.run(rig.command(&path).args([
        "--template",
        "t",
        "--timeout",
        "250ms",
        "--max-attempts",
        "30",
        "--concurrency",
        concurrency,
    ]));
    assert_eq!(code(&output), 1, "{}", text(&output));
    let log = rig.log();
    let results = assert_never_twice_never_lost(&log, &rig.dir.path().join("c.results.csv"), rows);
    let mut seen = HashMap::new();
    for row in &results {
        let requests: Vec<&LogEntry> = log
            .iter()
            .filter(|e| e.destination.as_deref() == Some(&row["destination"]))
            .collect();
        let last = requests.last().unwrap();
        assert!(
            requests[..requests.len() - 1]
                .iter()
                .all(|e| matches!(e.fault.as_deref(), Some("429" | "503"))),
            "only 429/503 are retried: {requests:?}"
        );
        let expected = match last.fault.as_deref() {
            None => "QUEUED",
            Some("500" | "drop" | "late") => "UNCERTAIN",
            Some(other) => panic!("a row ended on a {other}: {row:?}"),
        };
        assert_eq!(row["status"], expected, "{row:?} after {last:?}");
        assert_eq!(row["attempts"], requests.len().to_string(), "{row:?}");
        for entry in requests {
            *seen
                .entry(entry.fault.clone().unwrap_or_default())
                .or_insert(0) += 1;
        }
    }
    for fault in ["429", "503", "500", "drop", "late"] {
        assert!(
            seen.contains_key(fault),
            "the mix produced no {fault}: {seen:?}"
        );
    }
}

#[test]
fn under_a_fault_mix_every_fault_lands_in_its_documented_status() {
    fault_mix("1");
}

#[test]
fn under_a_fault_mix_with_sends_in_flight_every_fault_lands_in_its_status() {
    fault_mix("8");
}

#[test]
fn billing_suspended_mid_run_stops_at_once_and_the_rerun_completes_without_duplicates() {
    let suspended = Rig::with_faults("billing-suspended-after=5");
    let path = suspended.file("c.csv", &campaign_csv(10));
    let results_path = suspended.dir.path().join("c.results.csv");
    let output = suspended.run(suspended.command(&path).args(["--template", "t"]));
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert!(
        text(&output).contains("BILLING_SUSPENDED"),
        "{}",
        text(&output)
    );
    let log = suspended.log();
    assert_eq!(
        log.iter().filter(|e| e.status == Some(422)).count(),
        1,
        "at most one request after the first 422"
    );
    assert_eq!(log.len(), 6);
    let rows = results(&results_path);
    assert!(
        rows.iter().all(|r| r["status"] != "FAILED"),
        "no row is FAILED for a campaign-fatal answer: {rows:?}"
    );
    assert_eq!(rows[5]["status"], "DEFERRED");

    // The account is regularized: the same command, a healthy API (a second sandbox, at
    // another address, hence --retarget).
    let recovered = Rig::new();
    let output = recovered.run(
        recovered
            .command(&path)
            .args(["--template", "t", "--retarget"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let mut both = suspended.log();
    both.extend(recovered.log());
    assert_never_twice_never_lost(&both, &results_path, 10);
    assert_eq!(recovered.accepted().len(), 5);
}

/// A campaign started through `gate`, its stderr read as it comes.
struct Running {
    child: Child,
    stderr: BufReader<ChildStderr>,
    seen: String,
}

impl Running {
    fn start(rig: &Rig, gate: &Gate, path: &Path, args: &[&str]) -> Running {
        let mut child = rig
            .command_to(path, &gate.base_url())
            .args(["--template", "t"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        Running {
            child,
            stderr,
            seen: String::new(),
        }
    }

    /// Reads stderr until a line holds `needle`: the event to synchronize on.
    fn wait_for_line(&mut self, needle: &str) {
        while !self.seen.contains(needle) {
            let mut line = String::new();
            let read = self.stderr.read_line(&mut line).unwrap();
            assert!(
                read > 0,
                "the run ended before saying '{needle}':\n{}",
                self.seen
            );
            self.seen.push_str(&line);
        }
    }

    /// Waits for the end: the exit code and everything it wrote.
    fn finish(mut self) -> (i32, String) {
        self.stderr.read_to_string(&mut self.seen).unwrap();
        let output = self.child.wait_with_output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), self.seen);
        assert!(!text.contains(KEY), "the API key leaked:\n{text}");
        (code(&output), text)
    }
}

#[test]
fn a_second_run_on_the_same_results_is_refused_and_nothing_is_sent_twice() {
    let rig = Rig::new();
    let gate = rig.gate();
    let path = rig.file("c.csv", &campaign_csv(8));
    let first = Running::start(&rig, &gate, &path, &[]);
    // The first run's first send is held in flight: it certainly still holds the file.
    rig.wait_for_requests(1);
    let second = rig.run(
        rig.command_to(&path, &gate.base_url())
            .args(["--template", "t"]),
    );
    assert_eq!(
        code(&second),
        i32::from(campaign_sender::ALREADY_RUNNING),
        "{}",
        text(&second)
    );
    assert!(
        text(&second).contains(&format!("pid {}", first.child.id())),
        "names the holder: {}",
        text(&second)
    );
    gate.open();
    let (exit, said) = first.finish();
    assert_eq!(exit, 0, "{said}");
    assert_never_twice_never_lost(&rig.log(), &rig.dir.path().join("c.results.csv"), 8);
}

/// What the run says once a first SIGINT or SIGTERM has taken effect.
const STOPPING: &str = "stopping: no new send will start";

/// Stops a campaign with `name` while its first send is held in flight, then lets the
/// answer through: the send is finished and recorded, nothing new starts, exit 3, and the
/// rerun finishes without sending anything twice.
fn a_stop_finishes_the_send_in_flight(name: &str) {
    let rig = Rig::new();
    let gate = rig.gate();
    let path = rig.file("c.csv", &campaign_csv(5));
    let mut run = Running::start(&rig, &gate, &path, &[]);
    rig.wait_for_requests(1);
    signal(&run.child, name);
    run.wait_for_line(STOPPING);
    gate.open();
    let (exit, said) = run.finish();
    assert_eq!(exit, 3, "{said}");
    assert_eq!(rig.log().len(), 1, "no new send starts after SIG{name}");
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0]["status"], "QUEUED",
        "the in-flight send was recorded: {rows:?}"
    );

    let output = rig.run(
        rig.command_to(&path, &gate.base_url())
            .args(["--template", "t"]),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert_never_twice_never_lost(&rig.log(), &rig.dir.path().join("c.results.csv"), 5);
}

#[test]
fn sigint_finishes_and_records_the_send_in_flight_then_exits_3() {
    a_stop_finishes_the_send_in_flight("INT");
}

#[test]
fn sigterm_stops_like_sigint() {
    a_stop_finishes_the_send_in_flight("TERM");
}

#[test]
fn sighup_stops_like_sigint() {
    // The terminal or ssh session of a campaign that runs for hours closed.
    a_stop_finishes_the_send_in_flight("HUP");
}

#[test]
fn a_second_sighup_does_not_quit_mid_send() {
    // A closing terminal may hang up twice (the shell's, then the kernel's).
    let rig = Rig::new();
    let gate = rig.gate();
    let path = rig.file("c.csv", &campaign_csv(3));
    let mut run = Running::start(&rig, &gate, &path, &[]);
    rig.wait_for_requests(1);
    signal(&run.child, "HUP");
    run.wait_for_line(STOPPING);
    signal(&run.child, "HUP");
    gate.open();
    let (exit, said) = run.finish();
    assert_eq!(exit, 3, "{said}");
    assert!(!said.contains("quitting now"), "{said}");
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(
        rows[0]["status"], "QUEUED",
        "the send in flight was recorded: {rows:?}"
    );
}

#[test]
fn under_nohup_a_sighup_is_left_ignored_and_the_run_goes_on() {
    let rig = Rig::new();
    let gate = rig.gate();
    let path = rig.file("c.csv", &campaign_csv(3));
    let run = rig.command_to(&path, &gate.base_url());
    // As `nohup` starts it: SIGHUP ignored, which exec keeps.
    let mut nohup = Command::new("sh");
    nohup
        .args(["-c", "trap '' HUP; exec \"$0\" \"$@\""])
        .arg(run.get_program())
        .args(run.get_args())
        .args(["--template", "t"])
        .envs(run.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = run.get_current_dir() {
        nohup.current_dir(dir);
    }
    let child = nohup.spawn().unwrap();
    rig.wait_for_requests(1);
    signal(&child, "HUP");
    gate.open();
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(!text(&output).contains(STOPPING), "{}", text(&output));
    assert_never_twice_never_lost(&rig.log(), &rig.dir.path().join("c.results.csv"), 3);
}

#[test]
fn a_second_sigint_quits_at_once_and_the_row_in_flight_becomes_uncertain() {
    let rig = Rig::new();
    let gate = rig.gate();
    let path = rig.file("c.csv", &campaign_csv(3));
    let mut run = Running::start(&rig, &gate, &path, &["--timeout", "60s"]);
    rig.wait_for_requests(1);
    signal(&run.child, "INT");
    run.wait_for_line(STOPPING);
    signal(&run.child, "INT");
    // The answer is still held: the run can only end by quitting without it.
    let (exit, said) = run.finish();
    assert_eq!(exit, 3, "{said}");
    assert!(said.contains("quitting now"), "{said}");
    let results_path = rig.dir.path().join("c.results.csv");
    assert_eq!(
        results(&results_path)[0]["status"],
        "SENDING",
        "it did not wait for the answer"
    );

    gate.open();
    let output = rig.run(
        rig.command_to(&path, &gate.base_url())
            .args(["--template", "t"]),
    );
    assert_eq!(code(&output), 1, "{}", text(&output));
    let rows = assert_never_twice_never_lost(&rig.log(), &results_path, 3);
    assert_eq!(rows[0]["status"], "UNCERTAIN", "{rows:?}");
    assert_eq!(rig.log().len(), 3, "the interrupted row was not resent");
}

#[test]
fn a_full_disk_stops_the_run_before_the_next_send() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(40));
    let results_path = rig.dir.path().join("c.results.csv");
    // The file size limit makes writes past 2 KiB fail (EFBIG), as a full disk would.
    // SIGXFSZ is ignored so the write returns an error instead of killing the process.
    let inner = rig.command(&path);
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 2; exec \"$@\"")
        .arg("bash")
        .arg(inner.get_program())
        .args(inner.get_args())
        // The size limit would fail the ledger's file first: this test is about the results.
        .args(["--template", "t", "--ledger", "off"])
        .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let output = rig.run(&mut command);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert!(
        text(&output).contains("c.results.csv"),
        "names the file: {}",
        text(&output)
    );
    let accepted = rig.accepted();
    assert!(
        !accepted.is_empty() && accepted.len() < 40,
        "{} accepted",
        accepted.len()
    );
    let journal = std::fs::read_to_string(&results_path).unwrap();
    for entry in &accepted {
        assert!(
            journal.contains(entry.destination.as_deref().unwrap()),
            "{entry:?} was sent but not recorded"
        );
    }
    let sent_after = rig.log().len() - accepted.len();
    assert_eq!(sent_after, 0, "nothing was sent that was not accepted");

    // With space again, the rerun finishes the campaign without duplicates.
    let output = rig.run(rig.command(&path).args(["--template", "t"]));
    assert!(matches!(code(&output), 0 | 1), "{}", text(&output));
    assert_never_twice_never_lost(&rig.log(), &results_path, 40);
}

#[test]
fn a_results_file_that_cannot_be_created_stops_before_any_send() {
    let rig = Rig::new();
    let path = rig.file("c.csv", &campaign_csv(2));
    let output = rig.run(rig.command(&path).args([
        "--template",
        "t",
        "--results",
        "/nonexistent/dir/r.csv",
    ]));
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("/nonexistent/dir"),
        "{}",
        text(&output)
    );
    assert!(rig.log().is_empty());
}
