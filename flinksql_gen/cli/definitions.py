"""`validate`, `render` and `schema`: definitions to a Flink SQL bundle."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

import click

from flinksql_gen import api
from flinksql_gen.errors import DefinitionError

TARGET = click.option("--target", "-t", default="local", show_default=True,
                      help="local, cluster, gateway, aiven, or a target from targets.yaml")  # fmt: skip
TARGETS_FILE = click.option("--targets", "targets_file", type=click.Path(dir_okay=False, path_type=Path),
                            help="targets file (default: targets.yaml next to or above the pipelines)")  # fmt: skip

FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)


def _report_problems(exc: DefinitionError, fmt: str) -> NoReturn:
    """Every problem at once: JSON on stdout for tools, or one line each on stderr; exit 1."""
    if fmt == "json":
        click.echo(exc.to_json())
    else:
        click.echo(str(exc), err=True)
        click.echo(f"{len(exc.problems)} problem(s) found.", err=True)
    sys.exit(1)


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@TARGET
@TARGETS_FILE
@FORMAT
def validate(path: Path, target: str, targets_file: Path | None, fmt: str) -> None:
    """Check every definition under PATH and report all problems at once (exit 1 if any)."""
    try:
        count = api.validate(path, target, targets_file)
    except DefinitionError as exc:
        _report_problems(exc, fmt)
    if fmt == "json":
        click.echo(json.dumps({"errors": [], "pipelines": count}))
    else:
        click.echo(f"ok: {count} pipeline(s) valid for target {target!r}")


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("target"),
              show_default=True,
              help="bundle folder: new, empty, or a previous bundle (only the bundle's own files are replaced)")  # fmt: skip
@TARGET
@TARGETS_FILE
@FORMAT
def render(path: Path, output: Path, target: str, targets_file: Path | None, fmt: str) -> None:
    """Render the pipelines under PATH into a deterministic Flink SQL bundle."""
    try:
        project = api.find_project(path, targets_file)
        bundle = api.render(path, target, targets_file)
    except DefinitionError as exc:
        _report_problems(exc, fmt)
    files = bundle.write(output, protected=project.protected_paths())
    if fmt == "json":
        click.echo(json.dumps({"errors": [], "output": str(output), "files": sorted(files)}))
        return
    for name in sorted(files):
        click.echo(f"wrote {output / name}")


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@TARGET
@TARGETS_FILE
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path(".flinksql"),
              show_default=True, help="where the connector jars are kept")  # fmt: skip
def check(path: Path, target: str, targets_file: Path | None, workdir: Path) -> None:
    """Compile every statement against the real Flink planner (no broker or database needed)."""
    from flinksql_gen.check import check_bundle
    from flinksql_gen.run.table_env import open_table_env
    from flinksql_gen.stack.jars import ensure_jars

    bundle = api.render(path, target, targets_file)
    click.echo(f"planning {sum(len(p.inserts) for p in bundle.pipelines)} statement(s) with Flink...", err=True)
    table_env = open_table_env(jars=ensure_jars(workdir), log_dir=workdir / "logs")
    problems = check_bundle(bundle.pipelines, table_env)
    if problems:
        raise DefinitionError(problems)
    click.echo(f"ok: Flink accepts every statement of {len(bundle.pipelines)} pipeline(s)")


@click.command()
def schema() -> None:
    """Print the JSON Schema of the pipeline definition format (for editors)."""
    click.echo(json.dumps(api.json_schema(), indent=2, sort_keys=True))


COMMANDS: list[click.Command] = [validate, render, check, schema]
