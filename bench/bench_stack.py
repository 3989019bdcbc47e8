"""Benchmark of the embedded stack (a script, not a test).

Measures: the start-up time of `up` and of each part (Apache Kafka, PostgreSQL, and the session
cluster with --cluster) with each part's resident memory after start-up and after the job, the
producing rate, the time from `run_pipeline` to the first sink record, and the records/s of a
Kafka -> Kafka pass-through over N events (bounded read, so the job ends; the sink writes
exactly-once, so its records show when the final checkpoint commits them).

    .venv/bin/python bench/bench_stack.py --events 20000 --no-doc # quick
    .venv/bin/python bench/bench_stack.py                          # 1M events (minutes)
    .venv/bin/python bench/bench_stack.py --events 100000 --cluster --json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    descendants,
    load_avg,
    load_note,
    md_table,
    other_busy_processes,
    rss_mb,
    section_header,
    write_section,
)

from flinksql_gen.bundle import PipelineBundle, Statement, TableInfo
from flinksql_gen.errors import Location
from flinksql_gen.kafka.client import JsonProducer, create_topics, iter_records
from flinksql_gen.produce import IotGenerator
from flinksql_gen.runtime.jars import ensure_jars
from flinksql_gen.runtime.runner import run_pipeline
from flinksql_gen.stack import down, stack_env, up
from flinksql_gen.stack.broker import runtime_jars
from flinksql_gen.stack.flink_cluster import refresh_pids
from flinksql_gen.stack.state import StackState

PARTS = (("Kafka", "Apache Kafka"), ("PostgreSQL", "PostgreSQL"), ("cluster", "Flink session cluster"),
         ("SQL Gateway", "Flink SQL Gateway"))

COLUMNS = "hostname STRING, cpu STRING, `usage` DOUBLE, occurred_at BIGINT"


def pass_through(src: str, out: str, parallelism: int) -> PipelineBundle:
    here = Location("bench/bench_stack.py")
    kafka = "'properties.bootstrap.servers' = '${env:FLINKSQL_KAFKA_BOOTSTRAP}', 'format' = 'json'"
    statements = (
        Statement.set_option("parallelism.default", str(parallelism), here),
        Statement("create_table", "src", f"CREATE TABLE src ({COLUMNS}) WITH ('connector' = 'kafka', "
                  f"'topic' = '{src}', 'properties.group.id' = 'bench', 'scan.startup.mode' = 'earliest-offset', "
                  f"'scan.bounded.mode' = 'latest-offset', {kafka})", here),
        Statement("create_table", "sink", f"CREATE TABLE sink ({COLUMNS}) WITH ('connector' = 'kafka', "
                  f"'topic' = '{out}', 'sink.delivery-guarantee' = 'exactly-once', "
                  f"'sink.transactional-id-prefix' = 'bench-{out}', "
                  f"'properties.transaction.timeout.ms' = '900000', {kafka})", here),
        Statement("insert", "copy", "INSERT INTO sink SELECT * FROM src", here),
    )
    return PipelineBundle("bench", "bench/bench_stack.py", "local", statements,
                          tables=(TableInfo("src", "source", "kafka", src), TableInfo("sink", "sink", "kafka", out)),
                          env=("FLINKSQL_KAFKA_BOOTSTRAP",))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--cluster", action="store_true", help="run on the session cluster instead of locally")
    parser.add_argument("--gateway", action="store_true", help="also start the SQL Gateway (with --cluster)")
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory (stack stopped at the end)")
    parser.add_argument("--no-verify", action="store_true", help="do not read the sink back to count it")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)

    def say(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr)

    load_start, busy = load_avg(), other_busy_processes()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="flinksql-bench-"))
    figures: dict = {"events": args.events, "partitions": args.partitions, "parallelism": args.parallelism,
                     "mode": "cluster" if args.cluster else "local"}
    ensure_jars(workdir)  # not part of the start-up figures (one-time downloads)
    runtime_jars()
    steps: list[tuple[str, float]] = []

    def step(msg: str) -> None:
        steps.append((msg, time.monotonic()))
        say(msg)

    began = time.monotonic()
    state = up(workdir, cluster=args.cluster, gateway=args.cluster and args.gateway, on_step=step)
    ended = time.monotonic()
    figures["up_s"] = round(ended - began, 2)
    figures["parts"] = part_figures(steps, ended, state)
    try:
        src, out = f"bench_in_{time.time_ns()}", f"bench_out_{time.time_ns()}"
        create_topics([src, out], bootstrap=state.bootstrap, partitions=args.partitions)
        say(f"producing {args.events} events")
        began = time.monotonic()
        gen = IotGenerator(seed=1)
        with JsonProducer(state.bootstrap) as producer:
            for i, event in enumerate(gen.events()):
                if i >= args.events:
                    break
                producer.send(src, event.value, event.key, event.timestamp_ms)
        produce_s = time.monotonic() - began
        figures["produce_rec_per_s"] = round(args.events / produce_s)

        say("running the pass-through job")
        began = time.monotonic()
        result = run_pipeline(pass_through(src, out, args.parallelism), stack_env(state), workdir=workdir,
                              remote=state.rest_url if args.cluster else None, max_records=args.events,
                              on_event=say)
        total = time.monotonic() - began
        figures["status"] = result.status
        figures["run_total_s"] = round(total, 2)
        figures["first_output_s"] = round(result.first_output_s, 2) if result.first_output_s else None
        figures["rec_per_s_end_to_end"] = round(args.events / total)
        if result.first_output_s and total > result.first_output_s:
            figures["rec_per_s_after_first_output"] = round(args.events / (total - result.first_output_s))
        if not args.no_verify:
            figures["sink_records"] = sum(1 for _ in iter_records(out, bootstrap=state.bootstrap, idle_s=30,
                                                                  as_json=False, to_end=True))
        for name, mb in part_rss(state).items():
            figures["parts"].setdefault(name, {})["rss_after_job_mb"] = mb
    finally:
        if args.workdir is None:
            down(workdir)
            shutil.rmtree(workdir, ignore_errors=True)
    body = report(figures, load_note(load_start, load_avg(), busy + other_busy_processes()))
    print(json.dumps(figures) if args.json else body)
    if not args.no_doc:
        write_section("stack", "Embedded stack (bench_stack.py)", body)
    return figures


def part_figures(steps: list[tuple[str, float]], ended: float, state: StackState) -> dict[str, dict]:
    """Start-up seconds of each part (from its `up` step to the next step) and its RSS now."""
    out: dict[str, dict] = {}
    for i, (msg, at) in enumerate(steps):
        until = steps[i + 1][1] if i + 1 < len(steps) else ended
        for key, name in PARTS:
            if key in msg:
                out[name] = {"start_s": round(until - at, 2)}
    for name, mb in part_rss(state).items():
        out.setdefault(name, {})["rss_mb"] = mb
    return out


def _tree_rss(pid: int) -> float:
    return round((rss_mb(pid) or 0.0) + sum(rss_mb(p.pid) or 0.0 for p in descendants(pid)), 1)


def part_rss(state: StackState) -> dict[str, float]:
    """Resident MB of each part (PostgreSQL with its backends; the cluster's JobManager + TaskManagers)."""
    out: dict[str, float] = {}
    if state.broker:
        out["Apache Kafka"] = _tree_rss(state.broker.pid)
    if state.postgres:
        out["PostgreSQL"] = _tree_rss(state.postgres.pid)
    if state.cluster:
        info = refresh_pids(state.cluster)
        out["Flink session cluster"] = round(sum(_tree_rss(p) for p in
                                                 [info.jobmanager_pid, *(p for p, _ in info.taskmanager_pids)] if p), 1)
    if state.gateway:
        out["Flink SQL Gateway"] = _tree_rss(state.gateway.pid)
    return out


def report(f: dict, load: str) -> str:
    parts = [[name, f"{v.get('start_s', '-')} s", f"{v.get('rss_mb', '-')} MB", f"{v.get('rss_after_job_mb', '-')} MB"]
             for name, v in f.get("parts", {}).items()]
    rows = [
        ["`up` (library call): broker + PostgreSQL" + (" + session cluster" if f["mode"] == "cluster" else "")
         + (" + SQL Gateway" if "Flink SQL Gateway" in f.get("parts", {}) else ""),
         f"{f['up_s']} s"],
        ["producing IoT readings (confluent-kafka, JsonProducer)", f"{f['produce_rec_per_s']:,} rec/s"],
        ["run_pipeline (new TableEnvironment: JVM start included) -> first sink record", f"{f['first_output_s']} s"],
        [f"pass-through of {f['events']:,} records, end to end (run_pipeline call -> last record)",
         f"{f['rec_per_s_end_to_end']:,} rec/s ({f['run_total_s']} s)"],
        ["pass-through after the first output record", f"{f.get('rec_per_s_after_first_output', 0):,} rec/s"],
        ["sink records read back (consumed)", f"{f.get('sink_records', 'not verified')}"],
    ]
    return "\n".join([section_header("stack", load),
                      f"Mode {f['mode']}, {f['partitions']} partition(s), parallelism {f['parallelism']}.\n",
                      md_table(["figure", "value"], rows), "",
                      md_table(["part", "start-up", "RSS after start-up", "RSS after the job"], parts), ""])


if __name__ == "__main__":
    main()
