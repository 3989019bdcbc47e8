"""The deployment-target interface: where a rendered pipeline is submitted and controlled.

A target is found by name in a small registry (datasette-style pluggable targets), so a new
kind of cluster plugs in with `register("name", factory)` without touching the CLI. Users always address jobs by pipeline name (the job name, set via `pipeline.name`);
job ids stay an implementation detail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from flinksql_gen.bundle import PipelineBundle, Statement
from flinksql_gen.errors import FlinksqlGenError, Location, UsageError
from flinksql_gen.secrets import mask, references

# Flink states in which a job still holds (or may again hold) its slots and state.
ACTIVE_STATES = frozenset(
    {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING", "RECONCILING", "SUSPENDED"}
)


class DeployError(FlinksqlGenError):
    """Submitting or controlling a job failed; the message names pipeline and YAML location."""


@dataclass(frozen=True)
class SubmitResult:
    job_id: str | None
    pipeline: str
    # Set when the job went to its own application cluster (gateway v4 script deployment).
    cluster_id: str | None = None
    restored_from: str | None = None


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    name: str
    state: str
    start_time: int | None = None  # epoch milliseconds, when the cluster reports it

    @property
    def active(self) -> bool:
        return self.state.upper() in ACTIVE_STATES


@runtime_checkable
class DeployTarget(Protocol):
    """What every cluster kind offers. Methods raise DeployError with one readable message."""

    name: str

    def submit(
        self,
        pipeline: PipelineBundle,
        *,
        savepoint: str | None = None,
        allow_non_restored_state: bool = False,
    ) -> SubmitResult: ...

    def jobs(self) -> list[JobInfo]: ...

    def stop(self, name: str, savepoint_dir: str) -> str:
        """Stop the named job with a savepoint; returns the savepoint path."""
        ...

    def cancel(self, name: str) -> None: ...


TargetFactory = Callable[..., DeployTarget]
_REGISTRY: dict[str, TargetFactory] = {}


def register(name: str, factory: TargetFactory) -> None:
    """Make a target kind available by name (later registrations replace earlier ones)."""
    _REGISTRY[name] = factory


def target_names() -> list[str]:
    return sorted(_REGISTRY)


def get_target(name: str, **options: object) -> DeployTarget:
    """Build the target registered under `name` with its options (e.g. url=...); the built-in
    targets are registered by `flinksql_gen.deploy`'s __init__, which runs before this module."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(target_names()) or "none"
        raise UsageError(f"unknown deployment target {name!r} (known: {known})") from None
    return factory(**options)


# --- helpers shared by the clients -------------------------------------------------------------


def require_inserts(pipeline: PipelineBundle) -> None:
    """A pipeline without an INSERT would start no job: say so before contacting anything."""
    if not pipeline.inserts:
        raise DeployError(f"{pipeline.source_file}: pipeline {pipeline.name!r} has no INSERT statement to submit")


def find_active_job(jobs: Iterable[JobInfo], name: str) -> JobInfo:
    """The one active job named `name`; a clear error when there is none (or several)."""
    all_jobs = list(jobs)
    matches = [j for j in all_jobs if j.name == name and j.active]
    if not matches:
        running = sorted({j.name for j in all_jobs if j.active})
        listed = ", ".join(running) if running else "none"
        raise DeployError(f"no running job named {name!r} (running jobs: {listed})")
    if len(matches) > 1:
        ids = ", ".join(j.job_id for j in matches)
        raise DeployError(f"several running jobs are named {name!r} ({ids}); stop the extra ones by hand")
    return matches[0]


def secret_names(pipeline: PipelineBundle) -> list[str]:
    """Every environment variable a pipeline's statements refer to (all treated as secret)."""
    names = list(pipeline.env)
    for s in pipeline.statements:
        names.extend(references(s.sql))
    names.extend(references(pipeline.script))
    return list(dict.fromkeys(names))


def safe(text: str, pipeline: PipelineBundle | None = None, names: Iterable[str] = ()) -> str:
    """Mask the values of every referenced environment variable in a message."""
    all_names = list(names) + (secret_names(pipeline) if pipeline is not None else [])
    return mask(text, names=all_names)


_CAUSED_BY = re.compile(r"^\s*Caused by:\s*(.*)$")
_EXCEPTION_HEAD = re.compile(
    r"^([a-zA-Z_$][\w$]*\.)+([A-Z][\w$]*(?:Exception|Error|Throwable))(?::\s*(.*))?$"
)


def root_cause(text: str, max_lines: int = 6) -> str:
    """The last `Caused by:` of a Java stack trace (with its message lines), short class name.

    Without a `Caused by:`, the first exception line. Never returns `at ...` frames.
    """
    text = text.replace("<Exception on server side:", "").replace("End of exception on server side>", "")
    lines = text.splitlines()
    start = None
    for i, line in enumerate(lines):
        if _CAUSED_BY.match(line):
            start = i
    if start is None:
        for i, line in enumerate(lines):
            if _EXCEPTION_HEAD.match(line.strip()):
                start = i
                break
    if start is None:
        return next((line.strip() for line in lines if line.strip()), text.strip())
    first = _CAUSED_BY.sub(r"\1", lines[start]).strip()
    body = [first]
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if stripped.startswith(("at ", "... ")) or _CAUSED_BY.match(line) or len(body) >= max_lines:
            break
        if stripped:
            body.append(stripped)
    head = _EXCEPTION_HEAD.match(body[0])
    if head:
        body[0] = f"{head.group(2)}: {head.group(3)}" if head.group(3) else head.group(2)
    return "\n".join(body)


def statement_error(
    pipeline: PipelineBundle, statements: Iterable[Statement], cause: str, what: str
) -> DeployError:
    """A DeployError that points at the YAML location(s) behind the failing statement(s)."""
    stmts = list(statements)
    chosen = _blame(stmts, cause)
    where: Location | str = chosen.origin if chosen else (stmts[0].origin if stmts else pipeline.source_file)
    names = chosen.name if chosen else ", ".join(s.name for s in stmts)
    others = ""
    if chosen is None and len(stmts) > 1:
        others = " (statements at " + ", ".join(str(s.origin) for s in stmts) + ")"
    message = f"{where}: pipeline {pipeline.name!r}: {what} {names!r} failed{others}: {cause}"
    return DeployError(safe(message, pipeline))


def _blame(stmts: list[Statement], cause: str) -> Statement | None:
    if len(stmts) == 1:
        return stmts[0]
    hits = [s for s in stmts if re.search(rf"\b{re.escape(s.name)}\b", cause)]
    return hits[0] if len(hits) == 1 else None
