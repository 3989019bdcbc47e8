"""`flinksql-gen test` speed: a 10-test suite in one run, next to the first test's start-up.

Ten tests of pipelines/cpu.yaml, each with its own few hundred readings (8 hosts x 2 CPUs, one
reading every 5 s for `--minutes`, seeded levels around 50-90 with exact halves), written as
JSONL input files; each test's expected counts (readings over 80, 30 s windows, alerts over
the per-host thresholds of its lookup rows) are computed here from the same readings, so a run
that passes also checks what it timed. The suite runs through the real command,
`flinksql-gen test DIR --format json`, on a throw-away stack that `flinksql-gen up` started
first (timed separately). Figures: the PyFlink start-up, the first test (its first job also
warms the JVM), the median of the others, the whole run; and, from the same run, what ten
separate runs (start-up + a first test each) would have cost. The suite runs twice on the same
stack: jobs on a local mini-cluster each (the default), then with `--cluster` on the stack's
session cluster (whose start is part of that run's start-up).

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


def _figures(doc: dict, wall: float) -> dict:
    times = [t["seconds"] for t in doc["tests"]]
    rest = times[1:] or times
    others = doc["tests"][1:] or doc["tests"]
    return {"startup_s": doc["startup_seconds"], "first_test_s": times[0], "first_phases": doc["tests"][0]["phases"],
            "median_other_s": statistics.median(rest), "min_other_s": min(rest), "max_other_s": max(rest),
            "phases_median": {k: statistics.median(t["phases"].get(k, 0.0) for t in others) for k in others[0]["phases"]},
            "suite_s": doc["seconds"], "process_wall_s": wall,
            "separate_runs_s": (doc["startup_seconds"] + times[0]) * len(times)}  # fmt: skip


def _phases(phases: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in phases.items())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=10)
    parser.add_argument("--minutes", type=int, default=2, help="event time per test (8 x 2 readings every 5 s)")
    parser.add_argument("--modes", default="local,cluster", help="local, cluster or both (same stack, same suite)")
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
        docs: dict[str, tuple[dict, float]] = {}
        for mode in args.modes.split(","):
            extra = ["--cluster"] if mode == "cluster" else []
            began = time.monotonic()
            proc = subprocess.run([str(exe), "test", str(folder), "--format", "json", "--workdir", str(stack.workdir), *extra],
                                  capture_output=True, text=True, timeout=3600, check=False)  # fmt: skip
            wall = time.monotonic() - began
            if proc.returncode != 0:
                raise SystemExit(f"the suite did not pass ({mode}, exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
            docs[mode] = (json.loads(proc.stdout), wall)
            say(f"{mode}: {wall:.1f} s")
    load_end = load_avg()
    figures: dict = {"tests": args.tests, "events": events, "stack_up_s": stack.up_s}
    rows = [["`flinksql-gen up` (Kafka + PostgreSQL, before the suite)", f"{stack.up_s:.1f} s", "", "not part of the runs below"]]
    by_mode = {mode: _figures(doc, wall) for mode, (doc, wall) in docs.items()}
    figures.update(by_mode)
    labels = {"local": "local mini-cluster per job", "cluster": "`--cluster` (session cluster)"}
    for mode, f in by_mode.items():
        name = labels[mode]
        rows += [
            [f"{name}: start-up (stack check, PyFlink{', session cluster' if mode == 'cluster' else ''})", f"{f['startup_s']:.1f} s", "", "once per run"],
            [f"{name}: first test", f"{f['first_test_s']:.1f} s", _phases(f["first_phases"]), "the JVM's first job"],
            [f"{name}: each further test (median of {args.tests - 1})", f"{f['median_other_s']:.1f} s", _phases(f["phases_median"]),
             f"min {f['min_other_s']:.1f} s, max {f['max_other_s']:.1f} s"],
            [f"{name}: whole run ({args.tests} tests, one process)", f"{f['process_wall_s']:.1f} s", "",
             f"baseline from the same run: {args.tests} separate runs (start-up + first test each) = "
             f"{f['separate_runs_s']:.0f} s, {f['separate_runs_s'] / f['process_wall_s']:.1f}x"],
        ]  # fmt: skip
    print(json.dumps(figures, indent=2))
    if not args.no_write:
        body = (section_header("`flinksql-gen test` (bench_user_tests.py)", load_note(load_start, load_end, busy))
                + f"\n{args.tests} tests of pipelines/cpu.yaml, {events} readings in all ({events // args.tests} per test), "
                "each test with its own topics, lookup table and expected counts (computed by the script; every run passed). "
                "Phases: prepare (topics, tables, produce), ddl, submit (planning, job start), job (until it finished), "
                "read (sinks to their end).\n\n"
                + md_table(["step", "time", "phases", "notes"], rows, "lrll"))  # fmt: skip
        write_section("user_tests", "`flinksql-gen test`: a 10-test suite (bench_user_tests.py)", body)
    return figures


if __name__ == "__main__":
    main()
