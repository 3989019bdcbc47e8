"""`check --target aiven`: plan every Aiven application body on the target's own Flink version.

The bodies are exactly those `deploy aiven` sends (one application per INSERT, with the tables
it uses); only their blank connection options are filled with placeholders, on copies, for
planning (deploy/aiven/local_bodies.py). The planner runs in the isolated runtime of the target's
`flink_version` (`flinksql-gen setup --aiven`), and each refusal is reported at the YAML line
of the table or INSERT it concerns, like `check` on the local target.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from flinksql_gen.bundle import Bundle, PipelineBundle
from flinksql_gen.deploy.aiven import AivenDeployTarget
from flinksql_gen.deploy.aiven.local_bodies import PLAN_CONNECTIONS, LocalApp, local_apps
from flinksql_gen.errors import Problem
from flinksql_gen.models.targets import AivenTarget
from flinksql_gen.runtime.aiven.client import AppError, FlinkProcess
from flinksql_gen.runtime.errors import summarize

_JAVA_CLASS = re.compile(r"^[\w$.]+(?:Exception|Error):\s*")


def planned_apps(bundle: Bundle | PipelineBundle, target: AivenTarget, out: Callable[[str], None] = print) -> list[LocalApp]:
    """The bundle's applications with placeholder connections; DefinitionError for what Aiven
    cannot run at all (UDFs, views), exactly as `deploy aiven` refuses them."""
    from flinksql_gen.runtime.check import placeholder_env

    plans = AivenDeployTarget(target, env={}, out=out).plan(bundle)
    return local_apps(plans, PLAN_CONNECTIONS, placeholder_env())


def to_problem(local: LocalApp, error: AppError, flink_version: str) -> Problem:
    a = local.plan
    if error.part == "table":
        table = a.tables[error.index]
        origin, label = table.ddl.origin, f"table {table.name!r}"
    else:
        origin, label = a.insert.origin, f"statement {a.insert.name!r}"
    message = summarize(_JAVA_CLASS.sub("", error.message, count=1))
    return Problem(origin, f"pipeline {a.pipeline.name}: application {a.name}",
                   f"Flink {flink_version} (Aiven) rejects {label}: {message}",
                   "`flinksql-gen render -t aiven` shows the generated SQL")


def check_apps(apps: list[LocalApp], process: FlinkProcess) -> list[Problem]:
    """Plan every application in `process`; one problem per application Flink refuses."""
    version = process.runtime.version.name
    errors = process.plan([local.app for local in apps])
    return [to_problem(local, e, version) for local, e in zip(apps, errors, strict=True) if e is not None]


def check_bundle_aiven(bundle: Bundle, target: AivenTarget, log_dir: Path,
                       out: Callable[[str], None] = print, cache: Path | None = None) -> tuple[int, list[Problem]]:
    """(applications planned, problems), on a runtime process started for this call; the runtime
    is looked for in `cache` (None: the built-in download cache)."""
    from flinksql_gen.runtime.aiven import find_runtime

    apps = planned_apps(bundle, target, out)
    runtime = find_runtime(target.flink_version, cache)
    with FlinkProcess(runtime, log_dir) as process:
        return len(apps), check_apps(apps, process)
