"""Run Aiven application bodies of an example pipeline on the Flink 1.20 process (tests only).

Like e2e_helpers.prepare, the example is copied with fresh topic names, but rendered for the
aiven target; its bodies are built exactly as `deploy aiven` builds them, with the blank
connection options filled with the local stack's addresses (what Aiven's integrations fill),
and each application runs as its own job, as on Aiven. Outputs are read read_committed until
the expected rows, then for a grace period (later wrong rows would show), then jobs are cancelled.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from e2e_helpers import PIPELINES, TARGETS_FILE, Expected, read_sinks

from flinksql_gen.api import render_pipeline
from flinksql_gen.bundle import PipelineBundle
from flinksql_gen.deploy.aiven import AivenDeployTarget
from flinksql_gen.deploy.aiven.local_bodies import LocalApp, local_apps
from flinksql_gen.kafka.client import Record, create_topics
from flinksql_gen.models.targets import AivenTarget

_TOPIC_LINE = re.compile(r"^([ \t]*topic:[ \t]*)([A-Za-z0-9_.\-]+)", re.MULTILINE)


@dataclass
class AivenPrepared:
    bundle: PipelineBundle
    apps: list[LocalApp]
    sources: dict[str, str]  # source table -> fresh topic
    sinks: dict[str, str]  # Kafka sink table -> fresh topic
    partitions: int


@dataclass
class AivenOutputs:
    job_ids: list[str]
    records: dict[str, list[Record]] = field(default_factory=dict)
    complete: bool = False
    seconds: float = 0.0


def prepare_aiven(stack, env: Mapping[str, str], example: str, tmp_dir: Path, source_partitions: int = 2,
                  target: AivenTarget | None = None, folder: Path = PIPELINES) -> AivenPrepared:
    suffix = uuid.uuid4().hex[:8]
    text = _TOPIC_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)}_{suffix}", (folder / example).read_text())
    copy = Path(tmp_dir) / example
    copy.write_text(text)
    bundle = render_pipeline(copy, "aiven", targets_file=TARGETS_FILE)
    plans = AivenDeployTarget(target or AivenTarget(), env={}, out=lambda _: None).plan(bundle)
    connections = {
        "kafka": {"properties.bootstrap.servers": stack.bootstrap},
        "postgres": {"url": env["FLINKSQL_JDBC_URL"], "username": env["FLINKSQL_JDBC_USER"],
                     "password": env["FLINKSQL_JDBC_PASSWORD"]},
    }
    apps = local_apps(plans, connections, {**env, "SLACK_TOKEN": "xoxb-e2e-not-a-real-token"})
    sources = {t.name: t.topic for t in bundle.tables if t.role == "source" and t.topic}
    sinks = {t.name: t.topic for t in bundle.tables if t.role == "sink" and t.topic}
    create_topics(sorted(set(sources.values())), bootstrap=stack.bootstrap, partitions=source_partitions)
    create_topics(sorted(set(sinks.values())), bootstrap=stack.bootstrap, partitions=1)
    return AivenPrepared(bundle, apps, sources, sinks, source_partitions)


def run_aiven_and_collect(prepared: AivenPrepared, process, bootstrap: str,
                          expected: Expected, idle_s: float = 90.0,
                          grace_s: float = 8.0, deadline_s: float = 300.0) -> AivenOutputs:
    """Every application with a Kafka sink runs as its own job (the Slack one, a blackhole
    locally, is left out); read its sinks as e2e_helpers.run_and_collect does."""
    began = time.monotonic()
    runnable = [a for a in prepared.apps if a.plan.sinks[0].name in prepared.sinks]
    out = AivenOutputs([], records={table: [] for table in prepared.sinks})
    table_of = {topic: table for table, topic in prepared.sinks.items()}

    try:
        for a in runnable:
            out.job_ids.append(process.run(a.app))
        out.complete = read_sinks(bootstrap, table_of, out.records, expected, idle_s, grace_s, deadline_s)
        out.seconds = time.monotonic() - began
        failed = [j for j in out.job_ids if process.status(j) == "FAILED"]
        assert not failed, f"Flink 1.20 jobs failed: {failed} (see {process.log_file})"
    finally:
        for job in out.job_ids:
            process.cancel(job)
    return out
