//! The WhatsApp numbers a campaign sends from, and which number each recipient gets.
//!
//! One number has one pace: a list that outgrows it is split over several numbers, each
//! with its own API key (Pilot Status keys are number-scoped) or MsgFlash instance, its own
//! quota and spacing lane. The keys come from a senders file or the environment variables
//! it names, never from the command line. Each recipient is assigned by rendezvous hashing
//! of the destination, so reruns and follow-up campaigns reach a person from the same
//! number, and adding or removing a number only moves the recipients of that number.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher as _;
use std::path::Path;

use serde::Deserialize;
use siphasher::sip::SipHasher13;

use crate::fmt::shown;
use crate::ids::is_uuid;
use crate::provider::ProviderKind;
use crate::provider::http::{Credential, Secret};

/// Fixed keys: the assignment must be the same on every machine and in every version.
const ASSIGNMENT_KEYS: (u64, u64) = (0x6361_6d70_6169_676e, 0x7365_6e64_6572_7331);

/// The longest label: it is written into every row of the results.
const MAX_LABEL: usize = 40;

/// One number to send from. `label` names it in the results' `sender` column (empty when
/// the campaign has a single, unnamed sender); the key itself is never written anywhere.
#[derive(Debug, Clone)]
pub struct Sender {
    pub label: String,
    pub credential: Credential,
    /// MsgFlash: the WhatsApp instance this number is (named in every body).
    pub instance_id: Option<String>,
    /// Pilot Status: the number its key sends from (E.164), when the senders file says:
    /// the ledger then knows the number by it, and a rotated key keeps its caps and holds.
    pub number: Option<String>,
    /// The senders file's `daily-cap` for this number: numbers earn their own messaging
    /// tiers, so one may send more a day than another. Overrides `--daily-cap`.
    pub daily_cap: Option<u64>,
}

/// One table of the senders file, e.g. `[centro]` with `key-env = "PS_KEY_CENTRO"`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Entry {
    /// The key written in the file (keep the file private).
    key: Option<String>,
    /// The environment variable holding the key (keeps the key out of the file).
    key_env: Option<String>,
    /// Pilot Status: the key id, sent as `x-api-key-id`.
    key_id: Option<String>,
    /// The environment variable holding the key id.
    key_id_env: Option<String>,
    /// MsgFlash: the instance (UUID) this number is.
    instance_id: Option<String>,
    /// Pilot Status: the number this key sends from (E.164), so the ledger knows the number
    /// by itself, not by its key, and a rotated key keeps its caps and holds.
    number: Option<String>,
    /// This number's sends in any rolling 24 h. Read as any TOML value, so a wrong one is
    /// refused naming its number instead of by a parse error with only a line number.
    daily_cap: Option<toml::Value>,
}

/// How keys are obtained while reading a senders file.
pub struct KeySource<'a> {
    /// Reads an environment variable (injected for tests).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// For the sandbox: no real key is read; each number gets a sandbox key of its own.
    pub sandbox: bool,
    /// A key nobody will use (`--dry-run`): a missing key is not an error.
    pub optional: bool,
}

/// Reads a senders file: one TOML table per number, named by its label.
///
/// ```toml
/// [centro]
/// key-env = "PS_KEY_CENTRO"   # or key = "ps_..." written here (then chmod 600 the file)
/// [norte]
/// key-env = "PS_KEY_NORTE"
/// ```
pub fn load(
    path: &Path,
    kind: ProviderKind,
    campaign_instance: Option<&str>,
    keys: &KeySource<'_>,
) -> Result<Vec<Sender>, String> {
    let text = crate::toml_file::read(path).map_err(|e| {
        format!(
            "cannot read the senders file {}: {e}",
            crate::fmt::path(&path)
        )
    })?;
    let entries: BTreeMap<String, Entry> = toml::from_str(&text).map_err(|e| {
        format!(
            "senders file {}: {} (expected one [label] table per number, with key-env = \"VAR\" or key = \"...\")",
            crate::fmt::path(&path),
            crate::fmt::toml_problem(&text, &e)
        )
    })?;
    if entries.is_empty() {
        return Err(format!(
            "senders file {} lists no numbers: add one [label] table per number, e.g. [centro] with key-env = \"PS_KEY_CENTRO\"",
            crate::fmt::path(&path)
        ));
    }
    warn_if_readable_by_others(path, entries.values());
    let fail = |label: &str, why: String| {
        format!(
            "senders file {}, [{}]: {why}",
            crate::fmt::path(&path),
            shown(label)
        )
    };
    for label in entries.keys() {
        check_label(label).map_err(|why| fail(label, why))?;
    }
    refuse_look_alike_labels(entries.keys().map(String::as_str))
        .map_err(|why| format!("senders file {}: {why}", crate::fmt::path(&path)))?;
    for label in entries.keys().filter(|label| looks_like_a_date(label)) {
        tracing::warn!(
            "senders file {}, [{label}]: a spreadsheet may read this label as a date and re-save \
             the results' sender cells as another text, and `status`, `cancel` and later runs \
             then no longer find this number's rows: for a new campaign prefer a label with a \
             letter (e.g. [n{label}]); a campaign already sent keeps its label, which its rows name",
            crate::fmt::path(&path)
        );
    }
    let mut senders = Vec::with_capacity(entries.len());
    for (label, entry) in entries {
        let credential = credential(&label, &entry, kind, keys).map_err(|why| fail(&label, why))?;
        let instance_id = instance(kind, entry.instance_id.as_deref(), campaign_instance)
            .map_err(|why| fail(&label, why))?;
        let daily_cap = (entry.daily_cap.as_ref())
            .map(daily_cap)
            .transpose()
            .map_err(|why| fail(&label, why))?;
        let number = (entry.number.as_deref())
            .map(|number| sending_number(kind, number))
            .transpose()
            .map_err(|why| fail(&label, why))?;
        senders.push(Sender {
            label,
            credential,
            instance_id,
            number,
            daily_cap,
        });
    }
    refuse_shared_numbers(&senders)
        .map_err(|why| format!("senders file {}: {why}", crate::fmt::path(&path)))?;
    Ok(senders)
}

/// The index into `senders` of the number that messages `destination`: the highest
/// hash of (label, destination). Stable for a given set of labels, whatever their order.
pub fn assign(senders: &[Sender], destination: &str) -> usize {
    let score = |label: &str| {
        let mut hasher = SipHasher13::new_with_keys(ASSIGNMENT_KEYS.0, ASSIGNMENT_KEYS.1);
        hasher.write(label.as_bytes());
        hasher.write(&[0]);
        hasher.write(destination.as_bytes());
        hasher.finish()
    };
    (0..senders.len())
        .max_by_key(|&i| (score(&senders[i].label), std::cmp::Reverse(i)))
        .unwrap_or(0)
}

/// A key for the sandbox that tells the numbers apart in its log, and is no secret.
pub fn sandbox_credential(kind: ProviderKind, label: &str) -> Credential {
    let key = match label {
        "" => kind.sandbox_key().to_string(),
        _ => format!("{}_{label}", kind.sandbox_key()),
    };
    Credential::Key(Secret::new(key))
}

/// Labels end up in CSV cells, log lines and sandbox keys: plain and short.
fn check_label(label: &str) -> Result<(), String> {
    // A leading letter or digit: a cell starting with `-` would be escaped for Excel.
    let plain = label.starts_with(|c: char| c.is_ascii_alphanumeric())
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if label.is_empty() || label.len() > MAX_LABEL || !plain {
        return Err(format!(
            "'{}' is not a usable label: use up to {MAX_LABEL} letters, digits, - or _, starting with a letter or digit (e.g. [loja-centro])",
            shown(label)
        ));
    }
    Ok(())
}

fn credential(
    label: &str,
    entry: &Entry,
    kind: ProviderKind,
    keys: &KeySource<'_>,
) -> Result<Credential, String> {
    if keys.sandbox {
        return Ok(sandbox_credential(kind, label));
    }
    let given = [
        ("key", &entry.key),
        ("key-env", &entry.key_env),
        ("key-id", &entry.key_id),
        ("key-id-env", &entry.key_id_env),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(name, _)| name)
    .collect::<Vec<_>>();
    let read = |setting: &str, var: &str| {
        let value = (keys.env)(var).filter(|v| !v.trim().is_empty());
        match value {
            Some(key) => Ok(key),
            // Nothing is sent, so a dry run needs no key, only the list of numbers: each
            // gets a stand-in of its own, or they would all read as one number.
            None if keys.optional => Ok(format!("{}_{label}", kind.sandbox_key())),
            None if var.trim().is_empty() => Err(format!(
                "{setting} is empty: name the environment variable that holds this number's key \
                 there (e.g. {setting} = \"PILOT_STATUS_KEY_SP\")"
            )),
            None if is_variable_name(var) => Err(format!(
                "the environment variable {var} is not set: export it with this number's key"
            )),
            // Most likely the key itself, pasted where its variable's name belongs: never
            // repeated into a terminal, a cron mail or a log.
            None => Err(format!(
                "{setting} must name an environment variable that holds the key (e.g. {setting} = \
                 \"PILOT_STATUS_KEY_SP\", then export PILOT_STATUS_KEY_SP=...), and no variable of \
                 that name is set. The value given is not written as such names are (capital \
                 letters, digits and _, no long run of random-looking characters) and may be the \
                 key itself, so it is not shown: if it is the key, move it out of the senders \
                 file into a variable and name that here; if the file was ever committed or \
                 shared, rotate the key"
            )),
        }
    };
    // A blank inline key would only earn a 401 on the first send: refused before any.
    let inline = |name: &str, value: &Option<String>| match value.as_deref().map(str::trim) {
        Some(key) if !key.is_empty() => Ok(key.to_string()),
        _ => Err(format!(
            "{name} is empty: give this number's key there, or better, key-env = \"VAR\" \
             naming the environment variable that holds it"
        )),
    };
    let credential = match (given.as_slice(), kind) {
        (["key"], _) => Credential::Key(Secret::new(inline("key", &entry.key)?)),
        (["key-env"], _) => Credential::Key(Secret::new(read(
            "key-env",
            entry.key_env.as_deref().unwrap_or_default(),
        )?)),
        (["key-id"], ProviderKind::PilotStatus) => {
            Credential::KeyId(Secret::new(inline("key-id", &entry.key_id)?))
        }
        (["key-id-env"], ProviderKind::PilotStatus) => Credential::KeyId(Secret::new(read(
            "key-id-env",
            entry.key_id_env.as_deref().unwrap_or_default(),
        )?)),
        (["key-id" | "key-id-env"], ProviderKind::MsgFlash) => {
            return Err("MsgFlash has no key ids: use key-env (or key)".into());
        }
        // MsgFlash keys belong to the account, not the number: one key may serve every instance.
        ([], ProviderKind::MsgFlash) => {
            Credential::Key(Secret::new(read("key-env", "MSGFLASH_API_KEY")?))
        }
        ([], ProviderKind::PilotStatus) => {
            return Err("no key: Pilot Status keys are per number, add key-env = \"VAR\" naming the environment variable that holds it".into());
        }
        _ => return Err(format!("give one of {}, not several", given.join(", "))),
    };
    Ok(credential)
}

/// The longest `key-env` value repeated in a message: variable names are a few words long.
const MAX_VARIABLE_NAME: usize = 64;

/// Whether a `key-env` (or `key-id-env`) value is written as environment variable names are,
/// and may be repeated in a message: capital letters, digits and `_`, not starting with a
/// digit, at most [`MAX_VARIABLE_NAME`] characters, and no long run of letters and digits
/// mixed (a key's random part, as in `AKIAIOSFODNN7EXAMPLE`). Anything else may be the key
/// itself, pasted where its variable's name belongs: lower case above all, as keys
/// (`ps_live_9f8e…`) are written and variable names usually are not.
fn is_variable_name(value: &str) -> bool {
    let written_as_a_name = (1..=MAX_VARIABLE_NAME).contains(&value.len())
        && !value.starts_with(|c: char| c.is_ascii_digit())
        && (value.bytes()).all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    let random = |word: &str| {
        word.len() >= 12
            && word.bytes().any(|b| b.is_ascii_digit())
            && word.bytes().any(|b| b.is_ascii_alphabetic())
    };
    written_as_a_name && !value.split('_').any(random)
}

/// A number's `daily-cap`: a whole number of sends above zero (0 would stop the number
/// before its first send; leave the number out of the file instead).
fn daily_cap(value: &toml::Value) -> Result<u64, String> {
    match value.as_integer().map(u64::try_from) {
        Some(Ok(cap)) if cap > 0 => Ok(cap),
        _ => Err(format!(
            "daily-cap = {} is not a daily cap: give a whole number of sends above zero, e.g. daily-cap = 1000 (or remove the line to use --daily-cap)",
            shown(&value.to_string())
        )),
    }
}

/// A Pilot Status entry's `number`, in E.164, read as a CSV's phone cell written with `+`
/// is (so two spellings of one number are one). A MsgFlash number is its instance.
fn sending_number(kind: ProviderKind, number: &str) -> Result<String, String> {
    if kind == ProviderKind::MsgFlash {
        return Err(
            "number is for Pilot Status keys: a MsgFlash number is known by its instance-id, \
             remove number"
                .into(),
        );
    }
    if !number.trim().starts_with('+') {
        return Err(format!(
            "number = \"{}\" is not a phone number in international form: write the number \
             this key sends from with + and its country code, e.g. number = \"+5511999999999\"",
            shown(number)
        ));
    }
    crate::input::international_number(number)
}

/// MsgFlash numbers are instances; Pilot Status numbers are their keys. `own` is a
/// senders-file entry's, `campaign` the flag's or campaign file's.
pub(crate) fn instance(
    kind: ProviderKind,
    own: Option<&str>,
    campaign: Option<&str>,
) -> Result<Option<String>, String> {
    match (kind, own.or(campaign)) {
        (ProviderKind::PilotStatus, None) => Ok(None),
        (ProviderKind::PilotStatus, Some(_)) => Err(
            "--instance-id (instance-id in a file) is a MsgFlash setting: add --provider msgflash, or remove it"
                .into(),
        ),
        (ProviderKind::MsgFlash, Some(id)) if is_uuid(id.trim()) => {
            Ok(Some(id.trim().to_string()))
        }
        (ProviderKind::MsgFlash, Some(id)) => Err(format!(
            "--instance-id '{}' is not a UUID: copy the instance id from the MsgFlash dashboard",
            shown(id)
        )),
        (ProviderKind::MsgFlash, None) => Err(
            "--provider msgflash needs --instance-id UUID (the WhatsApp instance to send from, from \
             the MsgFlash dashboard): on the command line, as instance-id in the campaign file, or \
             per number in a senders file"
                .into(),
        ),
    }
}

/// Whether a spreadsheet may take `label` for a date (`1-2`, `2024-01`, `3-jan`, `dez-25`)
/// and write a `sender` cell holding it back as another text, in a form that depends on its
/// language, so no later run can match it: two or three parts joined by `-`, each of one to
/// four digits or a month's three-letter name (English or Portuguese), one of them digits.
fn looks_like_a_date(label: &str) -> bool {
    const MONTHS: [&str; 19] = [
        "jan", "feb", "fev", "mar", "apr", "abr", "may", "mai", "jun", "jul", "aug", "ago", "sep",
        "set", "oct", "out", "nov", "dec", "dez",
    ];
    let parts: Vec<&str> = label.split('-').collect();
    let digits = |p: &&str| (1..=4).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    let month = |p: &&str| MONTHS.contains(&p.to_ascii_lowercase().as_str());
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| digits(p) || month(p))
        && parts.iter().any(digits)
}

/// Two labels a re-saved results file cannot tell apart: a spreadsheet reads the `sender`
/// cells `01` and `1` (or `1e5` and `100000`) as one number and writes both back alike, so
/// they would be one label to every later run, `status` and `cancel`, which would ask about
/// one number's messages with the other's key ([`hold::same`] is that comparison). Looked
/// up by the number the spreadsheet reads, so thousands of labels are checked at once.
///
/// [`hold::same`]: crate::pacing::hold::same
fn refuse_look_alike_labels<'a>(labels: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen: HashMap<u64, &str> = HashMap::new();
    for label in labels {
        let Some(number) = crate::pacing::hold::as_number(label) else {
            continue;
        };
        if let Some(first) = seen.insert(number.to_bits(), label) {
            debug_assert!(crate::pacing::hold::same(first, label));
            return Err(format!(
                "[{first}] and [{label}] are one label once a spreadsheet re-saves the results \
                 (it reads both sender cells as the number {number} and writes them back \
                 alike), and `status`, `cancel` and reruns would then use one number's key \
                 for the other's messages: rename one of them, e.g. with a letter ([n{label}]), \
                 which a spreadsheet leaves as it is"
            ));
        }
    }
    Ok(())
}

/// Two lanes on one number would send at twice the number's pace. Two numbers are one when
/// both name the same instance (a UUID in any case: dashboards and copies differ), or,
/// unless both name an instance, share a key. Looked up by instance and by the key's digest,
/// so a file of many thousand numbers is checked at once.
fn refuse_shared_numbers(senders: &[Sender]) -> Result<(), String> {
    let mut by_instance: HashMap<String, &Sender> = HashMap::new();
    let mut by_key: HashMap<u64, Vec<&Sender>> = HashMap::new();
    for b in senders {
        // A Pilot Status number named twice is one number, whatever its keys.
        let instance =
            (b.instance_id.as_deref().map(str::to_ascii_lowercase)).or_else(|| b.number.clone());
        let same_instance = instance.as_ref().and_then(|i| by_instance.get(i));
        let keys = by_key.entry(b.credential.fingerprint()).or_default();
        let same_key = keys.iter().find(|a| {
            (a.instance_id.is_none() || b.instance_id.is_none())
                && a.credential.same_secret(&b.credential)
        });
        if let Some(a) = same_instance.or(same_key) {
            return Err(format!(
                "[{}] and [{}] are the same number (same key, instance or number): each number may appear once, or it would be sent to at twice its pace",
                a.label, b.label
            ));
        }
        keys.push(b);
        if let Some(instance) = instance {
            by_instance.insert(instance, b);
        }
    }
    Ok(())
}

/// Keys written into a file others can read are keys others can use.
fn warn_if_readable_by_others<'a>(path: &Path, mut entries: impl Iterator<Item = &'a Entry>) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let inline = entries.any(|e| e.key.is_some() || e.key_id.is_some());
        let mode = std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if inline && mode & 0o077 != 0 {
            tracing::warn!(
                "{} holds API keys and other users can read it: run `chmod 600 {}`, or use key-env",
                crate::fmt::path(&path),
                crate::fmt::path(&path)
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, entries.next());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_a_spreadsheet_may_take_for_dates_are_told_apart_from_the_rest() {
        for label in ["1-2", "2024-01", "1-2-3", "3-jan", "Dez-25", "mar-2024"] {
            assert!(looks_like_a_date(label), "{label}");
        }
        for label in [
            "loja-1", "1", "01", "1e5", "a-b", "12345-1", "jan-fev", "1-2-3-4", "sp_1-2",
        ] {
            assert!(!looks_like_a_date(label), "{label}");
        }
    }

    #[test]
    fn labels_one_number_to_a_spreadsheet_are_refused_together() {
        assert!(refuse_look_alike_labels(["1e5", "100000"].into_iter()).is_err());
        assert!(refuse_look_alike_labels(["01", "1"].into_iter()).is_err());
        assert!(refuse_look_alike_labels(["1e5", "1e6", "loja", "1-2"].into_iter()).is_ok());
    }

    fn senders(labels: &[&str]) -> Vec<Sender> {
        labels
            .iter()
            .map(|l| Sender {
                label: l.to_string(),
                credential: sandbox_credential(ProviderKind::PilotStatus, l),
                instance_id: None,
                number: None,
                daily_cap: None,
            })
            .collect()
    }

    fn destinations() -> impl Iterator<Item = String> {
        (0..3000).map(|i| format!("+55119{:08}", i * 7919))
    }

    #[test]
    fn assignment_is_stable_and_independent_of_order() {
        let abc = senders(&["a", "b", "c"]);
        let cab = senders(&["c", "a", "b"]);
        for d in destinations() {
            assert_eq!(abc[assign(&abc, &d)].label, cab[assign(&cab, &d)].label);
        }
        // Pinned: the assignment is part of the product (reruns, follow-ups).
        assert_eq!(abc[assign(&abc, "+5511999990001")].label, PINNED);
    }

    const PINNED: &str = "a";

    #[test]
    fn numbers_share_the_list_evenly_and_a_new_number_only_takes_its_share() {
        let two = senders(&["centro", "norte"]);
        let three = senders(&["centro", "norte", "sul"]);
        let mut counts = [0usize; 2];
        let mut moved_elsewhere = 0;
        for d in destinations() {
            let before = &two[assign(&two, &d)].label;
            counts[assign(&two, &d)] += 1;
            let after = &three[assign(&three, &d)].label;
            if after != before && after != "sul" {
                moved_elsewhere += 1;
            }
        }
        assert!(counts.iter().all(|&c| c > 1300), "{counts:?}");
        assert_eq!(moved_elsewhere, 0, "only recipients of the new number move");
    }

    fn load_text(
        text: &str,
        kind: ProviderKind,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<Sender>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("senders.toml");
        std::fs::write(&path, text).unwrap();
        let keys = KeySource {
            env,
            sandbox: false,
            optional: false,
        };
        load(&path, kind, None, &keys)
    }

    #[test]
    fn keys_come_from_the_named_variables_and_problems_name_the_number() {
        let env = |name: &str| (name == "PS_A").then(|| "ps_a".to_string());
        let ok = load_text(
            "[a]\nkey-env = \"PS_A\"\n[b]\nkey = \"ps_b\"\n",
            ProviderKind::PilotStatus,
            &env,
        )
        .unwrap();
        assert_eq!(
            ok.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        for (text, wanted) in [
            (
                "[a]\nkey-env = \"PS_MISSING\"\n",
                "[a]: the environment variable PS_MISSING is not set",
            ),
            ("[a]\n", "[a]: no key"),
            ("[a]\nkey = \"x\"\nkey-env = \"PS_A\"\n", "not several"),
            ("[\"a b\"]\nkey = \"x\"\n", "not a usable label"),
            ("[a]\nkey = \"x\"\n[b]\nkey = \"x\"\n", "same number"),
            ("[a]\nkee = \"x\"\n", "unknown field"),
            (
                "[a]\nkey = \"x\"\ndaily-cap = 0\n",
                "[a]: daily-cap = 0 is not",
            ),
            (
                "[a]\nkey = \"x\"\ndaily-cap = \"9\"\n",
                "[a]: daily-cap = \"9\" is not",
            ),
            ("", "lists no numbers"),
            (
                "[a]\nkey = \"x\"\ninstance-id = \"3f6a1c2e-8b7d-4e5f-9a0b-1c2d3e4f5a6b\"\n",
                "MsgFlash setting",
            ),
        ] {
            let err = load_text(text, ProviderKind::PilotStatus, &env).unwrap_err();
            assert!(err.contains(wanted), "{text:?}: {err}");
            assert!(!err.contains("ps_a"), "a key leaked: {err}");
        }
    }

    #[test]
    fn a_number_given_twice_among_thousands_is_found() {
        let env = |_: &str| None;
        let mut text: String = (0..5000)
            .map(|i| format!("[n{i}]\nkey = \"k{i}\"\n"))
            .collect();
        assert_eq!(
            load_text(&text, ProviderKind::PilotStatus, &env)
                .unwrap()
                .len(),
            5000
        );
        text.push_str("[again]\nkey = \" k17 \"\n");
        let err = load_text(&text, ProviderKind::PilotStatus, &env).unwrap_err();
        assert!(
            err.contains("[again] and [n17] are the same number"),
            "{err}"
        );
    }

    #[test]
    fn a_key_env_value_is_repeated_only_when_it_reads_as_a_variable_name() {
        for name in [
            "PS_KEY_CENTRO",
            "PILOT_STATUS_KEY_SP",
            "MSGFLASH_API_KEY",
            "_K",
            "K2",
        ] {
            assert!(is_variable_name(name), "{name}");
        }
        let long = "K".repeat(MAX_VARIABLE_NAME + 1);
        for value in [
            "ps_live_9f8e7d6c5b4a39281706",
            "PSLIVE9F8E7D6C5B4A39281706",
            "AKIAIOSFODNN7EXAMPLE",
            "ps_key_centro",
            "1KEY",
            "PS-KEY",
            "PS KEY",
            "",
            &long,
        ] {
            assert!(!is_variable_name(value), "{value}");
        }
        let env = |_: &str| None;
        for setting in ["key-env", "key-id-env"] {
            let text = format!("[a]\n{setting} = \"ps_live_9f8e7d6c\"\n");
            let err = load_text(&text, ProviderKind::PilotStatus, &env).unwrap_err();
            assert!(!err.contains("9f8e7d6c"), "the key was shown: {err}");
            assert!(
                err.contains(&format!("[a]: {setting} must name an environment variable")),
                "{err}"
            );
        }
    }

    #[test]
    fn labels_a_spreadsheet_reads_as_one_number_are_refused_among_thousands() {
        let env = |_: &str| None;
        let mut text: String = (1..=5000)
            .map(|i| format!("[{i}]\nkey = \"k{i}\"\n"))
            .collect();
        text.push_str("[n0042]\nkey = \"n42\"\n");
        assert_eq!(
            load_text(&text, ProviderKind::PilotStatus, &env)
                .unwrap()
                .len(),
            5001
        );
        text.push_str("[0042]\nkey = \"z42\"\n");
        let err = load_text(&text, ProviderKind::PilotStatus, &env).unwrap_err();
        assert!(err.contains("[0042] and [42] are one label"), "{err}");
        assert!(err.contains("rename one of them"), "{err}");
    }

    #[test]
    fn msgflash_numbers_are_instances_and_may_share_the_account_key() {
        let env = |name: &str| (name == "MSGFLASH_API_KEY").then(|| "msgf_k".to_string());
        let text = "[a]\ninstance-id = \"3f6a1c2e-8b7d-4e5f-9a0b-1c2d3e4f5a6b\"\n[b]\ninstance-id = \"4f6a1c2e-8b7d-4e5f-9a0b-1c2d3e4f5a6b\"\n";
        let senders = load_text(text, ProviderKind::MsgFlash, &env).unwrap();
        assert_eq!(senders.len(), 2);
        // One instance, also when written once in lower and once in upper case.
        for b in [
            "3f6a1c2e-8b7d-4e5f-9a0b-1c2d3e4f5a6b",
            "3F6A1C2E-8B7D-4E5F-9A0B-1C2D3E4F5A6B",
        ] {
            let same = format!(
                "[a]\ninstance-id = \"3f6a1c2e-8b7d-4e5f-9a0b-1c2d3e4f5a6b\"\n[b]\ninstance-id = \"{b}\"\n"
            );
            let err = load_text(&same, ProviderKind::MsgFlash, &env).unwrap_err();
            assert!(
                err.contains("[a] and [b] are the same number"),
                "{b}: {err}"
            );
        }
        assert!(
            load_text("[a]\n", ProviderKind::MsgFlash, &env)
                .unwrap_err()
                .contains("instance-id")
        );
    }
}
