"""`submit`, `jobs`, `stop`, `cancel`, `plan`: run pipelines on a Flink cluster, by name.

Where to: --gateway URL (Flink SQL Gateway) or --jobmanager URL (session cluster REST), else
the target named by --target in targets.yaml (default 'cluster'). Logic lives in
flinksql_gen.deploy; this module only parses options and prints.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from flinksql_gen.bundle import Bundle, PipelineBundle
from flinksql_gen.cli import output
from flinksql_gen.deploy import DeployError, DeployTarget, get_target
from flinksql_gen.deploy.upgrade import classify, load_manifest
from flinksql_gen.errors import UsageError
from flinksql_gen.project import EVERYTHING, Project, Selection

SAVEPOINT_DIR_KEYS = ("execution.checkpointing.savepoint-dir", "state.savepoints.dir")

GATEWAY = click.option(
    "--gateway", metavar="URL", help="Flink SQL Gateway REST address, e.g. http://127.0.0.1:8083"
)
JOBMANAGER = click.option(
    "--jobmanager", metavar="URL", help="JobManager REST address, e.g. http://127.0.0.1:8081"
)
TARGET = click.option(
    "--target",
    "-t",
    "target_name",
    help="target from targets.yaml (default: gateway/cluster from the URL given)",
)
TARGETS_FILE = click.option(
    "--targets", "targets_file", type=click.Path(dir_okay=False, path_type=Path), help="targets file"
)


def _project(targets_file: Path | None, near: Path | None = None) -> Project:
    """The run's project (see flinksql_gen.project): its targets.yaml, parsed with positions."""
    return output.project(near, targets_file)


def _target_config(name: str, project: Project, fmt: str = "text"):
    output.announce(project, fmt)  # the target's settings come from this project's targets file
    return project.target(name)


def _render_name(gateway: str | None, jobmanager: str | None, target_name: str | None) -> str:
    return target_name or ("gateway" if gateway else "cluster")


def build_target(
    gateway: str | None,
    jobmanager: str | None,
    target_name: str | None,
    project: Project,
    fmt: str = "text",
    **options,
) -> DeployTarget:
    """The deployment target from explicit URLs, else from the target's configuration."""
    here = project.machine  # UDFs' python.executable through the gateway; the work dir PyFlink submits from
    options = {"python_executable": here.udf_python, **options}
    if gateway:
        return get_target("gateway", url=gateway, jobmanager=jobmanager, **options)
    if jobmanager:
        return get_target("jobmanager", url=jobmanager, workdir=here.workdir)
    name = _render_name(gateway, jobmanager, target_name)
    config = _target_config(name, project, fmt)
    if config.type == "gateway":
        return get_target("gateway", url=config.url, jobmanager=config.jobmanager, **options)
    if config.type == "cluster":
        return get_target("jobmanager", url=config.jobmanager, workdir=here.workdir)
    if config.type == "local":
        raise UsageError(f"target {name!r} is local (in-process): pass --gateway URL or --jobmanager URL")
    return get_target(config.type, target=config)


def _pipeline(
    path: Path, target_name: str, project: Project, name: str | None, selection: Selection = EVERYTHING
) -> PipelineBundle:
    """A pipeline definition rendered for the target, or one pipeline of a rendered bundle folder."""
    if path.is_dir() and (path / "manifest.json").is_file():
        bundle = Bundle.load(path)
        if name:
            try:
                return bundle.pipeline(name)
            except KeyError as exc:
                raise UsageError(str(exc.args[0])) from None
        if len(bundle.pipelines) != 1:
            names = ", ".join(p.name for p in bundle.pipelines)
            raise UsageError(f"{path} holds several pipelines ({names}): choose one with --name")
        return bundle.pipelines[0]
    from flinksql_gen import api

    bundle = api.render(path, target_name, project=project, selection=selection)
    if name:
        return bundle.pipeline(name)
    if len(bundle.pipelines) != 1:
        names = ", ".join(p.name for p in bundle.pipelines)
        raise UsageError(f"{path} holds several pipelines ({names}): choose one with --name or --select")
    return bundle.pipelines[0]


def _savepoint_dir(given: str | None, pipeline: PipelineBundle) -> str:
    if given:
        return given
    for key in SAVEPOINT_DIR_KEYS:
        if pipeline.settings.get(key):
            return pipeline.settings[key]
    if os.environ.get("FLINKSQL_SAVEPOINT_DIR"):
        return os.environ["FLINKSQL_SAVEPOINT_DIR"]
    raise UsageError(
        "--upgrade needs a savepoint folder: pass --savepoint-dir DIR (or set FLINKSQL_SAVEPOINT_DIR)"
    )


@click.command()
@click.argument("pipeline", type=click.Path(exists=True, path_type=Path))
@GATEWAY
@JOBMANAGER
@TARGET
@TARGETS_FILE
@click.option("--name", help="pipeline to submit when PIPELINE holds several")
@click.option("--from-savepoint", "savepoint", metavar="PATH", help="start from this savepoint")
@click.option(
    "--allow-non-restored-state", is_flag=True, help="restore even if some old state has no operator"
)
@click.option("--upgrade", is_flag=True, help="stop the running job of the same name with a savepoint first")
@click.option("--savepoint-dir", metavar="DIR", help="where --upgrade writes the savepoint")
@click.option(
    "--against", type=click.Path(exists=True, path_type=Path), help="deployed manifest (checks --upgrade)"
)
@click.option("--script", is_flag=True, help="gateway v4: deploy the whole script in application mode")
@output.selection_options
def submit(
    pipeline: Path,
    gateway: str | None,
    jobmanager: str | None,
    target_name: str | None,
    targets_file: Path | None,
    name: str | None,
    savepoint: str | None,
    allow_non_restored_state: bool,
    upgrade: bool,
    savepoint_dir: str | None,
    against: Path | None,
    script: bool,
    selection: Selection,
) -> None:
    """Submit PIPELINE (a definition file, or a rendered bundle folder) to a Flink cluster."""
    project = _project(targets_file, pipeline)
    if not (pipeline / "manifest.json").is_file():  # definitions are rendered with the project's targets
        output.announce(project, "text")
    render_as = _render_name(gateway, jobmanager, target_name)
    bundle_pipeline = _pipeline(pipeline, render_as, project, name, selection)
    options = {"script": True} if script else {}
    target = build_target(gateway, jobmanager, target_name, project, **options)
    stopped_at = None
    if upgrade:
        if savepoint:
            raise UsageError("--upgrade takes its own savepoint: do not combine it with --from-savepoint")
        savepoint = stopped_at = _upgrade(
            target, bundle_pipeline, savepoint_dir, against, allow_non_restored_state
        )
    try:
        result = target.submit(
            bundle_pipeline, savepoint=savepoint, allow_non_restored_state=allow_non_restored_state
        )
    except DeployError as exc:
        if stopped_at:
            raise DeployError(
                f"{exc}\nthe previous job was stopped with savepoint {stopped_at}: after fixing the problem, "
                f"run `flinksql-gen submit {pipeline} --from-savepoint {stopped_at}`"
            ) from None
        raise
    where = f"job {result.job_id}" if result.job_id else f"application cluster {result.cluster_id}"
    restored = f" (restored from {result.restored_from})" if result.restored_from else ""
    click.echo(f"submitted {result.pipeline}: {where}{restored}")


def _upgrade(
    target: DeployTarget,
    pipeline: PipelineBundle,
    savepoint_dir: str | None,
    against: Path | None,
    allow: bool,
) -> str | None:
    running = [j for j in target.jobs() if j.name == pipeline.name and j.active]
    if not running:
        click.echo(f"no running job named {pipeline.name!r}: starting it fresh")
        return None
    if against is not None:
        changes = [
            c
            for c in classify(load_manifest(against), Bundle(pipeline.target, (pipeline,)))
            if c.pipeline == pipeline.name
        ]
        change = changes[0] if changes else None
        if change and change.kind == "state_breaking" and not allow:
            raise UsageError(f"{pipeline.name}: the upgrade breaks state: {change.reason}")
        if change and change.kind in ("unchanged", "stateless"):
            click.echo(
                f"{pipeline.name}: {change.kind} ({change.reason}): cancelling the old job, no savepoint"
            )
            target.cancel(pipeline.name)
            return None
    path = target.stop(pipeline.name, _savepoint_dir(savepoint_dir, pipeline))
    click.echo(f"stopped {pipeline.name} with savepoint {path}")
    return path


@click.command()
@GATEWAY
@JOBMANAGER
@TARGET
@TARGETS_FILE
@click.option("--all", "show_all", is_flag=True, help="also list finished, cancelled and failed jobs")
@output.format_option
def jobs(
    gateway: str | None,
    jobmanager: str | None,
    target_name: str | None,
    targets_file: Path | None,
    show_all: bool,
    fmt: str,
) -> None:
    """List the cluster's jobs by name."""
    proj = _project(targets_file)
    target = build_target(gateway, jobmanager, target_name, proj, fmt)
    listed = [j for j in target.jobs() if show_all or j.active]
    if fmt == "json":
        rows = [{"name": j.name, "state": j.state, "job_id": j.job_id, "start_time": j.start_time} for j in listed]
        output.emit_json({"errors": [], "jobs": rows, "project": proj.describe()})
        return
    if not listed:
        click.echo("no running jobs" if not show_all else "no jobs")
        return
    width = max(len(j.name) for j in listed)
    for j in sorted(listed, key=lambda j: (j.name, j.job_id)):
        click.echo(f"{j.name:<{width}}  {j.state:<11}  {j.job_id}")


@click.command()
@click.argument("name")
@click.option(
    "--savepoint", "savepoint_dir", required=True, metavar="DIR", help="folder (or URI) for the savepoint"
)
@GATEWAY
@JOBMANAGER
@TARGET
@TARGETS_FILE
def stop(
    name: str,
    savepoint_dir: str,
    gateway: str | None,
    jobmanager: str | None,
    target_name: str | None,
    targets_file: Path | None,
) -> None:
    """Stop the job NAME with a savepoint and print the savepoint's path."""
    target = build_target(gateway, jobmanager, target_name, _project(targets_file))
    click.echo(target.stop(name, savepoint_dir))


@click.command()
@click.argument("name")
@GATEWAY
@JOBMANAGER
@TARGET
@TARGETS_FILE
def cancel(
    name: str, gateway: str | None, jobmanager: str | None, target_name: str | None, targets_file: Path | None
) -> None:
    """Cancel the job NAME without a savepoint."""
    build_target(gateway, jobmanager, target_name, _project(targets_file)).cancel(name)
    click.echo(f"cancelled {name}")


@click.command()
@click.argument("pipelines", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--against",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="deployed manifest.json or bundle",
)
@click.option(
    "--target", "-t", "target_name", default="cluster", show_default=True, help="target to render for"
)
@TARGETS_FILE
@output.selection_options
@output.format_option
def plan(
    pipelines: Path, against: Path, target_name: str, targets_file: Path | None, selection: Selection, fmt: str
) -> None:
    """Show what deploying PIPELINES would do to the jobs of a deployed manifest."""
    old = load_manifest(against)
    project = _project(targets_file, pipelines)
    if pipelines.is_dir() and (pipelines / "manifest.json").is_file():
        bundle = Bundle.load(pipelines)
    else:
        from flinksql_gen import api

        output.announce(project, fmt)
        bundle = api.render(pipelines, target_name, project=project, selection=selection)
    changes = classify(old, bundle)
    if fmt == "json":
        rows = [{"pipeline": c.pipeline, "kind": c.kind, "reason": c.reason} for c in changes]
        output.emit_json({"errors": [], "changes": rows, "project": project.describe()})
        return
    width = max((len(c.pipeline) for c in changes), default=0)
    for c in changes:
        click.echo(f"{c.pipeline:<{width}}  {c.kind:<19}  {c.reason}")


COMMANDS: list[click.Command] = [submit, jobs, stop, cancel, plan]
