"""`flinksql-gen produce`: generated IoT and pizza events, or a table's rows, to a Kafka topic."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import click

from flinksql_gen.cli.stack import BOOTSTRAP, WORKDIR, bootstrap_servers, stack_workdir
from flinksql_gen.errors import UsageError


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
        from flinksql_gen.kafka.client import create_topics

        servers = bootstrap_servers(bootstrap, workdir)
        create_topics([f"{topic}:{partitions}"], bootstrap=servers)
        sink = KafkaSink(topic, servers)
        default_labels = stack_workdir(workdir) / "labels" / f"{topic}.json"
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
    from flinksql_gen.kafka.client import create_topics
    from flinksql_gen.produce import KafkaSink, pump, table_rows

    if not dsn:
        from flinksql_gen.stack import require_state

        dsn = require_state(stack_workdir(workdir)).dsn
    assert dsn
    topic = topic or table_name.split(".")[-1]
    servers = bootstrap_servers(bootstrap, workdir)
    create_topics([f"{topic}:{partitions}"], bootstrap=servers)
    rows = table_rows(dsn, table_name, timestamp_column, key_column)
    sent = pump(rows, KafkaSink(topic, servers), None, rate, not quiet and sys.stderr.isatty(),
                f"{table_name} -> topic {topic}")
    click.echo(f"sent {sent} rows of {table_name} to topic {topic}")


COMMANDS: list[click.Command] = [produce]
