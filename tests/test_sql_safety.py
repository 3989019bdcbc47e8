"""No name or value from YAML can change the meaning of the generated SQL (hypothesis property tests).

Arbitrary column names, literals, channel ids and message texts are thrown at the renderer; the
rendered statements must stay single statements whose identifiers and literals decode to exactly
the input. The `flink` tests check the same on Flink's own parser and planner.
"""

from __future__ import annotations

import json

import pytest
import yaml_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqllex import tokenize

from flinksql_gen import api
from flinksql_gen.sql.formats import BAD_ROWS, VALID_ROWS
from flinksql_gen.sql.quoting import quote_identifier, quote_string

# Any text but NUL, lone surrogates (which cannot be encoded at all) and the characters YAML itself
# reads as line breaks (NEL, LS, PS): those never reach the renderer from a YAML file.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x85\u2028\u2029"),
               min_size=1, max_size=12)  # fmt: skip
# Identifiers: any text but control characters, which Flink's lexer refuses even inside backticks
# (so the models refuse them with a clear error; see test_control_characters_in_names_are_refused).
IDENT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x85\u2028\u2029"),
                min_size=1, max_size=12).filter(str.strip)  # fmt: skip
NAMES = st.lists(IDENT, min_size=3, max_size=3, unique_by=lambda s: s.lower()).filter(
    lambda names: all(n.lower() not in ("event_time", "proc_time") for n in names)
)


def _pipeline(names: list[str], literal: str, threshold: float, channel: str, message_text: str) -> dict:
    host, value, ts = names
    braces = message_text.replace("{", "{{").replace("}", "}}")
    # A column name with a brace cannot be written as a {placeholder}; such names are left out.
    placeholder = f"{{{host}}}" if "{" not in host and "}" not in host else ""
    return {
        "pipeline": "p",
        "sources": {"src": {"topic": "in", "columns": {host: "STRING", value: "DOUBLE", ts: "BIGINT"},
                            "event_time": {"column": ts, "watermark": "5s"}}},
        "metrics": {"m": {"source": "src", "dimensions": [host], "value": value}},
        "detectors": {"d": {"type": "filter", "metric": "m",
                            "where": [{"column": host, "op": "=", "value": literal},
                                      {"column": value, "op": ">", "value": threshold}],
                            "sinks": ["out", "chat"]}},
        "sinks": {"out": {"type": "kafka", "topic": "out"},
                  "chat": {"type": "slack", "token": "${env:SLACK_TOKEN}", "channel_id": channel,
                           "message": f"{braces} {placeholder}"}},
    }  # fmt: skip


def _render(tmp_path, data: dict, target: str = "local"):
    f = tmp_path / "p.yaml"
    f.write_text(yaml_text.dump(data, allow_unicode=False))
    return api.render(f, target).pipeline("p")


def _statement_ok(sql: str) -> list:
    tokens = tokenize(sql)
    assert not any(t.kind == "symbol" and t.text == ";" for t in tokens), sql
    assert not any(t.kind == "comment" for t in tokens), sql
    # the only hints are flinksql-gen's own (a checked source's valid or bad rows), never input
    assert all(t.text in (VALID_ROWS, BAD_ROWS) for t in tokens if t.kind == "hint"), sql
    return tokens


FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=NAMES, literal=TEXT, threshold=FINITE, channel=TEXT, message_text=TEXT)
def test_every_statement_stays_one_statement(tmp_path, names, literal, threshold, channel, message_text):
    for target in ("local", "aiven"):
        pipeline = _render(tmp_path, _pipeline(names, literal, threshold, channel, message_text), target)
        for statement in pipeline.statements:
            _statement_ok(statement.sql)
        source = _statement_ok(pipeline.statement("src", "create_table").sql)
        idents = [t.text for t in source if t.kind == "ident"]
        assert idents[0] == "src" and all(n in idents for n in names)
        if target == "local":  # the checked source's typed view: exactly the declared columns, then event time
            valid = _statement_ok(pipeline.statement("src__valid", "create_view").sql)
            assert [t.text for t in valid if t.kind == "ident"][:4] == ["src__valid", *names]
        detector = pipeline.statement("d__out").sql if target == "aiven" else pipeline.statement("d", "create_view").sql
        strings = [t.text for t in tokenize(detector) if t.kind == "string"]
        assert literal in strings
        chat = [t.text for t in tokenize(pipeline.statement("d__chat").sql) if t.kind == "string"]
        assert channel in chat and f"{message_text} " in chat
        # The script as a whole: exactly the statements of the manifest, in order.
        script_statements = [t for t in tokenize(pipeline.script) if t.kind == "symbol" and t.text == ";"]
        assert len(script_statements) == len(pipeline.statements) + (1 if len(pipeline.inserts) > 1 else 0)


@settings(max_examples=200, deadline=None)
@given(value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_quote_string_decodes_to_the_value(value):
    tokens = tokenize(quote_string(value))
    assert [(t.kind, t.text) for t in tokens] == [("string", value)]


@settings(max_examples=200, deadline=None)
@given(name=IDENT)
def test_quote_identifier_decodes_to_the_name(name):
    tokens = tokenize(quote_identifier(name))
    assert [(t.kind, t.text) for t in tokens] == [("ident", name)]


@pytest.mark.parametrize("bad", ["a\rb", "tab\there", "nl\n", "\x7f"])
def test_control_characters_in_names_are_refused(tmp_path, bad):
    from flinksql_gen.errors import DefinitionError

    with pytest.raises(DefinitionError) as info:
        _render(tmp_path, _pipeline([bad, "v", "t"], "x", 1.0, "C1", "m"))
    assert "cannot contain control characters" in str(info.value)
    with pytest.raises(ValueError):
        quote_identifier(bad)


def test_secret_reference_survives_and_value_never_rendered(tmp_path, monkeypatch):
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-secret")
    pipeline = _render(tmp_path, _pipeline(["h", "v", "t"], "x", 1.0, "C1", "m"), "aiven")
    assert "xoxb-secret" not in pipeline.script + json.dumps([s.sql for s in pipeline.statements])
    assert "SLACK_TOKEN" in pipeline.env


# ------------------------------------------------------------------ on Flink's own parser and planner


@pytest.mark.flink
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=16),
                       min_size=1, max_size=40))  # fmt: skip
def test_flink_reads_string_literals_back_exactly(table_env, values):
    rows = ", ".join(f"({quote_string(v)})" for v in values)
    with table_env.execute_sql(f"SELECT * FROM (VALUES {rows}) AS t (v)").collect() as results:
        assert [r[0] for r in results] == values


@pytest.mark.flink
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(IDENT, min_size=1, max_size=6, unique=True))
def test_flink_reads_identifiers_back_exactly(table_env, names):
    columns = ", ".join(f"{i} AS {quote_identifier(n)}" for i, n in enumerate(names))
    assert table_env.sql_query(f"SELECT {columns}").get_schema().get_field_names() == names


@pytest.mark.flink
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=NAMES, literal=TEXT, threshold=FINITE, channel=TEXT, message_text=TEXT)
def test_flink_plans_pipelines_with_arbitrary_names(table_env, tmp_path, names, literal, threshold, channel,
                                                    message_text):  # fmt: skip
    from flinksql_gen.runtime.check import check_pipeline

    pipeline = _render(tmp_path, _pipeline(names, literal, threshold, channel, message_text))
    assert check_pipeline(pipeline, table_env) == []
    database = table_env.get_current_database()
    assert database == "default_database"


# ------------------------------------------------------------------ generated comments are inert

# File names: any text but '/' and NUL (what a file system allows), kept short.
FILE_NAME = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1,
                    max_size=24).filter(lambda s: len(s.encode()) < 200)  # fmt: skip
DESCRIPTION = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)


def _flink_statement_kinds(table_env, script: str) -> list[str]:
    """The statements Flink's own SQL parser finds in a whole script (the parser the SQL client
    and the gateway use), by kind."""
    parser = table_env._j_tenv.getParser()
    field = parser.getClass().getDeclaredField("calciteParserSupplier")
    field.setAccessible(True)
    nodes = field.get(parser).get().parseSqlList(script)
    return [nodes.get(i).getClass().getSimpleName() for i in range(nodes.size())]


@pytest.mark.flink
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file_name=FILE_NAME, description=DESCRIPTION)
def test_file_names_and_descriptions_never_change_the_statement_list(table_env, tmp_path, file_name, description):
    data = _pipeline(["host", "value", "ts"], "x", 1.0, "C1", "hi")
    folder = tmp_path / "defs"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    plain = folder / "plain.yaml"
    plain.write_text(yaml_text.dump(data))
    plain_script = api.render(plain, "local").pipeline("p").script
    expected = _flink_statement_kinds(table_env, plain_script)
    plain.unlink()
    hostile = folder / f"{file_name}.yaml"
    hostile.write_text(yaml_text.dump({**data, "description": description}))
    script = api.render(hostile, "local").pipeline("p").script
    assert _flink_statement_kinds(table_env, script) == expected

    def semicolons(text: str) -> int:
        return sum(t.kind == "symbol" and t.text == ";" for t in tokenize(text))

    assert semicolons(script) == semicolons(plain_script)
    assert "${env:" not in script.split("\n\n")[0]  # nothing a resolver would fill in


@pytest.mark.parametrize(("names", "option"), [
    (["host", "cpu"], "host;cpu"),
    (['"'], '""""'),
    (["a;b", "it's", 'x"y', " pad"], '"a;b";"it\'s";"x""y";" pad"'),
])
def test_list_options_are_written_as_flinks_splitter_reads_them(names, option):
    from flinksql_gen.sql.quoting import list_option

    assert list_option(names) == option
