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
            None => {
                let tz = TimeZone::try_system().unwrap_or(TimeZone::UTC);
                let name = tz.iana_name().unwrap_or("UTC").to_string();
                Ok(Zone {
                    tz,
                    name,
                    chosen: false,
                })
            }
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
