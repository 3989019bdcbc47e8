"""`setup`, `up`, `status`, `down`, `produce`, `tail`, `run`: the embedded local stack.

Thin layer: the logic lives in flinksql_gen.stack, flinksql_gen.produce, flinksql_gen.kafka.client
and flinksql_gen.runtime.runner.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from flinksql_gen.cli.output import (
    announce,
    format_option,
    machine,
    print_job_metrics,
    print_records_table,
    print_stack_status,
    project,
    record_json_line,
    selection_options,
)
from flinksql_gen.errors import UsageError
from flinksql_gen.project import Selection

WORKDIR = click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
                       help="stack work dir (default: $FLINKSQL_WORKDIR or ./.flinksql)")  # fmt: skip
BOOTSTRAP = click.option("--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers (default: the local stack)")


def stack_workdir(given: Path | None) -> Path:
    """--workdir, else FLINKSQL_WORKDIR, else ./.flinksql."""
    return machine().stack_workdir(given)


def say(message: str) -> None:
    click.echo(message, err=True)


def bootstrap_servers(given: str | None, workdir: Path | None) -> str:
    if given:
        return given
    from flinksql_gen.stack import require_state

    state = require_state(stack_workdir(workdir))
    assert state.bootstrap
    return state.bootstrap


# ----------------------------------------------------------------------------- setup / up / status / down


@click.command()
@WORKDIR
@click.option("--repository", metavar="URL",
              help="Maven repository to download jars from (default: $FLINKSQL_GEN_MAVEN_REPO or Maven Central)")
@click.option("--aiven", "aiven_version", is_flag=False, flag_value="1.20", default=None, metavar="[VERSION]",
              help="also install the Flink runtime of Aiven's version (default 1.20) in its own virtualenv "
                   "(~0.6 GB, once), for `check --target aiven`")  # fmt: skip
def setup(workdir: Path | None, repository: str | None, aiven_version: str | None) -> None:
    """Check Java and PostgreSQL; fetch the connector jars and Apache Kafka from Maven (once)."""
    from flinksql_gen.runtime.jars import connectors_on_classpath, ensure_jars
    from flinksql_gen.runtime.java import find_java
    from flinksql_gen.stack.broker import KAFKA_VERSION, runtime_jars
    from flinksql_gen.stack.postgres import find_pg_bin

    workdir = stack_workdir(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    here = machine()
    repository, cache = repository or here.maven_repository, here.cache
    problems: list[str] = []
    checks = [
        ("java", lambda: (lambda j: f"Java {j.version} at {j.home}")(find_java())),
        ("jars", lambda: "connector jars already on the PyFlink classpath (pyflink/lib)"
         if connectors_on_classpath()
         else f"{len(ensure_jars(workdir, repository=repository, cache=cache))} connector jars in {workdir / 'jars'}"),
        ("broker", lambda: f"Apache Kafka {KAFKA_VERSION}: "
                           f"{len(runtime_jars(repository=repository, cache=cache))} jars cached"),
        ("postgres", lambda: f"PostgreSQL binaries in {find_pg_bin(here.pg_bin)}"),
    ]
    if aiven_version:
        from flinksql_gen.runtime.aiven import ensure_runtime

        checks.append(("aiven", lambda: (lambda r: f"Flink {r.version.pyflink} at {r.python}, "
                                         f"{len(r.jars)} connector jars")(
            ensure_runtime(aiven_version, repository=repository, cache=cache, python=here.aiven_python,
                           on_step=say))))
    for name, check in checks:
        try:
            click.echo(f"ok      {name:9} {check()}")
        except UsageError as exc:
            click.echo(f"missing {name:9} {exc}")
            problems.append(name)
    if problems:
        raise UsageError(f"setup incomplete: {', '.join(problems)} (see above)")
    click.echo("ready: `flinksql-gen up` starts the local stack")


@click.command()
@click.option("--cluster", is_flag=True, help="also start a Flink standalone session cluster (~2 GB, ~20 s)")
@WORKDIR
@click.option("--thresholds", "thresholds_dir", type=click.Path(file_okay=False, path_type=Path),
              help="load thresholds/*.sql and *.csv into PostgreSQL (default: ./thresholds if present)")  # fmt: skip
@click.option("--topic", "topics", multiple=True, metavar="NAME[:PARTITIONS]", help="create a topic (repeatable)")
@click.option("--kafka-port", type=int, help="broker port (default: a free one)")
@click.option("--pg-port", type=int, help="PostgreSQL port (default: a free one)")
@click.option("--rest-port", type=int, help="Flink REST port with --cluster (default: a free one)")
@click.option("--gateway", is_flag=True, help="with --cluster: also start the Flink SQL Gateway in front of it")
@click.option("--gateway-port", type=int, help="SQL Gateway port with --gateway (default: a free one)")
@format_option
def up(cluster: bool, workdir: Path | None, thresholds_dir: Path | None, topics: tuple[str, ...],
       kafka_port: int | None, pg_port: int | None, rest_port: int | None, gateway: bool,
       gateway_port: int | None, fmt: str) -> None:
    """Start the local stack: Apache Kafka + PostgreSQL (+ Flink session cluster). Idempotent."""
    from flinksql_gen.stack import status
    from flinksql_gen.stack import up as stack_up

    if thresholds_dir is None and Path("thresholds").is_dir():
        thresholds_dir = Path("thresholds")
    workdir = stack_workdir(workdir)
    stack_up(workdir, cluster=cluster, thresholds_dir=thresholds_dir, topics=topics, kafka_port=kafka_port,
             pg_port=pg_port, rest_port=rest_port, gateway=gateway, gateway_port=gateway_port, on_step=say,
             machine=machine())
    print_stack_status(status(workdir), fmt == "json")


@click.command("status")
@WORKDIR
@format_option
@click.option("--metrics", is_flag=True,
              help="also show each running pipeline's job metrics (records, checkpoints, restarts) from the "
                   "session cluster (or $FLINKSQL_JOBMANAGER)")  # fmt: skip
def status_command(workdir: Path | None, fmt: str, metrics: bool) -> None:
    """Show what the local stack runs and where."""
    as_json = fmt == "json"
    from flinksql_gen.stack import status

    info = status(stack_workdir(workdir))
    jobs = _job_metrics(info) if metrics else None
    if info is None and jobs is None:
        if as_json:
            click.echo(json.dumps({"running": False}))
        else:
            click.echo("the local stack is not running (start it with `flinksql-gen up`)")
        return
    if as_json:
        out = dict(info or {"running": False})
        if jobs is not None:
            out["jobs"] = [j.to_json() for j in jobs]
        click.echo(json.dumps(out, indent=2, sort_keys=True))
        return
    print_stack_status(info, as_json)
    if jobs is not None:
        print_job_metrics(jobs)


def _job_metrics(info: dict | None) -> list | None:
    """Metrics of the running jobs of the stack's cluster (else of $FLINKSQL_JOBMANAGER)."""
    from flinksql_gen.observe import pipeline_metrics

    cluster = (info or {}).get("cluster") or {}
    url = cluster.get("rest_url") if cluster.get("running") else os.environ.get("FLINKSQL_JOBMANAGER")
    if not url:
        raise UsageError("--metrics needs a Flink cluster: start one with `flinksql-gen up --cluster` "
                         "(or set FLINKSQL_JOBMANAGER to a JobManager's REST address)")
    return pipeline_metrics(url)


@click.command()
@WORKDIR
@click.option("--cluster-only", is_flag=True, help="stop only the Flink session cluster")
def down(workdir: Path | None, cluster_only: bool) -> None:
    """Stop exactly what `up` started and remove its data (broker topics, PostgreSQL tables)."""
    from flinksql_gen.stack import down as stack_down

    stopped = stack_down(stack_workdir(workdir), cluster_only=cluster_only)
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


# ----------------------------------------------------------------------------- tail


@click.command()
@click.argument("topic")
@BOOTSTRAP
@WORKDIR
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table")
@click.option("--follow", "-f", is_flag=True, help="keep waiting for new records (Ctrl-C ends)")
@click.option("--limit", "-n", type=int, default=50, show_default=True, help="show the last N records (0: all)")
@click.option("--idle", type=float, default=10.0, show_default=True,
              help="give up after this many seconds without a record (the end of the topic normally comes first)")
def tail(topic: str, bootstrap: str | None, workdir: Path | None, as_json: bool, follow: bool, limit: int,
         idle: float) -> None:
    """Show a topic's committed records, from the beginning to its current end (read_committed)."""
    from flinksql_gen.kafka.client import iter_records

    servers = bootstrap_servers(bootstrap, workdir)
    if follow:
        try:
            for r in iter_records(topic, bootstrap=servers, idle_s=None):
                click.echo(record_json_line(r) if as_json else f"{r.partition}:{r.offset} {r.key} {json.dumps(r.value)}")
        except KeyboardInterrupt:
            pass
        return
    records = list(iter_records(topic, bootstrap=servers, idle_s=idle, to_end=True))
    shown = records[-limit:] if limit else records
    if as_json:
        for r in shown:
            click.echo(record_json_line(r))
        return
    print_records_table(topic, shown, len(records))


# ----------------------------------------------------------------------------- run


def _one_pipeline(path: Path, target: str, targets_file: Path | None, selection: Selection):
    """The single pipeline of PATH (a file, or a folder narrowed with --select), rendered for the target."""
    from flinksql_gen import api

    proj = project(path, targets_file)
    announce(proj, "text")
    bundle = api.render(path, target, project=proj, selection=selection)
    if len(bundle.pipelines) != 1:
        names = ", ".join(p.name for p in bundle.pipelines)
        raise UsageError(f"{path} holds {len(bundle.pipelines)} pipelines ({names}): run one, e.g. --select NAME")
    return bundle.pipelines[0]


@click.command()
@click.argument("pipeline_file", type=click.Path(exists=True, path_type=Path))
@click.option("--target", "-t", default="local", show_default=True, help="target used to render the pipeline")
@selection_options
@click.option("--targets", "targets_file", type=click.Path(dir_okay=False, path_type=Path), help="targets file")
@click.option("--cluster", is_flag=True, help="submit to the local session cluster (`up --cluster`)")
@click.option("--until-idle", type=float, metavar="S", help="stop when the sink topics are quiet for S seconds")
@click.option("--max-records", type=int, metavar="N", help="stop after N records on the sink topics")
@click.option("--detach", is_flag=True, help="with --cluster: return once the job is submitted")
@WORKDIR
def run(pipeline_file: Path, target: str, selection: Selection, targets_file: Path | None, cluster: bool,
        until_idle: float | None, max_records: int | None, detach: bool, workdir: Path | None) -> None:
    """Render PIPELINE_FILE (or the one pipeline --select picks in a folder) and run it against the
    local stack (Ctrl-C cancels the job)."""
    from flinksql_gen.runtime.jars import ensure_jars
    from flinksql_gen.runtime.runner import run_pipeline
    from flinksql_gen.stack import require_state, stack_env

    if detach and not cluster:
        raise UsageError("--detach needs --cluster (a local job ends with this process)")
    pipeline = _one_pipeline(pipeline_file, target, targets_file, selection)  # definition errors first
    workdir, here = stack_workdir(workdir), machine()
    state = require_state(workdir, cluster=cluster)
    env = {**os.environ, **stack_env(state)}
    say(f"running {pipeline.name} on the {'session cluster' if cluster else 'local mini-cluster'} "
         f"(Kafka {state.bootstrap})")
    try:
        result = run_pipeline(pipeline, env, wait=not detach, until_idle=until_idle, max_records=max_records,
                              workdir=workdir, remote=state.rest_url if cluster else None,
                              jars=ensure_jars(workdir, repository=here.maven_repository, cache=here.cache),
                              on_event=say)
    except KeyboardInterrupt:  # before the job was submitted: nothing to cancel
        say("interrupted")
        sys.exit(130)
    extra = f", {result.records} sink record(s)" if result.records is not None else ""
    how = {"idle": f"quiet for {until_idle:g}s" if until_idle else "idle", "max_records": "max records reached",
           "interrupt": "interrupted"}.get(result.stopped_by or "", "")
    click.echo(f"job {result.job_id}: {result.status}{f' ({how})' if how else ''}{extra}")


COMMANDS: list[click.Command] = [setup, up, status_command, down, tail, run]
