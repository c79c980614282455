//! Shared test rig: a real sandbox on loopback (in this test process, so its log can be
//! read directly), a temp directory for CSVs and results, and the real binary.

#![allow(dead_code)] // each test binary uses a different part of the rig

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use campaign_sender::clock::Clock;
use campaign_sender::connect;
use campaign_sender::input::MessageDefaults;
use campaign_sender::runner::Summary;
use campaign_sender::runner::{Context, run_campaign};
use campaign_sender::sandbox::{FailDestination, LogEntry, Sandbox, SandboxConfig};
use campaign_sender::settings::{CampaignOptions, Settings};
use campaign_sender::shutdown::Shutdown;
use jiff::Timestamp;

/// The key the tests send; it must never appear in any output or file.
pub const KEY: &str = "ps_test_SECRET_5a9f";

/// Pace and patience flags that keep a test fast; sends and operations both take them.
const FAST: [&str; 6] = [
    "--rate",
    "10000/s",
    "--backoff",
    "1ms..5ms",
    "--timeout",
    "2s",
];

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub sandbox: Sandbox,
    /// The simulated clock of in-process runs; the sandbox stamps arrivals with it.
    pub clock: Clock,
    runtime: tokio::runtime::Runtime,
}

impl Rig {
    /// A rig with a default sandbox (no faults, no server-side rate limit).
    pub fn new() -> Rig {
        Rig::with(SandboxConfig {
            rate_limit_per_sec: None,
            ..SandboxConfig::default()
        })
    }

    /// A rig with faults in the form the `--faults` flag takes.
    pub fn with_faults(spec: &str) -> Rig {
        Rig::with(SandboxConfig {
            rate_limit_per_sec: None,
            faults: spec.parse().expect("a valid fault spec"),
            ..SandboxConfig::default()
        })
    }

    /// A rig whose sandbox stamps arrivals on the rig's simulated clock, whatever clock
    /// `config` names.
    pub fn with(config: SandboxConfig) -> Rig {
        let clock = Clock::simulated(Timestamp::UNIX_EPOCH);
        let config = SandboxConfig {
            clock: clock.clone(),
            ..config
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = runtime
            .block_on(Sandbox::start(config, 0))
            .expect("sandbox starts");
        Rig {
            dir: tempfile::tempdir().unwrap(),
            sandbox,
            clock,
            runtime,
        }
    }

    /// Writes a file into the rig's directory.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// The binary aimed at the sandbox, fast pace, key in the environment.
    pub fn command(&self, csv: &Path) -> std::process::Command {
        self.command_to(csv, &self.sandbox.base_url())
    }

    /// The same, aimed at another base URL.
    pub fn command_to(&self, csv: &Path, base_url: &str) -> std::process::Command {
        let mut command = binary();
        command
            .arg(csv)
            .args(["--base-url", base_url, "--spacing", "0"])
            .args(FAST)
            .env("CAMPAIGN_SENDER_LEDGER", self.ledger());
        command
    }

    /// `campaign-sender test CSV` of template `t` aimed at `base_url`, fast pace, on the
    /// rig's ledger; the test's `--to` and flags are the caller's.
    pub fn tester(&self, csv: &Path, base_url: &str) -> std::process::Command {
        let mut command = binary();
        command
            .arg("test")
            .arg(csv)
            .args(["--base-url", base_url, "--template", "t"])
            .args(["--spacing", "0", "--rate", "10000/s"])
            .env("CAMPAIGN_SENDER_LEDGER", self.ledger());
        command
    }

    /// The rig's own ledger, in its temp directory: no test touches the user's real one.
    pub fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger.sqlite3")
    }

    /// `status` or `cancel` on a results file, aimed at the sandbox, fast, key in the
    /// environment.
    pub fn operation(&self, subcommand: &str, results: &Path) -> std::process::Command {
        self.operation_to(subcommand, results, &self.sandbox.base_url())
    }

    /// [`Rig::operation`] aimed at `base_url` (a [`Gate`] in front of the sandbox).
    pub fn operation_to(
        &self,
        subcommand: &str,
        results: &Path,
        base_url: &str,
    ) -> std::process::Command {
        let mut command = binary();
        command
            .arg(subcommand)
            .arg(results)
            .args(["--base-url", base_url])
            .args(FAST);
        command
    }

    /// The status lookups (GETs) the sandbox has seen, by message id, in order.
    pub fn lookups(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|e| e.method == "GET")
            .map(|e| e.path.trim_start_matches("/v1/messages/").to_string())
            .collect()
    }

    /// A `status` pass on `results` (with `extra` flags) killed with SIGKILL once the sandbox
    /// has seen `requests` more requests.
    pub fn status_killed_after(&self, results: &Path, requests: usize, extra: &[&str]) {
        let before = self.log().len();
        let mut child = self
            .operation("status", results)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.wait_for_requests(before + requests);
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Waits (a few ms at a time) until the sandbox has seen `n` requests.
    pub fn wait_for_requests(&self, n: usize) {
        let start = std::time::Instant::now();
        while self.log().len() < n {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "the sandbox never saw {n} requests"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// Runs a command to completion, asserting the key never shows in its output.
    pub fn run(&self, command: &mut std::process::Command) -> Output {
        let output = command.output().expect("the binary runs");
        assert_no_key(&output);
        output
    }

    /// Every request the sandbox saw.
    pub fn log(&self) -> Vec<LogEntry> {
        self.sandbox.log()
    }

    /// When each request the sandbox accepted arrived, on the rig's clock, with its
    /// destination and sender, in arrival order: what the pace is judged by.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.log()
            .into_iter()
            .map(|e| Arrival {
                at: e.at.parse().expect("an RFC 3339 arrival time"),
                destination: e.destination.unwrap_or_default(),
                sender: e.sender.unwrap_or_default(),
                accepted: e.accepted,
            })
            .collect()
    }

    /// Only what the sandbox accepted (stored as messages).
    pub fn accepted(&self) -> Vec<LogEntry> {
        self.sandbox.accepted()
    }

    /// The destinations the sandbox accepted, in order.
    pub fn sent(&self) -> Vec<String> {
        self.accepted()
            .into_iter()
            .filter_map(|e| e.destination)
            .collect()
    }

    /// Runs a future on the rig's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

/// Runs a template campaign in-process against the rig's sandbox, on the rig's simulated
/// clock moved forward to `start`: every wait (spacing, quota, Retry-After, backoff, a closed
/// send window) advances that clock, so hours of pace pass in milliseconds while the HTTP
/// stays real, and the sandbox stamps each arrival on the same clock. A `base_url` in
/// `flags` aims it at a test's own server instead.
pub fn run_in_process(rig: &Rig, csv: &Path, flags: CampaignOptions, start: Timestamp) -> Summary {
    let run = InProcess::new(rig, csv, flags);
    assert!(
        rig.clock.wall() <= start,
        "a rerun cannot start before the last run"
    );
    rig.clock.advance_to(start);
    rig.block_on(run.go())
}

/// A campaign set up to run in-process on the rig's clock (see [`run_in_process`]); several
/// can run at once, as two processes of one ledger would.
pub struct InProcess {
    settings: Settings,
    providers: Vec<Box<dyn campaign_sender::provider::Provider>>,
    context: Context,
}

impl InProcess {
    pub fn new(rig: &Rig, csv: &Path, flags: CampaignOptions) -> InProcess {
        let flags = CampaignOptions {
            base_url: flags.base_url.or_else(|| Some(rig.sandbox.base_url())),
            ledger: flags
                .ledger
                .or_else(|| Some(rig.ledger().display().to_string())),
            message: MessageDefaults {
                template_id: Some("t".into()),
                ..flags.message
            },
            ..flags
        };
        let env = |name: &str| (name == "PILOT_STATUS_API_KEY").then(|| KEY.to_string());
        let settings = Settings::resolve(csv, None, &flags, &env).unwrap();
        let target = rig.block_on(connect::reach(
            &settings.target,
            settings.timeout,
            settings.keep_alive,
            true,
        ));
        let providers = (target
            .unwrap()
            .providers(settings.provider, &settings.senders))
        .unwrap();
        let context = Context {
            interactive: false,
            clock: rig.clock.clone(),
            shutdown: Shutdown::new(),
            seed: Some(42),
            show_progress: false,
            out: std::sync::Mutex::new(Box::new(std::io::sink())),
        };
        InProcess {
            settings,
            providers,
            context,
        }
    }

    /// Runs the campaign to its end.
    pub async fn go(&self) -> Summary {
        (run_campaign(&self.settings, &self.providers, &self.context).await).unwrap()
    }
}

/// A loopback proxy in front of the rig's sandbox that passes requests on at once but holds
/// every answer until [`Gate::open`]: a test acts (signals, starts a second run) while a
/// request is certainly in flight, instead of betting on a latency window.
pub struct Gate {
    addr: std::net::SocketAddr,
    open: tokio::sync::watch::Sender<bool>,
}

impl Gate {
    /// The base URL to aim runs at (the same for a rerun, since it is the run's target).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Lets every held answer, and all later ones, through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }
}

impl Rig {
    /// A closed [`Gate`] in front of this rig's sandbox.
    pub fn gate(&self) -> Gate {
        use tokio::io::{AsyncWriteExt as _, copy};
        let listener = self
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = self.sandbox.addr();
        let (open, opened) = tokio::sync::watch::channel(false);
        self.runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut opened = opened.clone();
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut from_client, mut to_client) = client.into_split();
                    let (mut from_server, mut to_server) = server.into_split();
                    let requests = async {
                        let _ = copy(&mut from_client, &mut to_server).await;
                        let _ = to_server.shutdown().await;
                    };
                    let answers = async {
                        // A dropped gate lets everything through.
                        let _ = opened.wait_for(|open| *open).await;
                        let _ = copy(&mut from_server, &mut to_client).await;
                        let _ = to_client.shutdown().await;
                    };
                    tokio::join!(requests, answers);
                });
            }
        });
        Gate { addr, open }
    }
}

/// One request as it reached the sandbox ([`Rig::arrivals`]).
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Timestamp,
    pub destination: String,
    pub sender: String,
    pub accepted: bool,
}

/// The time between two arrivals (`b` after `a`).
pub fn gap(a: Timestamp, b: Timestamp) -> std::time::Duration {
    std::time::Duration::try_from(b.duration_since(a)).expect("arrivals in order")
}

/// The output of a command that must end on its own (a sandbox that took its flags would
/// serve until killed, a list read from a pipe would wait for a writer): killed and failed
/// after ten seconds.
pub fn ended(command: &mut std::process::Command) -> std::process::Output {
    use std::process::Stdio;
    let mut child = (command.stdout(Stdio::piped()).stderr(Stdio::piped()))
        .spawn()
        .unwrap();
    for _ in 0..1000 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    panic!("still running after 10 s: {}", text(&output));
}

/// Runs and checks: exit 2, nothing sent, and the message mentions each of `needles`.
pub fn assert_refused(rig: &Rig, command: &mut std::process::Command, needles: &[&str]) {
    let output = rig.run(command);
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(rig.log().is_empty(), "something was sent");
    for needle in needles {
        assert!(
            text(&output).contains(needle),
            "missing '{needle}' in:\n{}",
            text(&output)
        );
    }
}

/// Runs 3 rows against a sandbox that refuses the whole campaign and checks the run stops
/// at the first refusal, leaving every row pending.
pub fn assert_campaign_stops(
    rig: &Rig,
    command: &mut std::process::Command,
    status: &str,
    code_text: &str,
) {
    let output = rig.run(command);
    assert_eq!(code(&output), 3, "{}", text(&output));
    assert_eq!(
        rig.log().len(),
        1,
        "nothing is sent after a campaign-fatal answer"
    );
    let rows = results(&rig.dir.path().join("c.results.csv"));
    assert_eq!(rows.len(), 1, "rows not reached have no line: {rows:?}");
    assert_eq!(
        rows[0]["status"], "DEFERRED",
        "the refused row stays pending, not FAILED"
    );
    assert_eq!(
        (
            rows[0]["httpStatus"].as_str(),
            rows[0]["errorCode"].as_str()
        ),
        (status, code_text)
    );
}

/// A MsgFlash instance id (any UUID not starting 00000000 exists in the sandbox).
pub const INSTANCE: &str = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";

impl Rig {
    /// The binary aimed at the sandbox's MsgFlash endpoint: fast pace, the same test key in
    /// `MSGFLASH_API_KEY`, and an instance id.
    pub fn msgflash(&self, csv: &Path) -> std::process::Command {
        self.msgflash_on(csv, INSTANCE)
    }

    /// [`Rig::msgflash`] through instance `instance`.
    pub fn msgflash_on(&self, csv: &Path, instance: &str) -> std::process::Command {
        let mut command = self.command(csv);
        command
            .env_remove("PILOT_STATUS_API_KEY")
            .env("MSGFLASH_API_KEY", KEY)
            .args(["--provider", "msgflash", "--instance-id", instance]);
        command
    }
}

/// The binary with a clean environment holding only the test key.
pub fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_campaign-sender"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PILOT_STATUS_API_KEY", KEY)
        .env("NO_COLOR", "1")
        // Never the user's real ledger; a rig's runs name the rig's own.
        .env("CAMPAIGN_SENDER_LEDGER", "off");
    command
}

/// Sends a signal (`INT`, `TERM`) to a child process.
pub fn signal(child: &std::process::Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The exit code, with the output shown when an assertion on it fails.
pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// stdout and stderr together, for messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn assert_no_key(output: &Output) {
    assert!(
        !text(output).contains(KEY),
        "the API key leaked into the output:\n{}",
        text(output)
    );
}

/// The results file as rows of column -> value (the last line of each row wins, as a rerun reads it).
pub fn results(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!text.contains(KEY), "the API key leaked into the results");
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let mut by_row: Vec<HashMap<String, String>> = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        let line: HashMap<String, String> = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect();
        match by_row.iter_mut().find(|r| r["row"] == line["row"]) {
            Some(existing) => *existing = line,
            None => by_row.push(line),
        }
    }
    by_row.sort_by_key(|r| r["row"].parse::<u64>().unwrap());
    by_row
}

/// How many lines (header excluded) the results file holds.
pub fn result_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count() - 1
}

/// A CSV of `n` template rows with distinct Brazilian mobile numbers.
pub fn campaign_csv(n: usize) -> String {
    let mut csv = String::from("phone,nome\n");
    for i in 0..n {
        csv.push_str(&format!("{},Cliente {i}\n", phone(i)));
    }
    csv
}

/// The i-th test phone number, in E.164.
pub fn phone(i: usize) -> String {
    format!("+55119{:08}", 10_000_000 + i)
}

/// How many times each destination was accepted by the sandbox.
pub fn accepted_per_destination(entries: &[LogEntry]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for entry in entries.iter().filter(|e| e.accepted) {
        *counts
            .entry(entry.destination.clone().unwrap_or_default())
            .or_insert(0) += 1;
    }
    counts
}

/// The sandbox refusals of test phone `i` with 400 `code`, for each `(i, code)`.
pub fn refusals(specs: &[(usize, &str)]) -> Vec<FailDestination> {
    (specs.iter())
        .map(|(i, code)| format!("{}=400:{code}", phone(*i)).parse().unwrap())
        .collect()
}

impl Rig {
    /// A rig whose sandbox refuses test phone `i` with 400 `code`, for each `(i, code)`.
    pub fn refusing(specs: &[(usize, &str)]) -> Rig {
        Rig::with(SandboxConfig {
            rate_limit_per_sec: None,
            fail_destinations: refusals(specs),
            ..SandboxConfig::default()
        })
    }

    /// Sends a campaign of `n` template rows (`c.csv`) to the end, exit 0; returns (csv,
    /// results).
    pub fn finished(&self, n: usize) -> (PathBuf, PathBuf) {
        let csv = self.file("c.csv", &campaign_csv(n));
        let output = self.run(self.command(&csv).args(["--template", "t"]));
        assert_eq!(code(&output), 0, "{}", text(&output));
        (csv, self.dir.path().join("c.results.csv"))
    }

    /// The sandbox accepted `n` destinations, each exactly once (0 duplicates).
    pub fn assert_each_accepted_once(&self, n: usize) {
        let accepted = accepted_per_destination(&self.log());
        assert_eq!(accepted.len(), n, "{accepted:?}");
        assert!(
            accepted.values().all(|c| *c == 1),
            "0 duplicates: {accepted:?}"
        );
    }
}

/// Records `base_url` as the target of every line of `results` (what `--retarget` does):
/// a test aims `status` or `cancel` at a server of its own in front of, or instead of, the
/// one the campaign was sent to, and the file is not refused for its target.
pub fn retarget(results: &Path, base_url: &str) {
    let mut journal = campaign_sender::journal::Journal::open(results, b',').unwrap();
    journal
        .retarget(&format!("pilot-status {base_url}"))
        .unwrap();
}

impl Rig {
    /// Sends an `n`-row template campaign to the sandbox (scheduled far ahead when
    /// `scheduled`, so `cancel` can cancel it) and returns its results file.
    pub fn sent_campaign(&self, n: usize, scheduled: bool) -> PathBuf {
        let csv = self.file("c.csv", &campaign_csv(n));
        let mut command = self.command(&csv);
        command.args(["--template", "t"]);
        if scheduled {
            command.args(["--deliver-at", "2099-01-01T09:00:00Z"]);
        }
        let output = self.run(&mut command);
        assert_eq!(code(&output), 0, "{}", text(&output));
        self.dir.path().join("c.results.csv")
    }
}

/// Serves `app` on 127.0.0.1 (a port of its own) from a runtime of its own: a test's own
/// server. Its base URL, and the runtime, which must live as long as the server.
pub fn serve(app: axum::Router) -> (String, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await });
    (url, runtime)
}
