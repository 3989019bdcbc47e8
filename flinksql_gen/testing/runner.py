"""Run loaded tests on the embedded stack: one shared PyFlink TableEnvironment (one mini-cluster
per job, started in the same JVM) for the whole run, and per test its own topics, lookup tables,
consumer group and transactional ids.

A test: create its topics and tables, produce its inputs, run the pipeline with bounded sources
until the job ends by itself, read every expected sink to its end (read_committed: only what the
job committed), compare, and drop what it created. Nothing waits on the wall clock but the
test's timeout.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flinksql_gen.errors import FlinksqlGenError, Location
from flinksql_gen.machine import DEFAULT, Machine
from flinksql_gen.testing.diff import Mismatch, compare
from flinksql_gen.testing.isolate import Isolated, isolate
from flinksql_gen.testing.load import RECORD_COLUMNS, Case, sink_columns
from flinksql_gen.testing.times import parse_offset

HEADER = "flinksql-gen."
Say = Callable[[str], None]


@dataclass
class TestResult:
    __test__ = False  # not a pytest class

    id: str
    pipeline: str
    status: str  # pass, fail, error
    seconds: float
    location: Location
    mismatches: list[Mismatch] = field(default_factory=list)
    error: str | None = None
    rows: dict[str, int] = field(default_factory=dict)  # sink -> rows read
    phases: dict[str, float] = field(default_factory=dict)  # prepare, ddl, submit, job, read -> seconds

    def to_json(self) -> dict:
        return {"test": self.id, "pipeline": self.pipeline, "status": self.status, "seconds": round(self.seconds, 3),
                "file": self.location.file, "line": self.location.line, "error": self.error, "rows": self.rows,
                "phases": {k: round(v, 3) for k, v in self.phases.items()},
                "failures": [m.to_json() for m in self.mismatches]}  # fmt: skip


def _quiet(_: str) -> None:
    pass


class TestSession:
    """The stack and the TableEnvironment the tests of one run share."""

    __test__ = False  # not a pytest class

    def __init__(self, state: Any, table_env: Any, workdir: Path, say: Say = _quiet):
        from flinksql_gen.stack import stack_env

        self.state, self.table_env, self.workdir, self.say = state, table_env, Path(workdir), say
        self.env = stack_env(state)

    @classmethod
    def open(cls, workdir: Path, say: Say = _quiet, cluster: bool = False, machine: Machine = DEFAULT) -> TestSession:
        """Start the stack if it is not up (like `demo`), and one TableEnvironment: jobs run on
        a local mini-cluster each, or with `cluster` on the stack's session cluster (started
        if needed; no mini-cluster start per job)."""
        from flinksql_gen.runtime.jars import ensure_jars
        from flinksql_gen.runtime.table_env import open_table_env
        from flinksql_gen.stack import up

        state = up(workdir, cluster=cluster, on_step=say, machine=machine)
        say("starting PyFlink (once for the whole run)")
        remote = state.cluster.rest_url if cluster else None
        jars = ensure_jars(workdir, repository=machine.maven_repository, cache=machine.cache)
        table_env = open_table_env("streaming", jars=jars, remote=remote,
                                   checkpoint_dir=None if remote else workdir / "checkpoints",
                                   log_dir=workdir / "logs" / "flink")  # fmt: skip
        return cls(state, table_env, workdir, say)

    def run(self, case: Case) -> TestResult:
        began = time.monotonic()
        bundle = case.suite.bundle
        result = TestResult(case.id, bundle.name, "pass", 0.0, case.where())
        iso = isolate(bundle, f"t{uuid.uuid4().hex[:10]}")
        try:
            rows = self._execute(case, iso, result.phases)
            for name, exp in case.spec.expect.items():
                got = rows[name]
                result.rows[name] = len(got)
                kind = "rows" if exp.rows is not None else "contains"
                locs = [case.where("expect", name, kind, i) for i in range(len(getattr(exp, kind) or []))]
                mismatch = compare(name, exp, got, case.suite.base_ms, case.where("expect", name), locs)
                if mismatch is not None:
                    result.mismatches.append(mismatch)
            result.status = "fail" if result.mismatches else "pass"
        except FlinksqlGenError as exc:
            result.status, result.error = "error", str(exc)
        finally:
            self._cleanup(iso)
            result.seconds = time.monotonic() - began
        return result

    # ------------------------------------------------------------------ steps

    def _execute(self, case: Case, iso: Isolated, phases: dict[str, float]) -> dict[str, list[dict]]:
        from flinksql_gen.kafka.client import JsonProducer, create_topics
        from flinksql_gen.runtime.runner import run_pipeline

        bundle, bootstrap = iso.bundle, self.state.bootstrap
        mark = time.monotonic()

        def phase(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            phases[name] = now - mark
            mark = now

        topics = sorted(set(iso.topics.values()))
        create_topics(topics, bootstrap=bootstrap, partitions=1)
        _await_topics(bootstrap, topics)
        self._create_lookups(case, iso)
        with JsonProducer(bootstrap) as producer:
            for source, records in case.inputs.items():
                for r in records:
                    producer.send(iso.topics[source], r.value, key=r.key, timestamp_ms=r.timestamp_ms)
        env = {name: "unset-in-tests" for name in bundle.env}
        env.update(self.env)
        phase("prepare")
        timeout_s = parse_offset("+" + case.spec.timeout.lstrip("+")) / 1000
        def on_event(message: str) -> None:
            if message.startswith("submitting"):
                phase("ddl")  # catalog, UDFs and CREATE statements; then planning and job start

        run = run_pipeline(bundle, env, table_env=self.table_env, wait=False, workdir=self.workdir, on_event=on_event)
        phase("submit")
        status, failure = _wait(run.job_client, timeout_s)
        phase("job")
        if status == "TIMEOUT":
            run.cancel()
            raise FlinksqlGenError(f"the job did not end within {case.spec.timeout} (are all sources bounded? "
                                   "raise `timeout` if the machine is slow)")  # fmt: skip
        if failure is not None:
            from flinksql_gen.runtime.errors import to_run_error

            raise to_run_error(failure, pipeline=bundle.name, statement=None, origin=None, what=f"job {run.job_id}",
                               log_dir=self.workdir / "logs", env=env, secret_names=bundle.env)  # fmt: skip
        tables = {t.name: t for t in bundle.tables}
        out: dict[str, list[dict]] = {}
        read = read_topics(bootstrap, sorted({iso.topics[name] for name in case.spec.expect}))
        for name, exp in case.spec.expect.items():
            raw = sink_columns(case.suite.bundle, name) == RECORD_COLUMNS
            records = read[iso.topics[name]]
            mode = exp.read or ("latest" if tables[name].connector == "upsert-kafka" else "records")
            out[name] = to_rows(records, raw, mode)
        phase("read")
        return out

    def _create_lookups(self, case: Case, iso: Isolated) -> None:
        from flinksql_gen.stack.postgres import connect

        if not iso.jdbc_tables:
            return
        pipeline = case.suite.pipeline
        conn = connect(self.state.dsn)
        try:
            with conn, conn.cursor() as cur:
                for table, pg_name in iso.jdbc_tables.items():
                    lookup = pipeline.lookups[table]
                    cols = ", ".join(f"{_ident(c)} {pg_type(t)}" for c, t in lookup.columns.items())
                    cur.execute(f"CREATE TABLE {_qualified(pg_name)} ({cols}, PRIMARY KEY ({', '.join(map(_ident, lookup.key))}))")
                    given = case.spec.lookups.get(table)
                    for row in given.rows if given else []:
                        names = list(row)
                        cur.execute(f"INSERT INTO {_qualified(pg_name)} ({', '.join(map(_ident, names))}) "
                                    f"VALUES ({', '.join(['%s'] * len(names))})", [row[n] for n in names])  # fmt: skip
        finally:
            conn.close()

    def _cleanup(self, iso: Isolated) -> None:
        """Drop this test's tables and topics (best effort: a stack that went away keeps nothing)."""
        try:
            if iso.jdbc_tables:
                from flinksql_gen.stack.postgres import connect

                conn = connect(self.state.dsn)
                try:
                    with conn, conn.cursor() as cur:
                        for pg_name in iso.jdbc_tables.values():
                            cur.execute(f"DROP TABLE IF EXISTS {_qualified(pg_name)}")
                finally:
                    conn.close()
            if iso.topics:
                from flinksql_gen.kafka.client import delete_topics

                delete_topics(iso.topics.values(), bootstrap=self.state.bootstrap)
        except Exception as exc:  # cleanup never hides the test's own result
            self.say(f"could not clean up after the test: {exc}")


def _await_topics(bootstrap: str, topics: list[str], timeout_s: float = 30.0) -> None:
    """A created topic can take a moment to show in the metadata other clients read."""
    from flinksql_gen.kafka.client import partition_count

    deadline = time.monotonic() + timeout_s
    pending = list(topics)
    while pending:
        pending = [t for t in pending if not partition_count(t, bootstrap=bootstrap)]
        if pending and time.monotonic() > deadline:
            raise FlinksqlGenError(f"topics {', '.join(pending)} were created but do not show up in the broker's metadata")
        if pending:
            time.sleep(0.1)


def _wait(job_client, timeout_s: float) -> tuple[str, BaseException | None]:
    """Wait for the job to end by itself: (FINISHED | FAILED | CANCELED | TIMEOUT, the failure)."""
    if job_client is None:
        return "FINISHED", None
    from flinksql_gen.runtime.runner import _outcome

    future = job_client.get_job_execution_result()
    deadline = time.monotonic() + timeout_s
    while not future.done():
        if time.monotonic() > deadline:
            return "TIMEOUT", None
        time.sleep(0.1)
    return _outcome(future)


# ---------------------------------------------------------------------------- sinks


@dataclass(frozen=True)
class SinkRecord:
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def read_topics(bootstrap: str, topics: list[str], timeout_s: float = 60.0) -> dict[str, list[SinkRecord]]:
    """Every committed record of one-partition topics, each from its beginning to its end (one
    consumer for all: a consumer's start-up is most of the time a small topic takes)."""
    from confluent_kafka import KafkaError

    from flinksql_gen.kafka.client import open_consumer

    out: dict[str, list[SinkRecord]] = {t: [] for t in topics}
    if not topics:
        return out
    consumer = open_consumer(topics, bootstrap=bootstrap, eof=True)
    pending = set(topics)
    try:
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.1):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard(msg.topic())
                    continue
                out[msg.topic()].append(SinkRecord(msg.key(), msg.value(), tuple(msg.headers() or ())))
        if pending:
            raise FlinksqlGenError(f"could not read topic(s) {', '.join(sorted(pending))} to the end within {timeout_s:.0f} s")
        return out
    finally:
        consumer.close()


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def to_rows(records: list[SinkRecord], raw: bool, mode: str) -> list[dict]:
    """Sink records -> rows: JSON values; for raw record sinks (dead letters, late events) the
    key, value text and flinksql-gen.* headers. `latest`: the last row per key, deletions dropped."""
    rows: list[tuple[bytes | None, dict | None]] = []
    for r in records:
        if raw:
            row: dict | None = {"key": _text(r.key), "value": _text(r.value)}
            for name, value in r.headers:
                if name.startswith(HEADER):
                    row[name[len(HEADER):]] = _text(value)  # type: ignore[index]
        elif r.value is None:
            row = None  # an upsert deletion
        else:
            decoded = json.loads(r.value)
            row = decoded if isinstance(decoded, dict) else {"value": decoded}
        rows.append((r.key, row))
    if mode == "latest":
        latest: dict[bytes | None, dict | None] = {}
        for key, row in rows:
            latest.pop(key, None)  # re-inserted last: topic order of the latest versions
            latest[key] = row
        return [row for row in latest.values() if row is not None]
    return [row for _, row in rows if row is not None]


# ---------------------------------------------------------------------------- PostgreSQL


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(name: str) -> str:
    return ".".join(_ident(part) for part in name.split("."))


def pg_type(flink_type: str) -> str:
    """The PostgreSQL column type for a lookup column's Flink type."""
    t = flink_type.strip().upper()
    m = re.match(r"^(DECIMAL|NUMERIC)\s*(\(\s*\d+\s*(?:,\s*\d+\s*)?\))?", t)
    if m:
        return "numeric" + (m.group(2) or "").replace(" ", "")
    simple = {"STRING": "text", "VARCHAR": "text", "CHAR": "text", "BOOLEAN": "boolean", "TINYINT": "smallint",
              "SMALLINT": "smallint", "INT": "integer", "INTEGER": "integer", "BIGINT": "bigint", "FLOAT": "real",
              "REAL": "real", "DOUBLE": "double precision", "DATE": "date"}  # fmt: skip
    head = t.split("(")[0].split()[0]
    if t.startswith("TIMESTAMP_LTZ") or "WITH LOCAL TIME ZONE" in t:
        return "timestamptz"
    if head == "TIMESTAMP":
        return "timestamp"
    return simple.get(head, "text")
