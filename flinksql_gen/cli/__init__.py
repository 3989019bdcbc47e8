"""The `flinksql-gen` command line: a thin click layer over `flinksql_gen.api` and friends.

Each area keeps its commands in its own module (a `COMMANDS` list); this module only
assembles them and turns user errors into one readable message and an exit code.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path

import click

from flinksql_gen.cli import (
    aiven,
    cluster,
    definitions,
    demo,
    detect,
    init,
    model_service,
    produce,
    stack,
    usertests,
)
from flinksql_gen.cli.output import usage_error_json, wants_json
from flinksql_gen.errors import DefinitionError, FlinksqlGenError
from flinksql_gen.machine import Machine
from flinksql_gen.project import Project


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        as_json = wants_json([*getattr(ctx, "_protected_args", []), *ctx.args])
        try:
            return super().invoke(ctx)
        except FlinksqlGenError as exc:
            if as_json and isinstance(exc, DefinitionError):
                click.echo(exc.to_json())
            elif as_json:
                usage_error_json(str(exc), exc.exit_code)
            else:
                click.echo(f"error: {exc}" if exc.exit_code != 1 else str(exc), err=True)
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            if as_json:  # a usage error of a JSON command line is JSON too
                usage_error_json(exc.format_message())
            raise
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug of ours, not the user's: exit 2, trace in a file
            log = _crash_log(traceback.format_exc())
            click.echo(f"internal error: {type(exc).__name__}: {exc} (trace: {log}; please report it)", err=True)
            sys.exit(2)


def _crash_log(trace: str) -> str:
    """Write the trace to a new file in the user's cache folder (O_EXCL, mode 0600: a name
    planted in advance, or a link, can never redirect the write)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flinksql-gen"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="crash-", suffix=".log", dir=base)
        with os.fdopen(fd, "w") as f:
            f.write(trace)
        return name
    except OSError as exc:  # no writable cache: the trace goes to the terminal instead
        click.echo(trace, err=True)
        return f"not written: {exc.strerror}"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flinksql-gen")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), envvar="FLINKSQL_PROJECT_DIR",
              help="the project folder (holds targets.yaml or flinksql.yaml); default: the nearest one at or "
                   "above the given path or the current directory [env: FLINKSQL_PROJECT_DIR]")  # fmt: skip
@click.pass_context
def main(ctx: click.Context, project_dir: Path | None) -> None:
    """Turn YAML metric and anomaly definitions into Apache Flink SQL, and run it."""
    # The one place where the project and the machine's FLINKSQL_* settings are resolved.
    source = ctx.get_parameter_source("project_dir")
    how = "FLINKSQL_PROJECT_DIR" if source == click.core.ParameterSource.ENVIRONMENT else "--project-dir"
    ctx.obj = Project.discover(project_dir=project_dir, how=how, machine=Machine.from_environ(os.environ))


for _module in (definitions, init, stack, produce, demo, detect, model_service, cluster, aiven, usertests):
    for _command in _module.COMMANDS:
        main.add_command(_command)
