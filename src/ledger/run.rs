//! The ledger as one run uses it: opened at the start (a problem stops the run before any
//! send), with this run's id, campaign identity and numbers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::settings::Settings;

use super::{
    Checks, DailyCap, Ledger, LedgerError, Location, Refusal, Rules, Sink, SqliteLedger,
    adopted_name, campaign_identity, sender_fingerprint, sender_name,
};

/// The ledger's two sides for one run: what the journal's writer records, what the senders
/// ask.
#[derive(Debug)]
pub struct RunLedger {
    pub sink: Sink,
    pub checks: Checks,
}

impl RunLedger {
    /// Opens the run's ledger; `None` when it is off. `now` is the run's clock.
    pub fn open(
        settings: &Settings,
        now: jiff::Timestamp,
    ) -> Result<Option<RunLedger>, LedgerError> {
        let Location::File(path) = &settings.ledger else {
            return Ok(None);
        };
        let ledger: Arc<dyn Ledger> = Arc::new(SqliteLedger::open(path)?);
        let run: u64 = rand::random();
        let identity = campaign_identity(settings.provider, &settings.input.defaults);
        let senders = (settings.senders.iter())
            .map(|s| {
                let adopts = adopted_name(s);
                let name = sender_name(ledger.as_ref(), &sender_fingerprint(s), adopts.as_deref())?;
                Ok((s.label.clone(), name))
            })
            .collect::<Result<HashMap<String, String>, LedgerError>>()?;
        let now_ms = now.as_millisecond();
        let mut caps = HashMap::new();
        let mut daily_caps = HashMap::new();
        // A number's own cap in the senders file overrides --daily-cap.
        for number in &settings.senders {
            if let Some(cap) = number.daily_cap.or(settings.daily_cap) {
                let sender = senders[&number.label].clone();
                daily_caps.insert(sender.clone(), cap);
                let budget = DailyCap::load(ledger.as_ref(), sender, cap, now_ms)?;
                caps.insert(number.label.clone(), budget);
            }
        }
        let rules = Rules {
            allow_resend: settings.allow_resend,
            accepted_only: settings.resend_uncertain,
            frequency_cap: settings.frequency_cap,
            daily_caps,
            // The ledger keeps milliseconds: a shorter gap cannot be told from none.
            pace: Some(crate::pacing::shortest_gap(settings.rate, settings.spacing))
                .filter(|gap| gap.as_millis() > 0),
        };
        let results = ledger_text(&ledger_name(&settings.results));
        let sink = Sink {
            ledger: Arc::clone(&ledger),
            run,
            results: results.clone(),
            campaign: identity.run.clone(),
            senders,
            // Judged again as each intent is recorded.
            rules: rules.may_refuse().then(|| rules.clone()),
        };
        let checks = Checks {
            ledger,
            run,
            identity,
            results,
            rules,
            caps,
        };
        Ok(Some(RunLedger { sink, checks }))
    }

    /// Forgets what answers asked the run's numbers to wait for (`--ignore-earlier-retry-after`):
    /// called once the run goes on to send, so a run refused before its first send leaves
    /// the holds for the next.
    pub fn forget_holds(&self) -> Result<(), LedgerError> {
        for sender in self.sink.senders.values() {
            self.checks.ledger.forget_hold(sender)?;
        }
        Ok(())
    }

    /// Whether lane `label`'s send at `now_ms` must wait for another run's send of its
    /// number ([`Rules::paced`]): asked before the intent, so that a send another run's
    /// pace holds waits without a line; the intent's transaction asks again.
    pub fn paced(&self, label: &str, now_ms: i64) -> Result<Option<Refusal>, LedgerError> {
        let Some(sender) = self.sink.senders.get(label) else {
            return Ok(None);
        };
        let ledger = self.checks.ledger.as_ref();
        (self.checks.rules).paced(ledger, sender, self.checks.run, now_ms)
    }

    /// When the number of lane `label` last sent, by any campaign, for the quota's restore.
    pub fn last_send(&self, label: &str) -> Result<Option<jiff::Timestamp>, LedgerError> {
        self.instant(label, |ledger, sender| ledger.last_send(sender))
    }

    /// Until when an answer to any run asked the number of lane `label` to wait
    /// (`Retry-After`): a wait outlives the run and the results file it was answered in.
    pub fn held_until(&self, label: &str) -> Result<Option<jiff::Timestamp>, LedgerError> {
        self.instant(label, |ledger, sender| ledger.held_until(sender))
    }

    /// An instant the ledger keeps for the number of lane `label`.
    fn instant(
        &self,
        label: &str,
        read: impl Fn(&dyn Ledger, &str) -> Result<Option<i64>, LedgerError>,
    ) -> Result<Option<jiff::Timestamp>, LedgerError> {
        let Some(sender) = self.sink.senders.get(label) else {
            return Ok(None);
        };
        let ms = read(self.checks.ledger.as_ref(), sender)?;
        Ok(ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()))
    }
}

/// A results path as the ledger's text: as it reads, or, for a path that is not UTF-8, its
/// readable form with its bytes' digest, since two folders whose names differ only in such
/// bytes read alike and would be one results file to the ledger.
fn ledger_text(path: &Path) -> String {
    match path.to_str() {
        Some(text) => text.to_string(),
        None => {
            let bytes = path.as_os_str().as_encoded_bytes();
            let digest = crate::fingerprint::of(&format!("{bytes:?}"));
            format!("{} [{digest:016x}]", path.display())
        }
    }
}

/// The results file as the ledger names it: absolute, with links followed (also one to a
/// file not made yet) and its folder's path resolved. `--resend-uncertain` relaxes the
/// uncertain sends of its own file only, found by this name: by the name given, two copies
/// of a campaign folder, each run from its own folder, were both `c.results.csv`, and each
/// resent the other's sends in flight; and the same file reached from another folder or
/// through a link was another file.
fn ledger_name(results: &Path) -> PathBuf {
    let mut path = std::path::absolute(results).unwrap_or_else(|_| results.to_path_buf());
    // As many links as the system follows in one path.
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&path) else {
            break;
        };
        path = path
            .parent()
            .map_or(target.clone(), |folder| folder.join(&target));
    }
    let folder = path
        .parent()
        .and_then(|folder| std::fs::canonicalize(folder).ok());
    match (folder, path.file_name()) {
        (Some(folder), Some(name)) => folder.join(name),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_has_one_name_however_it_is_reached_and_two_copies_have_two() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for copy in ["a", "b"] {
            std::fs::create_dir(root.join(copy)).unwrap();
        }
        let file = root.join("a/c.results.csv");
        // Not made yet, reached through a link in another folder, and through `..`.
        std::os::unix::fs::symlink(&file, root.join("b/link.csv")).unwrap();
        assert_eq!(ledger_name(&root.join("b/link.csv")), file);
        assert_eq!(ledger_name(&root.join("b/../a/c.results.csv")), file);
        std::fs::write(&file, "row\n").unwrap();
        assert_eq!(ledger_name(&root.join("b/link.csv")), file);
        // A relative name is the working folder's file: the two copies differ.
        assert!(ledger_name(Path::new("c.results.csv")).is_absolute());
        // Folder names that differ only in bytes that are not UTF-8 read alike: their
        // files are still two to the ledger.
        use std::os::unix::ffi::OsStrExt as _;
        let odd = |byte: u8| {
            let bytes = [b'd', byte];
            let name = std::ffi::OsStr::from_bytes(&bytes);
            ledger_text(&Path::new("/x").join(name).join("c.results.csv"))
        };
        assert_ne!(odd(0xff), odd(0xfe));
        assert_eq!(odd(0xff), odd(0xff));
        assert_eq!(ledger_text(Path::new("/x/c.csv")), "/x/c.csv");
        assert_ne!(
            ledger_name(&root.join("b/c.results.csv")),
            ledger_name(&file)
        );
    }
}
