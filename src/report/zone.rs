//! The time zone a report shows local times in: the campaign's (`--tz`, as for the send)
//! or else the machine's, and the page says which.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A zone and how it was chosen.
#[derive(Debug, Clone)]
pub struct Zone {
    pub tz: TimeZone,
    name: String,
    chosen: bool,
}

impl Zone {
    /// `--tz ZONE` if given (an IANA name, as the send's `--tz`), else the machine's zone.
    pub fn new(flag: Option<&str>) -> Result<Zone, String> {
        match flag {
            Some(name) => {
                let tz = TimeZone::get(name.trim()).map_err(|_| {
                    format!(
                        "unknown time zone '{}' for --tz: use an IANA name such as America/Sao_Paulo",
                        name.trim()
                    )
                })?;
                Ok(Zone {
                    tz,
                    name: name.trim().to_string(),
                    chosen: true,
                })
            }
            None => Ok(Zone::machine(
                TimeZone::try_system().unwrap_or(TimeZone::UTC),
                Timestamp::now(),
            )),
        }
    }

    /// The machine's zone `tz`, named by its IANA name, or else (`TZ='<-03>3'`, a zone file
    /// copied into a container) by its offset at `now`: calling such a zone "UTC" labels
    /// shifted times as UTC ones.
    fn machine(tz: TimeZone, now: Timestamp) -> Zone {
        let name = match tz.iana_name() {
            Some(name) => name.to_string(),
            None => format!("UTC{}", tz.to_offset(now)),
        };
        Zone {
            tz,
            name,
            chosen: false,
        }
    }

    /// The zone's name and where it came from, for the page and the JSON.
    pub fn describe(&self) -> String {
        if self.chosen {
            self.name.clone()
        } else {
            format!("{} (this machine's time zone; --tz to choose)", self.name)
        }
    }

    /// `at` as local time, to the second.
    pub fn local(&self, at: Timestamp) -> String {
        self.tz
            .to_datetime(at)
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    /// A way to turn instants into local hours, one per row, that asks the zone's rules
    /// again only when an instant leaves the span its last offset holds over.
    pub fn hours(&self) -> LocalHours {
        LocalHours {
            tz: self.tz.clone(),
            known: None,
        }
    }

    /// A bar's start given in local hours since the epoch, as `YYYY-MM-DD HH:00`.
    pub fn local_hour(&self, local_hour: i64) -> String {
        Timestamp::from_second(local_hour.saturating_mul(3600))
            .map(|t| {
                TimeZone::UTC
                    .to_datetime(t)
                    .strftime("%Y-%m-%d %H:00")
                    .to_string()
            })
            .unwrap_or_default()
    }
}

/// Local hours of instants (see [`Zone::hours`]): rows are sent within hours or days, so
/// nearly every row falls where the last one did, between the same two transitions, and
/// costs two comparisons instead of a search of the zone's rules (slim TZif zones compute
/// a year's daylight-saving rule at every look-up).
#[derive(Debug, Clone)]
pub struct LocalHours {
    tz: TimeZone,
    /// From (inclusive) and until (exclusive): the span between two transitions, and the
    /// zone's offset in seconds over it.
    known: Option<(Timestamp, Timestamp, i64)>,
}

impl LocalHours {
    /// `at`'s local time as hours since the epoch (local midnight 1970-01-01 is hour 0).
    pub fn of(&mut self, at: Timestamp) -> i64 {
        let offset = match self.known {
            Some((from, until, offset)) if from <= at && at < until => offset,
            _ => self.learn(at),
        };
        (at.as_second() + offset).div_euclid(3600)
    }

    /// The offset at `at`, remembered with the span it holds over: from the last
    /// transition at or before `at` to the first after it.
    fn learn(&mut self, at: Timestamp) -> i64 {
        let offset = i64::from(self.tz.to_offset(at).seconds());
        let just_after = at.checked_add(jiff::SignedDuration::from_nanos(1));
        let from = just_after
            .ok()
            .and_then(|t| self.tz.preceding(t).next())
            .map_or(Timestamp::MIN, |t| t.timestamp());
        let until = (self.tz.following(at).next()).map_or(Timestamp::MAX, |t| t.timestamp());
        self.known = Some((from, until, offset));
        offset
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Zones with daylight saving (north and south), half-hour and 45-minute offsets, a
    /// zone that dropped daylight saving, and UTC.
    const ZONES: [&str; 7] = [
        "America/New_York",
        "Europe/Berlin",
        "Australia/Adelaide",
        "Asia/Kathmandu",
        "America/Sao_Paulo",
        "Australia/Lord_Howe",
        "UTC",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The remembered offset gives every instant the hour the zone's rules give it,
        /// in any order, across transitions (instants within days of one another, in
        /// 1950-2060, at any second).
        #[test]
        fn cached_hours_are_the_zones_hours(
            zone in prop::sample::select(ZONES.to_vec()),
            start in -631_152_000i64..2_840_140_800,
            steps in prop::collection::vec(-200_000i64..200_000, 1..200),
        ) {
            let zone = Zone::new(Some(zone)).unwrap();
            let mut hours = zone.hours();
            let mut second = start;
            for step in steps {
                second += step;
                let at = Timestamp::from_second(second).unwrap();
                let offset = i64::from(zone.tz.to_offset(at).seconds());
                prop_assert_eq!(hours.of(at), (second + offset).div_euclid(3600), "{}", at);
            }
        }
    }

    #[test]
    fn a_machine_zone_without_a_name_is_named_by_its_offset() {
        let now = Timestamp::from_second(1_780_000_000).unwrap();
        let tz = TimeZone::posix("<-03>3").unwrap();
        let zone = Zone::machine(tz, now);
        assert!(zone.describe().starts_with("UTC-03"), "{}", zone.describe());
        let named = Zone::machine(TimeZone::get("America/Sao_Paulo").unwrap(), now);
        assert!(named.describe().starts_with("America/Sao_Paulo ("));
    }

    #[test]
    fn the_instant_of_a_transition_has_the_new_offset() {
        let zone = Zone::new(Some("America/New_York")).unwrap();
        let mut hours = zone.hours();
        // 2026-03-08 07:00 UTC: 02:00 EST becomes 03:00 EDT.
        let change: Timestamp = "2026-03-08T07:00:00Z".parse().unwrap();
        let before = change - jiff::SignedDuration::from_nanos(1);
        let mut local = |t: Timestamp| zone.local_hour(hours.of(t));
        assert_eq!(local(before), "2026-03-08 01:00");
        assert_eq!(local(change), "2026-03-08 03:00");
        assert_eq!(local(before), "2026-03-08 01:00");
    }
}
