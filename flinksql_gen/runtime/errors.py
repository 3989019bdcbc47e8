"""Turn a Py4J/Java exception into one readable FlinksqlGenError; the full trace goes to a log file."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from flinksql_gen.bundle import Statement
from flinksql_gen.errors import FlinksqlGenError, Location
from flinksql_gen.secrets import mask

_PY_ERROR = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?::\s*(.*))?$")


class RunError(FlinksqlGenError):
    """A statement or job failed; names the statement's YAML origin and Flink's root cause."""

    def __init__(self, message: str, origin: Location | None = None, root_cause: str = "",
                 log_file: Path | None = None, statement: Statement | None = None):
        self.origin = origin
        self.root_cause = root_cause
        self.log_file = log_file
        self.statement = statement
        # Statement problems read like definition problems (exit 1); job failures are exit 2.
        self.exit_code = 1 if statement is not None else 2
        super().__init__(message)


def _java_throwable(exc: BaseException):
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        java = getattr(cur, "java_exception", None)
        if java is not None:
            return java
        cur = cur.__cause__ or cur.__context__
    return None


_CAUSED_BY = re.compile(r"^Caused by:\s*([\w$.]+)(?::\s*(.*))?$")


def _text_root_cause(exc: BaseException) -> tuple[str, str] | None:
    """The last `Caused by:` of a Java trace kept only as text: PyFlink turns TableException and
    the catalog exceptions into Python exceptions that carry the trace's text, not the Java object."""
    text = getattr(exc, "stack_trace", None)
    if not isinstance(text, str):
        return None
    found = None
    for line in text.splitlines():
        m = _CAUSED_BY.match(line.strip())
        if m:
            found = (m.group(1), m.group(2) or m.group(1))
    return found


def root_cause(exc: BaseException) -> tuple[str, str]:
    """(class name, message) of the deepest Java cause (or of the Python exception)."""
    java = _java_throwable(exc)
    if java is None:
        return _text_root_cause(exc) or (type(exc).__name__, str(exc))
    try:
        node, depth = java, 0
        while depth < 64:
            nxt = node.getCause()
            if nxt is None or nxt.equals(node):
                break
            node, depth = nxt, depth + 1
        return str(node.getClass().getName()), str(node.getMessage() or node.toString())
    except Exception:  # the gateway may be gone
        return type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""


def summarize(message: str, limit: int = 400) -> str:
    """One line: a Python traceback's final error line, else the first line."""
    lines = [ln for ln in message.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    if any("Traceback (most recent call last)" in ln for ln in lines):
        for ln in reversed(lines):
            if _PY_ERROR.match(ln):
                return ln.strip()[:limit]
    return lines[0].strip()[:limit]


def full_trace(exc: BaseException) -> str:
    java = _java_throwable(exc)
    if java is not None:
        try:
            from pyflink.java_gateway import get_gateway

            jvm = get_gateway().jvm
            writer = jvm.java.io.StringWriter()
            java.printStackTrace(jvm.java.io.PrintWriter(writer))
            return str(writer.toString())
        except Exception:
            pass
    import traceback

    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def write_log(log_dir: Path, pipeline: str, header: str, trace: str, env: Mapping[str, str],
              secret_names: Iterable[str]) -> Path:
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = log_dir / f"run-{pipeline}-{stamp}.log"
    n = 1
    while path.exists():
        n += 1
        path = log_dir / f"run-{pipeline}-{stamp}-{n}.log"
    path.write_text(mask(f"{header}\n\n{trace}\n", env, list(secret_names)))
    return path


def to_run_error(exc: BaseException, *, pipeline: str, statement: Statement | None, origin: Location | None,
                 what: str, log_dir: Path, env: Mapping[str, str], secret_names: Iterable[str]) -> RunError:
    """The error to show: '<origin>: <what> failed: <root cause>' plus the path of the full trace."""
    names = list(secret_names)
    cls, message = root_cause(exc)
    short = mask(summarize(message) or cls, env, names)
    header = f"pipeline {pipeline}: {what} failed" + (f" ({origin})" if origin else "")
    if statement is not None:
        header += f"\n\nstatement ({statement.kind} {statement.name}):\n{statement.sql}"
    log = write_log(log_dir, pipeline, header, full_trace(exc), env, names)
    where = f"{origin}: " if origin else ""
    text = f"{where}{what} failed: {short} (full trace: {log})"
    return RunError(text, origin=origin, root_cause=short, log_file=log, statement=statement)
