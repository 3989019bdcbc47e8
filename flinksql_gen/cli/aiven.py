"""`flinksql-gen deploy aiven`: thin click layer over flinksql_gen.deploy.aiven."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from flinksql_gen.bundle import MANIFEST, Bundle
from flinksql_gen.cli import output
from flinksql_gen.errors import UsageError
from flinksql_gen.models.targets import AivenTarget
from flinksql_gen.project import EVERYTHING, Project, Selection


def load_aiven_target(project: Project, name: str | None) -> tuple[str, AivenTarget]:
    """The aiven-type target to use: by name, else the one named 'aiven', else the only one."""
    targets = project.targets()
    aiven = {n: t for n, t in targets.items() if isinstance(t, AivenTarget)}
    if name:
        if name in aiven:
            return name, aiven[name]
        if name in targets:
            raise UsageError(f"target {name!r} is of type {targets[name].type!r}, not 'aiven'")
        if name == "aiven":
            return name, AivenTarget()
        where = project.targets_file or "the built-in targets"
        raise UsageError(f"no target {name!r} in {where}")
    if "aiven" in aiven or not aiven:
        return "aiven", aiven.get("aiven", AivenTarget())
    if len(aiven) == 1:
        return next(iter(aiven.items()))
    raise UsageError(f"several aiven targets ({', '.join(sorted(aiven))}): choose one with --target")


def load_bundle(pipelines: Path, target_name: str, project: Project, selection: Selection = EVERYTHING) -> Bundle:
    """A bundle directory (manifest.json) as is; pipeline definitions rendered for the target
    (only the selected ones: the others are not even validated)."""
    if pipelines.is_dir() and (pipelines / MANIFEST).is_file():
        bundle = Bundle.load(pipelines)
        if bundle.target not in (target_name, "aiven"):
            raise UsageError(
                f"{pipelines} was rendered for target {bundle.target!r}; render it with --target {target_name}"
            )
        if selection:
            selection.check_used(p.name for p in bundle.pipelines)
            chosen = tuple(p for p in bundle.pipelines if selection.matches(p.name))
            bundle = Bundle(bundle.target, chosen, bundle.generator)
        return bundle
    from flinksql_gen.api import render

    return render(pipelines, target=target_name, project=project, selection=selection)


@click.group("deploy")
def deploy() -> None:
    """Deploy rendered pipelines to a managed Flink service."""


@deploy.command("aiven")
@click.argument("pipelines", type=click.Path(exists=True, path_type=Path))
@click.option("--project", "project_name", help="Aiven project (default: targets.yaml, then $AIVEN_PROJECT).")
@click.option(
    "--service", help="Aiven for Apache Flink service (default: targets.yaml, then $AIVEN_FLINK_SERVICE)."
)
@click.option("--targets", "targets_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", "target_name", help="Name of the aiven target in targets.yaml (default: 'aiven').")
@click.option("--pipeline", "only", multiple=True, help="Only this pipeline (repeatable; same as --select NAME).")
@output.selection_options
@click.option(
    "--dry-run", is_flag=True, help="Validate every application version with Aiven; change nothing."
)
@click.option(
    "--generate-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the exact request bodies (JSON) per application to DIR and stop.",
)
@click.option("--status", is_flag=True, help="List the applications, their versions and deployment states.")
@click.option("--stop", is_flag=True, help="Stop the running deployments with a savepoint.")
@click.option(
    "--allow-non-restored-state",
    is_flag=True,
    help="Deploy a state-breaking change without the old state (the old job still stops with a savepoint).",
)
@click.option("--timeout", default=900.0, show_default=True, help="Seconds to wait for a deployment state.")
@click.option("--poll-interval", default=2.0, hidden=True, help="Seconds between deployment status polls.")
@output.format_option
def aiven_command(
    pipelines: Path,
    project_name: str | None,
    service: str | None,
    targets_file: Path | None,
    target_name: str | None,
    only: tuple[str, ...],
    dry_run: bool,
    generate_dir: Path | None,
    status: bool,
    stop: bool,
    allow_non_restored_state: bool,
    timeout: float,
    poll_interval: float,
    selection: Selection,
    fmt: str,
) -> None:
    """Deploy PIPELINES to Aiven for Apache Flink: one application per INSERT, named <pipeline>-<insert>."""
    from flinksql_gen.deploy.aiven import AivenDeployTarget, format_status

    modes = [n for n, on in (("--dry-run", dry_run), ("--generate-dir", generate_dir), ("--status", status),
                             ("--stop", stop)) if on]  # fmt: skip
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} cannot be combined")
    project = output.project(pipelines, targets_file)
    output.announce(project, fmt)
    name, target = load_aiven_target(project, target_name)
    selection = Selection((*selection.select, *only), selection.exclude)
    bundle = load_bundle(pipelines, name, project, selection)
    say = (lambda m: click.echo(m, err=True)) if fmt == "json" else click.echo  # JSON: stdout holds one document
    deployer = AivenDeployTarget(
        target, project=project_name, service=service, out=say, timeout=timeout, poll_interval=poll_interval
    )
    doc: dict = {"errors": [], "target": name, "project": project.describe()}
    if generate_dir is not None:
        paths = deployer.generate(bundle, generate_dir)
        doc["files"] = [str(p) for p in paths]
        lines = [f"wrote {p}" for p in paths]
    elif dry_run:
        plans = deployer.validate(bundle, read_only=True)
        doc["valid"] = [a.name for a in plans]
        lines = [f"valid: {', '.join(a.name for a in plans)} (nothing was changed)"]
    elif status:
        doc["applications"] = deployer.status(bundle)
        lines = [format_status(doc["applications"])]
    elif stop:
        doc["results"] = [asdict(r) for r in deployer.stop_bundle(bundle)]
        lines = []
    else:
        results = deployer.deploy(bundle, allow_non_restored_state=allow_non_restored_state)
        doc["results"] = [asdict(r) for r in results]
        lines = [f"{r.application}: {r.action}" + (f" version {r.version}" if r.version is not None else "")
                 for r in results]  # fmt: skip
    if fmt == "json":
        output.emit_json(doc)
    else:
        for line in lines:
            click.echo(line)


def _commands() -> list[click.Command]:
    """Join the `deploy` group of the cluster commands when it exists (one group, several targets)."""
    try:
        from flinksql_gen.cli import cluster
    except ImportError:  # pragma: no cover
        return [deploy]
    for command in getattr(cluster, "COMMANDS", []):
        if isinstance(command, click.Group) and command.name == "deploy":
            command.add_command(aiven_command)
            return []
    return [deploy]


COMMANDS: list[click.Command] = _commands()
