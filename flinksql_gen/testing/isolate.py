"""One test's copy of a rendered pipeline: its own topics, lookup tables, consumer group and
transactional ids (a suffix per test), bounded sources, and settings that make a finished
job's output visible at once.

The rewrite works on the rendered connector options, which the renderer writes one per line as
`'key' = 'value'`; the statements are otherwise exactly what `render` produces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from flinksql_gen.bundle import PipelineBundle, Statement
from flinksql_gen.errors import Location
from flinksql_gen.sql.formats import KAFKA_CONNECTORS

# Sources read what was produced before the job started, then end: the end of input moves the
# watermark to the end of time, so every window closes and the job finishes by itself. Watermarks
# follow each event (not a wall-clock timer), so lateness does not depend on timing.
SOURCE_OPTIONS = {
    "scan.startup.mode": "earliest-offset",
    "scan.bounded.mode": "latest-offset",
    "scan.watermark.emit.strategy": "on-event",
}
# Exactly-once sinks commit on checkpoints: a short interval lets the final checkpoint of a
# finished job come soon. A failing job fails the test at once instead of restarting.
SETTINGS = {
    "execution.checkpointing.interval": "500 ms",
    "restart-strategy.type": "disable",
}
_OPTION = re.compile(r"^(?P<indent>[ \t]*)'(?P<key>(?:[^']|'')+)' = '(?P<value>(?:[^']|'')*)'(?P<comma>,?)$", re.MULTILINE)
_DROP = "\0drop"
_SUFFIXED = ("topic", "properties.group.id", "sink.transactional-id-prefix")


@dataclass(frozen=True)
class Isolated:
    bundle: PipelineBundle
    topics: dict[str, str]  # table -> its topic in this test (Kafka tables)
    jdbc_tables: dict[str, str]  # lookup table -> its PostgreSQL table in this test


def _quote(text: str) -> str:
    return text.replace("'", "''")


def isolate(bundle: PipelineBundle, suffix: str) -> Isolated:
    roles = {t.name: t.role for t in bundle.tables}
    topics: dict[str, str] = {}
    jdbc: dict[str, str] = {}
    statements: list[Statement] = []
    for s in bundle.statements:
        if s.kind == "create_table":
            sql = _rewrite_table(s.sql, s.name, roles.get(s.name), suffix, topics, jdbc)
            s = replace(s, sql=sql)
        elif s.setting is not None and s.setting.key in SETTINGS:
            s = Statement.set_option(s.setting.key, SETTINGS[s.setting.key], s.origin)
        statements.append(s)
    origin = statements[0].origin if statements else Location(bundle.source_file)
    extra = [Statement.set_option(k, v, origin) for k, v in SETTINGS.items() if k not in bundle.settings]
    tables = tuple(replace(t, topic=topics.get(t.name, t.topic)) for t in bundle.tables)
    return Isolated(replace(bundle, statements=(*extra, *statements), tables=tables), topics, jdbc)


def _rewrite_table(sql: str, name: str, role: str | None, suffix: str, topics: dict[str, str],
                   jdbc: dict[str, str]) -> str:
    options = {m.group("key"): m.group("value") for m in _OPTION.finditer(sql)}
    connector = options.get("connector")
    if connector == "print":  # its rows would go to this process's stdout (and into --format json)
        return sql.split(" WITH (", 1)[0] + " WITH (\n  'connector' = 'blackhole'\n)"

    def one(m: re.Match) -> str:
        key, value = m.group("key"), m.group("value").replace("''", "'")
        if key in _SUFFIXED and connector in (*KAFKA_CONNECTORS, "upsert-kafka"):
            value = f"{value}_{suffix}"
            if key == "topic":
                topics[name] = value
        elif key == "table-name" and connector == "jdbc" and role == "lookup":
            value = f"{value}_{suffix}"
            jdbc[name] = value
        elif role == "source" and (key in SOURCE_OPTIONS or key.startswith(("scan.startup.", "scan.bounded."))):
            return _DROP  # written again below with the test's value
        return f"{m.group('indent')}'{key}' = '{_quote(value)}'{m.group('comma')}"

    out = _OPTION.sub(one, sql)
    out = "\n".join(line for line in out.split("\n") if line != _DROP)
    out = re.sub(r",(\n\))", r"\1", out)  # the option before a dropped last one ends the list
    if role == "source" and connector in KAFKA_CONNECTORS:
        added = "".join(f"\n  '{k}' = '{_quote(v)}'," for k, v in SOURCE_OPTIONS.items())
        out = out.replace(f"'connector' = '{connector}',", f"'connector' = '{connector}',{added}", 1)
    return out
