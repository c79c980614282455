//! What the rules look up, as SQL on one connection: the reader's before a send, the
//! writer's inside the transaction that records an intent.

use rusqlite::{Connection, params};

use crate::ledger::{EarlierSend, Lookups, SendState, Settled};

/// The lookup that runs before every send (`ALREADY_SENT`): every matching send (hardly
/// ever more than one), the best picked in [`SqliteLedger::earlier_send`]. An `ORDER BY`
/// here cost each lookup a temporary table, about 40 % of its instructions.
pub(super) const EARLIER_SEND: &str = "SELECT s.message_id, r.results, s.state, s.at
     FROM sent s JOIN runs r ON r.id = s.run
     WHERE s.destination = ?2 AND s.campaign = (SELECT id FROM names WHERE name = ?1)
     AND r.token != ?3 AND (s.state = 2 OR (s.state IN (1, 3) AND NOT (r.results IS ?4 AND (?5 OR s.at <= ?6))))";

/// The lookup of `--frequency-cap`, before every send.
pub(super) const RECEIVED_SINCE: &str = "SELECT count(*) FROM sent s JOIN runs r ON r.id = s.run
     WHERE s.destination = ?1 AND s.at >= ?2 AND s.at <= ?6
     AND (s.state = 2 OR (s.state IN (1, 3) AND NOT (r.results IS ?3 AND (?4 OR s.at <= ?5))))";

/// The latest attempt of a number by other runs within a span, for the pace two runs of one
/// number share ([`Rules::paced`]): a range of the number's index, a few sends long. Every
/// state counts: a refused request (`NOT_SENT`: FAILED, or DEFERRED after an answer) reached
/// the API as surely as an accepted one.
const OTHERS_LAST_SEND: &str = "SELECT max(s.at) FROM sent s JOIN runs r ON r.id = s.run
     WHERE s.sender = (SELECT id FROM names WHERE name = ?1) AND s.at > ?3 AND s.at <= ?4
     AND r.token != ?2";

/// A number's sends (possible ones included) since `?2`, for `--daily-cap`.
const SENDS_SINCE: &str = "SELECT count(*) FROM sent
     WHERE sender = (SELECT id FROM names WHERE name = ?1) AND at >= ?2 AND at <= ?3
     AND state > 0";

/// The rules' lookups on one connection: the reader's, or the writer's inside its
/// transaction (which sees its own batch's intents too).
pub(super) struct On<'c>(pub(super) &'c Connection);

impl Lookups for On<'_> {
    type Error = rusqlite::Error;

    /// An accepted send first, then the earliest.
    fn earlier_send(
        &self,
        campaign: &str,
        destination: u64,
        run: u64,
        settled: Settled<'_>,
    ) -> Result<Option<EarlierSend>, rusqlite::Error> {
        // One fixed statement (prepared once per connection): this runs before every send.
        let mut statement = self.0.prepare_cached(EARLIER_SEND)?;
        let rows = statement.query_map(
            params![
                campaign,
                destination as i64,
                run as i64,
                settled.results,
                settled.all,
                settled.until_ms.unwrap_or(i64::MIN)
            ],
            |r| {
                let key = (r.get::<_, i64>(2)? != SendState::Accepted.code(), r.get(3)?);
                let earlier = EarlierSend {
                    message_id: r.get(0)?,
                    results: r.get(1)?,
                };
                Ok((key, earlier))
            },
        )?;
        let mut best: Option<((bool, i64), EarlierSend)> = None;
        for row in rows {
            let (key, earlier) = row?;
            if best.as_ref().is_none_or(|(known, _)| key < *known) {
                best = Some((key, earlier));
            }
        }
        Ok(best.map(|(_, earlier)| earlier))
    }

    fn received_since(
        &self,
        destination: u64,
        (since_ms, until_ms): (i64, i64),
        settled: Settled<'_>,
    ) -> Result<u64, rusqlite::Error> {
        let until = settled.until_ms.unwrap_or(i64::MIN);
        let params = params![
            destination as i64,
            since_ms,
            settled.results,
            settled.all,
            until,
            until_ms
        ];
        count(self.0, RECEIVED_SINCE, params)
    }

    fn sends_since(
        &self,
        sender: &str,
        (since, until): (i64, i64),
    ) -> Result<u64, rusqlite::Error> {
        count(self.0, SENDS_SINCE, params![sender, since, until])
    }

    fn others_last_send(
        &self,
        sender: &str,
        run: u64,
        (from_ms, to_ms): (i64, i64),
    ) -> Result<Option<i64>, rusqlite::Error> {
        (self.0.prepare_cached(OTHERS_LAST_SEND)?)
            .query_row(params![sender, run as i64, from_ms, to_ms], |r| r.get(0))
    }
}

/// The one number a counting statement answers.
pub(super) fn count(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<u64, rusqlite::Error> {
    let count: i64 = (connection.prepare_cached(sql)?).query_row(params, |r| r.get(0))?;
    Ok(count.max(0) as u64)
}
