"""`validate`, `render`, `check` and `schema`: definitions to a Flink SQL bundle."""

from __future__ import annotations

import json
from pathlib import Path

import click

from flinksql_gen import api
from flinksql_gen.cli.gcpause import collector_paused
from flinksql_gen.cli.output import (
    announce,
    emit_json,
    format_option,
    project,
    report_problems,
    selection_options,
)
from flinksql_gen.errors import DefinitionError
from flinksql_gen.project import Project, Selection

TARGET = click.option("--target", "-t", default="local", show_default=True,
                      help="local, cluster, gateway, aiven, or a target from targets.yaml")  # fmt: skip
TARGETS_FILE = click.option("--targets", "targets_file", type=click.Path(dir_okay=False, path_type=Path),
                            help="targets file (default: the project's targets.yaml)")  # fmt: skip
PATH = click.argument("path", type=click.Path(path_type=Path), required=False)


def _resolve(path: Path | None, targets_file: Path | None) -> tuple[Path, Project]:
    """PATH (default: the project's pipelines/) and the project it belongs to."""
    proj = project(path, targets_file)
    return (path if path is not None else proj.default_definitions()), proj


@click.command()
@PATH
@TARGET
@TARGETS_FILE
@selection_options
@format_option
def validate(path: Path | None, target: str, targets_file: Path | None, selection: Selection, fmt: str) -> None:
    """Check every definition under PATH (default: the project's pipelines/, searched recursively)
    and report all problems at once (exit 1 if any)."""
    path, proj = _resolve(path, targets_file)
    announce(proj, fmt)
    try:
        with collector_paused():
            count = api.validate(path, target, project=proj, selection=selection)
    except DefinitionError as exc:
        report_problems(exc, fmt, proj)
    if fmt == "json":
        emit_json({"errors": [], "pipelines": count, "target": target, "project": proj.describe()})
    else:
        click.echo(f"ok: {count} pipeline(s) valid for target {target!r}")


@click.command()
@PATH
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=Path("target"),
              show_default=True,
              help="bundle folder: new, empty, or a previous bundle (only the bundle's own files are replaced)")  # fmt: skip
@TARGET
@TARGETS_FILE
@selection_options
@format_option
def render(path: Path | None, output: Path, target: str, targets_file: Path | None, selection: Selection,
           fmt: str) -> None:  # fmt: skip
    """Render the pipelines under PATH (default: the project's pipelines/) into a deterministic Flink SQL bundle."""
    path, proj = _resolve(path, targets_file)
    announce(proj, fmt)
    try:
        defs = api.find_project(path, project=proj)
        with collector_paused():
            bundle = api.render(path, target, project=proj, selection=selection)
    except DefinitionError as exc:
        report_problems(exc, fmt, proj)
    files = bundle.write(output, protected=defs.protected_paths())
    if fmt == "json":
        emit_json({"errors": [], "output": str(output), "files": sorted(files),
                   "pipelines": [p.name for p in bundle.pipelines], "project": proj.describe()})  # fmt: skip
        return
    for name in sorted(files):
        click.echo(f"wrote {output / name}")


@click.command()
@PATH
@TARGET
@TARGETS_FILE
@selection_options
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path(".flinksql"),
              show_default=True, help="where the connector jars are kept")  # fmt: skip
@format_option
def check(path: Path | None, target: str, targets_file: Path | None, selection: Selection, workdir: Path,
          fmt: str) -> None:  # fmt: skip
    """Compile every statement against the real Flink planner (no broker or database needed)."""
    from flinksql_gen.runtime.check import check_bundle
    from flinksql_gen.runtime.jars import ensure_jars
    from flinksql_gen.runtime.table_env import open_table_env

    path, proj = _resolve(path, targets_file)
    announce(proj, fmt)
    try:
        bundle = api.render(path, target, project=proj, selection=selection)
    except DefinitionError as exc:
        report_problems(exc, fmt, proj)
    statements = sum(len(p.inserts) for p in bundle.pipelines)
    aiven = _aiven_target(proj, target)
    if fmt == "text":
        on = f"Flink {aiven.flink_version}, as Aiven applications" if aiven else "Flink"
        click.echo(f"planning {statements} statement(s) with {on}...", err=True)
    if aiven is not None:  # the bodies `deploy aiven` sends, on the target's own Flink version
        from flinksql_gen.deploy.aiven.check import check_bundle_aiven

        try:
            _, problems = check_bundle_aiven(bundle, aiven, workdir / "logs", out=lambda m: click.echo(m, err=True),
                                             cache=proj.machine.cache)
        except DefinitionError as exc:
            report_problems(exc, fmt, proj)
    else:
        here = proj.machine
        jars = ensure_jars(workdir, repository=here.maven_repository, cache=here.cache)
        table_env = open_table_env(jars=jars, log_dir=workdir / "logs")
        problems = check_bundle(bundle.pipelines, table_env)
    if problems:
        report_problems(DefinitionError(problems), fmt, proj)
    if fmt == "json":
        emit_json({"errors": [], "pipelines": [p.name for p in bundle.pipelines], "statements": statements,
                   "project": proj.describe()})  # fmt: skip
    else:
        on = f"Flink {aiven.flink_version} (Aiven)" if aiven else "Flink"
        click.echo(f"ok: {on} accepts every statement of {len(bundle.pipelines)} pipeline(s)")


def _aiven_target(proj: Project, name: str):
    from flinksql_gen.models.targets import AivenTarget

    target = proj.target(name)
    return target if isinstance(target, AivenTarget) else None


@click.command()
def schema() -> None:
    """Print the JSON Schema of the pipeline definition format (for editors)."""
    click.echo(json.dumps(api.json_schema(), indent=2, sort_keys=True))


COMMANDS: list[click.Command] = [validate, render, check, schema]
