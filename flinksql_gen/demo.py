"""`flinksql-gen demo`: the whole flow on one machine.

Starts the embedded stack, produces IoT and pizza streams with injected anomalies (a few
minutes of history at full speed, so alerts appear within seconds, then live at one tick per
second), runs every example pipeline as its own Flink job, and shows alerts as they arrive.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flinksql_gen import api
from flinksql_gen.bundle import Bundle
from flinksql_gen.machine import DEFAULT, Machine
from flinksql_gen.produce.anomalies import parse_anomalies
from flinksql_gen.produce.events import KafkaSink, pump
from flinksql_gen.produce.iot import AUTO as IOT_ANOMALIES
from flinksql_gen.produce.iot import IotGenerator
from flinksql_gen.produce.pizza import AUTO as PIZZA_ANOMALIES
from flinksql_gen.produce.pizza import PizzaGenerator

HISTORY_S = 300  # event time replayed at full speed before going live


@dataclass
class DemoRun:
    bundle: Bundle
    jobs: list  # RunResult
    alert_topics: list[str]
    stop: threading.Event
    threads: list[threading.Thread]

    def close(self) -> None:
        self.stop.set()
        for job in self.jobs:
            job.cancel()
        for t in self.threads:
            t.join(timeout=10)


def _source_topics(bundle: Bundle) -> set[str]:
    return {t.topic for p in bundle.pipelines for t in p.tables if t.role == "source" and t.topic}


def _producer(topic: str, generator, bootstrap: str, stop: threading.Event, live_from_tick: int) -> threading.Thread:
    def work() -> None:
        sink = KafkaSink(topic, bootstrap)
        events = generator.events()
        try:
            # History at full speed, then one tick per second (the generator's tick is 1 s).
            for event in events:
                if stop.is_set():
                    return
                sink.send(event)
                if generator.last_tick >= live_from_tick:
                    break
            pump(itertools.takewhile(lambda _: not stop.is_set(), events), sink, rate=_rate(generator))
        finally:
            sink.close()

    thread = threading.Thread(target=work, name=f"produce-{topic}", daemon=True)
    thread.start()
    return thread


def _rate(generator) -> float:
    if isinstance(generator, IotGenerator):
        return float(len(generator.hosts) * len(generator.cpus))
    return max(1.0, generator.rate * len(generator.shops))


def start_demo(pipelines: Path, workdir: Path, thresholds: Path | None, say: Callable[[str], None],
               machine: Machine = DEFAULT) -> DemoRun:
    from flinksql_gen.runtime.jars import ensure_jars
    from flinksql_gen.runtime.runner import run_pipeline
    from flinksql_gen.runtime.table_env import open_table_env
    from flinksql_gen.stack import stack_env, up

    bundle = api.render(pipelines, "local")
    topics = sorted({t for p in bundle.pipelines for t in p.topics})
    state = up(workdir, thresholds_dir=thresholds, topics=topics, on_step=say, machine=machine)
    env = {**os.environ, **stack_env(state)}
    now = int(time.time()) * 1000
    start = now - HISTORY_S * 1000
    stop = threading.Event()
    threads = []
    sources = _source_topics(bundle)
    if "cpu_load_stats_real" in sources:
        anomalies = parse_anomalies("auto", 1000, IOT_ANOMALIES, total_ticks=HISTORY_S)
        iot = IotGenerator(seed=7, start_ms=start, anomalies=anomalies)
        threads.append(_producer("cpu_load_stats_real", iot, state.bootstrap, stop, HISTORY_S))
    if "pizzas" in sources:
        anomalies = parse_anomalies("auto", 1000, PIZZA_ANOMALIES, total_ticks=HISTORY_S)
        pizza = PizzaGenerator(seed=7, start_ms=start, rate=3.0, anomalies=anomalies)
        threads.append(_producer("pizzas", pizza, state.bootstrap, stop, HISTORY_S))
    say(f"producing IoT and pizza events ({HISTORY_S} s of history, then live) to {', '.join(sorted(sources))}")
    table_env = open_table_env(jars=ensure_jars(workdir, repository=machine.maven_repository, cache=machine.cache),
                               checkpoint_dir=workdir / "checkpoints",
                               log_dir=workdir / "logs" / "flink")  # fmt: skip
    jobs = []
    for pipeline in bundle.pipelines:
        say(f"starting pipeline {pipeline.name} ({len(pipeline.inserts)} insert(s)) from {pipeline.source_file}")
        jobs.append(run_pipeline(pipeline, env, table_env=table_env, wait=False, workdir=workdir))
    alert_topics = sorted({t.topic for p in bundle.pipelines for t in p.tables if t.role == "sink" and t.topic})
    return DemoRun(bundle, jobs, alert_topics, stop, threads)
