"""Bad-record policies of Kafka sources: rendered SQL, validation errors (file:line), and every form
compiled by the real Flink planner. The real-stack behaviour is in test_bad_records_stack.py."""

from __future__ import annotations

import textwrap

import pytest

from flinksql_gen import api
from flinksql_gen.errors import DefinitionError
from flinksql_gen.runtime.check import check_pipeline

BASE = textwrap.dedent(
    """\
    pipeline: t
    sources:
      readings:
        topic: readings
        columns:
          host: STRING
          value: DOUBLE
          ts: BIGINT
        event_time: {column: ts, watermark: 5s}
    metrics:
      m:
        source: readings
        dimensions: [host]
        value: value
      w:
        source: readings
        window: {type: tumble, size: 10s}
        aggregates: {n: count(*)}
    detectors:
      high:
        type: filter
        metric: m
        where: [{column: value, op: ">", value: 10}]
        sinks: [out]
      busy:
        type: having
        metric: w
        where: [{column: n, op: ">", value: 100}]
        sinks: [out2]
    sinks:
      out:
        type: kafka
        topic: out
      out2:
        type: kafka
        topic: out2
    """
)
SETTING_AT = "    event_time: {column: ts, watermark: 5s}\n"  # source settings are added after this line (9)
NESTED = ("      ts: BIGINT\n", "      ts: BIGINT\n      items: ARRAY<ROW<sku STRING, n INT>>\n")


def _text(*replacements: tuple[str, str], settings: str = "") -> str:
    text = BASE
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.replace(SETTING_AT, SETTING_AT + textwrap.indent(settings, "    "), 1)


@pytest.fixture
def sql_form(monkeypatch):
    """Render the pure-SQL checked form (Aiven's) for the local target too: these tests read its SQL.
    The format form of the other targets is in test_checked_format.py."""
    from flinksql_gen.plan import bad_records

    monkeypatch.setattr(bad_records, "SQL_TARGETS", frozenset({"aiven", "local"}))


def _render(tmp_path, monkeypatch, text: str, target: str = "local"):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(text)
    return api.render_pipeline("t.yaml", target)


def _sql(bundle, name: str) -> str:
    return next(s.sql for s in bundle.statements if s.name == name)


def test_default_is_dead_letter(tmp_path, monkeypatch, sql_form):
    bundle = _render(tmp_path, monkeypatch, BASE)
    source = _sql(bundle, "readings")
    assert "'value.format' = 'raw'" in source and "`__value` BYTES" in source
    assert "`__offset` BIGINT METADATA FROM 'offset' VIRTUAL" in source
    assert "`value` AS TRY_CAST(JSON_VALUE(CAST(`__value` AS STRING), '$.value' RETURNING STRING NULL ON ERROR) AS DOUBLE)" in source
    # The event-time attribute is never NULL (epoch 0 for bad records: it never moves the watermark).
    assert ("`event_time` AS COALESCE(TO_TIMESTAMP_LTZ(TRY_CAST(JSON_VALUE(CAST(`__value` AS STRING), '$.ts' "
            "RETURNING STRING NULL ON ERROR) AS BIGINT), 3), TO_TIMESTAMP_LTZ(0, 3))") in source
    assert "ignore-parse-errors" not in bundle.script  # nothing is skipped silently
    tables = {t.name: (t.role, t.connector, t.topic) for t in bundle.tables}
    assert tables["readings_dead_letter"] == ("sink", "kafka", "readings_dead_letter")
    # Metrics read only valid records; the dead-letter insert reads the invalid ones.
    assert "FROM `readings__valid` AS `s`" in _sql(bundle, "m")
    assert "TUMBLE(TABLE `readings__valid`, DESCRIPTOR(`event_time`)" in _sql(bundle, "w")
    assert _sql(bundle, "readings__valid").endswith("FROM `readings__checked`\nWHERE `__error` IS NULL")
    dead = next(s for s in bundle.inserts if s.name == "readings__readings_dead_letter")
    assert str(dead.origin) == "t.yaml:3:3"
    assert dead.sql.startswith("INSERT INTO `readings_dead_letter`\nSELECT\n  `__key` AS `key`,\n  `__value` AS `value`,")
    assert dead.sql.endswith("FROM `readings__checked`\nWHERE `__error` IS NOT NULL")
    assert "'flinksql-gen.offset', CAST(CAST(`__offset` AS STRING) AS BYTES)" in dead.sql


def test_checks_in_order(tmp_path, monkeypatch, sql_form):
    text = _text(("      host: STRING\n", "      host: STRING NOT NULL\n      tags: ARRAY<INT>\n"))
    checked = _sql(_render(tmp_path, monkeypatch, text), "readings__checked")
    j = "CAST(`__value` AS STRING)"
    whens = [line.strip() for line in checked.splitlines() if line.strip().startswith("WHEN ")]
    assert whens == [
        "WHEN `__value` IS NULL THEN 'no value (tombstone)'",
        f"WHEN {j} = '' THEN 'empty message'",
        f"WHEN CAST({j} AS BYTES) <> `__value` THEN 'not UTF-8 text'",
        f"WHEN {j} IS NOT JSON OBJECT THEN CASE WHEN {j} IS JSON THEN 'not a JSON object' ELSE 'malformed JSON' END",
        f"WHEN NOT JSON_EXISTS({j}, '$.host') THEN 'missing or null field \"host\"'",
        f"WHEN NOT JSON_EXISTS({j}, '$.ts') THEN 'missing or null field \"ts\"'",
        f"WHEN `host` IS NULL AND JSON_EXISTS({j}, '$.host') THEN 'field \"host\" is not a STRING'",
        f"WHEN `tags` IS NULL AND JSON_EXISTS({j}, '$.tags') THEN 'field \"tags\" is not an ARRAY<INT>'",
        f"WHEN `value` IS NULL AND JSON_EXISTS({j}, '$.value') THEN 'field \"value\" is not a DOUBLE'",
        "WHEN `value` * 0 <> 0 THEN 'field \"value\" is not a finite DOUBLE'",
        f"WHEN `ts` IS NULL AND JSON_EXISTS({j}, '$.ts') THEN 'field \"ts\" is not a BIGINT'",
        "WHEN TO_TIMESTAMP_LTZ(`ts`, 3) IS NULL THEN 'event time \"ts\" is out of range'",
    ]
    source = _sql(_render(tmp_path, monkeypatch, text), "readings")
    assert ("`tags` AS TRY_CAST(JSON_QUERY(CAST(`__value` AS STRING), '$.tags' RETURNING ARRAY<STRING> NULL ON ERROR) "
            "AS ARRAY<INT>)") in source
    assert ("`host` AS COALESCE(JSON_VALUE(CAST(`__value` AS STRING), '$.host' RETURNING STRING NULL ON ERROR), "
            "JSON_QUERY(CAST(`__value` AS STRING), '$.host' NULL ON ERROR))") in source


def test_skip_and_fail(tmp_path, monkeypatch):
    skip = _render(tmp_path, monkeypatch, _text(settings="bad_records: skip\n"))
    assert {t.name: t.connector for t in skip.tables}["readings_skipped"] == "blackhole"
    assert not any(t.name == "readings_dead_letter" for t in skip.tables)
    insert = next(s for s in skip.inserts if s.name == "readings__readings_skipped")
    assert str(insert.origin) == "t.yaml:10:5"
    assert "`__error` AS `reason`" in insert.sql and insert.sql.endswith("WHERE `__error` IS NOT NULL")

    fail = _render(tmp_path, monkeypatch, _text(settings="bad_records: fail\n"))
    insert = next(s for s in fail.inserts if s.name == "readings__readings__fail")
    assert insert.sql.startswith("INSERT INTO `readings__fail`\nSELECT\n  CAST(CONCAT('flinksql-gen: bad record at "
                                 "topic ', `__topic`, ' partition ', CAST(`__partition` AS STRING), ' offset ', ")
    assert "AS INT) AS `failed`" in insert.sql and "FROM `readings` /*+ OPTIONS('scan.rows' = 'bad') */" in fail.script


def test_dead_letter_and_late_topics(tmp_path, monkeypatch):
    text = _text(settings="dead_letter_topic: readings.dlq\nlate_events_topic: readings.late\n")
    bundle = _render(tmp_path, monkeypatch, text)
    topics = {t.name: t.topic for t in bundle.tables if t.role == "sink"}
    assert topics["readings_dead_letter"] == "readings.dlq" and topics["readings_late_events"] == "readings.late"
    late = next(s for s in bundle.inserts if s.name == "readings__readings_late_events")
    assert str(late.origin) == "t.yaml:11:5"
    assert late.sql.endswith("FROM `readings` /*+ OPTIONS('scan.rows' = 'valid') */\n"
                             "WHERE `event_time` <= CURRENT_WATERMARK(`event_time`)")
    assert "CONCAT('event time ', CAST(`event_time` AS STRING), ' is not after the watermark '" in late.sql


def test_nested_columns_stay_on_the_json_format(tmp_path, monkeypatch):
    bundle = _render(tmp_path, monkeypatch, _text(NESTED))
    source = _sql(bundle, "readings")
    assert "'value.format' = 'json'" in source and "'value.json.ignore-parse-errors' = 'false'" in source
    assert [t.name for t in bundle.tables if t.role == "sink"] == ["out", "out2"]
    assert "__checked" not in bundle.script


def test_unusual_field_names_are_quoted_in_json_paths(tmp_path, monkeypatch, sql_form):
    text = _text(("      host: STRING\n", "      host: STRING\n      \"it's a.b\": STRING\n      \"é\": INT\n"))
    source = _sql(_render(tmp_path, monkeypatch, text), "readings")
    assert "`it's a.b` AS COALESCE(JSON_VALUE(CAST(`__value` AS STRING), '$[''it\\''s a.b'']' RETURNING" in source
    assert "`é` AS TRY_CAST(JSON_VALUE(CAST(`__value` AS STRING), '$[''é'']' RETURNING STRING" in source


def test_declared_columns_may_use_the_record_column_names(tmp_path, monkeypatch, sql_form):
    text = _text(("      host: STRING\n", "      host: STRING\n      __value: STRING\n"))
    bundle = _render(tmp_path, monkeypatch, text)
    source = _sql(bundle, "readings")
    assert "`__value_1` BYTES" in source and "'key.fields' = '__key'" in source
    assert "`__value` AS COALESCE(JSON_VALUE(CAST(`__value_1` AS STRING), '$.__value' RETURNING" in source
    assert "WHERE `__error` IS NULL" in _sql(bundle, "readings__valid")


def test_aiven_inlines_the_checked_view(tmp_path, monkeypatch):
    bundle = _render(tmp_path, monkeypatch, BASE, target="aiven")
    dead = next(s for s in bundle.inserts if s.name == "readings__readings_dead_letter")
    assert dead.sql.startswith("INSERT INTO `readings_dead_letter`\nWITH\n`readings__checked` AS (")
    high = next(s for s in bundle.inserts if s.name == "high__out")
    assert "`readings__checked` AS (" in high.sql and "`readings__valid` AS (" in high.sql


# name -> (text, expected problem line prefix)
ERRORS = {
    "dead_letter_topic_with_fail": (
        _text(settings="bad_records: fail\ndead_letter_topic: dlq\n"),
        "t.yaml:11:24: sources.readings.dead_letter_topic: dead_letter_topic is only used with bad_records: "
        "dead-letter (this source has bad_records: fail)",
    ),
    "dead_letter_on_nested_source": (
        _text(NESTED, settings="bad_records: dead-letter\n"),
        "t.yaml:11:18: sources.readings.bad_records: bad_records: dead-letter needs columns that SQL can check; "
        "items (ROW, MAP, nested ARRAY or BYTES)",
    ),
    "dead_letter_topic_on_nested_source": (
        _text(NESTED, settings="dead_letter_topic: dlq\n"),
        "t.yaml:11:24: sources.readings.dead_letter_topic: this source has nested columns (items): a bad record "
        "fails the job",
    ),
    "dead_letter_topic_is_the_source": (
        _text(settings="dead_letter_topic: readings\n"),
        "t.yaml:10:24: sources.readings.dead_letter_topic: the dead-letter topic cannot be the source topic",
    ),
    "late_without_event_time": (
        _text((SETTING_AT, "    late_events_topic: late\n"), ("    window: {type: tumble, size: 10s}\n", "")),
        "t.yaml:9:24: sources.readings.late_events_topic: late events need event time, and this source has none",
    ),
    "late_is_the_dead_letter_topic": (
        _text(settings="late_events_topic: readings_dead_letter\n"),
        "t.yaml:10:24: sources.readings.late_events_topic: the late-events topic cannot be the dead-letter topic",
    ),
    "late_on_nested_source": (
        _text(NESTED, settings="late_events_topic: late\n"),
        "t.yaml:11:24: sources.readings.late_events_topic: late_events_topic needs columns that SQL can check",
    ),
    "generated_name_taken": (
        _text(("  out2:\n", "  readings_dead_letter:\n"), ("sinks: [out2]", "sinks: [readings_dead_letter]")),
        "t.yaml:34:3: sinks.readings_dead_letter: the name 'readings_dead_letter' is already used by sources.readings",
    ),
    "unknown_policy": (
        _text(settings="bad_records: ignore\n"),
        "t.yaml:10:18: sources.readings.bad_records: 'ignore' is not allowed here; expected one of: fail, skip, dead-letter",
    ),
    "bad_topic_name": (
        _text(settings="dead_letter_topic: no spaces allowed\n"),
        "t.yaml:10:24: sources.readings.dead_letter_topic: String should match pattern",
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_settings_name_file_line_and_key(case, tmp_path, monkeypatch):
    text, expected = ERRORS[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(DefinitionError) as info:
        api.validate("t.yaml")
    lines = [str(p) for p in info.value.problems]
    assert any(line.startswith(expected) for line in lines), "\n".join(lines)


FLINK_CASES = {
    "dead_letter_and_late": _text(settings="late_events_topic: late\n"),
    "skip": _text(settings="bad_records: skip\n"),
    "fail": _text(settings="bad_records: fail\n"),
    "nested": _text(NESTED),
    "record_column_names": _text(("      host: STRING\n", "      host: STRING\n      __value: STRING\n      __error: INT\n")),
    "all_types": _text(("      host: STRING\n", textwrap.indent(textwrap.dedent("""\
        host: STRING NOT NULL
        "it's a.b": VARCHAR(20)
        c: CHAR(3)
        b: BOOLEAN
        t1: TINYINT
        t2: SMALLINT
        i: INT
        f: FLOAT
        d: DECIMAL(12, 3)
        day: DATE
        tod: TIME
        at: TIMESTAMP(3)
        ltz: TIMESTAMP_LTZ(3)
        tags: ARRAY<STRING>
        ns: ARRAY<DOUBLE>
        """), "      ")), settings="proctime: pt\nlate_events_topic: late\n"),
    "timestamp_column": _text(("      ts: BIGINT\n", "      ts: TIMESTAMP(3)\n")),
    "kafka_timestamp": _text(("{column: ts, watermark: 5s}", "{kafka_timestamp: true, name: kts, watermark: 5s}")),
    "epoch_seconds": _text(("{column: ts, watermark: 5s}", "{column: ts, format: epoch_seconds, watermark: 5s}")),
}


@pytest.mark.flink
@pytest.mark.parametrize("case", sorted(FLINK_CASES))
def test_every_form_plans_on_flink(case, table_env, tmp_path, monkeypatch):
    for target in ("local", "aiven"):
        bundle = _render(tmp_path, monkeypatch, FLINK_CASES[case], target=target)
        assert check_pipeline(bundle, table_env) == [], target


TYPED = {"s": "STRING", "v": "VARCHAR(5)", "b": "BOOLEAN", "t": "TINYINT", "i": "INT", "f": "FLOAT",
         "d": "DECIMAL(6, 2)", "day": "DATE", "at": "TIMESTAMP(3)", "ltz": "TIMESTAMP_LTZ(3)", "tags": "ARRAY<INT>"}
GOOD = {"s": {"x": 1}, "v": "abc", "b": True, "t": 5, "i": 7, "f": 1.5, "d": "12.34", "day": "2024-02-03",
        "at": "2024-02-03 10:11:12.345", "ltz": "2024-02-03 10:11:12.345", "tags": [1, 2]}
# changed field -> the record's __error (None: valid). CAST's rules: "7" and 7.9 are the INT 7, 1 is TRUE.
VARIANTS = [
    ({}, None), ({"s": 5}, None), ({"i": "7"}, None), ({"i": 7.9}, None), ({"b": 1}, None), ({"v": None}, None),
    ({"v": "abcdefgh"}, 'field "v" is longer than VARCHAR(5)'),
    ({"b": "maybe"}, 'field "b" is not a BOOLEAN'),
    ({"t": 300}, 'field "t" is not a TINYINT'),
    ({"i": 3_000_000_000}, 'field "i" is not an INT'),
    ({"f": "Infinity"}, 'field "f" is not a finite FLOAT'),
    ({"f": 1e39}, 'field "f" is not a finite FLOAT'),
    ({"d": 12345.678}, 'field "d" is not a DECIMAL(6, 2)'),
    ({"day": "yesterday"}, 'field "day" is not a DATE'),
    ({"at": 1700000000000}, 'field "at" is not a TIMESTAMP(3)'),
    ({"ltz": "2024-02-03T10:11:12Z"}, 'field "ltz" is not a TIMESTAMP_LTZ(3)'),
    ({"tags": [1, "x"]}, 'field "tags" is not an ARRAY<INT>'),
]


@pytest.mark.flink
def test_typed_values_and_reasons_at_run_time(table_env):
    """The checked view's expressions, run by Flink over one JSON document per variant."""
    import json

    from flinksql_gen.models.types import parse_type
    from flinksql_gen.plan.checked_json import RecordColumns, checks, error_sql, extract
    from flinksql_gen.plan.plan import Column
    from flinksql_gen.render.quoting import quote_identifier as q
    from flinksql_gen.render.quoting import quote_string

    cols = [Column(n, parse_type(t)) for n, t in TYPED.items()]
    docs = ", ".join(f"({quote_string(json.dumps(GOOD | change))})" for change, _ in VARIANTS)
    r = RecordColumns()
    typed = ", ".join(f"{extract(r, c.name, c.type)} AS {q(c.name)}" for c in cols)
    inner = f"SELECT `__value`, {typed} FROM (SELECT CAST(v AS BYTES) AS `__value` FROM (VALUES {docs}) AS x(v))"
    shown = ", ".join(f"CAST({q(c.name)} AS STRING)" for c in cols)
    sql = f"SELECT {shown}, {error_sql(r, checks(r, cols, {c.name: q(c.name) for c in cols}, None))} FROM ({inner})"
    config = table_env.get_config()
    zone = config.get("table.local-time-zone", "default")
    config.set("table.local-time-zone", "UTC")
    try:
        with table_env.execute_sql(sql).collect() as results:
            rows = [tuple(r) for r in results]
    finally:
        config.set("table.local-time-zone", zone)
    assert [r[-1] for r in rows] == [reason for _, reason in VARIANTS]
    assert rows[0][:-1] == ('{"x":1}', "abc", "TRUE", "5", "7", "1.5", "12.34", "2024-02-03",
                            "2024-02-03 10:11:12.345", "2024-02-03 10:11:12.345", "[1, 2]")  # fmt: skip
