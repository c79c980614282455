//! The `campaign-sender sandbox` subcommand: the same sandbox, standalone, for rehearsing
//! against it from another process or by hand with curl.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;

use super::{FailDestination, FaultSpec, Sandbox, SandboxConfig};
use crate::clock::Clock;
use crate::settings::bounds::{self, Limit, Written};

/// `--faults` delays (`latency`, `late-by`): the bound of the run's `--sandbox-faults`.
const FAULT_DELAY: Limit = bounds::SANDBOX_DELAY.named("faults");

/// `--time-factor` at most: a million (eleven days a second) ages any rehearsal's messages
/// at once; far above it, the sandbox's clock would overflow.
const MAX_TIME_FACTOR: f64 = 1e6;

/// A number as given, in scientific notation when its digits would not fit a message.
fn shown(n: f64) -> String {
    if n.abs() >= 1e9 {
        format!("{n:e}")
    } else {
        format!("{n}")
    }
}

/// The environment variable holding the key `--api-key-required` demands; a flag value
/// would leak the key into shell history and `ps`.
const API_KEY_ENV: &str = "SANDBOX_API_KEY";

/// The `campaign-sender sandbox` subcommand's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 to listen on (0 = a free port).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Faults to inject, e.g. "429=0.1,503=0.05,500=0.02,drop=0.02,late=0.02,latency=20ms,late-by=3s,retry-after=0,billing-suspended-after=50".
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<FaultSpec>,
    /// Append every request received as one JSON line to FILE.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Server-side rate limit in requests per second (0 = unlimited).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub rate_limit: u32,
    /// Accept only the key in the SANDBOX_API_KEY environment variable.
    #[arg(long)]
    pub api_key_required: bool,
    /// Answer 402 SUBSCRIPTION_REQUIRED_FOR_MEDIA to every media send.
    #[arg(long)]
    pub media_requires_plan: bool,
    /// Refuse this destination, e.g. +5511988887777=400:VALIDATION_ERROR (the default
    /// refusal), to rehearse FAILED rows. Repeatable.
    #[arg(long, value_name = "NUMBER[=STATUS:CODE]")]
    pub fail_destination: Vec<FailDestination>,
    /// Seed for the fault dice, to replay a run exactly.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Age stored messages N times faster than real time (60: a minute per second), to
    /// rehearse `status` without waiting for SENT, DELIVERED and READ.
    #[arg(long, value_name = "N", default_value_t = 1.0)]
    pub time_factor: f64,
}

impl SandboxArgs {
    /// The configuration these flags describe; fails when a required key is not in the
    /// environment, since a sandbox that accepts any key would hide a key-handling bug.
    pub fn config(&self) -> Result<SandboxConfig, String> {
        self.config_with_key(std::env::var(API_KEY_ENV).ok())
    }

    fn config_with_key(&self, env_key: Option<String>) -> Result<SandboxConfig, String> {
        let faults = self.faults.clone().unwrap_or_default();
        let slowest = faults.latency.max(faults.late_by());
        let given = format!(
            "{:#}",
            jiff::SignedDuration::try_from(slowest).unwrap_or_default()
        );
        (FAULT_DELAY.check(&given, slowest, Written::Flag))
            .map_err(|e| format!("--faults: {e}"))?;
        if !(self.time_factor > 0.0 && self.time_factor <= MAX_TIME_FACTOR) {
            return Err(format!(
                "--time-factor {} is not a speed-up the sandbox can keep: give a number above 0 and at most {MAX_TIME_FACTOR} (60: a minute a second)",
                shown(self.time_factor)
            ));
        }
        let api_key = match (self.api_key_required, env_key) {
            (false, _) => None,
            (true, Some(key)) if !key.is_empty() => Some(key),
            (true, _) => {
                return Err(format!(
                    "--api-key-required needs the key in the {API_KEY_ENV} environment variable"
                ));
            }
        };
        Ok(SandboxConfig {
            faults,
            rate_limit_per_sec: (self.rate_limit != 0).then_some(self.rate_limit),
            api_key,
            log_path: self.log.clone(),
            media_requires_plan: self.media_requires_plan,
            fail_destinations: self.fail_destination.clone(),
            seed: self.seed,
            time_factor: self.time_factor,
            clock: Clock::real(),
        })
    }
}

/// Runs the standalone sandbox until `stop` resolves; prints
/// "sandbox listening on http://127.0.0.1:PORT" to stdout first (flushed), which is how a
/// script or test that asked for port 0 learns the port.
pub async fn serve(args: &SandboxArgs, stop: impl Future<Output = ()>) -> Result<(), String> {
    let config = args.config()?;
    let sandbox = Sandbox::start(config, args.port)
        .await
        .map_err(|e| format!("cannot start the sandbox on 127.0.0.1:{}: {e}", args.port))?;
    announce(&sandbox).map_err(|e| format!("cannot write to stdout: {e}"))?;
    stop.await;
    sandbox.shutdown().await;
    Ok(())
}

fn announce(sandbox: &Sandbox) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "sandbox listening on {}", sandbox.base_url())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    fn parse(argv: &[&str]) -> SandboxArgs {
        Cli::try_parse_from(std::iter::once("sandbox").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = parse(&[]).config_with_key(None).unwrap();
        assert_eq!(parse(&[]).port, 8787);
        assert_eq!(config.rate_limit_per_sec, Some(50));
        assert_eq!(config.faults, FaultSpec::default());
        assert_eq!(config.api_key, None);
    }

    #[test]
    fn flags_map_onto_the_config() {
        let args = parse(&[
            "--port",
            "0",
            "--faults",
            "500=1",
            "--log",
            "x.jsonl",
            "--rate-limit",
            "0",
            "--api-key-required",
            "--media-requires-plan",
            "--seed",
            "7",
            "--fail-destination",
            "+5511988887777=404:TEMPLATE_NOT_FOUND",
        ]);
        let config = args.config_with_key(Some("ps_k".into())).unwrap();
        assert_eq!(config.faults.p500, 1.0);
        assert_eq!(config.rate_limit_per_sec, None);
        assert_eq!(config.api_key.as_deref(), Some("ps_k"));
        assert_eq!(config.log_path, Some(PathBuf::from("x.jsonl")));
        assert!(config.media_requires_plan);
        assert_eq!(config.seed, 7);
        assert_eq!(config.fail_destinations[0].code, "TEMPLATE_NOT_FOUND");
    }

    #[test]
    fn a_required_key_must_come_from_the_environment() {
        let args = parse(&["--api-key-required"]);
        for missing in [None, Some(String::new())] {
            let err = args.config_with_key(missing).unwrap_err();
            assert!(err.contains(API_KEY_ENV), "{err}");
        }
    }

    #[tokio::test]
    async fn serve_runs_until_stopped() {
        let args = parse(&["--port", "0"]);
        let stop = tokio::time::sleep(std::time::Duration::from_millis(20));
        assert_eq!(serve(&args, stop).await, Ok(()));
    }

    #[test]
    fn a_bad_fault_spec_is_a_usage_error() {
        let err = Cli::try_parse_from(["sandbox", "--faults", "boom=1"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("boom=1"), "{err}");
    }
}
