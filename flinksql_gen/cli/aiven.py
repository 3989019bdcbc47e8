"""`flinksql-gen deploy aiven`: thin click layer over flinksql_gen.deploy.aiven."""

from __future__ import annotations

from pathlib import Path

import click
import yaml
from pydantic import ValidationError

from flinksql_gen.bundle import MANIFEST, Bundle
from flinksql_gen.errors import UsageError
from flinksql_gen.models.targets import AivenTarget, TargetsFile

TARGETS_FILE = "targets.yaml"


def find_targets_file(pipelines: Path, given: Path | None) -> Path | None:
    """--targets, else targets.yaml next to the pipelines folder (or inside it)."""
    if given is not None:
        return given
    folder = pipelines if pipelines.is_dir() else pipelines.parent
    for candidate in (folder.parent / TARGETS_FILE, folder / TARGETS_FILE):
        if candidate.is_file():
            return candidate
    return None


def load_aiven_target(targets_file: Path | None, name: str | None) -> tuple[str, AivenTarget]:
    """The aiven-type target to use: by name, else the one named 'aiven', else the only one."""
    targets: dict = {}
    if targets_file is not None:
        try:
            data = yaml.safe_load(targets_file.read_text()) or {}
            targets = dict(TargetsFile.model_validate(data).targets)
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise UsageError(f"{targets_file}: not a valid targets file: {exc}") from None
    aiven = {n: t for n, t in targets.items() if isinstance(t, AivenTarget)}
    if name:
        if name in aiven:
            return name, aiven[name]
        if name in targets:
            raise UsageError(f"target {name!r} is of type {targets[name].type!r}, not 'aiven'")
        if name == "aiven":
            return name, AivenTarget()
        raise UsageError(f"no target {name!r} in {targets_file or 'the built-in targets'}")
    if "aiven" in aiven or not aiven:
        return "aiven", aiven.get("aiven", AivenTarget())
    if len(aiven) == 1:
        return next(iter(aiven.items()))
    raise UsageError(f"several aiven targets ({', '.join(sorted(aiven))}): choose one with --target")


def load_bundle(pipelines: Path, target_name: str, targets_file: Path | None) -> Bundle:
    """A bundle directory (manifest.json) as is; pipeline definitions rendered for the target."""
    if pipelines.is_dir() and (pipelines / MANIFEST).is_file():
        bundle = Bundle.load(pipelines)
        if bundle.target not in (target_name, "aiven"):
            raise UsageError(
                f"{pipelines} was rendered for target {bundle.target!r}; render it with --target {target_name}"
            )
        return bundle
    try:
        from flinksql_gen.api import render  # the renderer (owned by the lead)
    except ImportError:
        raise UsageError(
            "the renderer (flinksql_gen.api.render) is not available; pass a bundle directory "
            "rendered for the aiven target instead"
        ) from None
    return render(pipelines, target=target_name, targets_file=targets_file)


@click.group("deploy")
def deploy() -> None:
    """Deploy rendered pipelines to a managed Flink service."""


@deploy.command("aiven")
@click.argument("pipelines", type=click.Path(exists=True, path_type=Path))
@click.option("--project", help="Aiven project (default: targets.yaml, then $AIVEN_PROJECT).")
@click.option(
    "--service", help="Aiven for Apache Flink service (default: targets.yaml, then $AIVEN_FLINK_SERVICE)."
)
@click.option("--targets", "targets_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", "target_name", help="Name of the aiven target in targets.yaml (default: 'aiven').")
@click.option("--pipeline", "only", multiple=True, help="Only this pipeline (repeatable).")
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
def aiven_command(
    pipelines: Path,
    project: str | None,
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
) -> None:
    """Deploy PIPELINES to Aiven for Apache Flink: one application per INSERT, named <pipeline>-<insert>."""
    from flinksql_gen.deploy.aiven import AivenDeployTarget, format_status

    modes = [n for n, on in (("--dry-run", dry_run), ("--generate-dir", generate_dir), ("--status", status),
                             ("--stop", stop)) if on]  # fmt: skip
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} cannot be combined")
    targets_path = find_targets_file(pipelines, targets_file)
    name, target = load_aiven_target(targets_path, target_name)
    bundle = load_bundle(pipelines, name, targets_path)
    if only:
        missing = sorted(set(only) - {p.name for p in bundle.pipelines})
        if missing:
            raise UsageError(f"no pipeline named {', '.join(missing)} in {pipelines}")
        bundle = Bundle(bundle.target, tuple(p for p in bundle.pipelines if p.name in only), bundle.generator)
    deployer = AivenDeployTarget(
        target, project=project, service=service, out=click.echo, timeout=timeout, poll_interval=poll_interval
    )
    if generate_dir is not None:
        for path in deployer.generate(bundle, generate_dir):
            click.echo(f"wrote {path}")
    elif dry_run:
        plans = deployer.validate(bundle, read_only=True)
        click.echo(f"valid: {', '.join(a.name for a in plans)} (nothing was changed)")
    elif status:
        click.echo(format_status(deployer.status(bundle)))
    elif stop:
        deployer.stop_bundle(bundle)
    else:
        results = deployer.deploy(bundle, allow_non_restored_state=allow_non_restored_state)
        for r in results:
            version = f" version {r.version}" if r.version is not None else ""
            click.echo(f"{r.application}: {r.action}{version}")


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
