//! A faithful local fake of the Pilot Status and MsgFlash send endpoints, on a real
//! loopback HTTP server.
//!
//! Users rehearse a campaign against it, with injected faults, before spending real
//! messages; the integration tests use it as the real client's peer and assert on what it
//! received. It validates requests from the vendor's documentation on its own, so it can
//! catch a client bug, and it never talks to anything but its own loopback socket.

mod api;
mod args;
mod error;
mod faults;
mod msgflash;
mod refuse;
mod server;
mod service;
mod validate;

#[cfg(test)]
mod tests;

use std::fs::{File, OpenOptions};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::Clock;
use tokio::task::JoinHandle;

pub use args::{SandboxArgs, serve};
pub use faults::FaultSpec;
pub use refuse::FailDestination;

use service::Shared;

/// The sandbox's name for the WhatsApp number a key belongs to (keys are number-scoped):
/// a short fingerprint, so its log can tell numbers apart without ever holding a key.
pub fn number_of(key: &str) -> String {
    use std::hash::Hasher as _;
    let mut hasher = siphasher::sip::SipHasher13::new_with_keys(0, 0);
    hasher.write(key.trim().as_bytes());
    format!("number-{:08x}", hasher.finish() >> 32)
}

/// How a sandbox behaves; tests build one per scenario, the CLI builds it from [`SandboxArgs`].
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Which failures to inject, so retry and ambiguity handling can be rehearsed.
    pub faults: FaultSpec,
    /// Server-side rate limit in requests per second; None = unlimited. Default Some(50).
    pub rate_limit_per_sec: Option<u32>,
    /// If Some, only this exact key (x-api-key or x-api-key-id) is accepted; else any non-empty key.
    pub api_key: Option<String>,
    /// Append every request as one JSON line to this file (flushed per line).
    pub log_path: Option<PathBuf>,
    /// Answer 402 SUBSCRIPTION_REQUIRED_FOR_MEDIA to any request with `media`.
    pub media_requires_plan: bool,
    /// Destinations refused with a status and error code of their choosing (a valid request
    /// otherwise), to rehearse `FAILED` rows.
    pub fail_destinations: Vec<FailDestination>,
    /// Seed for the fault dice, so a test run is reproducible.
    pub seed: u64,
    /// How much faster than real time accepted messages age (SENT, DELIVERED, READ), so
    /// a rehearsal of the delivery report need not wait. Default 1.
    pub time_factor: f64,
    /// The clock its log stamps arrivals with: a test gives it the run's simulated clock, so
    /// the pace can be judged from when requests arrived rather than from the client.
    pub clock: Clock,
}

impl Default for SandboxConfig {
    /// No faults, and the same 50/s ceiling a client must respect against the real API.
    fn default() -> Self {
        SandboxConfig {
            faults: FaultSpec::default(),
            rate_limit_per_sec: Some(50),
            api_key: None,
            log_path: None,
            media_requires_plan: false,
            fail_destinations: Vec::new(),
            seed: 0,
            time_factor: 1.0,
            clock: Clock::real(),
        }
    }
}

/// A running sandbox; dropping it (or [`Sandbox::shutdown`]) stops it, so a test cannot
/// leak a server into the next one.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Sandbox {
    /// Binds 127.0.0.1:port (0 = a free port) and serves in the background on the current
    /// tokio runtime; loopback only, because a rehearsal must never be reachable from outside.
    pub async fn start(config: SandboxConfig, port: u16) -> std::io::Result<Sandbox> {
        let log_file = config.log_path.as_deref().map(open_log).transpose()?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config, log_file));
        let server = server::spawn(listener, service::router(Arc::clone(&shared)));
        Ok(Sandbox {
            addr,
            shared,
            server,
        })
    }

    /// The base URL to give the client instead of the real API's.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address, for callers that asked for port 0.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request seen so far, in arrival order: what tests assert the client sent.
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.log()
    }

    /// Only the requests the sandbox accepted (stored as messages), in order: the messages
    /// a real campaign would have delivered, including those whose answer was lost.
    pub fn accepted(&self) -> Vec<LogEntry> {
        self.log().into_iter().filter(|e| e.accepted).collect()
    }

    /// Moves the sandbox's clock forward, so stored messages age (and scheduled ones come
    /// due) without a test waiting for it.
    pub fn advance(&self, by: std::time::Duration) {
        self.shared.advance(by);
    }

    /// From now on, refuses these destinations (and no others) as
    /// [`SandboxConfig::fail_destinations`] does: a test fixes "the recipients' problem"
    /// between two runs against the same sandbox.
    pub fn fail_destinations(&self, refused: Vec<FailDestination>) {
        self.shared.fail_destinations(refused);
    }

    /// What `GET /v1/messages/{id}` would answer now (None: unknown id), for tests.
    pub fn message(&self, id: &str) -> Option<serde_json::Value> {
        self.shared.message(id)
    }

    /// Stops accepting and closes every connection, waiting until the port is released.
    pub async fn shutdown(mut self) {
        self.server.abort();
        // The only possible error is the cancellation just asked for.
        let _ = (&mut self.server).await;
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Opens the log to append to: a new file, or one this sandbox wrote (its first byte opens a
/// JSON line). Anything else (the campaign's CSV, its results, a typo for another file) is
/// refused untouched: appending request lines to it would damage it. So is what is not a
/// plain file, unopened: reading a pipe's first byte would wait for a writer forever.
fn open_log(path: &std::path::Path) -> std::io::Result<File> {
    use std::io::Read as _;
    crate::plain_file::check(path, "give the log a file name (e.g. sandbox.jsonl)")
        .map_err(|e| std::io::Error::other(format!("--log {e}")))?;
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    let mut first = [0u8; 1];
    if file.read(&mut first)? == 1 && first[0] != b'{' {
        return Err(std::io::Error::other(format!(
            "--log {}: the file is not a sandbox log (its first line is not one of its JSON \
             lines), and appending to it would damage it; give a new file",
            crate::fmt::path(&path)
        )));
    }
    Ok(file)
}

/// One request as the sandbox saw and answered it; the record tests and users audit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogEntry {
    /// 1-based arrival order.
    pub seq: u64,
    /// RFC 3339 arrival time, to the millisecond, on [`SandboxConfig::clock`].
    pub at: String,
    /// The HTTP method, so a wrong verb from the client shows up in the log.
    pub method: String,
    /// The request path, so a wrong URL from the client shows up in the log.
    pub path: String,
    /// Lower-case names only, never values: keys must not end up in a log file.
    pub header_names: Vec<String>,
    /// The number the key belongs to ([`number_of`]), never the key itself.
    pub sender: Option<String>,
    /// destinationNumber / groupId / newsletterId (Pilot Status) or `to` (MsgFlash) as received.
    pub destination: Option<String>,
    /// The JSON body received (`Value::Null` if not JSON).
    pub body: serde_json::Value,
    /// True if the sandbox stored it as a message (even if it then dropped/500'd/answered late).
    pub accepted: bool,
    /// The stored message's id, which the client should have persisted if it got the answer.
    pub message_id: Option<String>,
    /// HTTP status answered; None when the connection was dropped.
    pub status: Option<u16>,
    /// Error code answered, if any.
    pub code: Option<String>,
    /// The fault applied ("429", "503", "500", "drop", "late"), if any.
    pub fault: Option<String>,
    /// The TCP connection that carried it, numbered from 1 in accept order: tells a reused
    /// connection from a new one (`--keep-alive`).
    #[serde(default)]
    pub connection: Option<u64>,
}
