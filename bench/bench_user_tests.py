"""`flinksql-gen test` speed: a 10-test suite in one run, next to the first test's start-up.

Ten tests of pipelines/cpu.yaml, each with its own few hundred readings (8 hosts x 2 CPUs, one
reading every 5 s for `--minutes`, seeded levels around 50-90 with exact halves), written as
JSONL input files; each test's expected counts (readings over 80, 30 s windows, alerts over
the per-host thresholds of its lookup rows) are computed here from the same readings, so a run
that passes also checks what it timed. The suite runs through the real command,
`flinksql-gen test DIR --format json`, on a throw-away stack that `flinksql-gen up` started
first (timed separately). Figures: the PyFlink start-up, the first test (its first job also
warms the JVM), the median of the others, the whole run; and, from the same run, what ten
separate runs (start-up + a first test each) would have cost.

Run it only on a quiet machine (load average < 3): `--force` records a run under load anyway,
with the load in the notes.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    ROOT,
    BenchStack,
    load_avg,
    load_note,
    md_table,
    other_busy_processes,
    say,
    section_header,
    write_section,
)

HOSTS = ["doc", "grumpy", "sleepy", "bashful", "happy", "sneezy", "dopey", "ghost"]
BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a multiple of 30 s


def readings(seed: int, minutes: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for tick in range(minutes * 12):
        for host in HOSTS:
            for cpu in ("cpu1", "cpu2"):
                out.append({"occurred_at": f"+{tick * 5}s", "hostname": host, "cpu": cpu,
                            "usage": rng.randrange(100, 190) / 2})  # fmt: skip
    return out


def expected(rows: list[dict], tops: dict[str, float]) -> dict[str, int]:
    windows: dict[tuple, list[float]] = {}
    for r in rows:
        w = int(r["occurred_at"][1:-1]) // 30
        windows.setdefault((w, r["hostname"], r["cpu"]), []).append(r["usage"])
    alerts = sum(1 for (_, h, _), us in windows.items() if h in tops and sum(us) / len(us) > tops[h])
    return {"cpu_high_alerts": sum(r["usage"] > 80 for r in rows), "cpu_agg_stats": len(windows),
            "cpu_threshold_alerts": alerts}  # fmt: skip


def write_suite(folder: Path, tests: int, minutes: int) -> int:
    """The test file and its input files; returns the number of input records."""
    lines = [f"pipeline: {ROOT / 'pipelines' / 'cpu.yaml'}", "base: 2024-01-01T00:00:00Z", "tests:"]
    total = 0
    for n in range(tests):
        rows = readings(n, minutes)
        total += len(rows)
        data = folder / f"readings_{n}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        tops = {h: 60.0 + 2.5 * ((i + n) % 8) for i, h in enumerate(HOSTS[:-1])}  # ghost: no row
        counts = expected(rows, tops)
        lookups = "".join(f"\n          - {{hostname: {h}, allowed_top: {t}}}" for h, t in tops.items())
        lines.append(f"""  run_{n}:
    lookups:
      cpu_thresholds:
        rows:{lookups}
    inputs:
      cpu_load: {{key: hostname, file: {data.name}}}
    expect:
      cpu_high_alerts: {{count: {counts['cpu_high_alerts']}}}
      cpu_agg_stats: {{count: {counts['cpu_agg_stats']}}}
      cpu_threshold_alerts: {{count: {counts['cpu_threshold_alerts']}}}""")
    (folder / "bench.test.yaml").write_text("\n".join(lines) + "\n")
    return total


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=10)
    parser.add_argument("--minutes", type=int, default=2, help="event time per test (8 x 2 readings every 5 s)")
    parser.add_argument("--force", action="store_true", help="run even when the load average is 3 or more")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave docs/benchmarks.md alone")
    args = parser.parse_args(argv)
    load_start = load_avg()
    if load_start >= 3 and not args.force:
        say(f"load average {load_start:.1f} >= 3: not a quiet machine, nothing measured (--force to run anyway)")
        sys.exit(3)
    busy = other_busy_processes()
    with tempfile.TemporaryDirectory(prefix="bench-user-tests-") as tmp, BenchStack() as stack:
        folder = Path(tmp)
        events = write_suite(folder, args.tests, args.minutes)
        say(f"{args.tests} tests, {events} readings; flinksql-gen test {folder}")
        exe = Path(sys.executable).parent / "flinksql-gen"
        began = time.monotonic()
        proc = subprocess.run([str(exe), "test", str(folder), "--format", "json", "--workdir", str(stack.workdir)],
                              capture_output=True, text=True, timeout=3600, check=False)  # fmt: skip
        wall = time.monotonic() - began
        if proc.returncode != 0:
            raise SystemExit(f"the suite did not pass (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
        doc = json.loads(proc.stdout)
    load_end = load_avg()
    times = [t["seconds"] for t in doc["tests"]]
    first, rest = times[0], times[1:]
    startup = doc["startup_seconds"]
    separate = startup + first  # one run per test: a PyFlink start-up and a cold first job every time
    figures = {"tests": len(times), "events": events, "stack_up_s": stack.up_s, "startup_s": startup,
               "first_test_s": first, "median_other_s": statistics.median(rest) if rest else None,
               "suite_s": doc["seconds"], "process_wall_s": wall, "ten_separate_runs_s": separate * len(times),
               "phases_median": {k: statistics.median(t["phases"][k] for t in doc["tests"][1:])
                                 for k in doc["tests"][0]["phases"]} if rest else {}}  # fmt: skip
    print(json.dumps(figures, indent=2))
    if not args.no_write:
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in figures["phases_median"].items())
        rows = [
            ["`flinksql-gen up` (Kafka + PostgreSQL, before the suite)", f"{stack.up_s:.1f} s", "not part of the run below"],
            ["PyFlink start-up of the run (one TableEnvironment)", f"{startup:.1f} s", "once per run"],
            ["first test", f"{first:.1f} s", "includes the JVM's first job (class loading, first mini-cluster)"],
            [f"each further test (median of {len(rest)})", f"{figures['median_other_s']:.1f} s",
             f"min {min(rest):.1f} s, max {max(rest):.1f} s; median phases: {phases}"],
            [f"whole run: {len(times)} tests, `flinksql-gen test` process", f"{wall:.1f} s",
             f"suite {doc['seconds']:.1f} s inside the process"],
            [f"baseline, same run: {len(times)} separate runs (start-up + first test each)",
             f"{figures['ten_separate_runs_s']:.0f} s", f"{figures['ten_separate_runs_s'] / wall:.1f}x the shared run"],
        ]  # fmt: skip
        body = (section_header("`flinksql-gen test` (bench_user_tests.py)", load_note(load_start, load_end, busy))
                + f"\n{len(times)} tests of pipelines/cpu.yaml, {events} readings in all ({events // len(times)} per test), "
                "each test with its own topics, lookup table and expected counts (computed by the script; the suite passed).\n\n"
                + md_table(["step", "time", "notes"], rows, "lrl"))  # fmt: skip
        write_section("user_tests", "`flinksql-gen test`: a 10-test suite (bench_user_tests.py)", body)
    return figures


if __name__ == "__main__":
    main()
