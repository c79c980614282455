#!/usr/bin/env python3
"""Turns bench/run.sh's key=value results into the markdown table, with each target and
whether it was met; `table.py --readme README.md TABLE.md` puts TABLE.md between the
README's bench:begin/bench:end markers (adding them at the end of a "## Performance"
section the first time)."""
import sys

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def load(path):
    with open(path) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


def num(n, digits=0):
    return f"{n:,.{digits}f}"


def mib(kib):
    return f"{int(kib) / 1024:.0f} MiB"


def table(r):
    rows = int(r["rows"])
    f = lambda k: float(r[k])  # noqa: E731
    out = [
        f"Measured {r['date']} on this project's machine ({r['machine']}), commit `{r['commit']}`, "
        f"by `bench/run.sh`; load average {r['load_start']} at the start, {r['load_end']} at the end "
        f"(other work on the machine shares its 2 cores). Baselines: plain Python 3 scripts "
        f"(`bench/baseline_*.py`).",
        "",
        "| Measurement | campaign-sender | Baseline (Python) | Target | Met |",
        "|---|---|---|---|---|",
    ]

    def line(what, ours, base, target, met):
        out.append(f"| {what} | {ours} | {base} | {target} | {'met' if met else '**missed**'} |")

    for key, label, target in [
        ("local", f"Preflight `--dry-run`, {num(rows)} rows, local `(11) 9xxxx-xxxx` + `--default-country BR`, 2 template variables", 300_000),
        ("e164", f"Preflight `--dry-run`, {num(rows)} rows already E.164 (median of {r.get('rounds', 1)} runs)", 1_000_000),
    ]:
        rate = rows / f(f"pre_{key}_s")
        base = rows / f(f"py_pre_{key}_s")
        line(label + ": rows/s", f"{num(rate)}", f"{num(base)} (csv + phonenumbers)", f"≥ {num(target)}", rate >= target)
        rss = int(r[f"pre_{key}_rss_kib"])
        line(label + ": peak RSS", mib(rss), mib(r[f"py_pre_{key}_rss_kib"]), "≤ 64 MiB", rss <= 64 * 1024)
    first = f("resume_first_s")
    line(
        f"Resume: checkpoint holds {num(rows)} final rows, 1 row left: start → first request at the sandbox",
        f"{first:.2f} s (whole run incl. compaction {f('resume_s'):.2f} s)",
        "none (no checkpoint: it resends every row)",
        "≤ 1 s",
        first <= 1.0,
    )
    rss = int(r["resume_rss_kib"])
    line("Resume: peak RSS", mib(rss), "", "≤ 64 MiB", rss <= 64 * 1024)
    py_rate = int(r["py_send_rows"]) / f("py_send_s")
    for c in (1, 16, 64):
        rate = int(r[f"send{c}_rows"]) / f(f"send{c}_s")
        wrk = f(f"wrk{c}_rps")
        # Judged by the median of the rounds' own ratios (each send run beside the wrk run
        # right after it), which a change in the machine's speed between rounds moves least.
        ratio = f(f"ratio{c}")
        rounds = sorted(float(v) for k, v in r.items() if k.startswith(f"ratio{c}_"))
        what = (
            f"Durable sends/s to the sandbox, `--concurrency {c}`, no quota "
            f"({num(int(r[f'send{c}_rows']))} rows, whole run): vs `wrk -c {c}` raw POSTs/s; "
            f"medians of {len(rounds)} rounds, send then wrk"
        )
        spread = ", ".join(f"{x:.0%}" for x in rounds)
        ours = f"{num(rate)} /s vs wrk's {num(wrk)} /s; ratio {ratio:.0%} (rounds: {spread})"
        if c == 64:
            line(what, ours, f"{num(py_rate)} /s sequential (csv + requests, no fsync)", "≥ 5,000 /s and ≥ 50% of wrk", rate >= 5000 and ratio >= 0.5)
            if "fsync_us" in r:
                fsync = f("fsync_us")
                out.append(
                    f"| Disk: `fdatasync` of an appended line in the results folder, before each c64 round "
                    f"(`bench/fsync.py`, median of rounds); a send waits ~1.5 of them, so c64 cannot pass 64 / (1.5 × fsync) | "
                    f"{fsync / 1000:.2f} ms; bound {num(64 / (1.5 * fsync / 1e6))} /s ({64 / (1.5 * fsync / 1e6) / wrk:.0%} of wrk) | | | |"
                )
        else:
            out.append(f"| {what} | {ours} | {num(py_rate)} /s sequential | | |")
    for name, label in (("marketing", "marketing"), ("utility", "utility")):
        p = lambda k: r[f"pace_{name}_{k}"]  # noqa: E731
        rate = p("rate")
        quota = int(rate.split("/")[0])
        worst = int(p("worst"))
        line(
            f"Pacing ({label}), {num(int(p('sends')))} simulated sends at `{rate}`, spacing `{p('spacing')}` "
            f"({float(p('hours')):,.1f} h simulated): most sends in any window",
            f"{worst} (quota {quota})",
            "none (no pacing)",
            "≤ quota",
            worst <= quota,
        )
        if p("spacing") != "0":
            lo, hi = (float(x.rstrip("s")) for x in p("spacing").split(".."))
            mid = (lo + hi) / 2
            mean = float(p("mean"))
            line(
                f"Pacing ({label}): gap between sends, min / mean / max (s)",
                f"{float(p('min')):.2f} / {mean:.2f} / {float(p('max')):.2f} (range {lo:g}..{hi:g}, midpoint {mid:g})",
                "",
                "mean within 2% of midpoint",
                abs(mean - mid) <= 0.02 * mid,
            )
        else:
            line(
                f"Pacing ({label}): gap between sends, min / mean / max (s)",
                f"{float(p('min')):.3f} / {float(p('mean')):.3f} / {float(p('max')):.3f} (quota interval {1 / quota * float(1 if rate.endswith('/s') else 60):.3f})",
                "",
                "",
                True,
            )
    for key, label in (("report", "`report`"), ("report_html", "`report --html`")):
        seconds, rss = f(f"{key}_s"), int(r[f"{key}_rss_kib"])
        line(
            f"{label} of a {num(rows)}-row results file: wall time / peak RSS",
            f"{seconds:.2f} s / {mib(rss)}",
            "",
            "≤ 1 s and ≤ 64 MiB",
            seconds <= 1.0 and rss <= 64 * 1024,
        )
    idle, open_rows = f("status_idle_s"), int(r["status_open"])
    out.append(
        f"| `status` of a {num(rows)}-row results file, every row final (open, index, one walk, no "
        f"compaction: nothing looked up): wall time / peak RSS | {idle:.2f} s / {mib(r['status_idle_rss_kib'])} | | | |"
    )
    per = (f("status_s") - idle) / open_rows
    sandbox = 1 / f("wrk_get_rps")
    out.append(
        f"| `status` of a {num(rows)}-row results file, {num(open_rows)} rows looked up, no pacing: own "
        f"overhead per lookup = (wall − the all-final run's) / lookups − the sandbox's time per GET "
        f"(`wrk -c 1`); includes the pass's final compaction of every row and an fsync per answer | {(per - sandbox) * 1000:.2f} ms ({per * 1000:.2f} − {sandbox * 1000:.3f} ms; "
        f"peak RSS {mib(r['status_rss_kib'])}) | | | |"
    )
    return "\n".join(out) + "\n"


def write_readme(readme, table_path):
    text = open(readme, encoding="utf-8").read()
    block = f"{BEGIN}\n{open(table_path, encoding='utf-8').read()}{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    elif "\n## Performance\n" in text:
        sys.exit("README.md has a Performance section without the bench markers; add them")
    else:
        text = text.rstrip("\n") + "\n\n## Performance\n\n" + block + "\n"
    open(readme, "w", encoding="utf-8").write(text)


if __name__ == "__main__":
    if sys.argv[1] == "--readme":
        write_readme(sys.argv[2], sys.argv[3])
    else:
        sys.stdout.write(table(load(sys.argv[1])))
