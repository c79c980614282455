//! Reaching the API, written once for the send, `status` and `cancel`: which key goes with
//! which number, where the API is (the in-process sandbox, or a checked base URL whose host
//! resolves), and the one HTTP client of a run, which reads root certificates only where a
//! TLS connection will really be made.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use reqwest::Url;

use crate::provider::http::{Api, Credential, Secret, describe};
use crate::provider::{BuildError, Provider, ProviderKind};
use crate::sandbox::{FaultSpec, Sandbox, SandboxConfig};
use crate::senders::{self, KeySource, Sender};

/// Where the requests go.
#[derive(Debug, Clone)]
pub enum Target {
    /// The built-in sandbox, started in-process for this run.
    Sandbox { faults: FaultSpec },
    /// A real API, at a base URL checked by [`base_url`].
    Remote { base_url: String },
}

/// Why the API cannot be reached: found before anything is sent or asked (exit 2), with
/// what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No key in the environment for a single, unnamed number.
    #[error(
        "no API key: set {} in the environment, the key the campaign is (or was) sent with",
        .provider.key_variables()
    )]
    NoKey { provider: ProviderKind },
    /// The senders file, or the instance a number needs.
    #[error("{0}")]
    Senders(String),
    /// A base URL that is not an `http(s)://` URL.
    #[error("--base-url: {0}")]
    BaseUrl(String),
    /// A base URL whose host does not resolve: a typo to fix, not an outage to wait out.
    #[error("{0}")]
    UnknownHost(String),
    #[error("cannot start the sandbox: {0}")]
    Sandbox(std::io::Error),
    /// No usable root certificates for HTTPS.
    #[error("{0}")]
    Tls(String),
    /// A number's client (its key, its instance); `label` is empty for a single number.
    #[error("{}{source}", if .label.is_empty() { String::new() } else { format!("sender {label}: ") })]
    Build { label: String, source: BuildError },
}

/// The numbers to send (or ask) from: the senders file's, or one unnamed number whose key
/// is in the provider's environment variables. The sandbox, and with `keys.optional` a dry
/// run, need no real key.
pub fn senders(
    kind: ProviderKind,
    file: Option<&Path>,
    instance: Option<&str>,
    keys: &KeySource<'_>,
) -> Result<Vec<Sender>, ConnectError> {
    if let Some(path) = file {
        return senders::load(path, kind, instance, keys).map_err(ConnectError::Senders);
    }
    let instance_id = senders::instance(kind, None, instance).map_err(ConnectError::Senders)?;
    let credential = match env_credential(kind, keys.env) {
        _ if keys.sandbox => senders::sandbox_credential(kind, ""),
        Some(credential) => credential,
        None if keys.optional => senders::sandbox_credential(kind, ""),
        None => return Err(ConnectError::NoKey { provider: kind }),
    };
    Ok(vec![Sender {
        label: String::new(),
        credential,
        instance_id,
        number: None,
        daily_cap: None,
    }])
}

/// The one key in the environment: `PILOT_STATUS_API_KEY` (sent as x-api-key), else
/// `PILOT_STATUS_API_KEY_ID` (x-api-key-id); `MSGFLASH_API_KEY` for MsgFlash. Blank is unset.
fn env_credential(kind: ProviderKind, env: &dyn Fn(&str) -> Option<String>) -> Option<Credential> {
    let read = |name: &str| env(name).filter(|v| !v.trim().is_empty()).map(Secret::new);
    match kind {
        ProviderKind::PilotStatus => (read("PILOT_STATUS_API_KEY").map(Credential::Key))
            .or_else(|| read("PILOT_STATUS_API_KEY_ID").map(Credential::KeyId)),
        ProviderKind::MsgFlash => read("MSGFLASH_API_KEY").map(Credential::Key),
    }
}

/// A base URL the client can use: it parses, and it is `https://`, or `http://` for a
/// server on this machine (the sandbox). Every request carries the API key, so plain HTTP
/// to anywhere else would put the key on the network unencrypted (a typo such as
/// `http://pilotstatus.com.br` would do it). The problem, if any, in words for `--base-url`.
pub fn base_url(text: &str) -> Result<Url, String> {
    let shown = crate::fmt::shown(&without_credentials(text)).into_owned();
    let problem = || format!("'{shown}' must start with https:// (or http:// for a local server)");
    if !(text.starts_with("https://") || text.starts_with("http://")) {
        return Err(problem());
    }
    let url = Url::parse(text).map_err(|e| format!("'{shown}' is not a usable URL ({e})"))?;
    if url.cannot_be_a_base() || !matches!(url.scheme(), "https" | "http") {
        return Err(problem());
    }
    if let Some(path) = api_path(&url) {
        let before = url.path().trim_end_matches('/').trim_end_matches(path);
        return Err(format!(
            "'{shown}' already holds the API's path ({path}), which each request adds: give \
             the address without it, '{}'",
            crate::fmt::shown(&format!("{}{before}", url.origin().ascii_serialization()))
        ));
    }
    if url.scheme() == "http" && !on_this_machine(&url) {
        return Err(format!(
            "'{shown}' would send the API key unencrypted over the network: use https:// \
             (plain http:// is only for a server on this machine, such as the sandbox)"
        ));
    }
    Ok(url)
}

/// The API's own path at the end of a base URL (`…/v1/messages/send`, as the vendors' docs
/// show a send's URL), if a base URL ends with it: every request would then go to
/// `…/v1/messages/send/v1/messages/send`, and each row fail in turn.
fn api_path(url: &Url) -> Option<&str> {
    let path = url.path().trim_end_matches('/');
    let start = ["/api/v1", "/v1"]
        .iter()
        .filter_map(|prefix| path.find(&format!("{prefix}/messages")))
        .min()?;
    Some(&path[start..])
}

/// `text` (a base URL, or any text holding one) without the user name and password its
/// URL may carry (a gateway's basic auth, which reqwest sends), nor its query and fragment
/// (a gateway's `?apikey=`): the secret stays out of the results file's `target` column and
/// out of messages. Text without them comes back as is.
pub fn without_credentials(text: &str) -> Cow<'_, str> {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return Cow::Borrowed(text);
    };
    let url_end = (text[start..].find(char::is_whitespace)).map_or(text.len(), |i| start + i);
    let authority_end = (text[start..url_end].find(['/', '?', '#'])).map_or(url_end, |i| start + i);
    let host = (text[start..authority_end].rfind('@')).map_or(start, |at| start + at + 1);
    let query =
        (text[authority_end..url_end].find(['?', '#'])).map_or(url_end, |i| authority_end + i);
    if host == start && query == url_end {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!(
        "{}{}{}",
        &text[..start],
        &text[host..query],
        &text[url_end..]
    ))
}

/// A ready target: its base URL and the run's one client; holds an in-process sandbox alive
/// as long as it lives.
pub struct Reached {
    pub base: Url,
    pub client: reqwest::Client,
    _sandbox: Option<Sandbox>,
}

/// How long an idle connection is reused by default (`--keep-alive`): below the keep-alive of
/// common servers (Node's and Apache's 5 s, nginx's 75 s, load balancers' 60 s), so that the
/// next send never goes out on a connection the server is closing at that moment, which
/// would leave it UNCERTAIN. A paced campaign (8 s to 25 s apart) opens a connection per send,
/// a handshake that costs nothing beside its spacing; sends in flight back to back reuse.
pub const KEEP_ALIVE: Duration = Duration::from_secs(2);

/// Starts the sandbox, or checks a remote base URL and that its host resolves, then builds
/// the client with `timeout` per request and idle connections reused for `keep_alive`. With `will_connect` false (a dry run) nothing will
/// be sent: a host that does not resolve is only a warning, and no root certificate is read.
pub async fn reach(
    target: &Target,
    timeout: Duration,
    keep_alive: Duration,
    will_connect: bool,
) -> Result<Reached, ConnectError> {
    let (sandbox, text) = match target {
        Target::Sandbox { faults } => {
            // A fresh seed per rehearsal: its message ids must not repeat those of the last
            // one, or `status` and `report` would mix two rehearsals up.
            let config = SandboxConfig {
                faults: faults.clone(),
                seed: rand::random(),
                ..SandboxConfig::default()
            };
            let sandbox = Sandbox::start(config, 0)
                .await
                .map_err(ConnectError::Sandbox)?;
            tracing::info!("sandbox listening on {}", sandbox.base_url());
            let url = sandbox.base_url();
            (Some(sandbox), url)
        }
        Target::Remote { base_url } => (None, base_url.clone()),
    };
    let base = base_url(&text).map_err(ConnectError::BaseUrl)?;
    match check_host(&base, timeout).await {
        Err(why) if !will_connect => tracing::warn!("{why} (a real run stops here)"),
        Err(why) => return Err(why),
        Ok(()) => {}
    }
    Ok(Reached {
        client: client(&base, timeout, keep_alive, will_connect)?,
        base,
        _sandbox: sandbox,
    })
}

impl Reached {
    /// The API with `credential` over this target's client.
    pub fn api(&self, credential: Credential) -> Result<Api, BuildError> {
        Api::new(&self.base, credential, &self.client)
    }

    /// One send client per sender, in order, through `kind`'s API.
    pub fn providers(
        &self,
        kind: ProviderKind,
        senders: &[Sender],
    ) -> Result<Vec<Box<dyn Provider>>, ConnectError> {
        senders
            .iter()
            .map(|sender| {
                let instance = sender.instance_id.as_deref();
                (kind.build(
                    &self.base,
                    sender.credential.clone(),
                    instance,
                    &self.client,
                ))
                .map_err(|source| ConnectError::Build {
                    label: sender.label.clone(),
                    source,
                })
            })
            .collect()
    }
}

/// A remote host must resolve: a misspelled host is a set-up error to fix, not an outage to
/// retry (exit 3) forever. Looked up once at start, within `timeout`; an IP address is not
/// looked up, and a name under `.invalid` never resolves (RFC 6761) and is not either.
async fn check_host(base: &Url, timeout: Duration) -> Result<(), ConnectError> {
    let Some(host) = base.domain() else {
        return Ok(()); // an IP address: nothing to resolve
    };
    let port = base.port_or_known_default().unwrap_or(443);
    let unknown = |why: String| {
        ConnectError::UnknownHost(format!(
            "--base-url {}: the host {host} {why}. Nothing was sent; check the address (and \
             this machine's DNS), then rerun",
            without_credentials(base.as_str())
        ))
    };
    if host == "invalid" || host.ends_with(".invalid") {
        return Err(unknown(
            "does not exist (.invalid names never resolve)".into(),
        ));
    }
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(mut addresses)) => match addresses.next() {
            Some(_) => Ok(()),
            None => Err(unknown("has no address".into())),
        },
        Ok(Err(e)) => Err(unknown(format!("does not resolve ({e})"))),
        Err(_) => Err(unknown(format!(
            "did not resolve within {}",
            crate::fmt::human(timeout)
        ))),
    }
}

/// The one HTTP client of a run (every number shares it): rustls, no redirects, no replays, a
/// per-request timeout, and a connect timeout of its own so "could not connect" (safe to
/// retry) stays distinct from "no answer" (maybe accepted).
///
/// Root certificates are only read when `will_connect` and `base` is `https://`: a dry run,
/// the sandbox and a plain-HTTP server work on a machine without any. For HTTPS the
/// system's roots are trusted, or the bundled Mozilla roots when the system has none (a slim
/// container image). Fails with a sentence saying what to fix, never a panic.
fn client(
    base: &Url,
    timeout: Duration,
    keep_alive: Duration,
    will_connect: bool,
) -> Result<reqwest::Client, ConnectError> {
    let builder = || builder(timeout, on_this_machine(base)).pool_idle_timeout(keep_alive);
    if !(will_connect && base.scheme() == "https") {
        // No TLS connection will ever be made: an empty root store reads nothing.
        return builder()
            .tls_certs_only([])
            .build()
            .map_err(|e| tls_failure(base, &e));
    }
    match builder().build() {
        Ok(client) => Ok(client),
        Err(system) => {
            tracing::info!(
                "the system's CA certificates cannot be used ({}); trusting the bundled Mozilla roots instead",
                describe(&system)
            );
            builder()
                .tls_certs_only(bundled_roots()?)
                .build()
                .map_err(|e| tls_failure(base, &e))
        }
    }
}

/// A client builder; `local` (a server on this machine) turns the environment's proxy off.
fn builder(timeout: Duration, local: bool) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        // Below the request's own, so that a connection that never opens ends as a
        // connect error (nothing left: retried, a rerun sends it), never as the request's
        // timeout, which is uncertain (it may have been delivered).
        .connect_timeout((timeout / 2).min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        // reqwest would replay a request an HTTP/2 server refused; every send again is the
        // runner's decision, recorded first. Without replays no copy of each request is kept.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .user_agent(concat!("campaign-sender/", env!("CARGO_PKG_VERSION")));
    match local {
        true => builder.no_proxy(),
        false => builder,
    }
}

/// Whether `base` names this machine (a loopback address, `localhost` or a name under it).
/// Such a server is never reached through the proxy that `HTTPS_PROXY`, `HTTP_PROXY` or
/// `ALL_PROXY` name, as Go's HTTP client does: a proxy elsewhere cannot reach this
/// machine's loopback, so with a proxy set the built-in sandbox failed every send with
/// "connection refused". Remote APIs still go through the proxy.
fn on_this_machine(base: &Url) -> bool {
    let Some(host) = base.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let name = host.trim_end_matches('.');
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
    }
}

/// The Mozilla root store compiled into the binary (the `webpki-root-certs` crate).
fn bundled_roots() -> Result<Vec<reqwest::Certificate>, ConnectError> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| reqwest::Certificate::from_der(der))
        .collect::<Result<_, _>>()
        .map_err(|e| {
            ConnectError::Tls(format!(
                "the bundled root certificates cannot be loaded: {e}"
            ))
        })
}

fn tls_failure(base: &Url, error: &reqwest::Error) -> ConnectError {
    ConnectError::Tls(format!(
        "cannot set up HTTPS for {}: {}. Install the system's CA certificates (the \
         ca-certificates package) and rerun",
        without_credentials(base.as_str()),
        describe(error)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_host_is_looked_up_once_an_address_is_not() {
        async fn check(url: &str) -> Result<(), ConnectError> {
            check_host(&base_url(url).unwrap(), Duration::from_secs(5)).await
        }
        assert!(check("http://127.0.0.1:9").await.is_ok());
        assert!(check("http://[::1]:9").await.is_ok());
        assert!(check("http://localhost:9").await.is_ok());
        let error = check("https://x.invalid").await.unwrap_err().to_string();
        assert!(error.contains("x.invalid"), "{error}");
    }

    #[test]
    fn only_a_server_on_this_machine_skips_the_proxy() {
        let local = |text: &str| on_this_machine(&Url::parse(text).unwrap());
        for here in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:9000/v1",
            "http://localhost:3000",
            "http://LOCALHOST.",
            "https://api.localhost",
        ] {
            assert!(local(here), "{here} is this machine");
        }
        for elsewhere in [
            "https://api.pilotstatus.example",
            "https://10.0.0.1",
            "http://[2001:db8::1]",
            "https://localhost.example.com",
            "https://notlocalhost",
        ] {
            assert!(!local(elsewhere), "{elsewhere} is not this machine");
        }
    }

    #[test]
    fn credentials_are_taken_out_of_a_url_and_nothing_else_is() {
        for (with, without) in [
            ("https://u:pw@gw.example/api", "https://gw.example/api"),
            (
                "pilot-status http://u:p%40w@127.0.0.1:8080",
                "pilot-status http://127.0.0.1:8080",
            ),
            ("https://u@gw.example", "https://gw.example"),
            ("https://u:pw@gw.example?x=1", "https://gw.example"),
            ("https://gw.example/v?apikey=k#f", "https://gw.example/v"),
            (
                "pilot-status https://gw.example?apikey=k instance i-1",
                "pilot-status https://gw.example instance i-1",
            ),
        ] {
            assert_eq!(without_credentials(with), without);
        }
        for clean in [
            "https://pilotstatus.com.br",
            "https://gw.example/a@b",
            "sandbox",
            "pilot-status https://PilotStatus.com.br/ instance i-1",
        ] {
            assert!(matches!(without_credentials(clean), Cow::Borrowed(c) if c == clean));
        }
    }

    #[test]
    fn a_base_url_is_http_or_https_and_parses() {
        for good in ["https://pilotstatus.com.br", "http://127.0.0.1:8080/proxy/"] {
            assert!(base_url(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://x",
            "pilotstatus.com.br",
            "https://",
            "http://exa mple.com",
        ] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
        for cleartext in ["http://pilotstatus.com.br", "http://u:pw@10.0.0.5:8080"] {
            let problem = base_url(cleartext).unwrap_err();
            assert!(problem.contains("unencrypted"), "{cleartext}: {problem}");
            assert!(!problem.contains("pw@"), "{problem}");
            assert!(base_url(&cleartext.replace("http:", "https:")).is_ok());
        }
        for (with_path, path) in [
            ("https://h/v1/messages/send", "/v1/messages/send"),
            ("https://u:pw@h:8443/proxy/v1/messages/", "/v1/messages"),
            (
                "http://127.0.0.1:9/api/v1/messages/send",
                "/api/v1/messages/send",
            ),
        ] {
            let problem = base_url(with_path).unwrap_err();
            assert!(problem.contains(path), "{with_path}: {problem}");
            assert!(!problem.contains("pw"), "{problem}");
        }
        assert_eq!(
            base_url("https://u:pw@h:8443/proxy/v1/messages").unwrap_err(),
            "'https://h:8443/proxy/v1/messages' already holds the API's path (/v1/messages), \
             which each request adds: give the address without it, 'https://h:8443/proxy'"
        );
        assert!(
            base_url("https://h/proxy/v1").is_ok(),
            "a gateway's own prefix"
        );
    }

    #[test]
    fn the_key_comes_from_the_providers_variables_and_a_blank_one_is_none() {
        let keys = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                (pairs.iter())
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let header = |c: Option<Credential>| match c {
            Some(Credential::Key(_)) => "x-api-key",
            Some(Credential::KeyId(_)) => "x-api-key-id",
            None => "none",
        };
        let both = keys(&[
            ("PILOT_STATUS_API_KEY", "a"),
            ("PILOT_STATUS_API_KEY_ID", "b"),
        ]);
        let id = keys(&[
            ("PILOT_STATUS_API_KEY", " "),
            ("PILOT_STATUS_API_KEY_ID", "b"),
        ]);
        let msgflash = keys(&[("MSGFLASH_API_KEY", "m"), ("PILOT_STATUS_API_KEY", "a")]);
        let pilot = ProviderKind::PilotStatus;
        assert_eq!(header(env_credential(pilot, &both)), "x-api-key");
        assert_eq!(header(env_credential(pilot, &id)), "x-api-key-id");
        assert_eq!(header(env_credential(ProviderKind::MsgFlash, &id)), "none");
        assert_eq!(
            header(env_credential(ProviderKind::MsgFlash, &msgflash)),
            "x-api-key"
        );
    }
}
