"""One output convention for every command that reports.

`--format text|json` (`--json` survives as a deprecated alias), the project line every command
prints, JSON documents on stdout, and the selection options shared by the commands that render.
Text goes to people (messages on stderr, results on stdout); JSON goes to tools (stdout only,
so that `2>&1` or a test runner that mixes the streams still reads one document).
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from flinksql_gen.errors import DefinitionError
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
        base = Project.discover()
    return base.for_path(path, targets_file)


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
