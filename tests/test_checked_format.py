"""The checked source's format form (`flinksql-gen-json`, flinksql_gen/java): its rendered SQL, its
jar built from source, and, on the real stack, the same split into valid rows and bad records (with
the same reasons and typed values) as the pure-SQL form that Aiven runs, for random bytes and JSON."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from flinksql_gen import api
from flinksql_gen.plan import bad_records
from flinksql_gen.runtime import formats
from flinksql_gen.sql.formats import BAD_ROWS, VALID_ROWS

PIPELINE = textwrap.dedent(
    """\
    pipeline: {name}
    sources:
      {source}:
        topic: {topic}
        columns:
          id: INT NOT NULL
          host: STRING
          v: VARCHAR(5)
          usage: DOUBLE
          f: FLOAT
          d: DECIMAL(6, 2)
          b: BOOLEAN
          day: DATE
          tags: ARRAY<INT>
          names: ARRAY<STRING>
          ts: BIGINT
        event_time: {{column: ts, watermark: 5s}}
    metrics:
      m:
        source: {source}
        columns: [id, host, usage]
    detectors:
      high:
        type: filter
        metric: m
        where: [{{column: usage, op: ">", value: 10}}]
        sinks: [out]
    sinks:
      out: {{type: kafka, topic: out}}
    """
)
COLUMNS = ["id", "host", "v", "usage", "f", "d", "b", "day", "tags", "names", "ts"]
# Only types the format converts itself: typed mode (the format emits typed columns and every reason).
TYPED_COLUMNS = {"id": "INT NOT NULL", "host": "STRING", "usage": "DOUBLE", "f": "FLOAT", "d": "DECIMAL(6, 2)",
                 "b": "BOOLEAN", "t": "TINYINT", "s": "SMALLINT", "ts": "BIGINT"}  # fmt: skip
TYPED_PIPELINE = PIPELINE.replace(
    PIPELINE[PIPELINE.index("      id: INT NOT NULL"): PIPELINE.index("    event_time")],
    "".join(f'      {k}: "{v}"\n' for k, v in TYPED_COLUMNS.items()),
)


def _render(folder: Path, source: str, topic: str, sql_form: bool, monkeypatch,
            pipeline: str = PIPELINE) -> dict[str, str]:  # fmt: skip
    targets = {"aiven", "local"} if sql_form else {"aiven"}
    monkeypatch.setattr(bad_records, "SQL_TARGETS", frozenset(targets))
    monkeypatch.chdir(folder)
    path = folder / f"{source}.yaml"
    path.write_text(pipeline.format(name=source, source=source, topic=topic))
    bundle = api.render_pipeline(path.name, "local")
    return {s.name: s.sql for s in bundle.statements}


def test_format_form_reads_each_record_once(tmp_path, monkeypatch):
    sql = _render(tmp_path, "s", "t", sql_form=False, monkeypatch=monkeypatch)
    table, checked = sql["s"], sql["s__checked"]
    assert "'value.format' = 'flinksql-gen-json'" in table and "JSON_VALUE" not in table
    assert "'value.flinksql-gen-json.raw-column' = '__value'" in table
    assert "'value.flinksql-gen-json.error-column' = '__error'" in table
    fields = json.loads(table.split("'value.flinksql-gen-json.fields' = '")[1].split("'")[0])
    assert fields[0] == ["__json_id", "id", "text"] and ["__json_tags", "tags", "json"] in fields
    assert "`usage` AS TRY_CAST(`__json_usage` AS DOUBLE)" in table
    assert "`tags` AS TRY_CAST(JSON_QUERY(`__json_tags`, '$' RETURNING ARRAY<STRING> NULL ON ERROR) AS ARRAY<INT>)" in table
    assert "`event_time` AS COALESCE(TO_TIMESTAMP_LTZ(TRY_CAST(`__json_ts` AS BIGINT), 3), TO_TIMESTAMP_LTZ(0, 3))" in table
    whens = [line.strip() for line in checked.splitlines() if line.strip().startswith("WHEN ")]
    assert whens[:3] == ["WHEN `__error` IS NOT NULL THEN `__error`",
                         "WHEN `__json_id` IS NULL THEN 'missing or null field \"id\"'",
                         "WHEN `__json_ts` IS NULL THEN 'missing or null field \"ts\"'"]  # fmt: skip
    assert "WHEN CHAR_LENGTH(`__json_v`) > 5 THEN 'field \"v\" is longer than VARCHAR(5)'" in whens
    assert "JSON_EXISTS" not in checked and "IS JSON" not in checked
    # Aiven keeps the pure-SQL form (no custom jars there).
    monkeypatch.setattr(bad_records, "SQL_TARGETS", frozenset({"aiven"}))
    path = tmp_path / "s.yaml"
    aiven = api.render_pipeline(path.name, "aiven")
    assert "flinksql-gen-json" not in aiven.script and "'value.format' = 'raw'" in aiven.script


def test_typed_mode_emits_typed_columns_and_every_reason(tmp_path, monkeypatch):
    sql = _render(tmp_path, "s", "t", sql_form=False, monkeypatch=monkeypatch, pipeline=TYPED_PIPELINE)
    table, checked = sql["s"], sql["s__checked"]
    assert "`usage` DOUBLE," in table and "`id` INT," in table and "`d` DECIMAL(6, 2)," in table  # nullable
    assert "TRY_CAST" not in table and "__json_" not in table
    fields = json.loads(table.split("'value.flinksql-gen-json.fields' = '")[1].split("'")[0])
    assert fields[0] == ["id", "id", "value", 'missing or null field "id"', 'field "id" is not an INT', None]
    assert fields[1] == ["host", "host", "value", None, None, None]
    assert ["usage", "usage", "value", None, 'field "usage" is not a DOUBLE', 'field "usage" is not a finite DOUBLE'] in fields
    assert "`event_time` AS COALESCE(TO_TIMESTAMP_LTZ(`ts`, 3), TO_TIMESTAMP_LTZ(0, 3))" in table
    assert fields[-1] == ["ts", "ts", "value", 'missing or null field "ts"', 'field "ts" is not a BIGINT', None,
                          'event time "ts" is out of range', 3]  # fmt: skip
    assert "CASE" not in checked and "  `__error`\nFROM `s`" in checked  # no check left in SQL
    # the table's valid rows (the connector splits one read): no filter, no shared Calc
    assert sql["s__valid"].endswith("FROM `s` /*+ OPTIONS('scan.rows' = 'valid') */")


def test_typed_mode_sets_record_columns_on_bad_rows_only(tmp_path, monkeypatch):
    sql = _render(tmp_path, "s", "t", sql_form=False, monkeypatch=monkeypatch, pipeline=TYPED_PIPELINE)
    table = sql["s"]
    assert "`__topic` STRING," in table and "METADATA FROM 'topic'" not in table  # the format's, from 'topic'
    assert "'value.flinksql-gen-json.topic-column' = '__topic'" in table
    assert "'value.flinksql-gen-json.record-columns' = 'bad'" in table
    # late events copy valid records (key, value, topic): every row keeps its record columns
    late = TYPED_PIPELINE.replace("    event_time:", "    late_events_topic: late\n    event_time:", 1)
    table = _render(tmp_path, "s", "t", sql_form=False, monkeypatch=monkeypatch, pipeline=late)["s"]
    assert "'value.flinksql-gen-json.topic-column' = '__topic'" in table and "record-columns" not in table
    # text mode: SQL finds further reasons after the format, so every row keeps its value bytes
    table = _render(tmp_path, "s", "t", sql_form=False, monkeypatch=monkeypatch)["s"]
    assert "record-columns" not in table


@pytest.mark.flink
@pytest.mark.parametrize("change, message", [
    ("'value.flinksql-gen-json.record-columns' = 'some'", "option 'record-columns' must be 'all' or 'bad', not 'some'"),
    ("'value.flinksql-gen-json.record-columns' = 'bad'", "'record-columns' = 'bad' needs typed mode"),
    ("'topic' = 'a;b'", "option 'topic-column' needs the table's 'topic' option to name one topic, not 'a;b'"),
])  # fmt: skip
def test_format_option_errors_name_the_table(change, message, table_env):
    from py4j.protocol import Py4JJavaError

    key = change.split(" = ")[0]
    options = {"'connector'": "'kafka'", "'topic'": "'t'", "'properties.bootstrap.servers'": "'127.0.0.1:1'",
               "'value.format'": "'flinksql-gen-json'", "'value.flinksql-gen-json.raw-column'": "'__value'",
               "'value.flinksql-gen-json.error-column'": "'__error'",
               "'value.flinksql-gen-json.topic-column'": "'__topic'",
               "'value.flinksql-gen-json.fields'": "'[[\"__json_a\",\"a\",\"text\"]]'"}  # fmt: skip
    options[key] = change.split(" = ")[1]
    with_ = ", ".join(f"{k} = {v}" for k, v in options.items())
    table_env.execute_sql(f"CREATE TEMPORARY TABLE `opt_err` (`__value` BYTES, `__json_a` STRING, `__error` STRING, "
                          f"`__topic` STRING) WITH ({with_})")  # fmt: skip
    try:
        with pytest.raises(Py4JJavaError) as failure:
            table_env.explain_sql("SELECT * FROM `opt_err`")
        text = str(failure.value.java_exception.getCause()) + str(failure.value)
        assert "flinksql-gen-json of table default_catalog.default_database.opt_err:" in text, text[-1500:]
        assert message in text, text[-1500:]
    finally:
        table_env.execute_sql("DROP TEMPORARY TABLE `opt_err`")


@pytest.mark.parametrize("with_, statement, message", [
    ("'value.format' = 'json'", "SELECT * FROM `conn_err`",
     "The connector 'flinksql-gen-kafka' reads values with the 'flinksql-gen-json' format only"),
    ("'value.format' = 'json'", "INSERT INTO `conn_err` SELECT 'x'",
     "The connector 'flinksql-gen-kafka' only reads (flinksql-gen's checked sources)"),
    ("'value.format' = 'json'", "SELECT * FROM `conn_err` /*+ OPTIONS('scan.rows' = 'some') */",
     "Option 'scan.rows' of the connector 'flinksql-gen-kafka' is 'some': use all, valid or bad."),
    ("'value.format' = 'json'", f"SELECT * FROM `conn_err` {VALID_ROWS}",
     "Option 'scan.rows' = 'valid' needs the value format's error column "
     "('value.flinksql-gen-json.error-column'), a column of the table."),
])  # fmt: skip
def test_checked_kafka_connector_errors_say_what_it_takes(with_, statement, message, table_env):
    from py4j.protocol import Py4JJavaError

    table_env.execute_sql(f"CREATE TEMPORARY TABLE `conn_err` (`a` STRING) WITH ('connector' = 'flinksql-gen-kafka', "
                          f"'topic' = 't', 'properties.bootstrap.servers' = '127.0.0.1:1', {with_})")  # fmt: skip
    try:
        with pytest.raises(Py4JJavaError) as failure:
            table_env.explain_sql(statement)
        text = str(failure.value.java_exception.getCause()) + str(failure.value)
        assert message in text, text[-1500:]
    finally:
        table_env.execute_sql("DROP TEMPORARY TABLE `conn_err`")


def test_text_columns_avoid_declared_names():
    from flinksql_gen.models.types import parse_type
    from flinksql_gen.plan.plan import Column

    r = bad_records.RecordColumns.avoiding({"a", "__json_a"})
    cols = [Column("a", parse_type("INT")), Column("__json_a", parse_type("STRING"))]
    texts = bad_records.text_columns(r, cols, {"a", "__json_a"})
    assert texts == {"a": "__json_a_1", "__json_a": "__json___json_a"}


def test_format_jar_is_built_once_per_source_version(tmp_path):
    from flinksql_gen.runtime.jars import KAFKA_CONNECTOR, ensure_jars

    jars = ensure_jars(tmp_path)  # the connectors first: the Kafka source compiles against the Kafka connector
    jar = next(j for j in jars if j.name.startswith(formats.PREFIX))
    import zipfile

    names = zipfile.ZipFile(jar).namelist()
    assert "org/flinksqlgen/format/CheckedJsonFormatFactory.class" in names
    assert "org/flinksqlgen/kafka/CheckedKafkaTableFactory.class" in names
    assert "META-INF/services/org.apache.flink.table.factories.Factory" in names
    stamp = jar.stat().st_mtime_ns
    kafka = [j for j in jars if j.name == KAFKA_CONNECTOR.file_name]
    assert formats.ensure_format_jar(tmp_path, kafka) == jar and jar.stat().st_mtime_ns == stamp  # cached


# ------------------------------------------------------------------ both forms on the real stack

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.sampled_from([3_000_000_000, 10**25, 7.9, 1e400]),
    st.floats(allow_nan=False, allow_infinity=False, width=32), st.sampled_from(["NaN", "Infinity", "12.5", "7"]),
    st.sampled_from(["2024-02-03", "yesterday", "abc", "abcdefgh", "é\U0001f600", "[1,2]", "true", " 1 "]),
    st.text(max_size=8),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                          max_size=3),
                      max_leaves=6)  # fmt: skip
OBJECTS = st.dictionaries(st.sampled_from([*COLUMNS, "extra"]), VALUES, max_size=len(COLUMNS) + 1)


def _good(i: int) -> dict:
    return {"id": i, "host": "h", "v": "ab", "usage": 1.5, "f": 2.0, "d": "12.34", "b": True, "day": "2024-02-03",
            "tags": [1, 2], "names": ["x"], "ts": 1_700_000_000_000 + i}  # fmt: skip


def _encode(kind: str, obj: dict, blob: bytes, cut: int) -> bytes | None:
    text = json.dumps(obj, ensure_ascii=False).encode()
    return {"object": text, "good": text, "bytes": blob, "truncated": text[: max(cut % max(len(text), 1), 1)],
            "array": json.dumps([obj]).encode(), "scalar": b"42", "empty": b"", "tombstone": None,
            "padded": b" " + text + b" \n"}[kind]  # fmt: skip


RECORDS = st.lists(
    st.tuples(st.sampled_from(["object", "object", "object", "good", "good", "bytes", "truncated", "array",
                               "scalar", "empty", "tombstone", "padded"]),
              OBJECTS, st.binary(max_size=20), st.integers(0, 10_000)),
    min_size=300, max_size=600,
)  # fmt: skip


def _bounded(create: str, end: int) -> str:
    head, _, tail = create.rpartition("\n)")
    return (f"{head},\n  'scan.bounded.mode' = 'specific-offsets',\n"
            f"  'scan.bounded.specific-offsets' = 'partition:0,offset:{end}'\n){tail}")


def _rows(table_env, env: dict[str, str], forms: dict[str, tuple[dict[str, str], list[str]]],
          end: int, split: str) -> dict[str, list[tuple]]:  # fmt: skip
    """Each form's `__checked` rows (record timestamp, offset, error, typed columns as text, topic, value
    bytes), read in ONE job; for the form `split`, also its valid rows (`valid:<form>`) and its bad rows
    (`bad:<form>`) as the connector's `scan.rows` scans read them (one shared read, split per record)."""
    from flinksql_gen.secrets import resolve

    selects = []
    width = max(len(columns) for _, columns in forms.values())
    for source, (sql, columns) in forms.items():
        create = resolve(sql[source], env).replace("CREATE TABLE", "CREATE TEMPORARY TABLE", 1)
        table_env.execute_sql(_bounded(create, end))
        table_env.execute_sql(sql[f"{source}__checked"])
        shown = ", ".join([f"CAST(`{c}` AS STRING)" for c in columns] + ["CAST(NULL AS STRING)"] * (width - len(columns)))
        selects.append(f"SELECT '{source}' AS form, CAST(`__timestamp` AS STRING), `__offset`, `__error`, {shown}, `__topic`, `__value` "
                       f"FROM `{source}__checked`")  # fmt: skip
        if source == split:
            selects.append(f"SELECT 'valid:{source}' AS form, CAST(`__timestamp` AS STRING), CAST(NULL AS BIGINT), "
                           f"CAST(NULL AS STRING), {shown}, CAST(NULL AS STRING), CAST(NULL AS BYTES) "
                           f"FROM `{source}` {VALID_ROWS}")  # fmt: skip
            selects.append(f"SELECT 'bad:{source}' AS form, CAST(`__timestamp` AS STRING), `__offset`, `__error`, {shown}, "
                           f"`__topic`, `__value` FROM `{source}` {BAD_ROWS}")  # fmt: skip
    out: dict[str, list[tuple]] = {source: [] for source in forms}
    out.update({f"{kind}:{split}": [] for kind in ("valid", "bad")})
    with table_env.execute_sql(" UNION ALL ".join(selects)).collect() as results:
        for r in results:
            out[r[0]].append(tuple(r)[1:])
    for source in forms:
        table_env.execute_sql(f"DROP VIEW `{source}__checked`")
        table_env.execute_sql(f"DROP TEMPORARY TABLE `{source}`")
    return {form: sorted(rows) for form, rows in out.items()}


# Fixed cases for typed mode's own parsing (streamed, not mapped): number forms, duplicate keys,
# unknown nested fields, trailing content, whitespace, escapes, huge exponents.
EDGES = [
    b'{"id": 1, "ts": 5, "usage": -0.0, "f": -0, "d": "-0", "host": -0.0}',
    b'{"id": 1, "ts": 5, "usage": 1e400, "f": 3.4e39, "d": 1e2, "host": 1.50E+2}',
    b'{"id": 1, "ts": 5, "usage": 1e99999999999, "host": "x"}',
    b'{"id": 1, "ts": 5, "extra": 1e99999999999}',
    b'{"id": 1, "ts": 5, "extra": {"a": [1, {"b": "\\u00e9\\n"}], "c": 1.5e3}, "host": "y"}',
    b'{"id": 1, "ts": 5, "extra": "\\uZZZZ"}',
    b'{"id": 1, "ts": 5, "usage": 1.5, "usage": null}',
    b'{"id": 1, "ts": 5, "usage": null, "usage": "2.5"}',
    b'{"id": 7.9, "ts": "5", "b": 1, "t": 300, "s": "12", "usage": " 12.5 "}',
    b'{"id": 3000000000, "ts": 92233720368547758070, "b": "yes", "t": "7"}',
    b'{"id": 1, "ts": 5, "host": {"z": 1, "a": [true, null]}, "usage": [1], "b": {"x": 1}}',
    b'{"id": 1, "ts": 5} trailing garbage',
    b'  {"id": 1, "ts": 5}  ',
    b'{"id": 1, "ts": 5',
    b'{"id": 1, "ts": 5,}',
    b'{"id": 1, "ts": 5, "usage": NaN}',
    b'{"id": 1, "ts": 99999999999999999}',
    b'{"id": null, "ts": 5}',
    b'{"ts": 5, "host": "\xc3\xa9\xf0\x9f\x98\x80"}',
    b'{"id": 1, "ts": 5, "host": "a\x00b"}',
    b'\x00{"id": 1, "ts": 5}',
    b'42 {"id": 1}',
    b'[1, 2',
    b'   ',
]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # one Flink job per example: ~20 s idle, several minutes at load 25 on 2 cores
# One example of 300-600 records, no shrinking: each example is a Flink job (its start-up is most of the
# test's time), so one large example (a failure prints it whole) covers what several small ones would.
@settings(max_examples=1, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
@given(records=RECORDS)
def test_both_forms_split_random_records_the_same_way(records, stack, stack_env_vars, table_env_factory,
                                                      tmp_path_factory, monkeypatch):  # fmt: skip
    from stack_fixtures import fresh_topics

    from flinksql_gen.kafka.client import JsonProducer

    (topic,) = fresh_topics(stack, "checked_prop")
    records = [("good", {}, b"", 0), ("truncated", _good(1), b"", 30), *records]  # at least one of each
    values = [_good(i) if kind == "good" else None for i, (kind, *_) in enumerate(records)]
    payloads = [json.dumps(v).encode() if v else _encode(kind, obj, blob, cut)
                for v, (kind, obj, blob, cut) in zip(values, records, strict=True)]  # fmt: skip
    payloads += EDGES
    with JsonProducer(stack.bootstrap) as producer:
        for i, value in enumerate(payloads):  # a record's timestamp names it in every form (valid rows of
            # the typed format form carry no offset: record columns are set on bad rows only)
            producer.send(topic, value, key=f"k{i}", partition=0, timestamp_ms=1_700_000_000_000 + i)
    folder = tmp_path_factory.mktemp("forms")
    table_env = table_env_factory()
    suffix = topic.rsplit("_", 1)[1]
    typed = list(TYPED_COLUMNS)
    forms = {f"q{suffix}": (_render(folder, f"q{suffix}", topic, True, monkeypatch), COLUMNS),
             f"j{suffix}": (_render(folder, f"j{suffix}", topic, False, monkeypatch), COLUMNS),
             f"tq{suffix}": (_render(folder, f"tq{suffix}", topic, True, monkeypatch, TYPED_PIPELINE), typed),
             f"tj{suffix}": (_render(folder, f"tj{suffix}", topic, False, monkeypatch, TYPED_PIPELINE), typed)}  # fmt: skip
    assert '"value"' in forms[f"tj{suffix}"][0][f"tj{suffix}"]  # typed mode
    rows = _rows(table_env, stack_env_vars, forms, len(payloads), split=f"tj{suffix}")
    assert [r[-1] for r in rows[f"j{suffix}"]] == payloads  # text mode: the value bytes of every record
    # the valid and the bad scans of one read split it as `__error` does: every row once, on its side
    valid, bad = rows[f"valid:tj{suffix}"], rows[f"bad:tj{suffix}"]
    assert valid and bad and all(r[2] is None for r in valid) and all(r[2] is not None for r in bad)
    assert sorted(valid + bad) == rows[f"tj{suffix}"]
    # typed: the record columns (value, topic, offset) on bad rows only
    assert all(r[-1] is None and r[-2] is None and r[1] is None for r in rows[f"tj{suffix}"] if r[2] is None)
    for sql_name, format_name in ((f"q{suffix}", f"j{suffix}"), (f"tq{suffix}", f"tj{suffix}")):
        by_sql, by_format = rows[sql_name], rows[format_name]
        assert [r[1] for r in by_sql] == list(range(len(payloads)))  # every record, once
        bad = [r for r in by_format if r[2] is not None]
        # what a dead letter carries: the value bytes unchanged, the source topic, the offset
        assert [r[-2:] for r in bad] == [(topic, payloads[r[1]]) for r in bad]
        for a, b in zip(by_format, by_sql, strict=True):
            if a[2] is None:  # a valid row: the record columns are only needed (and set) for bad ones
                a, b = (a[0], *a[3:-2]), (b[0], *b[3:-2])
            assert a == b, f"{format_name} vs {sql_name}: {a!r}"
        assert any(r[2] is None for r in by_sql) and any(r[2] is not None for r in by_sql)
