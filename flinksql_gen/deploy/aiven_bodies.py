"""Aiven for Apache Flink application bodies built from a rendered pipeline bundle.

Aiven runs one SQL statement per application version, with the tables it reads
(`sources`) and writes (`sinks`) as CREATE TABLE texts tied to service integrations.
So every INSERT of a pipeline becomes its own application, `<pipeline>-<insert>`,
holding only the tables that INSERT uses. Everything here is pure (no HTTP).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flinksql_gen.bundle import PipelineBundle, Statement, TableInfo
from flinksql_gen.deploy.upgrade import mark_statement
from flinksql_gen.errors import Location, Problem
from flinksql_gen.secrets import REFERENCE

# Connector -> the kind of service integration Aiven fills its connection options from.
INTEGRATION_KINDS: dict[str, str] = {
    "kafka": "kafka",
    "upsert-kafka": "kafka",
    "jdbc": "postgres",
    "slack": "slack",
}
# Kinds whose tables cannot work without an integration (Slack needs none: the token is in the DDL).
REQUIRED_KINDS = ("kafka", "postgres")

@dataclass(frozen=True)
class TableUse:
    """One table of an application: its CREATE TABLE and the integration kind it needs."""

    info: TableInfo
    ddl: Statement

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def integration_kind(self) -> str | None:
        return INTEGRATION_KINDS.get(self.info.connector)


@dataclass(frozen=True)
class AppPlan:
    """One Aiven application: a pipeline's INSERT with the tables it reads and writes."""

    pipeline: PipelineBundle
    insert: Statement
    sources: tuple[TableUse, ...]
    sinks: tuple[TableUse, ...]

    @property
    def name(self) -> str:
        return application_name(self.pipeline.name, self.insert.name)

    @property
    def tables(self) -> tuple[TableUse, ...]:
        return self.sources + self.sinks

    def version_body(self, integration_ids: Mapping[str, str], sql: Callable[[str], str] = str) -> dict:
        """The body of POST .../version (and .../version/validate); `sql` may resolve ${env:...}."""

        def entry(t: TableUse) -> dict:
            out = {"create_table": sql(t.ddl.sql)}
            integration = integration_ids.get(t.integration_kind or "")
            if integration:
                out["integration_id"] = integration
            return out

        return {
            "sources": [entry(t) for t in self.sources],
            "sinks": [entry(t) for t in self.sinks],
            "statement": mark_statement(sql(self.insert.sql), self.insert.state_signature),
        }


def application_name(pipeline: str, insert: str) -> str:
    return f"{pipeline}-{insert}"


def dumps(body: object) -> str:
    """The one JSON form used for files: sorted keys, two-space indent, trailing newline."""
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _where(p: PipelineBundle, s: Statement | None = None) -> Location:
    return s.origin if s is not None else Location(p.source_file)


def udf_problems(p: PipelineBundle) -> list[Problem]:
    """Aiven SQL applications run no user code: every UDF of the pipeline is a problem."""
    functions = {s.name: s for s in p.statements if s.kind == "create_function"}
    names = dict.fromkeys([u.name for u in p.udfs] + list(functions))
    python = {u.name: u.python for u in p.udfs}
    problems = []
    for name in names:
        what = f"the Python UDF {name!r}" + (f" ({python[name]})" if name in python else "")
        problems.append(
            Problem(
                _where(p, functions.get(name)),
                f"pipeline {p.name}",
                f"uses {what}; Aiven for Apache Flink SQL applications cannot run user-defined functions",
                "use a pure-SQL detector form for the aiven target",
            )
        )
    return problems


def plan_applications(p: PipelineBundle) -> tuple[list[AppPlan], list[Problem]]:
    """Split a pipeline into one application per INSERT; problems instead of exceptions."""
    problems = udf_problems(p)
    ddl = {s.name: s for s in p.statements if s.kind == "create_table"}
    views = {s.name: s for s in p.statements if s.kind == "create_view"}
    infos = {t.name: t for t in p.tables}
    order = [s.name for s in p.statements if s.kind == "create_table"]
    plans = []
    if not p.inserts:
        problems.append(Problem(_where(p), f"pipeline {p.name}", "has no INSERT statement to deploy"))
    for ins in p.inserts:
        # What the planner recorded: with views inlined (--target aiven) an insert reads only tables.
        where = f"pipeline {p.name}: insert {ins.name}"
        for v in sorted(set(ins.reads) & set(views)):
            problems.append(
                Problem(
                    ins.origin,
                    where,
                    f"reads the view {v!r}; an Aiven application has no place for views",
                    "render with --target aiven so views are inlined into the INSERT",
                )
            )
        target = ins.writes[0] if len(ins.writes) == 1 else None
        if target is None or target not in ddl:
            problems.append(
                Problem(ins.origin, where, f"writes to {target!r}, which is not a table of this pipeline")
            )
            continue
        used = {*ins.reads, target}
        uses: dict[str, TableUse] = {}
        for name in order:
            if name not in used:
                continue
            info = infos.get(name)
            if info is None:
                problems.append(
                    Problem(ddl[name].origin, where, f"table {name!r} is missing from the manifest")
                )
                continue
            uses[name] = TableUse(info, ddl[name])
        sources = tuple(u for n, u in uses.items() if n != target)
        plans.append(AppPlan(p, ins, sources, (uses[target],)))
    return plans, problems


def blank_connection_warnings(plan: AppPlan) -> list[str]:
    """Tables whose connection options are filled in although Aiven takes them from the integration."""
    out = []
    checks = {
        "kafka": "properties.bootstrap.servers",
        "upsert-kafka": "properties.bootstrap.servers",
        "jdbc": "url",
    }
    for t in plan.tables:
        key = checks.get(t.info.connector)
        if not key:
            continue
        m = re.search(rf"'{re.escape(key)}'\s*=\s*'((?:[^']|'')*)'", t.ddl.sql)
        if m and m.group(1) not in ("", "jdbc:postgresql://"):
            out.append(
                f"table {t.name!r} of {plan.name} sets {key!r}; Aiven fills it from the integration "
                "(was the bundle rendered with --target aiven?)"
            )
    return out


# --- ${env:...} resolution that remembers where each substitution went -----------------------


@dataclass(frozen=True)
class Resolved:
    """A text with ${env:NAME} references replaced, able to map positions back to the original."""

    text: str
    original: str
    spans: tuple[tuple[int, int, int, int], ...] = ()  # (resolved start, end, original start, end)

    def original_offset(self, offset: int) -> int:
        shift = 0
        for r0, r1, o0, o1 in self.spans:
            if offset < r0:
                break
            if offset < r1:
                return o0
            shift = o1 - r1
        return offset + shift


def resolve_tracked(sql: str, resolve: Callable[[str], str]) -> Resolved:
    """Resolve every ${env:...} reference of `sql` with `resolve` (one reference at a time)."""
    parts, spans, pos, out_len = [], [], 0, 0
    for m in REFERENCE.finditer(sql):
        parts.append(sql[pos : m.start()])
        out_len += m.start() - pos
        value = resolve(m.group(0))
        spans.append((out_len, out_len + len(value), m.start(), m.end()))
        parts.append(value)
        out_len += len(value)
        pos = m.end()
    parts.append(sql[pos:])
    return Resolved("".join(parts), sql, tuple(spans))


def offset_of(text: str, line: int, col: int) -> int:
    """0-based offset of a 1-based (line, column) position, clamped to the text."""
    lines = text.split("\n")
    line = min(max(line, 1), len(lines))
    start = sum(len(x) + 1 for x in lines[: line - 1])
    return start + min(max(col, 1), len(lines[line - 1]) + 1) - 1


def position_of(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a 0-based offset."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def excerpt(text: str, line: int, col: int, end_line: int = 0, end_col: int = 0) -> str:
    """The line of `text` holding the position, with carets under the reported span."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return ""
    src = lines[line - 1]
    width = max(1, (end_col - col + 1) if end_line == line and end_col >= col else 1)
    gutter = f"{line:>4} | "
    return f"{gutter}{src}\n{' ' * (len(gutter) - 2)}| {' ' * (col - 1)}{'^' * width}"
