#!/usr/bin/env bash
# The benchmark of issue 7: preflight, resume, sends/s, pacing fidelity and report, each beside a
# baseline, printed as one markdown table and written into bench/README.md's "Performance"
# section (between the bench:begin/bench:end markers; --no-readme only prints).
#
#   bench/run.sh [--no-readme]
#
# Not part of `cargo test`. Generates its own data in a temp dir it removes on exit,
# talks only to sandboxes it starts on 127.0.0.1, and bounds every load run in time
# (wrk -d) and count (post.lua). Installs what it lacks, locally where it can: Debian's
# `time` and `wrk`, and a venv in bench/.venv with requests + phonenumbers.
# Sizes can be overridden: ROWS (1000000), SEND_ROWS (100000), SEND_ROWS_C1 (5000),
# PY_SEND_ROWS (5000), WRK_SECONDS (3), PACING_SENDS (100000), STATUS_OPEN (5000),
# ROUNDS (3: the E.164 preflight and each send rate are medians of ROUNDS runs, a send run
# alternating with its wrk run, so a change in the machine's speed meets both); the
# ledger's rows (bench/ledger.sh, also runnable alone):
# LEDGER_SEND_ROWS (20000), LEDGER_ROWS (1000000).
# Run one part alone with ONLY=report or ONLY=status (the rest is skipped).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
WRITE_README=1
[[ "${1:-}" == "--no-readme" ]] && WRITE_README=0

ROWS=${ROWS:-1000000}
SEND_ROWS=${SEND_ROWS:-100000}
SEND_ROWS_C1=${SEND_ROWS_C1:-5000}
PY_SEND_ROWS=${PY_SEND_ROWS:-5000}
WRK_SECONDS=${WRK_SECONDS:-3}
PACING_SENDS=${PACING_SENDS:-100000}
STATUS_OPEN=${STATUS_OPEN:-5000}
ROUNDS=${ROUNDS:-3}
ONLY=${ONLY:-}
part() { [[ -z "$ONLY" || "$ONLY" == "$1" ]]; }
TEMPLATE=promo_black_friday
export PILOT_STATUS_API_KEY=ps_live_bench # the sandbox takes any non-tenant key
# The rows below run without the ledger (and never touch the user's); section 6 measures it.
export CAMPAIGN_SENDER_LEDGER=off

WORK=$(mktemp -d "${TMPDIR:-/tmp}/campaign-bench.XXXXXX")
SANDBOX_PID=""
cleanup() {
  stop_sandbox
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "bench: $*" >&2; }

# --- tools -----------------------------------------------------------------------------
need_apt() {
  if ! command -v "$2" >/dev/null 2>&1; then
    log "installing Debian package $1"
    apt-get update -qq >/dev/null && apt-get install -y -qq "$1" >/dev/null
  fi
}
need_apt time /usr/bin/time
need_apt wrk wrk
PY="$HERE/.venv/bin/python"
if ! "$PY" -c 'import requests, phonenumbers' 2>/dev/null; then
  log "creating bench/.venv (requests, phonenumbers)"
  python3 -m venv "$HERE/.venv"
  "$HERE/.venv/bin/pip" install -q requests phonenumbers
fi

log "building (release)"
(cd "$ROOT" && cargo build --release --quiet --bin campaign-sender --example pacing_fidelity)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN="$TARGET/release/campaign-sender"
PACING="$TARGET/release/examples/pacing_fidelity"
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD)
git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock || COMMIT="$COMMIT+dirty"

# --- helpers ---------------------------------------------------------------------------
RESULTS="$WORK/results.env"
: >"$RESULTS"
put() { echo "$1=$2" >>"$RESULTS"; }
now() { date +%s.%N; }

# timed NAME CMD...: wall seconds and peak RSS (KiB, /usr/bin/time -v) of one command.
timed() {
  local name=$1
  shift
  local start end
  start=$(now)
  /usr/bin/time -v -o "$WORK/$name.time" "$@"
  end=$(now)
  put "${name}_s" "$(echo "$end - $start" | bc -l)"
  put "${name}_rss_kib" "$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/$name.time")"
}

# wrk_rps OUT ENDING: requests per second from a wrk script's summary line, which must end
# in ENDING (no failed requests).
wrk_rps() {
  local line req us
  line=$(grep '^requests=' "$1")
  [[ "$line" == *"$2" ]] || { cat "$1" >&2; exit 1; }
  req=${line#requests=}
  req=${req%% *}
  us=${line#*duration_us=}
  us=${us%% *}
  echo "$req / ($us / 1000000)" | bc -l
}

# median NAME...: the median (the lower middle one for an even count) of the values put as
# NAME_1..NAME_ROUNDS, put as NAME.
median() {
  local name values
  for name in "$@"; do
    values=$(sed -n "s/^${name}_[0-9]*=//p" "$RESULTS" | sort -g)
    put "$name" "$(echo "$values" | sed -n "$(((ROUNDS + 1) / 2))p")"
  done
}

start_sandbox() { # extra sandbox flags...
  # Emptied here, not by the background redirection, which may come after the first look
  # and leave the last sandbox's address to be read.
  : >"$WORK/sandbox.out"
  "$BIN" sandbox --port 0 --rate-limit 0 "$@" >"$WORK/sandbox.out" 2>"$WORK/sandbox.err" &
  SANDBOX_PID=$!
  for _ in $(seq 50); do
    URL=$(sed -n 's/^sandbox listening on //p' "$WORK/sandbox.out")
    [[ -n "$URL" ]] && return 0
    sleep 0.1
  done
  log "the sandbox did not start"
  cat "$WORK/sandbox.err" >&2
  exit 1
}
stop_sandbox() {
  if [[ -n "$SANDBOX_PID" ]]; then
    kill "$SANDBOX_PID" 2>/dev/null || true
    wait "$SANDBOX_PID" 2>/dev/null || true
    SANDBOX_PID=""
  fi
}

put rows "$ROWS"
put rounds "$ROUNDS"
put load_start "$(cut -d' ' -f1 /proc/loadavg)"

# Parts 1-4 (not indented: they hold multi-line Python) run unless ONLY names another part.
if [[ -z "$ONLY" ]]; then
# --- data ------------------------------------------------------------------------------
log "generating $ROWS-row campaigns"
"$PY" "$HERE/gen.py" campaign "$ROWS" "$WORK/local.csv" local
"$PY" "$HERE/gen.py" campaign $((ROWS + 1)) "$WORK/resume.csv" e164
head -n $((ROWS + 1)) "$WORK/resume.csv" >"$WORK/e164.csv"
"$PY" "$HERE/gen.py" results "$ROWS" "$WORK/resume.results.csv"

# --- 1. preflight ----------------------------------------------------------------------
log "1. preflight: local numbers with --default-country BR"
timed pre_local "$BIN" "$WORK/local.csv" --dry-run --template "$TEMPLATE" --default-country BR \
  --results "$WORK/none.csv" >/dev/null 2>"$WORK/pre_local.err"
grep -q "to send *$ROWS\$" "$WORK/pre_local.err" || { cat "$WORK/pre_local.err" >&2; exit 1; }
log "1. preflight: E.164 numbers, $ROUNDS runs"
for i in $(seq "$ROUNDS"); do
  timed "pre_e164_$i" "$BIN" "$WORK/e164.csv" --dry-run --template "$TEMPLATE" \
    --results "$WORK/none.csv" >/dev/null 2>"$WORK/pre_e164.err"
  grep -q "to send *$ROWS\$" "$WORK/pre_e164.err" || { cat "$WORK/pre_e164.err" >&2; exit 1; }
  put "pre_e164_rss_kib_$i" "$(sed -n "s/^pre_e164_${i}_rss_kib=//p" "$RESULTS")"
  put "pre_e164_s_$i" "$(sed -n "s/^pre_e164_${i}_s=//p" "$RESULTS")"
done
median pre_e164_s pre_e164_rss_kib
log "1. baseline: Python csv + phonenumbers (both files)"
timed py_pre_local "$PY" "$HERE/baseline_preflight.py" "$WORK/local.csv" "$TEMPLATE" BR \
  >/dev/null 2>"$WORK/py_pre_local.err"
timed py_pre_e164 "$PY" "$HERE/baseline_preflight.py" "$WORK/e164.csv" "$TEMPLATE" \
  >/dev/null 2>"$WORK/py_pre_e164.err"
grep -q "valid $ROWS invalid 0" "$WORK/py_pre_local.err"
grep -q "valid $ROWS invalid 0" "$WORK/py_pre_e164.err"

# --- 2. resume -------------------------------------------------------------------------
log "2. resume: $ROWS final rows in the checkpoint, one row left"
start_sandbox --log "$WORK/resume.log"
start=$(now)
timed resume "$BIN" "$WORK/resume.csv" --base-url "$URL" --template "$TEMPLATE" -q \
  >"$WORK/resume.out" 2>"$WORK/resume.err" || { cat "$WORK/resume.err" >&2; exit 1; }
stop_sandbox
grep -q "$((ROWS + 1)) rows: $((ROWS + 1)) queued" "$WORK/resume.out"
[[ $(wc -l <"$WORK/resume.log") == 1 ]] || { log "resume sent more than one row"; exit 1; }
first=$("$PY" -c 'import json,sys,datetime as d
at = json.loads(open(sys.argv[1]).readline())["at"]
print(d.datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp())' "$WORK/resume.log")
put resume_first_s "$(echo "$first - $start" | bc -l)"

# --- 3. sends/s ------------------------------------------------------------------------
head -n 2 "$WORK/e164.csv" >"$WORK/one.csv" # the body of row 1, exactly as the client sends it
"$BIN" "$WORK/one.csv" --dry-run --template "$TEMPLATE" --results "$WORK/none.csv" \
  >"$WORK/one.jsonl" 2>/dev/null
"$PY" -c 'import json,sys
print(json.dumps(json.loads(open(sys.argv[1]).readline())["body"], ensure_ascii=False, separators=(",", ":")), end="")' \
  "$WORK/one.jsonl" >"$WORK/body.json"
for c in 1 16 64; do
  n=$SEND_ROWS
  [[ $c == 1 ]] && n=$SEND_ROWS_C1
  head -n $((n + 1)) "$WORK/e164.csv" >"$WORK/send$c.csv"
  put send${c}_rows "$n"
  for i in $(seq "$ROUNDS"); do
    log "3. sends: $n rows at --concurrency $c (round $i of $ROUNDS)"
    rm -f "$WORK/send$c.results.csv"
    # The disk's fsync latency right before the run: a durable send's floor (bench/fsync.py).
    [[ $c == 64 ]] && put "fsync_us_$i" "$("$PY" "$HERE/fsync.py" "$WORK" 100 | cut -d' ' -f1)"
    start_sandbox
    timed "send${c}_$i" "$BIN" "$WORK/send$c.csv" --base-url "$URL" --template "$TEMPLATE" \
      --rate 1000000/s --spacing 0 --concurrency "$c" -q \
      >"$WORK/send$c.out" 2>"$WORK/send$c.err" || { cat "$WORK/send$c.err" >&2; exit 1; }
    grep -q "$n rows: $n queued" "$WORK/send$c.out"
    stop_sandbox
    log "3. wrk: $c connections, ${WRK_SECONDS}s (round $i of $ROUNDS)"
    start_sandbox
    threads=$((c < 2 ? 1 : 2))
    # Count cap per thread, far above what the duration allows: a safety bound only.
    BENCH_BODY="$WORK/body.json" BENCH_MAX=2000000 \
      wrk -t"$threads" -c"$c" -d"${WRK_SECONDS}s" --timeout 5s -s "$HERE/post.lua" "$URL" \
      >"$WORK/wrk$c.out" 2>&1
    stop_sandbox
    rps=$(wrk_rps "$WORK/wrk$c.out" "non2xx=0 errors=0") # an assignment: a failure stops the script
    s=$(sed -n "s/^send${c}_${i}_s=//p" "$RESULTS")
    put "send${c}_s_$i" "$s"
    put "wrk${c}_rps_$i" "$rps"
    # This round's own ratio: the send run and the wrk run right after it.
    put "ratio${c}_$i" "$(echo "$n / $s / $rps" | bc -l)"
  done
  median send${c}_s wrk${c}_rps ratio${c}
  [[ $c == 64 ]] && median fsync_us
done
log "3. baseline: Python csv + requests, sequential, $PY_SEND_ROWS rows"
head -n $((PY_SEND_ROWS + 1)) "$WORK/e164.csv" >"$WORK/py_send.csv"
start_sandbox
timed py_send "$PY" "$HERE/baseline_send.py" "$WORK/py_send.csv" "$URL" "$TEMPLATE" \
  "$WORK/py_send.results.csv" 2>"$WORK/py_send.err"
stop_sandbox
grep -q "accepted $PY_SEND_ROWS" "$WORK/py_send.err"
put py_send_rows "$PY_SEND_ROWS"

# --- 4. pacing fidelity ----------------------------------------------------------------
log "4. pacing: $PACING_SENDS simulated sends per scenario"
"$PACING" "$PACING_SENDS" >"$WORK/pacing.tsv"
while IFS=$'\t' read -r name sends rate worst min mean max spacing hours; do
  put "pace_${name}_sends" "$sends"
  put "pace_${name}_rate" "$rate"
  put "pace_${name}_worst" "$worst"
  put "pace_${name}_min" "$min"
  put "pace_${name}_mean" "$mean"
  put "pace_${name}_max" "$max"
  put "pace_${name}_spacing" "$spacing"
  put "pace_${name}_hours" "$hours"
done <"$WORK/pacing.tsv"

fi

# --- 5. report ------------------------------------------------------------------------
if part report; then
  log "5. report: $ROWS-row results file, text and --html"
  "$PY" "$HERE/gen.py" results "$ROWS" "$WORK/report.results.csv"
  timed report "$BIN" report "$WORK/report.results.csv" --tz UTC >"$WORK/report.out" 2>"$WORK/report.err" ||
    { cat "$WORK/report.err" >&2; exit 1; }
  grep -q "total *$ROWS " "$WORK/report.out" || { cat "$WORK/report.out" >&2; exit 1; }
  timed report_html "$BIN" report "$WORK/report.results.csv" --tz UTC --html "$WORK/report.html" \
    >/dev/null 2>"$WORK/report_html.err" || { cat "$WORK/report_html.err" >&2; exit 1; }
fi

# --- 6. status ------------------------------------------------------------------------
# A status pass's fixed cost (open, index, one walk over every row, compaction) on a file
# where every row is final, then its cost per lookup with no pacing: the sandbox knows none
# of the generated ids, so each lookup is a 404 (recorded as NOT_FOUND, exit 1), as cheap
# for the sandbox as an answer. Own overhead per lookup = wall per lookup - the sandbox's
# time per lookup (wrk, one connection, the same GET).
if part status; then
  log "6. status: $ROWS-row results files, all final / $STATUS_OPEN still open"
  "$PY" "$HERE/gen.py" checked "$ROWS" 0 "$WORK/settled.results.csv"
  "$PY" "$HERE/gen.py" checked "$ROWS" "$STATUS_OPEN" "$WORK/status.results.csv"
  start_sandbox
  timed status_idle "$BIN" status "$WORK/settled.results.csv" --base-url "$URL" \
    >"$WORK/status_idle.out" 2>"$WORK/status_idle.err" || { cat "$WORK/status_idle.err" >&2; exit 1; }
  grep -q "status: 0 looked up, $ROWS already final" "$WORK/status_idle.out"
  timed status "$BIN" status "$WORK/status.results.csv" --base-url "$URL" --rate 1000000/s \
    >"$WORK/status.out" 2>"$WORK/status.err" || true # exit 1: every lookup is a 404
  grep -q "status: 0 looked up, $((ROWS - STATUS_OPEN)) already final (not looked up), $STATUS_OPEN could not be looked up" \
    "$WORK/status.out" || { cat "$WORK/status.out" "$WORK/status.err" >&2; exit 1; }
  stop_sandbox
  put status_open "$STATUS_OPEN"
  start_sandbox
  wrk -t1 -c1 -d"${WRK_SECONDS}s" --timeout 5s -s "$HERE/get.lua" "$URL" >"$WORK/wrk_get.out" 2>&1
  stop_sandbox
  rps=$(wrk_rps "$WORK/wrk_get.out" " errors=0")
  put wrk_get_rps "$rps"
fi

# --- 6. ledger ------------------------------------------------------------------------
log "6. ledger: c64 with and without, and a ledger of 1,000,000 sends"
"$HERE/ledger.sh" "$BIN" "$WORK" >"$WORK/ledger_rows.md"

# --- table -----------------------------------------------------------------------------
put load_end "$(cut -d' ' -f1 /proc/loadavg)"
put date "$(date -u +%Y-%m-%d)"
put machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
put commit "$COMMIT"
if [[ -n "$ONLY" ]]; then # one part: its figures only, no table
  cat "$RESULTS"
  exit 0
fi
"$PY" "$HERE/table.py" "$RESULTS" >"$WORK/table.md"
cat "$WORK/ledger_rows.md" >>"$WORK/table.md"
cat "$WORK/table.md"
if [[ $WRITE_README == 1 ]]; then
  "$PY" "$HERE/table.py" --readme "$HERE/README.md" "$WORK/table.md"
  log "table written into bench/README.md (Performance)"
fi
