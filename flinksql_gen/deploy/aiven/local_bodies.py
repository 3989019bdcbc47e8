"""Aiven application bodies made runnable outside Aiven: the blank connection options filled in.

Aiven fills each table's connection options (Kafka bootstrap servers, the JDBC URL and
credentials) from the service integration the table is tied to. Locally they are filled with
given values instead: placeholders to plan, the local stack's addresses to run. The Slack
connector exists only on Aiven: its sink becomes a blackhole of the same columns. The bundle
and the bodies `deploy aiven` sends are never changed: this works on copies of the texts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from flinksql_gen.deploy.aiven_bodies import AppPlan, TableUse
from flinksql_gen.runtime.aiven.client import App
from flinksql_gen.secrets import resolve

# Values Aiven leaves for the integration to fill ('' or a bare JDBC scheme).
_BLANK = ("", "jdbc:postgresql://")
# Options Aiven fills, per integration kind, with the value used to plan (no connection is made).
PLAN_CONNECTIONS: dict[str, dict[str, str]] = {
    "kafka": {"properties.bootstrap.servers": "127.0.0.1:9092"},
    "postgres": {"url": "jdbc:postgresql://127.0.0.1:5432/defaultdb", "username": "avnadmin",
                 "password": "aiven-integration-placeholder"},
}
_WITH = re.compile(r"\)\s*WITH\s*\((?P<options>.*)\)\s*$", re.S | re.I)


@dataclass(frozen=True)
class LocalApp:
    """An application plan and the texts to send to a local Flink of the target's version."""

    plan: AppPlan
    app: App


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _option(key: str) -> re.Pattern[str]:
    return re.compile(rf"'{re.escape(key)}'\s*=\s*'((?:[^']|'')*)'")


def fill_table(table: TableUse, sql: str, connections: Mapping[str, Mapping[str, str]]) -> str:
    """`sql` (the table's CREATE TABLE) with its blank integration options set from `connections`."""
    if table.info.connector == "slack":  # Aiven's own connector: same columns, rows dropped
        return _WITH.sub(") WITH (\n  'connector' = 'blackhole'\n)", sql)
    values = connections.get(table.integration_kind or "", {})
    for key, value in values.items():
        found = _option(key).search(sql)
        if found is None:  # absent: Aiven adds it, so do we (after the connector option)
            added = f",\n  {_literal(key)} = {_literal(value)}"
            sql = re.sub(r"('connector'\s*=\s*'(?:[^']|'')*')", lambda m, added=added: m.group(1) + added, sql,
                         count=1)
        elif found.group(1) in _BLANK:
            sql = sql[: found.start(1) - 1] + _literal(value) + sql[found.end(1) + 1 :]
    return sql


def local_apps(plans: Iterable[AppPlan], connections: Mapping[str, Mapping[str, str]],
               env: Mapping[str, str]) -> list[LocalApp]:
    """Each plan's body (as `deploy aiven` builds it, ${env:...} resolved from `env`), filled in."""
    out = []
    for a in plans:
        sql: Callable[[str], str] = lambda text, a=a: resolve(text, env, a.pipeline.env)  # noqa: E731
        body = a.version_body({}, sql)
        texts = [entry["create_table"] for entry in body["sources"] + body["sinks"]]
        tables = tuple(fill_table(t, text, connections) for t, text in zip(a.tables, texts, strict=True))
        out.append(LocalApp(a, App(a.name, tables, body["statement"])))
    return out
