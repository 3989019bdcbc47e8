"""Shared pieces of the end-to-end tests (tests/test_e2e_*.py): every example pipeline, rendered
from its YAML and run on the real stack (local Flink mini-cluster, Apache Kafka, PostgreSQL).

The examples' topics are fixed in YAML and the broker is shared by the test session, so each
test renders a temporary copy of the example with every `topic:` renamed to a fresh name (and
checks that the copy renders to exactly the golden statements, topics aside). Input is keyed
and time-stamped exactly; every source partition ends with a trailing record far in the future
that moves the watermark past the last window. Sinks write with exactly-once transactions, so
outputs are read read_committed, until the expected count, then for one more checkpoint
interval (rows only become visible when Flink commits on a checkpoint). The copy checkpoints
every 2 s instead of the rendered 10 s (the only statement changed after the golden check), so
a run waits for a commit a fifth as long.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flinksql_gen.api import render_pipeline
from flinksql_gen.bundle import PipelineBundle, Statement
from flinksql_gen.kafka.client import JsonProducer, Record, create_topics, iter_records, partition_for
from flinksql_gen.runtime.runner import RunResult, job_status, run_pipeline

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"
TARGETS_FILE = ROOT / "targets.yaml"
GOLDEN_MANIFEST = ROOT / "tests" / "golden" / "bundles" / "local" / "manifest.json"
CHECKPOINT_INTERVAL = "execution.checkpointing.interval"
TEST_CHECKPOINT_INTERVAL = "2 s"
_TOPIC_LINE = re.compile(r"^([ \t]*topic:[ \t]*)([A-Za-z0-9_.\-]+)", re.MULTILINE)


@dataclass
class Prepared:
    """A renamed copy of an example pipeline, rendered, with its fresh topics created."""

    bundle: PipelineBundle
    topics: dict[str, str]  # topic in the YAML -> fresh topic
    sources: dict[str, str]  # source table -> fresh topic
    sinks: dict[str, str]  # sink table -> fresh topic (Kafka sinks only)
    partitions: int  # of each source topic

    def sink(self, table: str) -> str:
        return self.sinks[table]


def prepare(stack, example: str, tmp_dir: Path, source_partitions: int = 2) -> Prepared:
    """Render pipelines/<example> with fresh topic names; create the topics (sources with
    `source_partitions` partitions, sinks with one, so a sink topic keeps the job's order)."""
    suffix = uuid.uuid4().hex[:8]
    mapping: dict[str, str] = {}

    def rename(m: re.Match) -> str:
        mapping[m.group(2)] = f"{m.group(2)}_{suffix}"
        return m.group(1) + mapping[m.group(2)]

    text = _TOPIC_LINE.sub(rename, (PIPELINES / example).read_text())
    copy = Path(tmp_dir) / example
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(text)
    bundle = render_pipeline(copy, "local", targets_file=TARGETS_FILE)
    check_same_as_golden(bundle, mapping)
    bundle = with_fast_checkpoints(bundle)
    sources = {t.name: t.topic for t in bundle.tables if t.role == "source" and t.topic}
    sinks = {t.name: t.topic for t in bundle.tables if t.role == "sink" and t.topic}
    create_topics(sorted(set(sources.values())), bootstrap=stack.bootstrap, partitions=source_partitions)
    create_topics(sorted(set(sinks.values())), bootstrap=stack.bootstrap, partitions=1)
    return Prepared(bundle, mapping, sources, sinks, source_partitions)


def with_fast_checkpoints(bundle: PipelineBundle) -> PipelineBundle:
    """The bundle with its checkpoint interval SET to TEST_CHECKPOINT_INTERVAL."""
    assert CHECKPOINT_INTERVAL in bundle.settings, "the examples render their checkpoint interval"
    statements = tuple(Statement.set_option(CHECKPOINT_INTERVAL, TEST_CHECKPOINT_INTERVAL, s.origin)
                       if s.setting is not None and s.setting.key == CHECKPOINT_INTERVAL else s
                       for s in bundle.statements)
    return replace(bundle, statements=statements)


def check_same_as_golden(bundle: PipelineBundle, mapping: Mapping[str, str]) -> None:
    """The renamed copy must render to the golden statements of the example (topics mapped back):
    the tests then run exactly what the example renders to."""
    golden = json.loads(GOLDEN_MANIFEST.read_text())
    want = next(p for p in golden["pipelines"] if p["name"] == bundle.name)

    def back(sql: str) -> str:
        for orig, new in mapping.items():
            sql = sql.replace(f"'{new}'", f"'{orig}'").replace(f"'{new}_dead_letter'", f"'{orig}_dead_letter'")
        return sql

    got = [(s.kind, s.name, back(s.sql)) for s in bundle.statements]
    assert got == [(s["kind"], s["name"], s["sql"]) for s in want["statements"]], (
        f"the renamed copy of {bundle.source_file} does not render to the golden statements")


def keys_by_partition(candidates: Iterable[str], partitions: int) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {p: [] for p in range(partitions)}
    for key in candidates:
        out[partition_for(key.encode(), partitions)].append(key)
    return out


def trailer_keys(prefix: str, partitions: int) -> list[str]:
    """One key per partition (Kafka's murmur2 partitioning), for the watermark-moving records."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        key = f"{prefix}{n}"
        found.setdefault(partition_for(key.encode(), partitions), key)
        n += 1
    return [found[p] for p in range(partitions)]


@dataclass(frozen=True)
class Event:
    key: str
    value: dict[str, Any]
    timestamp_ms: int


def produce(stack, topic: str, events: Sequence[Event]) -> None:
    """In the given order (per partition it must be event-time order); each partition's last
    record goes alone after a flush (JsonProducer), so bounded readers and lag see it."""
    with JsonProducer(stack.bootstrap) as producer:
        for e in events:
            producer.send(topic, e.value, key=e.key, timestamp_ms=e.timestamp_ms)


@dataclass
class Outputs:
    bundle: PipelineBundle
    result: RunResult
    status: str  # of the job when reading stopped (RUNNING, unless it ended by itself or failed)
    complete: bool = False  # every sink reached its expected records (else reading stopped on idle)
    seconds: float = 0.0  # from submission to the end of reading
    records: dict[str, list[Record]] = field(default_factory=dict)  # sink table -> records, in topic order


Expected = Mapping[str, int | Callable[[list[Record]], bool]]


def read_sinks(bootstrap: str, table_of: Mapping[str, str], records: dict[str, list[Record]], expected: Expected,
               idle_s: float, grace_s: float, deadline_s: float) -> bool:
    """Append the sinks' committed records (topic -> table in `table_of`) to `records` until each
    table holds its expected number of non-tombstone records (or its predicate holds), then on
    until `grace_s` without a new one (so extra rows committed at the next checkpoint show up).
    Stops early after `idle_s` without any record. True when every expectation was met."""
    def complete() -> bool:
        return all(n(records[t]) if callable(n) else sum(r.value is not None for r in records[t]) >= n
                   for t, n in expected.items())

    if not complete():
        for r in iter_records(list(table_of), bootstrap=bootstrap, idle_s=idle_s, timeout_s=deadline_s):
            records[table_of[r.topic]].append(r)
            if complete():
                break
    nxt = {(topic, 0): records[t][-1].offset + 1 for topic, t in table_of.items() if records[t]}
    for r in iter_records(list(table_of), bootstrap=bootstrap, idle_s=grace_s, start=nxt):
        records[table_of[r.topic]].append(r)
    return complete()


def run_and_collect(prepared: Prepared, env: Mapping[str, str], table_env, workdir,
                    expected: Expected, idle_s: float = 90.0, grace_s: float = 5.0,
                    deadline_s: float = 300.0) -> Outputs:
    """Submit the pipeline (run_pipeline, wait=False), read all its Kafka sinks until each holds
    its `expected` number of non-tombstone records (or its records satisfy the given predicate,
    e.g. an upsert topic's latest values), then on until `grace_s` without a new one (over two
    of the copy's 2 s checkpoint intervals, so extra, wrong rows committed at the next
    checkpoint show up), then cancel the job. Stops early only after `idle_s` without any record (a stuck
    or failed job).

    Stopping on counts rather than on run_pipeline's own `until_idle`: on a loaded 2-core
    machine a Python operator can fall silent for longer than any short idle period."""
    began = time.monotonic()
    result = run_pipeline(prepared.bundle, env, table_env=table_env, workdir=Path(workdir), wait=False)
    bootstrap = env["FLINKSQL_KAFKA_BOOTSTRAP"]
    table_of = {topic: table for table, topic in prepared.sinks.items()}
    out = Outputs(prepared.bundle, result, "RUNNING", records={table: [] for table in prepared.sinks})

    try:
        out.complete = read_sinks(bootstrap, table_of, out.records, expected, idle_s, grace_s, deadline_s)
        out.seconds = time.monotonic() - began
        out.status = job_status(result.job_client)
    finally:
        result.cancel()
    if out.status == "FAILED":
        failure = result.job_client.get_job_execution_result()
        name = prepared.bundle.name
        raise AssertionError(f"job {result.job_id} of pipeline {name} failed") from failure.exception()
    return out


# ---------------------------------------------------------------------------- values


def ts_ms(text: str | None) -> int | None:
    """Flink JSON timestamps ('2023-11-14 22:13:20[.123][Z]', TIMESTAMP or TIMESTAMP_LTZ in UTC) -> epoch ms."""
    if text is None:
        return None
    s = text.strip().removesuffix("Z").replace("T", " ")
    if "." in s:
        base, frac = s.split(".", 1)
        s = f"{base}.{(frac + '000000')[:6]}"
        fmt = "%Y-%m-%d %H:%M:%S.%f"
    else:
        fmt = "%Y-%m-%d %H:%M:%S"
    moment = dt.datetime.strptime(s, fmt).replace(tzinfo=dt.timezone.utc)
    return round(moment.timestamp() * 1000)


def values(records: Iterable[Record]) -> list[dict]:
    return [r.value for r in records]


def latest_by_key(records: Iterable[Record]) -> dict[str, Any]:
    """Upsert topic -> the latest value per key (None = deleted)."""
    out: dict[str, Any] = {}
    for r in records:
        out[r.key] = r.value
    return out


def close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))
