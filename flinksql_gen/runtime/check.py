"""Compile every rendered statement against the real Flink planner, with the real connectors.

No broker or database is contacted: DDL is executed (it only registers tables) and each
INSERT is EXPLAINed. Flink's error is mapped back to the pipeline, file and line that
produced the statement. This is the pre-deployment safety net: nothing reaches a cluster
that Flink would reject.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from flinksql_gen.bundle import PipelineBundle, Statement
from flinksql_gen.errors import Problem
from flinksql_gen.render.quoting import quote_identifier
from flinksql_gen.runtime.errors import root_cause, summarize
from flinksql_gen.runtime.table_env import reset_planner_metadata
from flinksql_gen.secrets import resolve


class _PlaceholderEnv(Mapping[str, str]):
    """Resolves every ${env:NAME} to its default, or to a harmless placeholder: check needs no secrets."""

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)

    def get(self, key: str, default: str | None = None) -> str:  # type: ignore[override]
        return default if default is not None else f"check-placeholder-{key.lower()}"

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


def _problem(statement: Statement, pipeline: str, exc: BaseException) -> Problem:
    _, message = root_cause(exc)
    what = {"create_table": "table", "create_view": "view", "insert": "statement", "create_function": "function"}
    kind = what.get(statement.kind, statement.kind)
    return Problem(
        statement.origin,
        "",
        f"Flink rejects {kind} {statement.name!r} of pipeline {pipeline!r}: {summarize(message)}",
        "`flinksql-gen render` shows the generated SQL",
    )


def register_udfs(table_env, udfs) -> None:
    """Register UDFs a bundle does not create itself (rendered before its CREATE FUNCTION
    statements) through the PyFlink API, as the runner does: planning needs their signatures."""
    from flinksql_gen.runtime.runner import load_udf

    for info in udfs:
        function, _ = load_udf(info)
        table_env.drop_temporary_system_function(info.name)
        table_env.create_temporary_system_function(info.name, function)


def check_pipeline(pipeline: PipelineBundle, table_env, register_udfs=register_udfs) -> list[Problem]:
    """Plan every statement of one pipeline in its own database of `table_env`."""
    env = _PlaceholderEnv()
    database = f"check_{uuid.uuid4().hex[:12]}_{pipeline.name}"  # a fresh namespace each time: nothing clashes
    table_env.execute_sql(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
    table_env.use_database(database)
    try:
        if register_udfs is not None and pipeline.udfs_without_ddl:
            register_udfs(table_env, pipeline.udfs_without_ddl)
        for statement in pipeline.ddl:
            try:
                table_env.execute_sql(resolve(statement.sql, env, pipeline.env))
            except Exception as exc:  # Flink's exceptions come through Py4J as many types
                return [_problem(statement, pipeline.name, exc)]
        problems = []
        for statement in pipeline.inserts:
            try:
                reset_planner_metadata(table_env)
                table_env.explain_sql(resolve(statement.sql, env, pipeline.env))
            except Exception as exc:
                problems.append(_problem(statement, pipeline.name, exc))
        return problems
    finally:
        table_env.use_database("default_database")


def check_bundle(pipelines: tuple[PipelineBundle, ...], table_env, register_udfs=register_udfs) -> list[Problem]:
    problems: list[Problem] = []
    for pipeline in pipelines:
        problems.extend(check_pipeline(pipeline, table_env, register_udfs))
    return problems


def placeholder_env() -> Mapping[str, str]:
    return _PlaceholderEnv()
