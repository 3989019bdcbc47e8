"""`flinksql-gen test` (flinksql_gen/testing/): the test-file format, its errors, the diff, the
per-test isolation of a rendered pipeline, and (slow) the shipped example tests on the real stack
plus a deliberately wrong expectation that must fail with the diff and its YAML line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from flinksql_gen.cli import main
from flinksql_gen.errors import DefinitionError, Location
from flinksql_gen.project import EVERYTHING, Project, Selection
from flinksql_gen.testing.diff import compare
from flinksql_gen.testing.isolate import isolate
from flinksql_gen.testing.load import find_test_files, load_suites
from flinksql_gen.testing.models import Expectation
from flinksql_gen.testing.runner import SinkRecord, to_rows
from flinksql_gen.testing.times import parse_time

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "tests" / "pipeline_tests"
BASE = parse_time("2024-01-01T00:00:00Z", 0)
slow = pytest.mark.slow


def write(tmp_path: Path, text: str, name: str = "t.test.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).replace("PIPELINES", str(ROOT / "pipelines")))
    return path


def load(path: Path, selection: Selection = EVERYTHING):
    return load_suites([path], Project.discover(ROOT), selection)


# ---------------------------------------------------------------------------- format and errors


def test_times_are_offsets_or_instants():
    assert parse_time("+1m30s", BASE) == BASE + 90_000
    assert parse_time("-250ms", BASE) == BASE - 250
    assert parse_time("2024-01-01T00:00:30Z", 0) == BASE + 30_000
    assert parse_time("2024-01-01 00:00:30", 0) == BASE + 30_000  # no zone: UTC
    with pytest.raises(ValueError, match="not a time"):
        parse_time("soon", BASE)


def test_rows_become_exact_records(tmp_path):
    path = write(tmp_path, """\
        pipeline: PIPELINES/cpu.yaml
        tests:
          one:
            inputs:
              cpu_load:
                key: hostname
                rows:
                  - {occurred_at: +5s, hostname: doc, cpu: cpu1, usage: 81.5}
                  - {_raw: "not json", _key: k, _at: +7s}
            advance:
              - {source: cpu_load, to: +10m, row: {hostname: zz, cpu: c, usage: 0.0}}
            expect:
              cpu_high_alerts: {count: 0}
        """)
    (case,) = load(path)
    first, raw, sentinel = case.inputs["cpu_load"]
    assert (first.key, first.timestamp_ms) == ("doc", BASE + 5000)
    assert json.loads(first.value) == {"occurred_at": BASE + 5000, "hostname": "doc", "cpu": "cpu1", "usage": 81.5}
    assert (raw.key, raw.value, raw.timestamp_ms) == ("k", b"not json", BASE + 7000)
    assert json.loads(sentinel.value)["occurred_at"] == BASE + 600_000 and sentinel.timestamp_ms == BASE + 600_000


def test_every_problem_at_once_with_file_line_col(tmp_path):
    path = write(tmp_path, """\
        pipeline: PIPELINES/cpu.yaml
        tests:
          bad:
            inputs:
              cpu_lod:
                rows: []
              cpu_load:
                rows:
                  - {occurred_at: soon, hostnme: doc}
                file: data/missing.csv
            lookups:
              cpu_thresholds:
                rows: [{hostname: doc, top: 1}]
            expect:
              cpu_alerts: {count: 1}
              slack_alerts: {count: 1}
              cpu_high_alerts: {rows: [{usage: 1, colour: red}]}
          also_bad:
            expect:
              cpu_high_alerts: {ordered: true}
        """)
    with pytest.raises(DefinitionError) as info:
        load(path)
    lines = [f"{p.location.line}:{p.location.col}: {p.path}: {p.message}" for p in info.value.problems]
    assert lines == [
        "5:7: tests.bad.inputs.cpu_lod: unknown source 'cpu_lod'",
        "9:14: tests.bad.inputs.cpu_load.rows[0].occurred_at: 'soon' is not a time: write an offset such as +30s "
        "or an instant such as 2024-01-01T00:00:30Z",
        "9:33: tests.bad.inputs.cpu_load.rows[0].hostnme: 'hostnme' is not a column of the source",
        f"10:15: tests.bad.inputs.cpu_load.file: no such input file: {tmp_path / 'data' / 'missing.csv'}",
        "13:32: tests.bad.lookups.cpu_thresholds.rows[0].top: 'top' is not a column of lookup cpu_thresholds",
        "15:7: tests.bad.expect.cpu_alerts: 'cpu_alerts' is not a sink of pipeline cpu",
        "16:7: tests.bad.expect.slack_alerts: sink slack_alerts is a print sink: a test reads Kafka sinks only",
        "17:43: tests.bad.expect.cpu_high_alerts.rows[0].colour: sink cpu_high_alerts has no column 'colour'",
        "20:24: tests.also_bad.expect.cpu_high_alerts: give `rows`, `contains` or `count`",
    ]
    assert {p.location.file for p in info.value.problems} == {str(path)}
    assert "(sinks: cpu_agg_stats, cpu_high_alerts, cpu_load_dead_letter, cpu_threshold_alerts)" in str(info.value)


def test_shape_errors_name_the_key(tmp_path):
    path = write(tmp_path, """\
        pipeline: PIPELINES/cpu.yaml
        tests:
          t:
            expect:
              cpu_high_alerts: {rows: [], contians: []}
        """)
    with pytest.raises(DefinitionError, match=r":5:35: tests.t.expect.cpu_high_alerts.contians: unknown key 'contians'"):
        load(path)


def test_select_by_test_or_pipeline_name():
    files = find_test_files(EXAMPLES, Project.discover(ROOT))
    everything = load_suites(files, Project.discover(ROOT), EVERYTHING)
    assert {c.suite.bundle.name for c in everything} == {"cpu", "pizza", "cpu_anomalies", "late_readings"}
    assert [c.name for c in load_suites(files, Project.discover(ROOT), Selection(("pizza",)))] == [
        "window_having", "trend_and_near_miss"]
    assert [c.name for c in load_suites(files, Project.discover(ROOT), Selection(("score_*",)))] == ["score_spike"]


def test_test_files_are_not_definitions(tmp_path):
    from flinksql_gen.project import find_definitions

    (tmp_path / "p.yaml").write_text("x: 1")
    (tmp_path / "p.test.yaml").write_text("x: 1")
    assert find_definitions(tmp_path) == [tmp_path / "p.yaml"]


def test_cli_usage_errors_exit_2(tmp_path):
    path = write(tmp_path, """\
        pipeline: PIPELINES/nope.yaml
        tests:
          t: {expect: {x: {count: 1}}}
        """)
    result = CliRunner().invoke(main, ["test", str(path), "--format", "json"])
    assert result.exit_code == 2
    doc = json.loads(result.output)
    assert doc["errors"][0]["line"] == 1 and "no such pipeline file" in doc["errors"][0]["message"]
    assert CliRunner().invoke(main, ["test", str(tmp_path / "none.test.yaml")]).exit_code == 2


# ---------------------------------------------------------------------------- diff


def _cmp(exp: dict, actual: list[dict]):
    e = Expectation.model_validate(exp)
    rows = e.rows if e.rows is not None else (e.contains or [])
    return compare("s", e, actual, BASE, Location("t.test.yaml", 3, 7), [Location("t.test.yaml", 4 + i, 11) for i in range(len(rows))])


def test_exact_rows_are_a_multiset_and_name_only_their_columns():
    actual = [{"h": "a", "v": 1.0, "w": "+"}, {"h": "a", "v": 1.0, "w": "-"}, {"h": "b", "v": 2.0}]
    assert _cmp({"rows": [{"h": "a"}, {"h": "a", "v": 1.0}, {"h": "b"}]}, actual) is None
    m = _cmp({"rows": [{"h": "a"}, {"h": "b"}]}, actual)
    assert m is not None and len(m.unexpected) == 1 and not m.missing and not m.changed
    assert "exactly 2 row(s) expected, 3 received: 0 missing, 1 unexpected, 0 changed" in m.message


def test_a_near_row_is_shown_as_changed_with_its_fields_and_line():
    m = _cmp({"rows": [{"h": "a", "v": 1.0}, {"h": "c", "v": 3.0}]}, [{"h": "a", "v": 1.5}, {"h": "z", "v": 9.0}])
    assert m is not None
    (changed,) = m.changed
    assert changed.fields == {"v": (1.0, 1.5)} and changed.location == Location("t.test.yaml", 4, 11)
    assert [r for r, _ in m.missing] == [{"h": "c", "v": 3.0}] and m.unexpected == [{"h": "z", "v": 9.0}]


def test_floats_within_tolerance_and_times_as_instants():
    assert _cmp({"rows": [{"v": 0.1 + 0.2}]}, [{"v": 0.3}]) is None
    assert _cmp({"rows": [{"v": 1.0}], "tolerance": 0.01}, [{"v": 1.005}]) is None
    assert _cmp({"rows": [{"v": 1.0}]}, [{"v": 1.005}]) is not None
    assert _cmp({"rows": [{"t": "+30s"}]}, [{"t": "2024-01-01 00:00:30"}]) is None
    assert _cmp({"rows": [{"t": "+30s"}]}, [{"t": "2024-01-01 00:00:30.000Z"}]) is None
    assert _cmp({"rows": [{"t": "+30s"}]}, [{"t": "2024-01-01 00:00:31"}]) is not None
    assert _cmp({"rows": [{"b": True}]}, [{"b": 1}]) is not None  # a boolean is not a number


def test_contains_count_where_and_order():
    actual = [{"h": "a", "x": True}, {"h": "b", "x": False}, {"h": "c", "x": True}]
    assert _cmp({"contains": [{"h": "c"}]}, actual) is None
    assert _cmp({"count": 3}, actual) is None
    assert "2 row(s) expected, 3 received" in _cmp({"count": 2}, actual).message
    assert _cmp({"where": {"x": True}, "rows": [{"h": "c"}, {"h": "a"}]}, actual) is None
    assert _cmp({"where": {"x": True}, "rows": [{"h": "a"}, {"h": "c"}], "ordered": True}, actual) is None
    m = _cmp({"where": {"x": True}, "rows": [{"h": "c"}, {"h": "a"}], "ordered": True}, actual)
    assert m is not None and len(m.changed) == 2 and "in this order" in m.message
    assert _cmp({"rows": []}, []) is None and _cmp({"rows": []}, actual) is not None


def test_upsert_sinks_read_as_latest_rows_or_every_record():
    recs = [SinkRecord(b"a", b'{"v": 1}', ()), SinkRecord(b"b", b'{"v": 2}', ()), SinkRecord(b"a", b'{"v": 3}', ()),
            SinkRecord(b"b", None, ())]
    assert to_rows(recs, raw=False, mode="latest") == [{"v": 3}]
    assert to_rows(recs, raw=False, mode="records") == [{"v": 1}, {"v": 2}, {"v": 3}]
    dead = [SinkRecord(b"k", b"not json", (("flinksql-gen.reason", b"malformed JSON"), ("other", b"x")))]
    assert to_rows(dead, raw=True, mode="records") == [{"key": "k", "value": "not json", "reason": "malformed JSON"}]


# ---------------------------------------------------------------------------- isolation


def test_each_test_gets_its_own_topics_tables_and_bounded_sources():
    from flinksql_gen.api import render_pipeline

    bundle = render_pipeline(ROOT / "pipelines" / "cpu.yaml", "local", project=Project.discover(ROOT))
    iso = isolate(bundle, "tabc")
    source = iso.bundle.statement("cpu_load", "create_table").sql
    assert "'topic' = 'cpu_load_stats_real_tabc'" in source
    assert "'properties.group.id' = 'flinksql-gen.cpu.cpu_load_tabc'" in source
    for option in ("'scan.startup.mode' = 'earliest-offset'", "'scan.bounded.mode' = 'latest-offset'",
                   "'scan.watermark.emit.strategy' = 'on-event'"):
        assert source.count(option) == 1
    assert iso.jdbc_tables == {"cpu_thresholds": "cpu_thresholds_tabc"}
    assert "'table-name' = 'cpu_thresholds_tabc'" in iso.bundle.statement("cpu_thresholds", "create_table").sql
    assert "'sink.transactional-id-prefix' = 'flinksql-gen.cpu.cpu_high_alerts_tabc'" in (
        iso.bundle.statement("cpu_high_alerts", "create_table").sql)
    assert iso.bundle.statement("slack_alerts", "create_table").sql.endswith("WITH (\n  'connector' = 'blackhole'\n)")
    assert set(iso.topics) == {t.name for t in bundle.tables if t.topic}
    assert all(t.endswith("_tabc") for t in iso.topics.values())
    assert iso.bundle.settings["execution.checkpointing.interval"] == "500 ms"
    # everything else is exactly what render produced
    assert [s.name for s in iso.bundle.statements if s.kind != "set"] == [s.name for s in bundle.statements if s.kind != "set"]
    assert [s.sql for s in iso.bundle.statements if s.kind in ("create_view", "insert")] == [
        s.sql for s in bundle.statements if s.kind in ("create_view", "insert")]


# ---------------------------------------------------------------------------- on the real stack


@slow
def test_the_shipped_example_tests_pass_on_the_real_stack(stack, stack_workdir, table_env_factory):
    from flinksql_gen.testing.runner import TestSession

    cases = load_suites(find_test_files(EXAMPLES, Project.discover(ROOT)), Project.discover(ROOT), EVERYTHING)
    session = TestSession(stack, table_env_factory(), stack_workdir)
    results = [session.run(c) for c in cases]
    failed = {r.id: (r.error, [m.to_json() for m in r.mismatches]) for r in results if r.status != "pass"}
    assert not failed, "\n".join(f"{k}: {v}" for k, v in failed.items())
    assert len(results) == 7
    rows = {r.id.split("::")[1]: r.rows for r in results}
    assert rows["threshold_alert"] == {"cpu_high_alerts": 2}
    assert rows["malformed_record_dead_letter"] == {"cpu_load_dead_letter": 2, "cpu_high_alerts": 2}
    assert rows["trend_and_near_miss"] == {"topping_trend_alerts": 1}
    assert rows["late_reading_is_dropped_and_copied"] == {"counts": 2, "readings_late_events": 2}


@slow
def test_a_wrong_expectation_fails_with_the_diff_and_its_yaml_line(stack, stack_workdir, tmp_path):
    path = write(tmp_path, """\
        pipeline: PIPELINES/cpu.yaml
        tests:
          wrong:
            lookups:
              cpu_thresholds:
                rows: [{hostname: doc, allowed_top: 20.0}]
            inputs:
              cpu_load:
                rows:
                  - {occurred_at: +0s, hostname: doc, cpu: cpu1, usage: 20.0}
                  - {occurred_at: +10s, hostname: doc, cpu: cpu1, usage: 30.0}
                  - {occurred_at: +20s, hostname: doc, cpu: cpu1, usage: 85.0}
            expect:
              cpu_threshold_alerts:
                rows:
                  - {window_start: +0s, hostname: doc, usage_avg: 45.0, allowed_top: 21.0}
              cpu_high_alerts:
                rows:
                  - {occurred_ts: +20s, usage: 85.0}
                  - {occurred_ts: +25s, usage: 99.0}
        """)
    result = CliRunner().invoke(main, ["test", str(path), "--workdir", str(stack_workdir)])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "FAIL  " in out and "::wrong (cpu)" in out
    assert ":14:7: expect.cpu_threshold_alerts: exactly 1 row(s) expected, 1 received: 0 missing, 0 unexpected, 1 changed" in out
    assert "allowed_top: expected 21.0, got 20.0" in out and ":16:13)" in out
    assert ":17:7: expect.cpu_high_alerts: exactly 2 row(s) expected, 1 received: 1 missing" in out
    assert "- missing     {occurred_ts: \"+25s\", usage: 99.0}" in out and ":20:13)" in out
    assert "1 test(s): 0 passed, 1 failed" in out


def test_init_writes_a_starter_test_that_loads(tmp_path):
    from flinksql_gen.cli.init import write_starter

    write_starter(tmp_path)
    proj = Project.discover(tmp_path)
    (case,) = load_suites(find_test_files(None, proj), proj, EVERYTHING)
    assert (case.suite.bundle.name, case.name) == ("host_cpu", "alert_above_each_hosts_threshold")
    assert len(case.inputs["readings"]) == 4 and set(case.spec.expect) == {"cpu_alerts", "cpu_1m_out"}


def test_every_field_of_the_format_is_described():
    from flinksql_gen.testing import models

    for model in (models.TestFile, models.PipelineTest, models.SourceInput, models.LookupRows, models.AdvanceStep,
                  models.Expectation):
        assert model.model_config.get("extra") == "forbid", model
        for name, f in model.model_fields.items():
            assert f.description and len(f.description) > 10, f"{model.__name__}.{name}"
    schema = CliRunner().invoke(main, ["test", "--schema"])
    assert schema.exit_code == 0 and "PipelineTest" in json.loads(schema.output)["$defs"]


def test_csv_and_jsonl_inputs_with_problems_at_their_own_lines(tmp_path):
    (tmp_path / "r.csv").write_text("occurred_at,hostname,cpu,usage\n+0s,doc,cpu1,81.5\n+5s,doc,cpu1,7,extra\n")
    (tmp_path / "r.jsonl").write_text('{"occurred_at": "+10s", "hostname": "doc", "usage": 90}\n\n[1]\n{oops\n')
    path = write(tmp_path, """\
        pipeline: PIPELINES/cpu.yaml
        tests:
          csv:
            inputs: {cpu_load: {key: hostname, file: r.csv}}
            expect: {cpu_high_alerts: {count: 1}}
          jsonl:
            inputs: {cpu_load: {file: r.jsonl}}
            expect: {cpu_high_alerts: {count: 1}}
        """)
    with pytest.raises(DefinitionError) as info:
        load(path)
    got = sorted((Path(p.location.file).name, p.location.line, p.message.split(":")[0]) for p in info.value.problems)
    assert got == [("r.csv", 3, "more values than header columns"), ("r.jsonl", 3, "each line must be a JSON object of column values"),
                   ("r.jsonl", 4, "not JSON")]
    (tmp_path / "r.csv").write_text("occurred_at,hostname,cpu,usage\n+0s,doc,cpu1,81.5\n")
    (tmp_path / "r.jsonl").write_text('{"occurred_at": "+10s", "hostname": "doc", "usage": 90}\n')
    csv_case, jsonl_case = load(path)
    (record,) = csv_case.inputs["cpu_load"]
    assert json.loads(record.value) == {"occurred_at": BASE, "hostname": "doc", "cpu": "cpu1", "usage": 81.5}
    assert record.key == "doc"
    (record,) = jsonl_case.inputs["cpu_load"]
    assert json.loads(record.value) == {"occurred_at": BASE + 10_000, "hostname": "doc", "usage": 90}
    assert (record.key, record.timestamp_ms) == (None, BASE + 10_000)
