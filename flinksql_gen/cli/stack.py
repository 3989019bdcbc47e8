"""`setup`, `up`, `status`, `down`, `produce`, `tail`, `run`: the embedded local stack.

Thin layer: the logic lives in flinksql_gen.stack, flinksql_gen.produce, flinksql_gen.kafka_io
and flinksql_gen.run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import click

from flinksql_gen.cli.output import announce, format_option, project, selection_options
from flinksql_gen.errors import UsageError
from flinksql_gen.project import Selection

WORKDIR = click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
                       help="stack work dir (default: $FLINKSQL_WORKDIR or ./.flinksql)")  # fmt: skip
BOOTSTRAP = click.option("--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers (default: the local stack)")


def _workdir(given: Path | None) -> Path:
    from flinksql_gen.stack.state import default_workdir

    return (given or default_workdir()).resolve()


def _say(message: str) -> None:
    click.echo(message, err=True)


def _bootstrap(given: str | None, workdir: Path | None) -> str:
    if given:
        return given
    from flinksql_gen.stack import require_state

    state = require_state(_workdir(workdir))
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
    from flinksql_gen.stack.broker import KAFKA_VERSION, runtime_jars
    from flinksql_gen.stack.jars import connectors_on_classpath, ensure_jars
    from flinksql_gen.stack.java import find_java
    from flinksql_gen.stack.postgres import find_pg_bin

    workdir = _workdir(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    checks = [
        ("java", lambda: (lambda j: f"Java {j.version} at {j.home}")(find_java())),
        ("jars", lambda: "connector jars already on the PyFlink classpath (pyflink/lib)"
         if connectors_on_classpath()
         else f"{len(ensure_jars(workdir, repository=repository))} connector jars in {workdir / 'jars'}"),
        ("broker", lambda: f"Apache Kafka {KAFKA_VERSION}: {len(runtime_jars(repository=repository))} jars cached"),
        ("postgres", lambda: f"PostgreSQL binaries in {find_pg_bin()}"),
    ]
    if aiven_version:
        from flinksql_gen.runtime_aiven import ensure_runtime

        checks.append(("aiven", lambda: (lambda r: f"Flink {r.version.pyflink} at {r.python}, "
                                         f"{len(r.jars)} connector jars")(
            ensure_runtime(aiven_version, repository=repository, on_step=_say))))
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
    workdir = _workdir(workdir)
    stack_up(workdir, cluster=cluster, thresholds_dir=thresholds_dir, topics=topics, kafka_port=kafka_port,
             pg_port=pg_port, rest_port=rest_port, gateway=gateway, gateway_port=gateway_port, on_step=_say)
    _print_status(status(workdir), fmt == "json")


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

    info = status(_workdir(workdir))
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
    _print_status(info, as_json)
    if jobs is not None:
        _print_job_metrics(jobs)


def _job_metrics(info: dict | None) -> list | None:
    """Metrics of the running jobs of the stack's cluster (else of $FLINKSQL_JOBMANAGER)."""
    from flinksql_gen.observe import pipeline_metrics

    cluster = (info or {}).get("cluster") or {}
    url = cluster.get("rest_url") if cluster.get("running") else os.environ.get("FLINKSQL_JOBMANAGER")
    if not url:
        raise UsageError("--metrics needs a Flink cluster: start one with `flinksql-gen up --cluster` "
                         "(or set FLINKSQL_JOBMANAGER to a JobManager's REST address)")
    return pipeline_metrics(url)


def _num(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def _span(ms: float | None) -> str:
    if ms is None:
        return "-"
    s = ms / 1000
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


def _print_job_metrics(jobs: list) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=160)
    if not jobs:
        click.echo("no running pipelines on the cluster")
        return
    for j in jobs:
        cp = j.checkpoints
        last = (f"#{cp.latest_id} took {_span(cp.latest_duration_ms)}, {_span((cp.latest_age_s or 0) * 1000)} ago"
                if cp.latest_id is not None else "none yet")
        title = (f"pipeline {j.pipeline}: {j.state} for {_span(j.duration_ms)}, restarts {_num(j.restarts)}, "
                 f"checkpoints {cp.completed} ok / {cp.failed} failed (last {last})")
        if cp.restored_from:
            title += f", restored from {cp.restored_from}"
        table = Table(title=title, title_justify="left")
        for column in ("kind", "name", "records in", "records out", "errors", "watermark"):
            table.add_column(column, overflow="fold")
        for s in j.sources:
            mark = (dt.datetime.fromtimestamp(s.watermark_ms / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                    if s.watermark_ms is not None else "none yet")
            table.add_row("source", s.name, _num(s.records_in), "", _num(s.errors), mark)
        for v in j.vertices:
            table.add_row("task", v.name, _num(v.records_in), _num(v.records_out), "", v.status.lower())
        for k in j.sinks:
            table.add_row("sink", k.name, "", _num(k.records_out), _num(k.errors), "")
        console.print(table)
        if j.last_failure:
            click.echo(f"  last failure: {j.last_failure}")
        for note in j.notes:
            click.echo(f"  note: {note}")


def _print_status(info: dict | None, as_json: bool) -> None:
    if info is None:
        return
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"local stack in {info['workdir']}", title_justify="left")
    for column in ("part", "state", "address", "pid"):
        table.add_column(column)
    parts = [("broker", "bootstrap"), ("postgres", "jdbc_url"), ("cluster", "rest_url"), ("gateway", "url")]
    for part, address in parts:
        if part in info:
            p = info[part]
            state = "[green]running[/]" if p["running"] else "[red]stopped[/]"
            table.add_row(part, state, str(p.get(address)), str(p.get("pid")))
    Console().print(table)
    if info.get("thresholds"):
        click.echo(f"thresholds: {', '.join(info['thresholds']['tables']) or '-'} from {info['thresholds']['folder']}")
    if info.get("topics"):
        click.echo(f"topics: {', '.join(info['topics'])}")


@click.command()
@WORKDIR
@click.option("--cluster-only", is_flag=True, help="stop only the Flink session cluster")
def down(workdir: Path | None, cluster_only: bool) -> None:
    """Stop exactly what `up` started and remove its data (broker topics, PostgreSQL tables)."""
    from flinksql_gen.stack import down as stack_down

    stopped = stack_down(_workdir(workdir), cluster_only=cluster_only)
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


# ----------------------------------------------------------------------------- produce


def _start_ms(text: str | None, tick_ms: int) -> int:
    if not text:
        now = int(time.time() * 1000)
        return now - now % tick_ms
    if text.isdigit():
        return int(text)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--start {text!r}: give epoch milliseconds or an ISO time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return int(value.timestamp() * 1000)


def _generator_options(func):
    options = [
        click.option("--topic", help="target topic (default: the generator's name)"),
        BOOTSTRAP,
        WORKDIR,
        click.option("--count", "-n", type=int, help="events to send (default 1000; endless with --rate only)"),
        click.option("--rate", type=float, help="events per second (default: as fast as possible)"),
        click.option("--seed", type=int, default=1, show_default=True, help="same seed, same events"),
        click.option("--start", help="event time of the first tick: epoch ms or ISO time (default: now)"),
        click.option("--tick", "tick_ms", type=int, default=1000, show_default=True, help="event-time ms per tick"),
        click.option("--anomalies", default="", help="spec like 'spike:at=100,len=5,size=40;level_shift:at=50%' "
                                                     "or 'auto', or a JSON/YAML file"),
        click.option("--labels", "labels_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="ground-truth labels JSON (default: <workdir>/labels/<topic>.json)"),
        click.option("--jsonl", type=click.Path(dir_okay=False, path_type=Path),
                     help="write JSON lines to this file instead of Kafka"),
        click.option("--partitions", type=int, default=1, show_default=True,
                     help="partitions if the topic has to be created"),
        click.option("--quiet", "-q", is_flag=True, help="no progress bar"),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _produce(generator, name: str, topic: str | None, bootstrap: str | None, workdir: Path | None,
             count: int | None, rate: float | None, labels_path: Path | None, jsonl: Path | None,
             partitions: int, quiet: bool) -> None:
    from flinksql_gen.produce import JsonlSink, KafkaSink, pump, write_labels

    topic = topic or name
    if jsonl:
        sink = JsonlSink(jsonl)
        default_labels = jsonl.with_suffix(".labels.json")
    else:
        from flinksql_gen.kafka_io import create_topics

        servers = _bootstrap(bootstrap, workdir)
        create_topics([f"{topic}:{partitions}"], bootstrap=servers)
        sink = KafkaSink(topic, servers)
        default_labels = _workdir(workdir) / "labels" / f"{topic}.json"
    where = str(jsonl) if jsonl else f"topic {topic}"
    progress = not quiet and sys.stderr.isatty()
    try:
        sent = pump(generator.events(), sink, count, rate, progress, f"{name} -> {where}")
    except KeyboardInterrupt:
        sent = None
    labels = write_labels(labels_path or default_labels, generator.labels())
    click.echo(f"sent {'?' if sent is None else sent} {name} events to {where}; labels: {labels}")


def _count(count: int | None, rate: float | None) -> int | None:
    if count is not None and count < 0:
        raise UsageError("--count must be 0 or more")
    return count if count is not None or rate else 1000


@click.group()
def produce() -> None:
    """Send generated events (or a PostgreSQL table) to Kafka."""


@produce.command("iot")
@_generator_options
@click.option("--hosts", default=None, help="comma-separated host names (default: the seven dwarfs)")
@click.option("--cpus", type=int, default=2, show_default=True, help="CPUs per host")
def produce_iot(topic, bootstrap, workdir, count, rate, seed, start, tick_ms, anomalies, labels_path, jsonl,
                partitions, quiet, hosts, cpus) -> None:
    """IoT CPU usage readings {hostname, cpu, usage, occurred_at}, keyed by hostname."""
    from flinksql_gen.produce import IotGenerator, parse_anomalies
    from flinksql_gen.produce.iot import AUTO, DEFAULT_HOSTS

    host_list = tuple(h.strip() for h in hosts.split(",") if h.strip()) if hosts else DEFAULT_HOSTS
    count = _count(count, rate)
    ticks = IotGenerator.ticks_for(count, len(host_list), cpus) if count else None
    specs = parse_anomalies(anomalies, tick_ms, AUTO, ticks)
    gen = IotGenerator(seed, host_list, cpus, _start_ms(start, tick_ms), tick_ms, specs)
    _produce(gen, "iot", topic, bootstrap, workdir, count, rate, labels_path, jsonl, partitions, quiet)


@produce.command("pizza")
@_generator_options
@click.option("--shops", default=None, help="comma-separated shop names")
@click.option("--orders-per-tick", type=float, default=1.0, show_default=True, help="mean orders per shop per tick")
def produce_pizza(topic, bootstrap, workdir, count, rate, seed, start, tick_ms, anomalies, labels_path, jsonl,
                  partitions, quiet, shops, orders_per_tick) -> None:
    """Pizza orders {id, shop, name, phoneNumber, address, pizzas[]}, keyed by shop; the record
    timestamp is the order time. Forbidden toppings: pineapple, strawberry, banana."""
    from flinksql_gen.produce import PizzaGenerator, parse_anomalies
    from flinksql_gen.produce.pizza import AUTO, DEFAULT_SHOPS

    shop_list = tuple(s.strip() for s in shops.split(",") if s.strip()) if shops else DEFAULT_SHOPS
    count = _count(count, rate)
    probe = PizzaGenerator(seed, shop_list, orders_per_tick)
    ticks = probe.ticks_for(count) if count else None
    specs = parse_anomalies(anomalies, tick_ms, AUTO, ticks)
    gen = PizzaGenerator(seed, shop_list, orders_per_tick, _start_ms(start, tick_ms), tick_ms, specs)
    _produce(gen, "pizza", topic, bootstrap, workdir, count, rate, labels_path, jsonl, partitions, quiet)


@produce.command("table")
@click.option("--dsn", help="PostgreSQL DSN (default: the local stack's database)")
@click.option("--table", "table_name", required=True, help="table (or schema.table) to stream")
@click.option("--timestamp-column", required=True, help="rows are sent in this column's order; record timestamp")
@click.option("--key", "key_column", help="column to key records by")
@click.option("--topic", help="target topic (default: the table name)")
@BOOTSTRAP
@WORKDIR
@click.option("--rate", type=float, help="rows per second (default: as fast as possible)")
@click.option("--partitions", type=int, default=1, show_default=True)
@click.option("--quiet", "-q", is_flag=True)
def produce_table(dsn, table_name, timestamp_column, key_column, topic, bootstrap, workdir, rate, partitions,
                  quiet) -> None:
    """Stream a PostgreSQL table row by row as JSON, ordered by its timestamp column."""
    from flinksql_gen.kafka_io import create_topics
    from flinksql_gen.produce import KafkaSink, pump, table_rows

    if not dsn:
        from flinksql_gen.stack import require_state

        dsn = require_state(_workdir(workdir)).dsn
    assert dsn
    topic = topic or table_name.split(".")[-1]
    servers = _bootstrap(bootstrap, workdir)
    create_topics([f"{topic}:{partitions}"], bootstrap=servers)
    rows = table_rows(dsn, table_name, timestamp_column, key_column)
    sent = pump(rows, KafkaSink(topic, servers), None, rate, not quiet and sys.stderr.isatty(),
                f"{table_name} -> topic {topic}")
    click.echo(f"sent {sent} rows of {table_name} to topic {topic}")


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
    from flinksql_gen.kafka_io import iter_records

    servers = _bootstrap(bootstrap, workdir)
    if follow:
        try:
            for r in iter_records(topic, bootstrap=servers, idle_s=None):
                click.echo(_json_line(r) if as_json else f"{r.partition}:{r.offset} {r.key} {json.dumps(r.value)}")
        except KeyboardInterrupt:
            pass
        return
    records = list(iter_records(topic, bootstrap=servers, idle_s=idle, to_end=True))
    shown = records[-limit:] if limit else records
    if as_json:
        for r in shown:
            click.echo(_json_line(r))
        return
    _records_table(topic, shown, len(records))


def _json_line(r) -> str:
    return json.dumps({"partition": r.partition, "offset": r.offset, "key": r.key, "timestamp": r.timestamp,
                       "value": r.value}, default=str)


def _records_table(topic: str, records: list, total: int) -> None:
    from rich.console import Console
    from rich.table import Table

    fields: list[str] = []
    for r in records:
        if isinstance(r.value, dict):
            fields += [k for k in r.value if k not in fields]
    table = Table(title=f"{topic}: last {len(records)} of {total} record(s)", title_justify="left")
    for column in ("p:offset", "key", "timestamp", *(fields or ["value"])):
        table.add_column(column, overflow="ellipsis", no_wrap=True, min_width=min(len(column), 12), max_width=40)
    for r in records:
        ts = (dt.datetime.fromtimestamp(r.timestamp / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
              if r.timestamp else "")
        values = ([_cell(r.value.get(f)) for f in fields] if isinstance(r.value, dict) and fields
                  else [_cell(r.value)] * max(1, len(fields)))
        table.add_row(f"{r.partition}:{r.offset}", r.key or "", ts, *values)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)


def _cell(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


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
    from flinksql_gen.run import run_pipeline
    from flinksql_gen.stack import require_state, stack_env
    from flinksql_gen.stack.jars import ensure_jars

    if detach and not cluster:
        raise UsageError("--detach needs --cluster (a local job ends with this process)")
    pipeline = _one_pipeline(pipeline_file, target, targets_file, selection)  # definition errors first
    workdir = _workdir(workdir)
    state = require_state(workdir, cluster=cluster)
    env = {**os.environ, **stack_env(state)}
    _say(f"running {pipeline.name} on the {'session cluster' if cluster else 'local mini-cluster'} "
         f"(Kafka {state.bootstrap})")
    try:
        result = run_pipeline(pipeline, env, wait=not detach, until_idle=until_idle, max_records=max_records,
                              workdir=workdir, remote=state.rest_url if cluster else None,
                              jars=ensure_jars(workdir), on_event=_say)
    except KeyboardInterrupt:  # before the job was submitted: nothing to cancel
        _say("interrupted")
        sys.exit(130)
    extra = f", {result.records} sink record(s)" if result.records is not None else ""
    how = {"idle": f"quiet for {until_idle:g}s" if until_idle else "idle", "max_records": "max records reached",
           "interrupt": "interrupted"}.get(result.stopped_by or "", "")
    click.echo(f"job {result.job_id}: {result.status}{f' ({how})' if how else ''}{extra}")


COMMANDS: list[click.Command] = [setup, up, status_command, down, produce, tail, run]
