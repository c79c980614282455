#!/usr/bin/env bash
# The ledger's rows of the benchmark (issue 15), run by bench/run.sh as its section 6 or alone:
#
#   bench/ledger.sh BIN WORKDIR    prints markdown table rows on stdout
#
# 1. Durable sends/s at --concurrency 64 with the ledger off and on (same rows, same sandbox).
# 2. A ledger holding 1,000,000 recorded sends: its size on disk, and what the lookups cost:
#    the same c64 send with --frequency-cap 1/7d (both per-row lookups on) against an empty
#    ledger and against the 1M one, plus the median of the per-row queries timed in sqlite.
# Sizes: LEDGER_SEND_ROWS (20000), LEDGER_ROWS (1000000); LEDGER_RUNS (5) runs of each c64
# send, off and on alternating, medians reported with the load average. Talks only to 127.0.0.1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=$1
WORK=$2
N=${LEDGER_SEND_ROWS:-20000}
BIG=${LEDGER_ROWS:-1000000}
TEMPLATE=promo_black_friday
export PILOT_STATUS_API_KEY=ps_live_bench
log() { echo "bench(ledger): $*" >&2; }

python3 "$HERE/gen.py" campaign "$N" "$WORK/ledger_send.csv" e164
PID=""
start_sandbox() {
  # Emptied here, not by the background redirection, which may come after the first look
  # and leave the last sandbox's address to be read.
  : >"$WORK/ledger_sandbox.out"
  "$BIN" sandbox --port 0 --rate-limit 0 >"$WORK/ledger_sandbox.out" 2>/dev/null &
  PID=$!
  for _ in $(seq 50); do
    URL=$(sed -n 's/^sandbox listening on //p' "$WORK/ledger_sandbox.out")
    [[ -n "$URL" ]] && return 0
    sleep 0.1
  done
  exit 1
}
stop_sandbox() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
trap stop_sandbox EXIT

# send NAME LEDGER [flags...]: sends/s of one c64 run (fresh results file each time).
send() {
  local name=$1 ledger=$2
  shift 2
  rm -f "$WORK/$name.results.csv"
  start_sandbox
  local start end
  start=$(date +%s.%N)
  "$BIN" "$WORK/ledger_send.csv" --base-url "$URL" --template "$TEMPLATE" --rate 1000000/s \
    --spacing 0 --concurrency 64 -q --ledger "$ledger" --results "$WORK/$name.results.csv" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" || { cat "$WORK/$name.err" >&2; exit 1; }
  end=$(date +%s.%N)
  stop_sandbox
  grep -q "$N rows: $N queued" "$WORK/$name.out" || { cat "$WORK/$name.out" >&2; exit 1; }
  echo "$N / ($end - $start)" | bc -l
}

# Off and on alternate, so a change in the machine's load hits both alike; medians.
RUNS=${LEDGER_RUNS:-5}
log "c64 sends, $N rows: ledger off and on, alternating, $RUNS runs each (medians)"
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
offs=() ons=()
for i in $(seq "$RUNS"); do
  offs+=("$(send off off)")
  rm -f "$WORK/on$i.sqlite3"*
  ons+=("$(send on "$WORK/on$i.sqlite3")")
done
off=$(median "${offs[@]}")
on=$(median "${ons[@]}")
load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

log "building a ledger of $BIG sends"
rm -f "$WORK/big.sqlite3"*
# The binary creates the schema (one send of another campaign to someone else), then sqlite
# fills it with $BIG sends spread over 30 days from 500 numbers to $BIG/5 recipients.
python3 "$HERE/gen.py" campaign $((N + 1)) "$WORK/ledger_seed_all.csv" e164
{ head -n 1 "$WORK/ledger_seed_all.csv"; tail -n 1 "$WORK/ledger_seed_all.csv"; } >"$WORK/ledger_seed.csv"
start_sandbox
"$BIN" "$WORK/ledger_seed.csv" --base-url "$URL" --template seed --ledger "$WORK/big.sqlite3" \
  --results "$WORK/seed.results.csv" -q >/dev/null 2>&1 || true
stop_sandbox
[[ -s "$WORK/big.sqlite3" ]] || { log "the seed run did not create the ledger"; exit 1; }
sqlite3 "$WORK/big.sqlite3" <<SQL
INSERT INTO runs (token, results) VALUES (424242, 'bench.results.csv');
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 499)
INSERT OR IGNORE INTO names (name) SELECT printf('key:%016x', i) FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 49)
INSERT OR IGNORE INTO names (name) SELECT printf('pilot-status/m:%08x', i) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BIG)
INSERT INTO sent SELECT (SELECT id FROM runs WHERE token = 424242), i,
  (SELECT id FROM names WHERE name = printf('key:%016x', i % 500)),
  (i * 2654435761) % ($BIG / 5),
  (SELECT id FROM names WHERE name = printf('pilot-status/m:%08x', i % 50)), 2,
  printf('msg-%d', i), CAST(strftime('%s','now') AS INTEGER) * 1000 - (i * 2592) FROM n;
SQL
sqlite3 "$WORK/big.sqlite3" "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;" >/dev/null
size=$(stat -c %s "$WORK/big.sqlite3")
cp "$WORK/big.sqlite3" "$WORK/big_capped.sqlite3"
log "c64 sends with --frequency-cap 1/7d: empty ledger, then the 1M one"
rm -f "$WORK/capped_empty.sqlite3"*
empty=$(send capped_empty "$WORK/capped_empty.sqlite3" --frequency-cap 1/7d)
full=$(send capped_full "$WORK/big_capped.sqlite3" --frequency-cap 1/7d)
# One row's lookups (ALREADY_SENT + FREQUENCY_CAP) timed in sqlite on the 1M ledger.
lookup_us=$(python3 - "$WORK/big.sqlite3" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
times = []
for i in range(2000):
    d = (i * 7919) % 200000
    t = time.perf_counter()
    # The binary's two per-row statements (src/ledger/sqlite.rs: EARLIER_SEND, RECEIVED_SINCE).
    db.execute("SELECT s.message_id, r.results FROM sent s JOIN runs r ON r.id = s.run WHERE s.destination = ? AND s.campaign = (SELECT id FROM names WHERE name = ?) AND r.token != ? AND (s.state = 2 OR (0 = 0 AND s.state IN (1, 3))) ORDER BY s.state = 2 DESC, s.at LIMIT 1", (d, "pilot-status/m:00000001", 1)).fetchall()
    db.execute("SELECT count(*) FROM sent WHERE destination = ? AND at >= ? AND (state = 2 OR (0 = 0 AND state IN (1, 3)))", (d, 0)).fetchall()
    times.append(time.perf_counter() - t)
times.sort()
print(f"{times[len(times) // 2] * 1e6:.0f}")
PY
)
pct() { echo "100 * ($2 - $1) / $1" | bc -l | xargs printf '%+.1f'; }
printf '| ledger: sends/s at c64, off / on | %.0f / %.0f (%s %%) | %d rows, median of %d runs each; load average %s |\n' \
  "$off" "$on" "$(pct "$off" "$on")" "$N" "$RUNS" "$load"
printf '| ledger: %d recorded sends | %.0f MB on disk; lookups per row %s µs (median) | c64 with --frequency-cap: %.0f sends/s on an empty ledger, %.0f on the 1M one |\n' \
  "$BIG" "$(echo "$size / 1000000" | bc -l)" "$lookup_us" "$empty" "$full"
