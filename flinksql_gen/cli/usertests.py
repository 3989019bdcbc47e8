"""`flinksql-gen test`: run the project's pipeline tests (`*.test.yaml`) on the embedded stack."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from flinksql_gen.cli.output import announce, emit_json, format_option, project, selection_options
from flinksql_gen.errors import DefinitionError
from flinksql_gen.project import Selection


@click.command("test")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@selection_options
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the embedded stack's folder (default: FLINKSQL_WORKDIR or .flinksql); started if it is not up")  # fmt: skip
@click.option("--cluster", is_flag=True,
              help="run the jobs on the stack's Flink session cluster (started if needed) instead of a local mini-cluster each")  # fmt: skip
@click.option("--schema", "schema", is_flag=True, help="print the JSON Schema of the test-file format and exit")
@format_option
def test(path: Path | None, selection: Selection, workdir: Path | None, cluster: bool, schema: bool, fmt: str) -> None:
    """Run pipeline tests: given these events and lookup rows, exactly these rows in each sink.

    PATH is a *.test.yaml file or a folder (default: the project's tests/ and pipelines/).
    --select/--exclude take test names, FILE::TEST ids or pipeline names. Exit 0 when every
    test passes, 1 when one fails, 2 on a usage error or an invalid test file."""
    from flinksql_gen.testing import report
    from flinksql_gen.testing.load import find_test_files, load_suites

    if schema:
        from flinksql_gen.testing.models import TestFile

        click.echo(json.dumps(TestFile.model_json_schema(), indent=2))
        return
    proj = project(path)
    announce(proj, fmt)
    try:
        cases = load_suites(find_test_files(path, proj), proj, selection)
    except DefinitionError as exc:
        if fmt == "json":
            emit_json({**json.loads(exc.to_json()), "project": proj.describe()})
        else:
            click.echo(str(exc), err=True)
            click.echo(f"{len(exc.problems)} problem(s) in the test files.", err=True)
        sys.exit(2)
    from flinksql_gen.testing.runner import TestSession

    say = (lambda m: click.echo(m, err=True)) if fmt == "text" else (lambda m: None)
    began = time.monotonic()
    here = proj.machine
    session = TestSession.open(here.stack_workdir(workdir), say, cluster=cluster, machine=here)
    startup = time.monotonic() - began
    say(f"running {len(cases)} test(s) (start-up {startup:.1f} s)")
    results = []
    for case in cases:
        result = session.run(case)
        results.append(result)
        if fmt == "text":
            click.echo(report.line(result))
            for text in report.details(result):
                click.echo(text)
    seconds = time.monotonic() - began
    if fmt == "json":
        emit_json({**report.to_json(results, seconds, startup), "project": proj.describe()})
    else:
        click.echo(report.summary(results, seconds))
    sys.exit(0 if all(r.status == "pass" for r in results) else 1)


COMMANDS: list[click.Command] = [test]
