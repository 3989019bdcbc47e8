"""Error-message golden tests: each invalid definition reports the exact file:line:col, key path and message."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from flinksql_gen import api
from flinksql_gen.cli import main
from flinksql_gen.errors import DefinitionError

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
    detectors:
      high:
        type: filter
        metric: m
        where: [{column: value, op: ">", value: 10}]
        sinks: [out]
    sinks:
      out:
        type: kafka
        topic: out
    """
)

WINDOWED = BASE.replace(
    "    value: value\n",
    "    window: {type: tumble, size: 10s}\n    aggregates: {avg_value: avg(value)}\n",
).replace("{column: value, op: \">\", value: 10}", "{column: avg_value, op: \">\", value: 10}")

# name -> (replacements applied to BASE, or a full text), expected problem line (exact prefix)
CASES: dict[str, tuple[list[tuple[str, str]] | str, str]] = {
    "yaml_syntax": (
        [("    topic: readings\n", "    topic: [readings\n")],
        "t.yaml:5:12: YAML syntax error: ",  # the text comes from libyaml (or PyYAML without it)
    ),
    "unknown_key": (
        [("    dimensions: [host]", "    dimension: [host]")],
        "t.yaml:13:5: metrics.m.dimension: unknown key 'dimension' (did you mean 'dimensions'?",
    ),
    "wrong_type": (
        [("    topic: readings", "    topic: 42")],
        "t.yaml:4:12: sources.readings.topic: Input should be a valid string",
    ),
    "unknown_column_type": (
        [("      host: STRING", "      host: STRNG")],
        "t.yaml:6:13: sources.readings.columns.host: unknown type 'STRNG'",
    ),
    "dangling_source": (
        [("    source: readings", "    source: reading")],
        "t.yaml:12:13: metrics.m.source: unknown source 'reading' (defined sources: readings)",
    ),
    "duplicate_key": (
        [("    topic: readings\n", "    topic: readings\n    topic: other\n")],
        "t.yaml:5:5: sources.readings.topic: duplicate key 'topic' (first defined at line 4)",
    ),
    "upsert_sink_without_key": (
        [("    type: kafka", "    type: upsert-kafka")],
        "t.yaml:22:3: sinks.out.key: missing required key 'key'",
    ),
    "trend_on_hop_window": (
        WINDOWED.replace("{type: tumble, size: 10s}", "{type: hop, size: 10s, slide: 5s}").replace(
            "    type: filter\n    metric: m\n    where: [{column: avg_value, op: \">\", value: 10}]\n",
            "    type: trend\n    metric: m\n    value: avg_value\n    steps: [{direction: up}]\n",
        ),
        "t.yaml:19:13: detectors.high.metric: a trend detector supports tumble windows only",
    ),
    "trend_without_window": (
        [("    type: filter\n    metric: m\n    where: [{column: value, op: \">\", value: 10}]\n",
          "    type: trend\n    metric: m\n    value: value\n    steps: [{direction: up}]\n")],
        "t.yaml:18:13: detectors.high.metric: a trend detector needs a windowed metric",
    ),
    "unknown_detector_type": (
        [("    type: filter", "    type: fliter")],
        "t.yaml:17:11: detectors.high.type: unknown type 'fliter' (did you mean 'filter'?",
    ),
    "unknown_column_in_condition": (
        [("{column: value, op", "{column: valu, op")],
        "t.yaml:19:22: detectors.high.where[0].column: unknown column 'valu' (did you mean 'value'?",
    ),
    "value_type_mismatch": (
        [("{column: value, op: \">\", value: 10}", "{column: host, op: \">\", value: 10}")],
        "t.yaml:19:44: detectors.high.where[0].value: 10 cannot be compared with column 'host' of type STRING",
    ),
    "updating_metric_into_append_sink": (
        WINDOWED.replace("    window: {type: tumble, size: 10s}\n", ""),
        "t.yaml:20:13: detectors.high.sinks[0]: detector 'high' aggregates without a window, so its rows update",
    ),
    "upsert_key_mismatch": (
        WINDOWED.replace("    type: kafka\n", "    type: upsert-kafka\n    key: [host]\n"),
        "t.yaml:25:10: sinks.out.key: key [host] does not match the unique key of detector 'high'",
    ),
    "dangling_sink": (
        [("    sinks: [out]", "    sinks: [outt]")],
        "t.yaml:20:13: detectors.high.sinks[0]: unknown sink 'outt' (defined sinks: out)",
    ),
    "unused_sink": (
        [("    topic: out\n", "    topic: out\n  spare:\n    type: print\n")],
        "t.yaml:25:3: sinks.spare: sink 'spare' is never written",
    ),
    "bad_duration": (
        [("watermark: 5s", "watermark: 5 parsecs")],
        "t.yaml:9:41: sources.readings.event_time.watermark: '5 parsecs' is not a duration",
    ),
    "unnest_of_non_array": (
        [("    dimensions: [host]\n", "    unnest: [{array: host, as: [h]}]\n    dimensions: [host]\n")],
        "t.yaml:13:22: metrics.m.unnest[0].array: column 'host' has type STRING, not an ARRAY",
    ),
    "secret_written_as_value": (
        [("    type: kafka\n    topic: out\n",
          "    type: slack\n    token: xoxb-1234\n    channel_id: C1\n    message: hi\n")],
        "t.yaml:24:12: sinks.out.token: secrets must be written as an environment reference",
    ),
    "name_used_twice": (
        [("  m:\n", "  readings:\n"), ("    metric: m\n", "    metric: readings\n")],
        "t.yaml:11:3: metrics.readings: the name 'readings' is already used by sources.readings",
    ),
    "window_without_event_time": (
        WINDOWED.replace("    event_time: {column: ts, watermark: 5s}\n", ""),
        "t.yaml:13:13: metrics.m.window: a window needs event time, and source 'readings' has none",
    ),
    "empty_in_list": (
        [("{column: value, op: \">\", value: 10}", "{column: host, op: in, value: []}")],
        "t.yaml:19:13: detectors.high.where[0]: `in` needs a non-empty list as value",
    ),
    "env_reference_in_literal": (
        [("{column: value, op: \">\", value: 10}", "{column: host, op: \"=\", value: \"${env:HOME}\"}")],
        "t.yaml:19:44: detectors.high.where[0].value: environment references (${...}) are only allowed",
    ),
    "missing_required_section": (
        BASE.split("metrics:")[0],
        "t.yaml:1:1: metrics: missing required key 'metrics'",
    ),
    "not_a_mapping": (
        "- just\n- a list\n",
        "t.yaml:1:1: expected a mapping of keys at the top of the file, found list",
    ),
}


def _text(spec: list[tuple[str, str]] | str) -> str:
    if isinstance(spec, str):
        return spec
    text = BASE
    for old, new in spec:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def test_base_is_valid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(BASE)
    assert api.validate("t.yaml") == 1
    (tmp_path / "t.yaml").write_text(WINDOWED)
    assert api.validate("t.yaml") == 1


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_names_file_line_and_key(case, tmp_path, monkeypatch):
    spec, expected = CASES[case]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(_text(spec))
    with pytest.raises(DefinitionError) as info:
        api.validate("t.yaml")
    lines = [str(p) for p in info.value.problems]
    assert any(line.startswith(expected) for line in lines), "\n".join(lines)


def test_all_problems_reported_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = _text([("    dimensions: [host]", "    dimension: [host]"), ("    sinks: [out]", "    sinks: [outt]")])
    (tmp_path / "t.yaml").write_text(text)
    (tmp_path / "u.yaml").write_text(_text([("    source: readings", "    source: nope")]).replace("pipeline: t", "pipeline: u"))
    result = CliRunner().invoke(main, ["validate", "."])
    assert result.exit_code == 1
    out = result.output
    assert "t.yaml:13:5: metrics.m.dimension: unknown key" in out
    assert "u.yaml:12:13: metrics.m.source: unknown source 'nope'" in out
    assert "Traceback" not in out


def test_json_format_for_editors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(_text([("    source: readings", "    source: reading")]))
    result = CliRunner().invoke(main, ["validate", "t.yaml", "--format", "json"])
    assert result.exit_code == 1
    errors = json.loads(result.output)["errors"]
    assert errors == [{
        "file": "t.yaml", "line": 12, "col": 13, "path": "metrics.m.source",
        "message": "unknown source 'reading'", "hint": "defined sources: readings",
    }]  # fmt: skip


def test_usage_errors_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", "does-not-exist"])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
    (tmp_path / "t.yaml").write_text(BASE)
    result = CliRunner().invoke(main, ["validate", "t.yaml", "--target", "prod"])
    assert result.exit_code == 2
    assert "unknown target 'prod'" in result.output


def test_internal_errors_exit_2_without_a_trace_on_the_terminal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(BASE)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(api, "validate", broken)
    result = CliRunner().invoke(main, ["validate", "t.yaml"])
    assert result.exit_code == 2
    assert "internal error: RuntimeError: boom" in result.output and "Traceback" not in result.output
