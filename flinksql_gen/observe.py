"""Per-job metrics of a Flink cluster, read from the JobManager REST API (job name = pipeline name).

What is read, per job:
- GET /jobs/:id                                    state, duration, vertices (name, parallelism, status)
- GET /jobs/:id/vertices/:vid/subtasks/metrics     summed over subtasks: task numRecordsIn/Out; for each
                                                   source `Source__<table>[n].numRecordsIn` (records read
                                                   from Kafka; a checked source's shared read is
                                                   `Source__<table>[checked_read]`), its errors and output
                                                   watermark; for each
                                                   sink `<table>[n]__Writer.numRecordsSend` (records
                                                   written out) and its send errors
- GET /jobs/:id/metrics?get=numRestarts,...        restarts, uptime, downtime
- GET /jobs/:id/checkpoints                        completed/failed/restored counts, latest completed
                                                   checkpoint (duration, age, path), restore origin

The JobManager refreshes task metrics every `metrics.fetcher.update-interval` (10 s by default, 2 s
on the stack's session cluster), so record counts and restarts may lag that much behind;
checkpoint figures are live.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from urllib.parse import quote

from flinksql_gen.deploy.base import JobInfo, root_cause
from flinksql_gen.deploy.jobmanager import JobManagerClient

# Flink's watermark before any has been emitted (Long.MIN_VALUE).
NO_WATERMARK = -(2**63)
_SOURCE = re.compile(r"^Source__(?P<name>.+?)\[(?:\d+|checked_read)\]\."
                     r"(?P<metric>numRecordsIn|numRecordsInErrors|currentOutputWatermark)$")
_WRITER = re.compile(r"^(?P<name>.+?)\[\d+\]__Writer\.(?P<metric>numRecordsSend|numRecordsSendErrors|numRecordsIn)$")
_LEGACY_SINK = re.compile(r"^Sink__(?P<name>.+?)\[\d+\]\.(?P<metric>numRecordsIn)$")
_TASK = ("numRecordsIn", "numRecordsOut")
JOB_METRICS = ("numRestarts", "uptime", "downtime")


@dataclass(frozen=True)
class VertexMetrics:
    name: str
    parallelism: int
    status: str
    records_in: int | None  # records received from upstream tasks (0 for a source task)
    records_out: int | None  # records sent to downstream tasks (0 for a task that only writes out)


@dataclass(frozen=True)
class SourceMetrics:
    name: str  # the source table
    records_in: int | None  # records read from the external system (Kafka)
    errors: int | None
    watermark_ms: int | None  # lowest output watermark over the subtasks; None: none emitted yet


@dataclass(frozen=True)
class SinkMetrics:
    name: str  # the sink table
    records_out: int | None  # records handed to the external system (numRecordsSend)
    errors: int | None


@dataclass(frozen=True)
class CheckpointMetrics:
    completed: int = 0
    failed: int = 0
    in_progress: int = 0
    restored: int = 0
    latest_id: int | None = None
    latest_duration_ms: int | None = None  # end to end, of the latest completed checkpoint
    latest_age_s: float | None = None  # since the latest completed checkpoint was acknowledged
    latest_path: str | None = None
    restored_from: str | None = None  # savepoint or checkpoint the job (last) started from
    latest_failure: str | None = None  # why the latest failed checkpoint failed


@dataclass(frozen=True)
class JobMetrics:
    pipeline: str  # the job name
    job_id: str
    state: str
    duration_ms: int | None
    restarts: int | None
    uptime_ms: int | None
    downtime_ms: int | None
    checkpoints: CheckpointMetrics
    sources: tuple[SourceMetrics, ...] = ()
    sinks: tuple[SinkMetrics, ...] = ()
    vertices: tuple[VertexMetrics, ...] = ()
    last_failure: str | None = None  # root cause of the latest failure, if the job ever failed
    notes: tuple[str, ...] = field(default=())

    def source(self, name: str) -> SourceMetrics:
        return next(s for s in self.sources if s.name == name)

    def sink(self, name: str) -> SinkMetrics:
        return next(s for s in self.sinks if s.name == name)

    def to_json(self) -> dict:
        return asdict(self)


class MetricsClient(JobManagerClient):
    """JobManagerClient plus the metric endpoints."""

    def vertex_metric_ids(self, job_id: str, vertex_id: str) -> list[str]:
        return [m["id"] for m in self._request("GET", f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics")]

    def vertex_metrics(self, job_id: str, vertex_id: str, ids: Iterable[str]) -> dict[str, dict]:
        """metric id -> {min, max, avg, sum, skew} over the vertex's subtasks."""
        ids = list(ids)
        if not ids:
            return {}
        query = quote(",".join(ids), safe=",")
        answer = self._request("GET", f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics?get={query}")
        return {m["id"]: m for m in answer}

    def job_metric_values(self, job_id: str, ids: Iterable[str] = JOB_METRICS) -> dict[str, str]:
        answer = self._request("GET", f"/jobs/{job_id}/metrics?get={quote(','.join(ids), safe=',')}")
        return {m["id"]: m.get("value") for m in answer}


def _int(value) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _checkpoints(answer: dict, now_ms: float) -> CheckpointMetrics:
    counts = answer.get("counts") or {}
    latest = answer.get("latest") or {}
    done = latest.get("completed") or {}
    restored = latest.get("restored") or {}
    failed = latest.get("failed") or {}
    ack = done.get("latest_ack_timestamp")
    return CheckpointMetrics(
        completed=int(counts.get("completed") or 0),
        failed=int(counts.get("failed") or 0),
        in_progress=int(counts.get("in_progress") or 0),
        restored=int(counts.get("restored") or 0),
        latest_id=done.get("id"),
        latest_duration_ms=done.get("end_to_end_duration"),
        latest_age_s=max(0.0, (now_ms - ack) / 1000) if ack else None,
        latest_path=done.get("external_path"),
        restored_from=restored.get("external_path"),
        latest_failure=failed.get("failure_message"),
    )


def job_metrics(jm: MetricsClient, job_id: str, *, name: str | None = None) -> JobMetrics:
    """Every figure of one job (see the module docstring)."""
    job = jm.job(job_id)
    now_ms = job.get("now") or time.time() * 1000
    vertices: list[VertexMetrics] = []
    sources: dict[str, dict[str, dict]] = {}
    sinks: dict[str, dict[str, dict]] = {}
    notes: list[str] = []
    for v in job.get("vertices", []):
        status = str(v.get("status", ""))
        task: dict[str, dict] = {}
        if status == "RUNNING":
            ids = jm.vertex_metric_ids(job_id, v["id"])
            wanted = [i for i in ids if i in _TASK or _SOURCE.match(i) or _WRITER.match(i) or _LEGACY_SINK.match(i)]
            values = jm.vertex_metrics(job_id, v["id"], wanted)
            for metric_id, value in values.items():
                if metric_id in _TASK:
                    task[metric_id] = value
                elif m := _SOURCE.match(metric_id):
                    sources.setdefault(m["name"], {})[m["metric"]] = value
                elif m := _WRITER.match(metric_id) or _LEGACY_SINK.match(metric_id):
                    sinks.setdefault(m["name"], {})[m["metric"]] = value
        vertices.append(VertexMetrics(
            name=str(v.get("name", "")), parallelism=int(v.get("parallelism") or 0), status=status,
            records_in=_int((task.get("numRecordsIn") or {}).get("sum")),
            records_out=_int((task.get("numRecordsOut") or {}).get("sum")),
        ))
    if any(v.status != "RUNNING" for v in vertices):
        notes.append("records and watermarks are reported for running tasks only")
    state = str(job.get("state", "")).upper()
    values = jm.job_metric_values(job_id) if state not in ("FINISHED", "CANCELED", "FAILED") else {}
    restarts = _int(values.get("numRestarts"))
    failure = None
    if (restarts or 0) > 0 or state in ("FAILED", "FAILING", "RESTARTING"):
        trace = jm.exception(job_id)
        failure = root_cause(trace).splitlines()[0] if trace else None
    return JobMetrics(
        pipeline=name or str(job.get("name", "")),
        job_id=job_id,
        state=state,
        duration_ms=_int(job.get("duration")),
        restarts=restarts,
        uptime_ms=_int(values.get("uptime")),
        downtime_ms=_int(values.get("downtime")),
        checkpoints=_checkpoints(jm.checkpoints(job_id), now_ms),
        sources=tuple(SourceMetrics(
            name, _int(m.get("numRecordsIn", {}).get("sum")), _int(m.get("numRecordsInErrors", {}).get("sum")),
            _watermark(m.get("currentOutputWatermark")),
        ) for name, m in sorted(sources.items())),
        sinks=tuple(SinkMetrics(
            name, _int((m.get("numRecordsSend") or m.get("numRecordsIn") or {}).get("sum")),
            _int(m.get("numRecordsSendErrors", {}).get("sum")),
        ) for name, m in sorted(sinks.items())),
        vertices=tuple(vertices),
        last_failure=failure,
        notes=tuple(notes),
    )


def _watermark(value: dict | None) -> int | None:
    low = _int((value or {}).get("min"))
    return None if low is None or low <= NO_WATERMARK else low


def select_jobs(jobs: Iterable[JobInfo], names: Iterable[str] = (), all_jobs: bool = False) -> list[JobInfo]:
    """Active jobs (or all, newest first per name), optionally only those named in `names`."""
    wanted = set(names)
    chosen = [j for j in jobs if (all_jobs or j.active) and (not wanted or j.name in wanted)]
    return sorted(chosen, key=lambda j: (j.name, -(j.start_time or 0)))


def pipeline_metrics(url: str, names: Iterable[str] = (), *, all_jobs: bool = False,
                     timeout: float = 10.0) -> list[JobMetrics]:
    """Metrics of the cluster's running jobs (`all_jobs`: finished ones too), by pipeline name."""
    with MetricsClient(url, timeout=timeout) as jm:
        return [job_metrics(jm, j.job_id, name=j.name) for j in select_jobs(jm.jobs(), names, all_jobs)]


def wait_for_metric(read, predicate, timeout: float = 30.0, every: float = 1.0):
    """Poll `read()` until `predicate(value)` (metrics lag up to the fetcher interval); the last value."""
    deadline = time.monotonic() + timeout
    value = read()
    while not predicate(value) and time.monotonic() < deadline:
        time.sleep(every)
        value = read()
    return value
