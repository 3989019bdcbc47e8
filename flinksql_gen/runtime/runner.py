"""Run a PipelineBundle on PyFlink: SETs as config, UDFs, DDL one by one, then all INSERTs as one
statement set (one job). Errors name the statement's YAML origin and Flink's root cause."""

from __future__ import annotations

import contextlib
import importlib
import os
import site
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flinksql_gen.bundle import PipelineBundle, Statement, UdfInfo
from flinksql_gen.errors import Location, UsageError
from flinksql_gen.kafka.monitor import SinkMonitor
from flinksql_gen.runtime.errors import to_run_error
from flinksql_gen.runtime.table_env import open_table_env, reset_planner_metadata
from flinksql_gen.secrets import resolve

Event = Callable[[str], None]


@dataclass
class RunResult:
    pipeline: str
    job_id: str
    status: str  # FINISHED / CANCELED / RUNNING (wait=False)
    stopped_by: str | None = None  # "idle", "max_records", "interrupt"
    records: int | None = None  # records seen on the sink topics (when monitored)
    first_output_s: float | None = None  # from run_pipeline() to the first sink record
    job_client: Any = None
    table_env: Any = None

    def cancel(self) -> None:
        cancel_job(self.job_client)


def _quiet(_: str) -> None:
    pass


def _idle_past_checkpoints(pipeline: PipelineBundle, idle_s: float) -> float:
    """Exactly-once Kafka sinks show output only when a checkpoint commits it, so a quiet spell
    shorter than the checkpoint interval is no sign of the end: wait at least 1.5 intervals."""
    from flinksql_gen.models.common import parse_duration

    text = pipeline.settings.get("execution.checkpointing.interval")
    try:
        interval_s = parse_duration(text).millis / 1000 if text else 0.0
    except ValueError:
        interval_s = 0.0
    return max(idle_s, 1.5 * interval_s)


def _env_origin(pipeline: PipelineBundle) -> Location:
    return Location(pipeline.source_file)


def load_udf(info: UdfInfo):
    """Import `module:attribute`; it must be a PyFlink UDF (decorated with @udf/@udtf/@udaf)."""
    module_name, _, attr = info.python.partition(":")
    if not module_name or not attr:
        raise UsageError(f"UDF {info.name}: {info.python!r} is not 'module:attribute'")
    try:
        module = importlib.import_module(module_name)
        obj = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"UDF {info.name}: cannot load {info.python} ({exc})") from exc
    from pyflink.table.udf import UserDefinedFunctionWrapper

    if not isinstance(obj, UserDefinedFunctionWrapper):
        raise UsageError(f"UDF {info.name}: {info.python} is not a PyFlink UDF (decorate it with pyflink.table.udf.udf)")
    return obj, module


def _ship_path(module) -> str | None:
    """The top-level package dir (or module file) to ship to Python workers; None if installed."""
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    for _ in range(module.__name__.count(".")):
        path = path.parent
    if path.name == "__init__.py":
        path = path.parent
    installed = [Path(p).resolve() for p in [*site.getsitepackages(), site.getusersitepackages(),
                                             sys.prefix, sys.base_prefix] if p]
    if any(path.is_relative_to(root) for root in installed):
        return None
    return str(path)


def cancel_job(job_client) -> None:
    if job_client is None:
        return
    with contextlib.suppress(Exception):  # already finished / cancelled
        job_client.cancel().result()


def job_status(job_client) -> str:
    """RUNNING, FINISHED, CANCELED, FAILED, ... (a local job's mini-cluster is gone once it ends)."""
    try:
        return str(job_client.get_job_status().result()).split(".")[-1].upper()
    except Exception:
        outcome = job_client.get_job_execution_result()
        return _outcome(outcome)[0] if outcome.done() else "UNKNOWN"


def run_pipeline(pipeline: PipelineBundle, env: Mapping[str, str] | None = None, table_env=None,
                 wait: bool = True, until_idle: float | None = None, max_records: int | None = None, *,
                 workdir: Path | None = None, remote: str | None = None, jars: list[Path] | None = None,
                 bootstrap: str | None = None, poll_s: float = 0.5, on_event: Event = _quiet) -> RunResult:
    """Resolve ${env:...} (only the names in pipeline.env) from `env` (default os.environ), run the
    statements and submit the inserts as one job.

    wait=False returns once the job is submitted. wait=True blocks until the job ends by itself,
    until the sink topics saw no new record for `until_idle` seconds (after the first), until
    `max_records` sink records, or until Ctrl-C; the last three cancel the job.
    A shared `table_env` is left as it was (each run uses its own in-memory catalog).
    """
    # Over 60 lines on purpose: it reads as the four steps of a run, prepare (resolve, sink
    # monitor, TableEnvironment) -> apply_statements -> submit -> _watch, each a call below.
    t0 = time.monotonic()
    env = dict(os.environ if env is None else env)
    from flinksql_gen.workdir import default_workdir

    workdir = Path(workdir or default_workdir())
    log_dir = workdir / "logs"
    secret_names = list(pipeline.env)

    def fail(exc: BaseException, statement: Statement | None, what: str, origin: Location | None = None):
        return to_run_error(exc, pipeline=pipeline.name, statement=statement,
                            origin=origin or (statement.origin if statement else _env_origin(pipeline)),
                            what=what, log_dir=log_dir, env=env, secret_names=secret_names)

    settings = pipeline.resolved_settings(env, allowed=pipeline.env)
    resolved = {id(s): resolve(s.sql, env, allowed=pipeline.env) for s in pipeline.statements if s.setting is None}
    if not pipeline.inserts:
        raise UsageError(f"pipeline {pipeline.name} ({pipeline.source_file}) has no INSERT statement to run")
    udfs = [(u, *load_udf(u)) for u in pipeline.udfs]

    if until_idle:
        until_idle = _idle_past_checkpoints(pipeline, until_idle)
    monitor = _sink_monitor(pipeline, env, bootstrap) if wait and (until_idle or max_records) else None

    shared = table_env is not None
    if table_env is None:
        from flinksql_gen.runtime.jars import ensure_jars

        mode = pipeline.settings.get("execution.runtime-mode", "streaming").lower()
        on_event("starting PyFlink")
        # a remote cluster keeps its own checkpoint directory; a local run uses the work dir
        table_env = open_table_env(mode, jars if jars is not None else ensure_jars(workdir), remote=remote,
                                   checkpoint_dir=None if remote else workdir / "checkpoints",
                                   log_dir=log_dir / "flink")
    restore = _isolate(table_env) if shared else None
    try:
        result = apply_statements(table_env, pipeline, settings, resolved, udfs, fail, on_event)
    finally:
        if restore:
            restore()
    job_client = result.get_job_client()
    job_id = str(job_client.get_job_id()) if job_client else ""
    on_event(f"job {job_id} submitted")
    out = RunResult(pipeline.name, job_id, "RUNNING", job_client=job_client, table_env=table_env)
    if not wait or job_client is None:
        return out
    outcome = _watch(out, job_client, monitor, remote, until_idle, max_records, poll_s, on_event, fail, t0)
    out.status, failure = _outcome(outcome)
    if failure is not None:
        only = pipeline.inserts[0] if len(pipeline.inserts) == 1 else None
        raise fail(failure, None, f"job {job_id} of pipeline {pipeline.name}",
                   origin=only.origin if only else None) from None
    return out


def _sink_monitor(pipeline: PipelineBundle, env: Mapping[str, str], bootstrap: str | None) -> SinkMonitor | None:
    """A reader of the pipeline's Kafka sink topics (for --until-idle / --max-records)."""
    sinks = [t.topic for t in pipeline.tables if t.role == "sink" and t.topic]
    if not sinks:
        return None
    servers = bootstrap or env.get("FLINKSQL_KAFKA_BOOTSTRAP")
    if not servers:
        raise UsageError("--until-idle/--max-records need the Kafka bootstrap (FLINKSQL_KAFKA_BOOTSTRAP)")
    return SinkMonitor(resolve(servers, env), [resolve(t, env) for t in sinks])


def apply_statements(table_env, pipeline: PipelineBundle, settings: Mapping[str, str], resolved: dict[int, str],
                     udfs: list, fail: Callable, on_event: Event = _quiet):  # fmt: skip
    """Apply the pipeline to `table_env` (SETs, UDFs, DDL) and submit its inserts as one job: the
    TableResult. `settings` are the SET options and `resolved` maps every other statement to its
    SQL, ${env:...} filled in; `fail` turns an engine exception into the RunError naming the
    statement's YAML line."""
    conf = table_env.get_config()
    for key, value in settings.items():
        conf.set(key, value)
    by_api = set(pipeline.udfs_without_ddl)  # the others: the bundle's own CREATE FUNCTION, with the DDL below
    for info, function, module in udfs:
        ship = _ship_path(module)
        if ship:
            table_env.add_python_file(ship)
        try:
            table_env.drop_temporary_system_function(info.name)  # a shared env may hold an earlier run's
            if info in by_api:
                table_env.create_temporary_system_function(info.name, function)
        except Exception as exc:
            raise fail(exc, None, f"registering UDF {info.name} ({info.python})") from None
    for s in pipeline.ddl:
        on_event(f"{s.kind} {s.name}")
        try:
            table_env.execute_sql(resolved[id(s)])
        except Exception as exc:
            raise fail(exc, s, f"{s.kind.replace('_', ' ')} {s.name}") from None
    statement_set = table_env.create_statement_set()
    for s in pipeline.inserts:
        try:
            statement_set.add_insert_sql(resolved[id(s)])
        except Exception as exc:
            raise fail(exc, s, f"insert {s.name}") from None
    on_event(f"submitting {len(pipeline.inserts)} insert(s) as one job")
    try:
        reset_planner_metadata(table_env)
        result = statement_set.execute()
    except Exception as exc:
        culprit = _failing_insert(table_env, pipeline, resolved)
        if culprit is not None:
            raise fail(exc, culprit, f"insert {culprit.name}") from None
        raise fail(exc, None, f"submitting pipeline {pipeline.name}") from None
    return result


def _watch(out: RunResult, job_client, monitor: SinkMonitor | None, remote: str | None, until_idle: float | None,
           max_records: int | None, poll_s: float, on_event: Event, fail: Callable, t0: float):
    """Wait for the job to end, or stop it on idle sinks, a record count or Ctrl-C; the job's
    execution-result future. Fills out.stopped_by, out.records and out.first_output_s."""
    job_id = out.job_id
    if monitor:
        monitor.start()
    watchdog = _ClusterWatch(remote) if remote else None
    try:
        outcome = job_client.get_job_execution_result()
        while not outcome.done():
            if watchdog and watchdog.lost():
                raise UsageError(f"lost the Flink cluster at {remote} while job {job_id} was running")
            if monitor:
                if max_records and monitor.written >= max_records:
                    out.stopped_by = "max_records"
                elif until_idle and (monitor.idle_for() or 0) >= until_idle:
                    out.stopped_by = "idle"
                if out.stopped_by:
                    on_event(f"stopping the job ({out.stopped_by}: {monitor.written} records)")
                    cancel_job(job_client)
                    break
            time.sleep(poll_s)
    except KeyboardInterrupt:
        out.stopped_by = "interrupt"
        on_event("cancelling the job (Ctrl-C)")
        cancel_job(job_client)
    except Exception as exc:  # the cluster went away while we watched
        raise fail(exc, None, f"watching job {job_id} of pipeline {out.pipeline}") from None
    finally:
        if monitor:
            monitor.stop()
            monitor.join(5)
            out.records = monitor.written
            if monitor.first_at:
                out.first_output_s = monitor.first_at - t0
    return outcome


class _ClusterWatch:
    """Notices a session cluster that stopped answering (the job client would wait forever)."""

    def __init__(self, remote: str, grace_s: float = 30.0, every_s: float = 5.0):
        from flinksql_gen.runtime.table_env import parse_remote

        host, port = parse_remote(remote)
        self.url, self.grace_s, self.every_s = f"http://{host}:{port}", grace_s, every_s
        self.last_ok = self.last_check = time.monotonic()

    def lost(self) -> bool:
        now = time.monotonic()
        if now - self.last_check >= self.every_s:
            from flinksql_gen.runtime.table_env import cluster_overview

            self.last_check = now
            if cluster_overview(self.url) is not None:
                self.last_ok = now
        return now - self.last_ok > self.grace_s


def _failing_insert(table_env, pipeline: PipelineBundle, resolved: dict[int, str]) -> Statement | None:
    """Which insert of a failed submission is at fault: the only one, or the first that fails to plan alone."""
    if len(pipeline.inserts) == 1:
        return pipeline.inserts[0]
    for s in pipeline.inserts:
        try:
            reset_planner_metadata(table_env)
            table_env.explain_sql(resolved[id(s)])
        except Exception:
            return s
    return None


def _outcome(future) -> tuple[str, BaseException | None]:
    """(FINISHED | CANCELED | FAILED, the failure) of a job execution result future."""
    try:
        future.result()
        return "FINISHED", None
    except Exception as exc:
        if _cancelled(exc):
            return "CANCELED", None
        return "FAILED", exc


def _cancelled(exc: BaseException) -> bool:
    from flinksql_gen.runtime.errors import _java_throwable

    node = _java_throwable(exc)
    for _ in range(64):
        if node is None:
            return False
        if "JobCancellationException" in str(node.getClass().getName()):
            return True
        nxt = node.getCause()
        if nxt is None or nxt.equals(node):
            return False
        node = nxt
    return False


def _isolate(table_env) -> Callable[[], None]:
    """Run in a fresh in-memory catalog; afterwards restore the catalog, the functions and the
    settings the pipeline changed (in the table config, and in the root config that job
    submission copies them into). Other keys stay: a running job's client still reads them."""
    j_config = table_env.get_config()._j_table_config
    table_conf, root_conf = j_config.getConfiguration(), j_config.getRootConfiguration()
    table_before, root_before = dict(table_conf.toMap()), dict(root_conf.toMap())
    catalog, database = table_env.get_current_catalog(), table_env.get_current_database()
    name = f"flinksql_run_{uuid.uuid4().hex[:12]}"  # unique without a module-level counter
    table_env.execute_sql(f"CREATE CATALOG `{name}` WITH ('type' = 'generic_in_memory')")
    table_env.use_catalog(name)
    functions_before = set(table_env.list_user_defined_functions())

    def restore() -> None:
        table_env.use_catalog(catalog)
        table_env.use_database(database)
        table_env.execute_sql(f"DROP CATALOG IF EXISTS `{name}`")
        for fn in set(table_env.list_user_defined_functions()) - functions_before:
            table_env.drop_temporary_system_function(fn)
        table_now = dict(table_conf.toMap())
        changed = {k for k in table_now.keys() | table_before.keys() if table_now.get(k) != table_before.get(k)}
        for config, old in ((table_conf, table_before), (root_conf, root_before)):
            for key in changed:
                if key in old:
                    config.setString(key, old[key])
                else:
                    config.removeKey(key)

    return restore
