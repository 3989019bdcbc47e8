"""One output convention for every command that reports.

`--format text|json` (`--json` survives as a deprecated alias), the project line every command
prints, JSON documents on stdout, and the selection options shared by the commands that render.
Text goes to people (messages on stderr, results on stdout); JSON goes to tools (stdout only,
so that `2>&1` or a test runner that mixes the streams still reads one document). The rich
tables and text printers of the stack commands live here too.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from flinksql_gen.errors import DefinitionError
from flinksql_gen.machine import Machine
from flinksql_gen.project import Project, Selection

FORMATS = ("text", "json")


def format_option(func: Callable) -> Callable:
    """Adds `--format text|json` and the hidden, deprecated `--json`; the command receives `fmt`."""

    @click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
                  help="text for people, json for tools (one JSON document on stdout; --json is a deprecated alias)")  # fmt: skip
    @click.option("--json", "as_json", is_flag=True, hidden=True, help="deprecated: use --format json")
    @functools.wraps(func)
    def wrapper(*args: Any, fmt: str, as_json: bool, **kwargs: Any) -> Any:
        if as_json:  # no warning printed: a tool reading `cmd --json 2>&1` must still get one JSON document
            fmt = "json"
        return func(*args, fmt=fmt, **kwargs)

    return wrapper


def wants_json(args: list[str]) -> bool:
    """Whether a command line asks for JSON, read before (or without) click's parsing, so that a
    usage error of that very command line can be reported as JSON too."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--json" or arg == "--format=json" or (arg == "--format" and args[i + 1 : i + 2] == ["json"]):
            return True
    return False


def selection_options(func: Callable) -> Callable:
    """`--select` / `--exclude` (pipeline name or glob, repeatable); the command receives `selection`."""

    @click.option("--select", "-s", "select", multiple=True, metavar="NAME|GLOB",
                  help="only these pipelines (name or glob such as 'cpu*'; repeatable)")  # fmt: skip
    @click.option("--exclude", "exclude", multiple=True, metavar="NAME|GLOB",
                  help="leave these pipelines out (repeatable); they are not validated either")  # fmt: skip
    @functools.wraps(func)
    def wrapper(*args: Any, select: tuple[str, ...], exclude: tuple[str, ...], **kwargs: Any) -> Any:
        return func(*args, selection=Selection(tuple(select), tuple(exclude)), **kwargs)

    return wrapper


def project(path: Path | None = None, targets_file: Path | None = None) -> Project:
    """The run's project (built once by the group callback), for a command's PATH."""
    ctx = click.get_current_context()
    base = ctx.find_object(Project)
    if base is None:  # a command invoked on its own (tests): discover here, as the group would
        base = Project.discover(machine=Machine.from_environ(os.environ))
    return base.for_path(path, targets_file)


def machine() -> Machine:
    """This machine's FLINKSQL_* settings, resolved once with the project."""
    return project().machine


def announce(proj: Project, fmt: str) -> None:
    """The one line saying which targets file and templates a run used (in text mode; JSON
    documents carry it under "project")."""
    if fmt == "text" and not proj.announced:  # once per run, however many steps read the project
        click.echo(proj.summary(), err=True)
    proj.announced = True


def emit_json(data: Any) -> None:
    click.echo(json.dumps(_finite(data), indent=2))


def _finite(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def report_problems(exc: DefinitionError, fmt: str, proj: Project | None = None) -> NoReturn:
    """Every problem at once: JSON on stdout for tools, or one line each on stderr; exit 1."""
    if fmt == "json":
        doc: dict[str, Any] = json.loads(exc.to_json())
        if proj is not None:
            doc["project"] = proj.describe()
        emit_json(doc)
    else:
        click.echo(str(exc), err=True)
        click.echo(f"{len(exc.problems)} problem(s) found.", err=True)
    sys.exit(1)


def usage_error_json(message: str, exit_code: int = 2) -> NoReturn:
    emit_json({"errors": [{"message": message}]})
    sys.exit(exit_code)


# ---------------------------------------------------------------- printers of the stack commands


def _num(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _span(ms: float | None) -> str:
    if ms is None:
        return "-"
    s = ms / 1000
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


def print_job_metrics(jobs: list) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=160)
    if not jobs:
        click.echo("no running pipelines on the cluster")
        return
    for j in jobs:
        cp = j.checkpoints
        last = (f"#{cp.latest_id} took {_span(cp.latest_duration_ms)}, {_span((cp.latest_age_s or 0) * 1000)} ago"
                if cp.latest_id is not None else "none yet")
        title = (f"pipeline {j.pipeline}: {j.state} for {_span(j.duration_ms)}, restarts {_num(j.restarts)}, "
                 f"checkpoints {cp.completed} ok / {cp.failed} failed (last {last})")
        if cp.restored_from:
            title += f", restored from {cp.restored_from}"
        table = Table(title=title, title_justify="left")
        for column in ("kind", "name", "records in", "records out", "errors", "watermark"):
            table.add_column(column, overflow="fold")
        for s in j.sources:
            mark = (dt.datetime.fromtimestamp(s.watermark_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                    if s.watermark_ms is not None else "none yet")
            table.add_row("source", s.name, _num(s.records_in), "", _num(s.errors), mark)
        for v in j.vertices:
            table.add_row("task", v.name, _num(v.records_in), _num(v.records_out), "", v.status.lower())
        for k in j.sinks:
            table.add_row("sink", k.name, "", _num(k.records_out), _num(k.errors), "")
        console.print(table)
        if j.last_failure:
            click.echo(f"  last failure: {j.last_failure}")
        for note in j.notes:
            click.echo(f"  note: {note}")


def print_stack_status(info: dict | None, as_json: bool) -> None:
    if info is None:
        return
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"local stack in {info['workdir']}", title_justify="left")
    for column in ("part", "state", "address", "pid"):
        table.add_column(column)
    parts = [("broker", "bootstrap"), ("postgres", "jdbc_url"), ("cluster", "rest_url"), ("gateway", "url")]
    for part, address in parts:
        if part in info:
            p = info[part]
            state = "[green]running[/]" if p["running"] else "[red]stopped[/]"
            table.add_row(part, state, str(p.get(address)), str(p.get("pid")))
    Console().print(table)
    if info.get("thresholds"):
        click.echo(f"thresholds: {', '.join(info['thresholds']['tables']) or '-'} from {info['thresholds']['folder']}")
    if info.get("topics"):
        click.echo(f"topics: {', '.join(info['topics'])}")


def record_json_line(r) -> str:
    return json.dumps({"partition": r.partition, "offset": r.offset, "key": r.key, "timestamp": r.timestamp,
                       "value": r.value}, default=str)


def print_records_table(topic: str, records: list, total: int) -> None:
    from rich.console import Console
    from rich.table import Table

    fields: list[str] = []
    for r in records:
        if isinstance(r.value, dict):
            fields += [k for k in r.value if k not in fields]
    table = Table(title=f"{topic}: last {len(records)} of {total} record(s)", title_justify="left")
    for column in ("p:offset", "key", "timestamp", *(fields or ["value"])):
        table.add_column(column, overflow="ellipsis", no_wrap=True, min_width=min(len(column), 12), max_width=40)
    for r in records:
        ts = (dt.datetime.fromtimestamp(r.timestamp / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
              if r.timestamp else "")
        values = ([_cell(r.value.get(f)) for f in fields] if isinstance(r.value, dict) and fields
                  else [_cell(r.value)] * max(1, len(fields)))
        table.add_row(f"{r.partition}:{r.offset}", r.key or "", ts, *values)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)


def _cell(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)
