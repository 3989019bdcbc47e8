"""Session-cluster operations: `up --cluster`, submit -> RUNNING, stop-with-savepoint, resume
(a script, not a test).

Starts the stack with `flinksql-gen up --cluster` (timed), produces IoT readings at a steady
rate in the background, and for two pipelines rendered for the `cluster` target - a 30 s window
(pure SQL) and the score detector (Python UDF) - times, through the product's JobManager path
(flinksql_gen.deploy.jobmanager: submit_with_pyflink + the REST client):
  - submit: the client call (PyFlink planning, job graph and jar upload; the client's JVM start
    on the first submission of the process) and job accepted -> every task RUNNING;
  - stop-with-savepoint (POST /jobs/:id/stop) -> savepoint path -> job FINISHED;
  - resume from that savepoint -> every task RUNNING.
Each pipeline is stopped and resumed --cycles times. At the end the producer stops, a
far-future reading closes the windows, and every output is counted by consuming the sink
topics: nothing may be lost across the stops and resumes.

    .venv/bin/python bench/bench_cluster.py --cycles 1 --run-s 5 --no-doc   # smoke run (~4 min)
    .venv/bin/python bench/bench_cluster.py                                 # 2 cycles per pipeline
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _common import (
    IOT_SOURCE,
    BenchStack,
    OutputWatcher,
    create_topics,
    descendants,
    fmt,
    load_avg,
    load_note,
    md_table,
    other_busy_processes,
    render_yaml,
    rss_mb,
    say,
    section_header,
    unique,
    write_section,
)

WINDOW = "pipeline: {name}\nsources:\n" + IOT_SOURCE + """metrics:
  cpu_usage_30s:
    source: cpu_load
    dimensions: [hostname, cpu]
    window: {{type: tumble, size: 30s}}
    aggregates: {{usage_avg: avg(usage), usage_max: max(usage)}}
    sinks: [out]
sinks:
  out: {{type: kafka, topic: {out}}}
"""
SCORE = "pipeline: {name}\nsources:\n" + IOT_SOURCE + """metrics:
  host_readings:
    source: cpu_load
    dimensions: [hostname]
    columns: [cpu]
    value: usage
detectors:
  usage_score:
    type: score
    metric: host_readings
    emit: all
    sinks: [out]
sinks:
  out: {{type: upsert-kafka, topic: {out}, key: [hostname]}}
"""


class Producer(threading.Thread):
    """IoT readings at `rate`/s (event time from the generator) until stopped; then a sentinel."""

    def __init__(self, bootstrap: str, topic: str, rate: float):
        super().__init__(daemon=True, name="bench-producer")
        self.bootstrap, self.topic, self.rate = bootstrap, topic, rate
        self.events: list[dict] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        from flinksql_gen.kafka.client import JsonProducer
        from flinksql_gen.produce import IotGenerator
        from flinksql_gen.produce.events import KafkaSink, pump

        def until_stopped():
            for event in IotGenerator(seed=3).events():
                if self.stop_event.is_set():
                    return
                self.events.append(event.value)
                yield event

        # the product's paced producer (`flinksql-gen produce --rate`), flushing every 0.5 s
        pump(until_stopped(), KafkaSink(self.topic, self.bootstrap, flush_every_s=0.5), rate=self.rate)
        ts = self.events[-1]["occurred_at"] + 600_000
        with JsonProducer(self.bootstrap) as producer:
            producer.send(self.topic, {"hostname": "doc", "cpu": "cpu1", "usage": 99.0, "occurred_at": ts}, "doc", ts)


def savepoint_size(jm, job_id: str) -> int | None:
    try:
        history = jm.checkpoints(job_id).get("history") or []
        sp = [h for h in history if h.get("is_savepoint") or h.get("checkpoint_type", "").endswith("SAVEPOINT")]
        return (sp or history or [{}])[0].get("state_size")
    except Exception:
        return None


def cycle_pipeline(key: str, pipeline, url: str, cycles: int, run_s: float, savepoints: Path,
                   workdir: Path) -> tuple[list, str]:
    from flinksql_gen.deploy.jobmanager import JobManagerClient, submit_with_pyflink

    rows = []
    with JobManagerClient(url) as jm:
        began = time.monotonic()
        job_id = submit_with_pyflink(pipeline, url, workdir=workdir)
        client_s = time.monotonic() - began
        running_s = jm.wait_tasks_running(job_id)
        rows.append({"pipeline": key, "step": "submit", "client_s": client_s, "running_s": running_s})
        say(f"{key}: submitted in {client_s:.1f} s, RUNNING {running_s:.1f} s later")
        for i in range(cycles):
            time.sleep(run_s)
            began = time.monotonic()
            path = jm.stop_with_savepoint(job_id, str(savepoints / f"{key}-{i}"))
            savepoint_s = time.monotonic() - began
            state = jm.wait_for(job_id, {"FINISHED"}, timeout=60)
            stopped_s = time.monotonic() - began
            size = savepoint_size(jm, job_id)
            began = time.monotonic()
            job_id = submit_with_pyflink(pipeline, url, savepoint=path, workdir=workdir)
            client_s = time.monotonic() - began
            running_s = jm.wait_tasks_running(job_id)
            rows.append({"pipeline": key, "step": f"stop + resume {i + 1}", "savepoint_s": savepoint_s,
                         "stopped_s": stopped_s, "state": state, "size": size, "client_s": client_s,
                         "running_s": running_s})
            say(f"{key}: savepoint {savepoint_s:.1f} s ({state} after {stopped_s:.1f} s), resumed in "
                f"{client_s:.1f} + {running_s:.1f} s")
    return rows, job_id


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=2, help="stop-with-savepoint + resume cycles per pipeline")
    ap.add_argument("--run-s", type=float, default=15.0, help="seconds a job runs before each stop")
    ap.add_argument("--rate", type=float, default=20.0, help="readings/s produced during the run (default 20)")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args(argv)
    load_start, busy = load_avg(), other_busy_processes()
    f: dict = {"cycles": args.cycles, "rate": args.rate}
    with BenchStack(cluster=True) as stack, tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        f["up_s"] = stack.up_s
        say(f"flinksql-gen up --cluster: {stack.up_s:.1f} s")
        os.environ.update(stack.env())
        url = stack.state.cluster.rest_url
        src, outs = unique("bench_cl_src"), {"window30": unique("bench_cl_win"), "score_udf": unique("bench_cl_sc")}
        create_topics(stack.bootstrap, [src, *outs.values()])
        watchers = {k: OutputWatcher(stack.bootstrap, [t], keep=True).start() for k, t in outs.items()}
        producer = Producer(stack.bootstrap, src, args.rate)
        producer.start()
        pipelines = {
            "window30": render_yaml(Path(tmp), "cl_window30", WINDOW.format(name="cl_window30", topic=src,
                                                                            out=outs["window30"]), "cluster"),
            "score_udf": render_yaml(Path(tmp), "cl_score", SCORE.format(name="cl_score", topic=src,
                                                                         out=outs["score_udf"]), "cluster"),
        }
        rows, jobs = [], {}
        for key, pipeline in pipelines.items():
            r, jobs[key] = cycle_pipeline(key, pipeline, url, args.cycles, args.run_s, Path(tmp) / "savepoints",
                                           Path(stack.workdir))
            rows += r
        cl = stack.state.cluster
        from flinksql_gen.stack.flink_cluster import refresh_pids

        cl = refresh_pids(cl)
        tms = [p for p, _ in cl.taskmanager_pids]
        f["rss"] = {"JobManager": rss_mb(cl.jobmanager_pid), "TaskManager": sum(rss_mb(p) or 0 for p in tms),
                    "Python workers": sum(rss_mb(p.pid) or 0 for t in tms for p in descendants(t))}
        producer.stop_event.set()
        producer.join(30)
        events = producer.events
        expected = {"window30": len({(e["hostname"], e["cpu"], e["occurred_at"] // 30_000) for e in events}),
                    "score_udf": len(events) + 1}
        say(f"produced {len(events)} readings; waiting for the outputs {expected}")
        f["counts"] = {}
        for key, w in watchers.items():
            w.wait(expected[key], idle_s=60, timeout_s=900)
            w.stop()
            values = [json.loads(a.value) for a in w.records if a.value]
            # score rows carry no cpu (two cpus of a host can give identical rows): count them
            distinct = (len({(v["hostname"], v["cpu"], v["window_start"]) for v in values}) if key == "window30"
                        else len(values))
            f["counts"][key] = {"records": w.count, "distinct": distinct, "expected": expected[key]}
        from flinksql_gen.deploy.jobmanager import JobManagerClient

        with JobManagerClient(url) as jm:
            for job_id in jobs.values():
                jm.cancel(job_id)
        f["events"] = len(events)
    f["rows"] = rows
    f["load"] = load_note(load_start, load_avg(), busy + other_busy_processes())
    body = report(f)
    print(body)
    if not args.no_doc:
        write_section("cluster", "Session cluster: submit, stop-with-savepoint, resume (bench_cluster.py)", body)
    return f


def report(f: dict) -> str:
    table = []
    for r in f["rows"]:
        size = f"{r['size'] / 1024:.0f} KiB" if r.get("size") else ""
        table.append([r["pipeline"], r["step"], fmt(r.get("savepoint_s"), 1), fmt(r.get("stopped_s"), 1), size,
                      fmt(r["client_s"], 1), fmt(r["running_s"], 1), fmt(r["client_s"] + r["running_s"], 1)])
    counts = [[k, f"{c['records']:,}", f"{c['distinct']:,}" if k == "window30" else "n/a (no cpu column)",
               f"{c['expected']:,}",
               "none lost" if c["distinct"] >= c["expected"] else f"{c['expected'] - c['distinct']:,} LOST"]
              for k, c in f["counts"].items()]
    warm = [r["client_s"] + r["running_s"] for r in f["rows"] if r["step"] != "submit" or r is not f["rows"][0]]
    rss = ", ".join(f"{k} {v:,.0f} MB" for k, v in f["rss"].items() if v)
    return "\n".join([
        section_header("cluster", f["load"]),
        f"`flinksql-gen up --cluster` (broker + PostgreSQL + JobManager + TaskManager until slots are offered): "
        f"**{f['up_s']:.1f} s**. Pipelines rendered for the `cluster` target, submitted through "
        "flinksql_gen.deploy.jobmanager (PyFlink client, execution.target=remote) while "
        f"{f['rate']:.0f} readings/s were produced. *client* = the submit call (the first one of the process "
        "includes the client's JVM start); *to RUNNING* = job accepted -> every task RUNNING (REST).\n",
        md_table(["pipeline", "step", "savepoint s", "stopped (FINISHED) s", "savepoint size", "client s",
                  "to RUNNING s", "submit total s"], table),
        "",
        f"Median submit -> RUNNING without the first (cold client): {fmt(statistics.median(warm), 1)} s. "
        f"Memory at the end (RSS, both jobs running): {rss}.",
        "",
        f"Outputs after {f['cycles']} stop/resume cycle(s) per pipeline ({f['events']:,} readings), counted by "
        "consuming the sink topics:\n",
        md_table(["pipeline", "sink records", "distinct", "expected", "check"], counts),
        "",
    ])


if __name__ == "__main__":
    main()
