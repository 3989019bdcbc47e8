"""Soak: end-to-end latency, throughput, backpressure, checkpoints and memory of the IoT
pipelines under a steady load (a script, not a test).

Starts the stack (`flinksql-gen up`, thresholds loaded), runs the two IoT example pipelines
(pipelines/cpu.yaml and pipelines/cpu_anomalies.yaml, rendered for the local target) as two jobs
on one local PyFlink JVM, then produces --rate readings/s for --minutes: rate/2 hosts x 2 cpus,
one reading per cpu per second, each stamped with the wall-clock time it is sent
(occurred_at). Measured while it runs:
  - latency of every sink record = when the consumer got it - the reading's time (per-reading
    sinks: cpu_high alerts, cpu_load_scored); window results (cpu_agg_stats, band/jump alerts)
    are timed from their window's end (10 s watermark included);
  - throughput: readings produced and scored per second;
  - backpressure / busy ratios per task and checkpoint durations from each job's mini-cluster
    REST endpoint (/jobs/:id/vertices/:v/backpressure, /jobs/:id/checkpoints);
  - RSS of the JVM, the Python UDF workers, this process, the broker and PostgreSQL (/proc).
At the end a far-future reading closes every window and the sinks are counted against what
was produced (nothing lost). Plots the run to docs/soak.png.

    .venv/bin/python bench/bench_latency.py --minutes 1 --no-doc     # smoke run (~3 min)
    .venv/bin/python bench/bench_latency.py                          # 10 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

from _common import (
    ROOT,
    BenchStack,
    OutputWatcher,
    descendants,
    find_job_rest,
    fmt,
    load_avg,
    load_note,
    md_table,
    open_local_env,
    other_busy_processes,
    parse_sql_ts,
    percentile,
    rss_mb,
    say,
    section_header,
    write_section,
)

PNG = ROOT / "docs" / "soak.png"
PER_READING = {"cpu_load_stats_real_filter": "occurred_ts", "cpu_load_scored": "ts"}
WINDOWED = ("cpu_agg_stats", "cpu_usage_band_alerts", "cpu_usage_jump_alerts", "cpu_load_stats_threshold_alerts")
DWARFS = ("doc", "grumpy", "happy", "sleepy", "bashful", "sneezy", "dopey")


class Producer(threading.Thread):
    """`rate` readings/s: hosts = rate/2, 2 cpus, one reading per cpu per second, evenly spread."""

    def __init__(self, bootstrap: str, topic: str, rate: float, seconds: float):
        super().__init__(daemon=True, name="soak-producer")
        self.bootstrap, self.topic, self.rate, self.seconds = bootstrap, topic, rate, seconds
        n_hosts = max(1, round(rate / 2))
        self.hosts = list(DWARFS[:n_hosts]) + [f"host-{i:03d}" for i in range(len(DWARFS), n_hosts)]
        self.sent: list[tuple[float, dict]] = []  # (send time, value)
        self.behind_max = 0.0
        self.stop_event = threading.Event()

    def run(self) -> None:
        import random

        from flinksql_gen.produce.events import Event, KafkaSink, pump

        rng = random.Random(5)
        base = {h: rng.uniform(20, 60) for h in self.hosts}
        began = time.time()

        def readings():
            """Each reading made as it is sent, its event time the send time (for the latency)."""
            for i in range(int(self.seconds * self.rate)):
                if self.stop_event.is_set():
                    return
                sent = time.time()
                self.behind_max = max(self.behind_max, sent - (began + i / self.rate))
                host = self.hosts[(i // 2) % len(self.hosts)]
                spike = 45.0 if (i // 2) % 997 == 3 else 0.0  # a spike now and then: the alert sinks see traffic
                usage = round(min(100.0, max(0.0, base[host] + rng.gauss(0, 5) + spike)), 1)
                value = {"hostname": host, "cpu": f"cpu{i % 2 + 1}", "usage": usage, "occurred_at": int(sent * 1000)}
                self.sent.append((sent, value))
                yield Event(host, value, value["occurred_at"])

        # the product's paced producer; it holds each partition's last record back, so flush every 0.2 s
        pump(readings(), KafkaSink(self.topic, self.bootstrap, flush_every_s=0.2, config={"linger.ms": 5}),
             rate=self.rate)

    def sentinel(self) -> dict:
        from flinksql_gen.kafka.client import JsonProducer

        ts = int(time.time() * 1000) + 600_000
        value = {"hostname": "doc", "cpu": "cpu1", "usage": 99.0, "occurred_at": ts}
        with JsonProducer(self.bootstrap) as producer:
            producer.send(self.topic, value, "doc", ts)
        return value


class Latencies:
    """Per sink topic: (arrival, latency s) of each record; windowed results from the window end."""

    def __init__(self):
        self.lock = threading.Lock()
        self.points: dict[str, list[tuple[float, float]]] = {}
        self.values: dict[str, list[dict]] = {}
        self.sentinel_ts: float | None = None

    def __call__(self, a) -> None:
        try:
            value = json.loads(a.value)
        except (TypeError, ValueError):
            return
        if a.topic in PER_READING:
            start = parse_sql_ts(value[PER_READING[a.topic]])
        elif "window_end" in value:
            start = parse_sql_ts(value["window_end"])
        else:
            return
        with self.lock:
            self.values.setdefault(a.topic, []).append(value)
            if start < a.at + 60:  # not the far-future sentinel
                self.points.setdefault(a.topic, []).append((a.at, a.at - start))


class Sampler(threading.Thread):
    """Every `every` s: RSS by process kind, REST backpressure and the latest checkpoint per job."""

    def __init__(self, jobs: dict[str, tuple[str, str | None]], stack: BenchStack, every: float = 5.0):
        super().__init__(daemon=True, name="soak-sampler")
        self.jobs, self.stack, self.every = jobs, stack, every
        self.rss: list[tuple[float, dict[str, float]]] = []
        self.pressure: list[tuple[float, str, float, float]] = []  # (t, job, max backpressure, max busy)
        self.checkpoints: dict[str, dict[int, dict]] = {k: {} for k in jobs}
        self.failures: dict[str, dict[int, str]] = {}
        self.stop_event = threading.Event()

    def rss_now(self) -> dict[str, float]:
        kinds: dict[str, float] = {"JVM (Flink mini-clusters)": 0.0, "Python UDF workers": 0.0}
        for p in descendants(os.getpid()):
            mb = rss_mb(p.pid) or 0.0
            if "java" in p.cmdline.split(" ")[0]:
                kinds["JVM (Flink mini-clusters)"] += mb
            elif "python" in p.cmdline:
                kinds["Python UDF workers"] += mb
        kinds["this script (producer, consumers)"] = rss_mb(os.getpid()) or 0.0
        st = self.stack.state
        kinds["broker (tansu)"] = rss_mb(st.broker.pid) or 0.0
        pg = [st.postgres.pid] + [p.pid for p in descendants(st.postgres.pid)]
        kinds["PostgreSQL"] = sum(rss_mb(p) or 0.0 for p in pg)
        return kinds

    def rest(self, now: float) -> None:
        import httpx

        for name, (job_id, url) in self.jobs.items():
            if not url:
                continue
            try:
                job = httpx.get(f"{url}/jobs/{job_id}", timeout=3).json()
                bp_max, busy_max = 0.0, 0.0
                for v in job.get("vertices", []):
                    bp = httpx.get(f"{url}/jobs/{job_id}/vertices/{v['id']}/backpressure", timeout=3).json()
                    for s in bp.get("subtasks", []):
                        bp_max = max(bp_max, float(s.get("backpressureRatio", s.get("ratio", 0)) or 0))
                        busy_max = max(busy_max, float(s.get("busyRatio", 0) or 0))
                self.pressure.append((now, name, bp_max, busy_max))
                cp = httpx.get(f"{url}/jobs/{job_id}/checkpoints", timeout=3).json()
                for h in cp.get("history", []):
                    if h.get("status") == "COMPLETED":
                        self.checkpoints[name][h["id"]] = h
                    elif h.get("status") == "FAILED":
                        self.failures.setdefault(name, {})[h["id"]] = str(h.get("failure_message") or "?")
                self.counts = getattr(self, "counts", {})
                self.counts[name] = cp.get("counts", {})
            except (httpx.HTTPError, ValueError, KeyError):
                continue

    def run(self) -> None:
        while not self.stop_event.is_set():
            now = time.time()
            self.rss.append((now, self.rss_now()))
            self.rest(now)
            self.stop_event.wait(max(0.0, self.every - (time.time() - now)))


def expected_counts(values: list[dict]) -> dict[str, int]:
    return {
        "cpu_load_scored": len(values) + 1,  # + the sentinel
        "cpu_load_stats_real_filter": sum(1 for v in values if v["usage"] > 80) + 1,
        "cpu_agg_stats": len({(v["hostname"], v["cpu"], v["occurred_at"] // 30_000) for v in values}),
    }


def distinct(topic: str, values: list[dict]) -> int | None:
    if topic == "cpu_load_scored":
        return None  # rows carry no cpu: the two cpus of a host can give identical rows
    if topic == "cpu_load_stats_real_filter":
        return len({(v["hostname"], v["cpu"], v["occurred_ts"]) for v in values})
    return len({(v.get("hostname"), v.get("cpu"), v.get("window_start")) for v in values})


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=40.0, help="readings per second (default 40: 20 hosts x 2 cpus)")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--warmup-s", type=float, default=60.0, help="latency figures exclude the first seconds")
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md (nor docs/soak.png)")
    ap.add_argument("--png", type=Path, default=PNG)
    args = ap.parse_args(argv)
    load_start, busy = load_avg(), other_busy_processes()
    from flinksql_gen import api
    from flinksql_gen.runtime.runner import run_pipeline

    f: dict = {"rate": args.rate, "minutes": args.minutes}
    with BenchStack(thresholds=ROOT / "thresholds") as stack:
        bundle = api.render([ROOT / "pipelines" / "cpu.yaml", ROOT / "pipelines" / "cpu_anomalies.yaml"], "local")
        topics = sorted({t for p in bundle.pipelines for t in p.topics})
        from flinksql_gen.kafka.client import create_topics

        create_topics(topics, bootstrap=stack.bootstrap)
        lat = Latencies()
        sinks = sorted({t.topic for p in bundle.pipelines for t in p.tables if t.role == "sink" and t.topic})
        watcher = OutputWatcher(stack.bootstrap, sinks, on_record=lat).start()
        table_env = open_local_env(stack)
        jobs = {}
        for p in bundle.pipelines:
            r = run_pipeline(p, stack.env(), table_env=table_env, wait=False, workdir=stack.workdir)
            jobs[p.name] = (r, r.job_id)
        urls = {name: (job_id, find_job_rest(job_id, 60)) for name, (_, job_id) in jobs.items()}
        say(f"jobs {', '.join(f'{k} {v[0][:8]} at {v[1]}' for k, v in urls.items())}")
        wait_running(urls)
        sampler = Sampler(urls, stack)
        sampler.start()
        producer = Producer(stack.bootstrap, "cpu_load_stats_real", args.rate, args.minutes * 60)
        began = time.time()
        say(f"producing {args.rate:g} readings/s for {args.minutes:g} min ({len(producer.hosts)} hosts)")
        producer.start()
        while producer.is_alive():
            producer.join(60)
            say(f"{len(producer.sent):,} produced, {watcher.per_topic.get('cpu_load_scored', 0):,} scored, "
                f"load {load_avg():.1f}")
        ended = time.time()
        sentinel = producer.sentinel()
        values = [v for _, v in producer.sent]
        expected = expected_counts(values)
        say(f"produced {len(values):,}; waiting for the sinks to catch up: {expected}")
        deadline = time.time() + 300
        while time.time() < deadline and any(watcher.per_topic.get(t, 0) < n for t, n in expected.items()):
            time.sleep(1)
        time.sleep(3)
        sampler.stop_event.set()
        sampler.join(10)
        watcher.stop()
        for r, _ in jobs.values():
            r.cancel()
        f.update(began=began, ended=ended, produced=len(values), sentinel=sentinel,
                 behind_max=producer.behind_max, hosts=len(producer.hosts))
    f["lat"] = lat
    f["sampler"] = sampler
    f["per_topic"] = dict(watcher.per_topic)
    f["tombstones"] = watcher.tombstones
    f["expected"] = expected
    f["distinct"] = {t: distinct(t, vs) for t, vs in lat.values.items()}
    f["load"] = load_note(load_start, load_avg(), busy + other_busy_processes())
    body = report(f, args.warmup_s)
    print(body)
    if not args.no_doc or args.png != PNG:
        plot(f, args.png)
    if not args.no_doc:
        write_section("soak", "Soak: latency, throughput, checkpoints, memory (bench_latency.py)", body)
    return f


def wait_running(urls: dict, timeout: float = 180.0) -> None:
    """Every job's tasks RUNNING (the product's JobManager client, on each mini-cluster's REST URL)."""
    from flinksql_gen.deploy.jobmanager import JobManagerClient

    for job_id, url in urls.values():
        if url:
            with JobManagerClient(url, poll_interval=0.5) as jm:
                jm.wait_tasks_running(job_id, timeout)


def _after(points: list[tuple[float, float]], t0: float) -> list[float]:
    return [lat for at, lat in points if at >= t0]


def report(f: dict, warmup_s: float) -> str:
    lat, sampler = f["lat"], f["sampler"]
    t0 = f["began"] + warmup_s
    rows = []
    for topic in [*PER_READING, *WINDOWED]:
        pts = _after(lat.points.get(topic, []), t0)
        what = "reading -> sink" if topic in PER_READING else "window end -> sink"
        rows.append([f"`{topic}`", what, f"{len(pts):,}", fmt(percentile(pts, 50), 2), fmt(percentile(pts, 99), 2),
                     fmt(max(pts) if pts else None, 2)])
    duration = f["ended"] - f["began"]
    scored = [at for at, _ in lat.points.get("cpu_load_scored", [])]
    scored_rate = len(scored) / (max(scored) - min(scored)) if len(scored) > 1 else None
    cps = []
    for job, by_id in sampler.checkpoints.items():
        d = [h["end_to_end_duration"] / 1000 for h in by_id.values()]
        size = [h.get("state_size") or h.get("checkpointed_size") or 0 for h in by_id.values()]
        counts = getattr(sampler, "counts", {}).get(job, {})
        cps.append([job, f"{counts.get('completed', len(d))}", f"{counts.get('failed', 0)}",
                    fmt(percentile(d, 50), 2), fmt(max(d) if d else None, 2),
                    f"{max(size) / 1024:,.0f} KiB" if size else "n/a"])
    bp = {}
    for _, job, b, busy in sampler.pressure:
        cur = bp.get(job, (0.0, 0.0))
        bp[job] = (max(cur[0], b), max(cur[1], busy))
    mem = []
    if sampler.rss:
        kinds = list(sampler.rss[0][1])
        for k in kinds:
            series = [r[k] for _, r in sampler.rss]
            mem.append([k, fmt(series[0]), fmt(series[-1]), fmt(max(series))])
    checks = []
    for topic, n in f["expected"].items():
        got, dist = f["per_topic"].get(topic, 0), f["distinct"].get(topic)
        unique = got if dist is None else dist
        checks.append([f"`{topic}`", f"{n:,}", f"{got:,}", "n/a (no cpu column)" if dist is None else f"{dist:,}",
                       "none lost" if unique >= n else f"**{n - unique:,} missing**"])
    for topic in WINDOWED[1:]:
        checks.append([f"`{topic}`", "(anomalies only)", f"{f['per_topic'].get(topic, 0):,}", "", ""])
    failures = "; ".join(f"{job}: " + ", ".join(sorted({m[:140] for m in msgs.values()}))
                         for job, msgs in sampler.failures.items())
    pressure = ", ".join(f"{job}: backpressure {b:.2f}, busy {busy:.2f}" for job, (b, busy) in bp.items())
    return "\n".join([
        section_header("soak", f["load"]),
        f"{f['rate']:g} readings/s ({f['hosts']} hosts x 2 cpus, one reading per cpu per second) for "
        f"{f['minutes']:g} min ({duration:.0f} s, {f['produced']:,} readings; the producer was at most "
        f"{f['behind_max']:.2f} s behind schedule) through pipelines/cpu.yaml and pipelines/cpu_anomalies.yaml, "
        "two jobs on one local PyFlink JVM (rendered defaults: parallelism 1, checkpoints every 10 s, the "
        f"UDF detector with one-row bundles). Latency = consumer arrival - the reading's time (or the window's "
        f"end), seconds, the first {warmup_s:.0f} s excluded; window results include the 10 s watermark. "
        "Plot: [soak.png](soak.png).\n",
        md_table(["sink", "latency of", "records", "p50 s", "p99 s", "max s"], rows),
        "",
        f"Throughput: {f['produced'] / duration:,.1f} readings/s produced, {fmt(scored_rate, 1)} scored "
        f"readings/s written (cpu_load_scored). Max per-task ratios over the run: {pressure or 'n/a'}.\n",
        md_table(["job", "checkpoints", "failed", "p50 duration s", "max duration s", "max state"], cps),
        "",
        f"Failed checkpoints said: {failures}." if failures else "",
        "Memory (RSS, MB, sampled every 5 s):\n",
        md_table(["process", "start", "end", "max"], mem),
        "",
        "Count check after the stop (a far-future reading closes the windows; counted by consuming; "
        f"{f['tombstones']:,} tombstones of the upsert sink not counted):\n",
        md_table(["sink", "expected", "records", "distinct", "check"], checks),
        "",
    ])


def plot(f: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat, sampler, t0 = f["lat"], f["sampler"], f["began"]
    fig, axes = plt.subplots(4, 1, figsize=(11, 13), sharex=True)
    ax = axes[0]
    for topic in [*PER_READING, *WINDOWED]:
        pts = lat.points.get(topic, [])
        if pts:
            ax.plot([(a - t0) / 60 for a, _ in pts], [v for _, v in pts], ".", ms=2, alpha=0.5, label=topic)
    ax.set_ylabel("latency s")
    ax.set_yscale("log")
    ax.set_title(f"Soak: {f['rate']:g} readings/s for {f['minutes']:g} min, IoT pipelines (cpu, cpu_anomalies)")
    ax.legend(fontsize=7, markerscale=4, loc="upper left")
    ax = axes[1]
    for topic, label in (("cpu_load_scored", "scored readings written/s"),):
        pts = sorted(a for a, _ in lat.points.get(topic, []))
        if pts:
            buckets: dict[int, int] = {}
            for a in pts:
                buckets[int((a - t0) // 10)] = buckets.get(int((a - t0) // 10), 0) + 1
            xs = sorted(buckets)
            ax.plot([(x * 10 + 5) / 60 for x in xs], [buckets[x] / 10 for x in xs], label=label)
    ax.axhline(f["rate"], color="grey", ls="--", label="produced/s")
    ax.set_ylabel("records/s")
    ax.legend(fontsize=8)
    ax = axes[2]
    if sampler.rss:
        for k in sampler.rss[0][1]:
            ax.plot([(t - t0) / 60 for t, _ in sampler.rss], [r[k] for _, r in sampler.rss], label=k)
    ax.set_ylabel("RSS MB")
    ax.legend(fontsize=8)
    ax = axes[3]
    for job, by_id in sampler.checkpoints.items():
        hs = sorted(by_id.values(), key=lambda h: h["latest_ack_timestamp"])
        ax.plot([(h["latest_ack_timestamp"] / 1000 - t0) / 60 for h in hs],
                [h["end_to_end_duration"] / 1000 for h in hs], "o-", ms=3, label=f"checkpoint s ({job})")
    ax.set_ylabel("checkpoint s")
    ax2 = ax.twinx()
    colors = {job: f"C{i}" for i, job in enumerate(sampler.checkpoints)}
    for line in ax.get_lines():  # one colour per job: its checkpoints (solid) and busy ratio (dotted)
        line.set_color(colors.get(line.get_label().split("(")[-1].rstrip(")"), line.get_color()))
    for job in sorted({j for _, j, _, _ in sampler.pressure}):
        pts = [(t, busy) for t, j, _, busy in sampler.pressure if j == job]
        ax2.plot([(t - t0) / 60 for t, _ in pts], [b for _, b in pts], ":", color=colors.get(job),
                 label=f"max busy ratio ({job})")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("busy ratio")
    ax.legend(fontsize=8, loc="upper left")
    ax2.legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("minutes since the producer started")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
