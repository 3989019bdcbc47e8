"""The expression language: parsing, names and types, errors at file:line:col, and safety.

A property test throws arbitrary text and generated expressions over hostile names and values at
the renderer: whatever is accepted renders to statements that stay single statements, without
comments, whose literals decode to exactly the values written.
"""

from __future__ import annotations

import pytest
import yaml_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqllex import tokenize

from flinksql_gen import api
from flinksql_gen.errors import DefinitionError
from flinksql_gen.models.types import parse_type
from flinksql_gen.plan.expr_parse import ExprSyntaxError, parse_expression
from flinksql_gen.plan.expr_render import ExprError, Scope, render_expression
from flinksql_gen.plan.plan import Column, Schema
from flinksql_gen.sql.formats import BAD_ROWS, VALID_ROWS

SCHEMA = Schema(tuple(Column(n, parse_type(t)) for n, t in [
    ("amount", "DOUBLE"), ("qty", "INT"), ("status", "STRING"), ("ts", "TIMESTAMP(3)"), ("ok", "BOOLEAN"),
    ("odd name`x", "STRING"),
]))  # fmt: skip


def sql(text: str, aggregates: bool = False) -> str:
    return render_expression(parse_expression(text), Scope(SCHEMA, aggregates=aggregates))[0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("amount * qty", "(`amount` * `qty`)"),
        ("amount / qty", "(CAST(`amount` AS DOUBLE) / NULLIF(CAST(`qty` AS DOUBLE), 0))"),
        ("status = 'it''s' AND NOT ok", "((`status` = 'it''s') AND (NOT `ok`))"),
        ("qty BETWEEN 1 AND 3 OR status IN ('a', 'b')", "((`qty` BETWEEN 1 AND 3) OR (`status` IN ('a', 'b')))"),
        ("status NOT LIKE 'x%'", "(NOT (`status` LIKE 'x%'))"),
        ("CASE WHEN qty > 2 THEN 'many' ELSE 'few' END", "(CASE WHEN (`qty` > 2) THEN 'many' ELSE 'few' END)"),
        ("coalesce(amount, 0) - -1.5", "(COALESCE(`amount`, 0) - (-1.5))"),
        ("`odd name``x` || upper(status)", "(`odd name``x` || UPPER(`status`))"),
        ("ts > '2026-01-01 00:00:00'", "(`ts` > CAST('2026-01-01 00:00:00' AS TIMESTAMP(3)))"),
        ("qty % 2 = 1", "(MOD(`qty`, NULLIF(2, 0)) = 1)"),
        ("hour(ts) >= 9", "(HOUR(`ts`) >= 9)"),
        ("amount --qty", "(`amount` - (-`qty`))"),  # never a SQL comment: every operator is parenthesised
    ],
)
def test_row_expressions(text, expected):
    assert sql(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("count(*)", "COUNT(*)"),
        ("count(DISTINCT status)", "COUNT(DISTINCT `status`)"),
        ("count_if(status = 'failed')", "COUNT(*) FILTER (WHERE (`status` = 'failed'))"),
        ("sum_if(amount, ok)", "SUM(`amount`) FILTER (WHERE `ok`)"),
        ("sum(amount * qty) FILTER (WHERE ok)", "SUM((`amount` * `qty`)) FILTER (WHERE `ok`)"),
        ("p95(amount)", "PERCENTILE(`amount`, 0.95)"),
        ("percentile(qty, 0.5)", "PERCENTILE(CAST(`qty` AS DOUBLE), 0.5)"),
        ("avg(qty)", "AVG(CAST(`qty` AS DOUBLE))"),
        ("sum(amount) / count(*)", "(CAST(SUM(`amount`) AS DOUBLE) / NULLIF(CAST(COUNT(*) AS DOUBLE), 0))"),
    ],
)
def test_aggregate_expressions(text, expected):
    assert sql(text, aggregates=True) == expected


@pytest.mark.parametrize(
    "text, message, offset",
    [
        ("stauts = 'x'", "unknown column 'stauts'", 0),
        ("amount > 'x'", "cannot compare DOUBLE with STRING", 7),
        ("status + 1", "'+' needs a number value, but this is STRING", 0),
        ("amount = NULL", "comparing with NULL is never true", 7),
        ("sum(amount)", "is an aggregate, which is not allowed here", 0),
        ("lower(qty)", "lower(...) needs a text value", 6),
        ("nosuch(qty)", "unknown function 'nosuch'", 0),
        ("qty % amount", "'%' needs whole numbers", 4),
    ],
)
def test_name_and_type_errors_point_at_their_character(text, message, offset):
    with pytest.raises(ExprError) as err:
        sql(text)
    assert message in err.value.message and err.value.offset == offset


@pytest.mark.parametrize(
    "text, message, offset",
    [
        ('status = "x"', "unexpected character '\"'", 9),
        ("amount >", "expected a value", 8),
        ("(amount", "expected ')'", 7),
        ("amount amount", "unexpected 'amount'", 7),
        ("status = 'x'; DROP TABLE t", "unexpected character ';'", 12),
        ("a" * 5000, "over the 4000 limit", 0),
        ("(" * 100 + "1" + ")" * 100, "nested more than", 60),
    ],
)
def test_syntax_errors(text, message, offset):
    with pytest.raises(ExprSyntaxError) as err:
        parse_expression(text)
    assert message in err.value.message and err.value.offset == offset


def test_errors_in_definitions_carry_file_line_and_column(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "pipeline: p\nsources:\n  s: {topic: t, columns: {status: STRING, amount: DOUBLE, ts: BIGINT},"
        " event_time: {column: ts, watermark: 5s}}\nmetrics:\n  m:\n    source: s\n"
        "    where: [\"statsu = 'x'\"]\n    window: {type: tumble, size: 1m}\n"
        "    aggregates:\n      total: sum(amount) FILTER (WHERE amount > 'x')\nsinks: {o: {type: print}}\n"
    )
    with pytest.raises(DefinitionError) as err:
        api.validate(path)
    text = str(err.value)
    assert "p.yaml:7:14: metrics.m.where[0]: unknown column 'statsu' (did you mean 'status'?" in text


def test_aggregate_errors_point_into_the_value(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "pipeline: p\nsources:\n  s: {topic: t, columns: {status: STRING, amount: DOUBLE, ts: BIGINT},"
        " event_time: {column: ts, watermark: 5s}}\nmetrics:\n  m:\n    source: s\n"
        "    window: {type: tumble, size: 1m}\n"
        "    aggregates:\n      total: sum(amount) FILTER (WHERE amount > 'x')\n"
        "    derived:\n      share: total / amount\nsinks: {o: {type: print}}\n"
    )
    with pytest.raises(DefinitionError) as err:
        api.validate(path)
    assert "p.yaml:9:47: metrics.m.aggregates.total: cannot compare DOUBLE with STRING" in str(err.value)
    path.write_text(path.read_text().replace(" FILTER (WHERE amount > 'x')", ""))
    with pytest.raises(DefinitionError, match="'amount' is a column of the rows, not a value of the window"):
        api.validate(path)


# ---------------------------------------------------------------------------- safety

HOSTILE = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x85\u2028\u2029"),
                  min_size=1, max_size=10).filter(str.strip)  # fmt: skip
VALUES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x85\u2028\u2029"),
                 max_size=12)  # fmt: skip


def _pipeline(column: str, where: str, computed: str, aggregate: str, derived: str) -> dict:
    return {
        "pipeline": "p",
        "sources": {"s": {"topic": "t", "columns": {column: "STRING", "amount": "DOUBLE", "ts": "BIGINT"},
                          "event_time": {"column": "ts", "watermark": "5s"}}},
        "metrics": {"m": {"source": "s", "computed": {"c": computed}, "where": [where], "dimensions": [column],
                          "window": {"type": "tumble", "size": "1m"}, "aggregates": {"a": aggregate, "n": "count(*)"},
                          "derived": {"d": derived}, "sinks": ["out"]}},
        "sinks": {"out": {"type": "kafka", "topic": "o"}},
    }  # fmt: skip


def _statements_ok(bundle) -> None:
    for statement in bundle.statements:
        tokens = tokenize(statement.sql)
        assert not any(t.kind == "symbol" and t.text == ";" for t in tokens), statement.sql
        assert not any(t.kind == "comment" for t in tokens), statement.sql
        # the only hints are flinksql-gen's own (a checked source's valid or bad rows), never input
        assert all(t.text in (VALID_ROWS, BAD_ROWS) for t in tokens if t.kind == "hint"), sql


def _quoted_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _quoted_value(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=HOSTILE, value=VALUES, other=VALUES)
def test_generated_expressions_over_hostile_names_and_values(tmp_path, column, value, other):
    if column in ("amount", "ts", "c", "a", "n", "d", "event_time"):
        return
    name = _quoted_name(column)
    data = _pipeline(
        column,
        where=f"{name} <> {_quoted_value(value)} OR {name} IS NULL",
        computed=f"CASE WHEN {name} LIKE {_quoted_value(other)} THEN amount ELSE 0 END",
        aggregate=f"sum(c) FILTER (WHERE {name} IN ({_quoted_value(value)}, {_quoted_value(other)}))",
        derived="a / n",
    )
    path = tmp_path / "p.yaml"
    path.write_text(yaml_text.dump(data))
    bundle = api.render(path, "local").pipeline("p")
    _statements_ok(bundle)
    rows_view = bundle.statement("m__rows", "create_view").sql
    strings = [t.text for t in tokenize(rows_view) if t.kind == "string"]
    assert value in strings and other in strings


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=40))
def test_arbitrary_expression_text_is_refused_or_inert(tmp_path, text):
    data = _pipeline("region", where=text or "x", computed="amount", aggregate="sum(amount)", derived="a / n")
    path = tmp_path / "p.yaml"
    path.write_text(yaml_text.dump(data))
    try:
        bundle = api.render(path, "local").pipeline("p")
    except DefinitionError:
        return
    _statements_ok(bundle)


def test_the_tree_knows_every_aggregate_the_renderer_has():
    from flinksql_gen.plan.expr_render import AGGREGATES
    from flinksql_gen.plan.expr_tree import AGGREGATE_NAMES

    assert set(AGGREGATES) == AGGREGATE_NAMES


def test_examples_for_aiven_refuse_only_what_aiven_lacks(monkeypatch):
    """checkout.yaml is pure SQL and renders for Aiven; latency.yaml's percentile (Flink 2.0) and
    score UDF are refused together, each naming what to use instead."""
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    bundle = api.render("examples/checkout.yaml", "aiven")
    assert bundle.pipelines[0].name == "checkout"
    with pytest.raises(DefinitionError) as err:
        api.render("examples", "aiven")
    problems = [str(p) for p in err.value.problems]
    assert len(problems) == 2, problems
    assert "examples/latency.yaml:16:15: metrics.latency_10s.aggregates.p95_ms: percentiles need Flink 2.0" in problems[0]
    assert "needs a Python UDF" in problems[1] and "use a pure-SQL detector" in problems[1]
