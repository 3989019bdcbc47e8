"""Render / validate / check speed (a script, not a test).

Generates P pipeline definitions (copies of the four examples in pipelines/: filters, windows,
HAVING, MATCH_RECOGNIZE trends, UNNEST, JDBC lookups, pure-SQL and UDF statistical detectors,
drill-down), each under its own pipeline name, next to a copy of targets.yaml, then times:
  - api.validate(folder) and api.render(folder) in this process (asserting that neither imports
    PyFlink nor starts any process: no JVM), for the examples and for 1,000 small pipelines;
  - `flinksql-gen validate` and `flinksql-gen render -o` on the folder as new processes;
  - `check` per pipeline (every statement planned by the real Flink planner): the JVM start
    (TableEnvironment) apart, the first pipeline (cold planner) apart, then the rest;
  - `flinksql-gen check pipelines/` (the four examples) as a new process, JVM start included.

    .venv/bin/python bench/bench_render.py --pipelines 100 --check 4 --no-doc   # smoke run
    .venv/bin/python bench/bench_render.py                                      # 1,000 pipelines
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    ROOT,
    descendants,
    fmt,
    load_avg,
    load_note,
    md_table,
    other_busy_processes,
    say,
    section_header,
    write_section,
)

EXAMPLES = sorted((ROOT / "pipelines").glob("*.yaml"))


def generate(folder: Path, count: int) -> list[Path]:
    """`count` definitions: copies of the examples in turn, renamed <example>_<i>."""
    pipelines = folder / "pipelines"
    pipelines.mkdir(parents=True)
    shutil.copy(ROOT / "targets.yaml", folder / "targets.yaml")
    texts = [(p.stem, p.read_text()) for p in EXAMPLES]
    files = []
    for i in range(count):
        stem, text = texts[i % len(texts)]
        name = f"{stem}_{i:04d}"
        path = pipelines / f"{name}.yaml"
        path.write_text(re.sub(r"^pipeline: .*$", f"pipeline: {name}", text, count=1, flags=re.M))
        files.append(path)
    return files


SMALL = """pipeline: small_{i:04d}
sources:
  cpu_load:
    topic: cpu_load_{i:04d}
    columns: {{hostname: STRING, cpu: STRING, usage: DOUBLE, occurred_at: BIGINT}}
    event_time: {{column: occurred_at, name: occurred_ts, watermark: 10s}}
metrics:
  cpu_usage:
    source: cpu_load
    dimensions: [hostname, cpu]
    value: usage
detectors:
  cpu_high:
    type: filter
    metric: cpu_usage
    where:
      - {{column: usage, op: ">", value: {limit}}}
    sinks: [alerts]
sinks:
  alerts: {{type: kafka, topic: cpu_high_{i:04d}}}
"""


def generate_small(folder: Path, count: int) -> Path:
    """`count` one-source, one-filter, one-sink definitions (the cpu example's threshold filter)."""
    small = folder / "small"
    small.mkdir(parents=True)
    for i in range(count):
        (small / f"small_{i:04d}.yaml").write_text(SMALL.format(i=i, limit=50 + i % 50))
    return small


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Best of `repeat` wall times (the machine is shared) and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - began)
    return best, result


def where_time_goes(folder: Path, count: int) -> dict[str, float]:
    """Share of api.render's time per phase (cProfile, cumulative, on `count` definitions)."""
    import cProfile
    import pstats

    from flinksql_gen import api

    files = sorted(folder.glob("*.yaml"))[:count]
    prof = cProfile.Profile()
    prof.runcall(api.render, files)
    stats = pstats.Stats(prof).stats  # (file, line, name) -> (cc, nc, tt, ct, callers)
    total = max(ct for (_, _, name), (_, _, _, ct, _) in stats.items() if name == "render")
    phases = {"YAML load (load_yaml)": "load_yaml", "pydantic (validate_model)": "validate_model",
              "plan (plan_pipeline)": "plan_pipeline", "SQL text (Renderer.pipeline)": "pipeline"}
    out: dict = {}
    for label, fn in phases.items():
        ct = sum(v[3] for (file, _, name), v in stats.items() if name == fn and "flinksql_gen" in file)
        out[label] = ct / total
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:5]
    out["top"] = [(f"{Path(file).name}:{line} {name}", tt / total) for (file, line, name), (_, _, tt, _, _) in top]
    return out


def render_best(folder: Path, repeat: int, times: list[float] | None = None) -> tuple[float, object]:
    """Best wall time of api.render over `repeat` runs (the machine is shared); all go to `times`."""
    from flinksql_gen import api

    best, bundle = float("inf"), None
    for _ in range(repeat):
        bundle = None  # the previous bundle is freed first, as in a new process
        began = time.perf_counter()
        bundle = api.render(folder)
        took = time.perf_counter() - began
        best = min(best, took)
        if times is not None:
            times.append(took)
    return best, bundle


def gc_effect(folder: Path, pairs: int) -> dict:
    """api.render with the cyclic collector on (as the library now runs) and paused (as the CLI's
    render and validate commands run it), interleaved in pairs so both see the same load."""
    from flinksql_gen import api
    from flinksql_gen.cli.gcpause import collector_paused

    on: list[float] = []
    paused: list[float] = []
    for _ in range(pairs):
        for times, pause in ((on, False), (paused, True)):
            bundle = None  # the previous bundle is freed first, as in a new process
            began = time.perf_counter()
            if pause:
                with collector_paused():
                    bundle = api.render(folder)
            else:
                bundle = api.render(folder)
            times.append(time.perf_counter() - began)
        del bundle
    return {"on": on, "paused": paused, "on_median": statistics.median(on),
            "paused_median": statistics.median(paused), "on_best": min(on), "paused_best": min(paused)}


def gc_only(args: argparse.Namespace) -> dict:
    """`--gc-only`: just the collector comparison on the generated definitions (no JVM, no doc)."""
    load_start = load_avg()
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        generate(Path(tmp), args.pipelines)
        f = gc_effect(Path(tmp) / "pipelines", args.repeat)
    f["load"] = (load_start, load_avg())
    say(f"render of {args.pipelines} pipelines, {args.repeat} interleaved pairs: collector on median "
        f"{f['on_median']:.2f} s (best {f['on_best']:.2f}), paused median {f['paused_median']:.2f} s "
        f"(best {f['paused_best']:.2f}); load {f['load'][0]:.1f} -> {f['load'][1]:.1f}")
    return f


def cli(*args: str, cwd: Path) -> float:
    exe = Path(sys.executable).parent / "flinksql-gen"
    began = time.perf_counter()
    proc = subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"flinksql-gen {' '.join(args)} failed: {proc.stderr[-500:]}")
    return took


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipelines", type=int, default=1000)
    ap.add_argument("--check", type=int, default=24, help="pipelines to `check` after the cold one (default 24)")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions of the render timings (best and median)")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--gc-only", action="store_true",
                    help="only compare rendering with the garbage collector on and paused (no JVM, no doc)")
    args = ap.parse_args(argv)
    if args.gc_only:
        return gc_only(args)
    load_start, busy = load_avg(), other_busy_processes()
    f: dict = {"pipelines": args.pipelines, "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        root = Path(tmp)
        generate(root, args.pipelines)
        folder = root / "pipelines"
        from flinksql_gen import api

        f["validate_s"], n = timed(lambda: api.validate(folder), repeat=args.repeat)
        assert n == args.pipelines, n
        f["render_runs"] = []
        f["render_s"], bundle = render_best(folder, args.repeat, f["render_runs"])
        f["write_s"], _ = timed(lambda: bundle.write(root / "out"), repeat=1)
        f["statements"] = sum(len(p.statements) for p in bundle.pipelines)
        f["sql_mb"] = sum(len(p.script) for p in bundle.pipelines) / 1e6
        assert "pyflink" not in sys.modules, "render imported PyFlink"
        assert not descendants(os.getpid()), "render started a process"
        f["no_jvm"] = True
        say(f"validate {f['validate_s']:.2f} s, render {f['render_s']:.2f} s for {args.pipelines} pipelines")
        small = generate_small(root, args.pipelines)
        f["small_validate_s"], _ = timed(lambda: api.validate(small), repeat=args.repeat)
        f["small_render_runs"] = []
        f["small_render_s"], small_bundle = render_best(small, args.repeat, f["small_render_runs"])
        f["small_statements"] = sum(len(p.statements) for p in small_bundle.pipelines)
        say(f"small pipelines: validate {f['small_validate_s']:.2f} s, render {f['small_render_s']:.2f} s")
        assert "pyflink" not in sys.modules and not descendants(os.getpid())
        f["profile"] = where_time_goes(folder, min(args.pipelines, 100))
        say(f"profile: {f['profile']}")
        f["cli_validate_s"] = cli("validate", str(folder), cwd=root)
        f["cli_render_s"] = cli("render", str(folder), "-o", str(root / "cli-out"), cwd=root)
        f["cli_version_s"] = cli("--help", cwd=root)  # the CLI's own start-up (imports)
        say(f"CLI validate {f['cli_validate_s']:.2f} s, render {f['cli_render_s']:.2f} s")

        f["cli_check_s"] = cli("check", str(ROOT / "pipelines"), cwd=ROOT)
        say(f"CLI check of the {len(EXAMPLES)} examples: {f['cli_check_s']:.1f} s")
        from flinksql_gen.runtime.check import check_pipeline
        from flinksql_gen.runtime.jars import ensure_jars
        from flinksql_gen.runtime.table_env import open_table_env

        jars = ensure_jars(root)
        began = time.perf_counter()
        table_env = open_table_env(jars=jars, log_dir=root / "logs")
        f["jvm_s"] = time.perf_counter() - began
        per_kind: dict[str, list[float]] = {}
        # round-robin over the examples: cpu_0000, cpu_anomalies_0001, pizza_0002, ...
        sample = sorted(bundle.pipelines, key=lambda p: int(p.name.rsplit("_", 1)[1]))[: args.check + 1]
        times = []
        for i, p in enumerate(sample):
            began = time.perf_counter()
            problems = check_pipeline(p, table_env)
            took = time.perf_counter() - began
            assert not problems, problems
            times.append(took)
            if i:  # the first one (cold planner) is reported apart
                per_kind.setdefault(p.name.rsplit("_", 1)[0], []).append(took)
        f["check_first_s"] = times[0]
        f["check_rest"] = times[1:]
        f["check_kind"] = {k: (len(v), statistics.median(v)) for k, v in per_kind.items()}
        say(f"check: JVM {f['jvm_s']:.1f} s, first {times[0]:.2f} s, then median "
            f"{statistics.median(times[1:]) if times[1:] else 0:.2f} s")
    f["load"] = load_note(load_start, load_avg(), busy + other_busy_processes())
    body = report(f)
    print(body)
    if not args.no_doc:
        write_section("render", "Render, validate and check (bench_render.py)", body)
    return f


def report(f: dict) -> str:
    p = f["pipelines"]
    rest = f["check_rest"]
    rows = [
        [f"api.validate(folder): {p:,} pipelines", fmt(f["validate_s"], 2) + " s",
         fmt(1000 * f["validate_s"] / p, 2) + " ms", f"in-process, best of {f['repeat']}"],
        [f"api.render(folder): {p:,} pipelines, {f['statements']:,} statements, {f['sql_mb']:.1f} MB SQL",
         fmt(f["render_s"], 2) + " s", fmt(1000 * f["render_s"] / p, 2) + " ms",
         f"best of {f['repeat']} (median {statistics.median(f['render_runs']):.2f} s); no PyFlink import, no "
         "process started (asserted)"],
        [f"api.validate(folder): {p:,} small pipelines (source, filter, sink)", fmt(f["small_validate_s"], 2) + " s",
         fmt(1000 * f["small_validate_s"] / p, 2) + " ms", f"best of {f['repeat']}"],
        [f"api.render(folder): {p:,} small pipelines, {f['small_statements']:,} statements",
         fmt(f["small_render_s"], 2) + " s", fmt(1000 * f["small_render_s"] / p, 2) + " ms",
         f"best of {f['repeat']} (median {statistics.median(f['small_render_runs']):.2f} s); target < 2 s"],
        ["Bundle.write (scripts + manifest)", fmt(f["write_s"], 2) + " s", fmt(1000 * f["write_s"] / p, 2) + " ms",
         ""],
        [f"`flinksql-gen validate` {p:,} files (new process)", fmt(f["cli_validate_s"], 2) + " s", "",
         f"CLI start-up alone (`--help`): {f['cli_version_s']:.2f} s"],
        [f"`flinksql-gen render -o` {p:,} files (new process)", fmt(f["cli_render_s"], 2) + " s", "", ""],
        ["`flinksql-gen check pipelines/` (4 examples, new process, JVM start included)",
         fmt(f["cli_check_s"], 1) + " s", "", ""],
        ["check: JVM start (PyFlink TableEnvironment)", fmt(f["jvm_s"], 1) + " s", "", "once per process"],
        ["check: first pipeline (cold planner)", fmt(f["check_first_s"], 2) + " s", "", ""],
    ]
    if rest:
        rows.append([f"check: next {len(rest)} pipelines", fmt(sum(rest), 1) + " s",
                     fmt(1000 * statistics.median(rest), 0) + " ms median",
                     f"p90 {1000 * sorted(rest)[int(0.9 * (len(rest) - 1))]:.0f} ms, max {1000 * max(rest):.0f} ms"])
    prof = ", ".join(f"{k} {100 * v:.0f} %" for k, v in f["profile"].items() if k != "top")
    top = "; ".join(f"`{k}` {100 * v:.0f} %" for k, v in f["profile"]["top"])
    kinds = ", ".join(f"{k} {1000 * m:.0f} ms" for k, (_, m) in sorted(f["check_kind"].items()))
    small_median = 1000 * statistics.median(f["small_render_runs"]) / p
    verdict = "meets" if small_median < 2 else "does NOT meet"
    return "\n".join([
        section_header("render", f["load"]),
        f"{p:,} generated definitions: copies of the examples in pipelines/ in turn (cpu, cpu_anomalies, pizza, "
        "pizza_drilldown), each under its own name.\n",
        md_table(["step", "time", "per pipeline", "notes"], rows, "lrrl"),
        "",
        f"Render target (1,000 generated pipelines under 2 s, no JVM): {verdict} it for the small generated "
        f"pipelines (one Kafka source with its dead-letter path, a filter, a sink; median {small_median:.2f} s, best "
        f"{1000 * f['small_render_s'] / p:.2f} s per 1,000); copies of the four examples, which are 2-4x larger "
        f"(drill-down, UDF detectors, JDBC lookups), take {1000 * f['render_s'] / p:.2f} s per 1,000. "
        "Times on this shared machine move by 30 % and more between runs (see the load note). "
        f"`check` median per pipeline by example: {kinds}.",
        "",
        f"Where render's time goes (cProfile, cumulative share, first 100 definitions): {prof}. Largest self "
        f"times: {top}.",
        "",
    ])


if __name__ == "__main__":
    main()
