"""Aiven's verdict on an application version, mapped back to the YAML that produced the SQL."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flinksql_gen.bundle import Statement
from flinksql_gen.deploy.aiven_bodies import (
    AppPlan,
    Resolved,
    TableUse,
    excerpt,
    offset_of,
    position_of,
    resolve_tracked,
)
from flinksql_gen.errors import Problem


def tracked(a: AppPlan, resolve: Callable[[str], str]) -> dict[str, Resolved]:
    """Each statement of the application resolved, keeping where each character came from."""
    texts = [t.ddl.sql for t in a.tables] + [a.insert.sql]
    return {sql: resolve_tracked(sql, resolve) for sql in texts}


def map_validation(a: AppPlan, result: Mapping, resolved: Mapping[str, Resolved],
                   mask: Callable[[str], str]) -> list[Problem]:  # fmt: skip
    """One problem per statement Aiven rejected, at its definition's line."""
    out = []
    where = f"pipeline {a.pipeline.name}: application {a.name}"
    err = result.get("statement_error")
    if err:
        out.append(_problem(a.insert, "insert", where, err, resolved[a.insert.sql], mask))
    for key, tables in (("sources", a.sources), ("sinks", a.sinks)):
        for t, res in zip(tables, result.get(key) or [], strict=False):
            if isinstance(res, Mapping) and res.get("message"):
                out.append(_problem(t.ddl, "table", where, res, resolved[t.ddl.sql], mask, t))
    return out


def _problem(stmt: Statement, kind: str, where: str, err: Mapping, res: Resolved, mask: Callable[[str], str],
             table: TableUse | None = None) -> Problem:  # fmt: skip
    message = mask(str(err.get("message", "invalid")).strip())
    pos = err.get("position") or {}
    label = f"insert {stmt.name}" if kind == "insert" else f"table {table.name if table else stmt.name}"
    if not pos.get("line_number"):
        return Problem(stmt.origin, where, f"Aiven rejected {label}: {message}")

    def back(line: int, col: int) -> tuple[int, int]:
        return position_of(res.original, res.original_offset(offset_of(res.text, line, col)))

    line, col = back(int(pos["line_number"]), int(pos.get("character_number") or 1))
    end_line, end_col = line, col
    if pos.get("end_line_number"):
        end_line, end_col = back(int(pos["end_line_number"]), int(pos.get("end_character_number") or 1))
    shown = mask(excerpt(res.original, line, col, end_line, end_col))
    text = f"Aiven rejected {label} at SQL line {line}, column {col}: {message}"
    return Problem(stmt.origin, where, text + ("\n" + shown if shown else ""))
