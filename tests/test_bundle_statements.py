"""Typed statements: SETs carry their (key, value), and DDL and INSERTs what they create, read and
write, as the planner decided; consumers use those fields, never the SQL text. These tests hold the
recorded fields against the rendered SQL, read with the tests' own lexer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from sqllex import tokenize

from flinksql_gen import api
from flinksql_gen.bundle import Bundle, SetOption, Statement
from flinksql_gen.detectors.registry import REGISTRY
from flinksql_gen.errors import Location, UsageError
from flinksql_gen.reference import SAMPLE_SETTINGS, _sample
from flinksql_gen.sql.quoting import set_statement

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = [*sorted((ROOT / "pipelines").glob("*.yaml")), *sorted((ROOT / "examples").glob("*.yaml")),
               ROOT / "tests" / "pipeline_tests" / "late" / "late_readings.yaml"]  # fmt: skip
SAMPLES = [(kind, form) for kind in SAMPLE_SETTINGS
           for form in (("sql", "udf") if REGISTRY[kind].sql_expressible else ("udf",))]  # fmt: skip
CPU = (ROOT / "pipelines" / "cpu.yaml").read_text()
# The source's bad-record modes (dead-letter is the default) and the typed json format.
CPU_VARIANTS = {mode: CPU.replace("      watermark: 10s\n", f"      watermark: 10s\n    {line}\n", 1)
                for mode, line in (("skip", "bad_records: skip"), ("fail", "bad_records: fail"),
                                   ("json", "format: json"))}  # fmt: skip


def _names(tokens) -> list[str]:
    return [t.text for t in tokens]


def sql_relations(sql: str, relations: set[str]) -> tuple[set[str], str | None]:
    """(relations the statement reads, the table it inserts into), from its text: a relation is read
    where it follows FROM, JOIN or TABLE; names a WITH clause defines (`name AS (`) are not tables."""
    tokens = [t for t in tokenize(sql) if t.kind != "comment"]
    reads, defined, target = set(), set(), None
    for i, t in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        name = nxt.text if nxt.kind in ("ident", "word") else None
        if t.kind == "word" and t.text.upper() in ("FROM", "JOIN", "TABLE") and name in relations:
            reads.add(name)
        if t.kind == "word" and t.text.upper() == "INTO" and target is None:
            target = name
        if t.kind in ("ident", "word") and nxt.kind == "word" and nxt.text.upper() == "AS" and i + 2 < len(tokens) \
                and tokens[i + 2].text == "(":
            defined.add(t.text)
    return reads - defined, target


def _render(text: str, name: str, target: str, tmp_path: Path) -> Bundle:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return api.render(path, target, targets_file=ROOT / "targets.yaml")


def _definitions():
    for f in DEFINITIONS:
        yield f.stem, f.read_text()
    for kind, form in SAMPLES:
        yield f"sample_{kind}_{form}", yaml.safe_dump(_sample(kind, form), sort_keys=False)
    for mode, text in CPU_VARIANTS.items():
        yield f"cpu_{mode}", text


@pytest.mark.parametrize("target", ["local", "aiven"])
def test_recorded_reads_and_writes_match_the_sql(target, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    checked = 0
    for name, text in _definitions():
        try:
            bundle = _render(text, name, target, tmp_path)
        except Exception:  # e.g. a UDF detector on aiven: refused at render, nothing to check
            assert target == "aiven", name
            continue
        for p in bundle.pipelines:
            relations = {s.name for s in p.statements if s.kind in ("create_table", "create_view")}
            for s in p.statements:
                where = f"{target} {name} {s.kind} {s.name}"
                if s.kind == "set":
                    assert s.setting is not None and s.setting.key == s.name, where
                    assert (s.creates, s.reads, s.writes) == ((), (), ()), where
                    continue
                assert s.setting is None, where
                if s.kind != "insert":
                    assert s.creates == (s.name,), where
                if s.kind in ("create_table", "create_function"):
                    assert (s.reads, s.writes) == ((), ()), where
                    continue
                body = s.sql.split(" AS\n", 1)[1] if s.kind == "create_view" else s.sql
                reads, into = sql_relations(body, relations)
                assert set(s.reads) == reads and len(s.reads) == len(reads), where
                assert s.writes == ((into,) if s.kind == "insert" else ()), where
                if target == "aiven" and s.kind == "insert":  # views are inlined: only tables are read
                    assert all(p.statement(r, "create_table") for r in s.reads), where
                checked += 1
    assert checked >= {"local": 189, "aiven": 40}[target], checked  # every view and insert of the definitions above


def test_settings_are_typed_and_rendered_in_one_place(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    # A secret setting of the target stays a reference in the bundle; one of the pipeline holds a quote.
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  local:\n    type: local\n    settings:\n      s3.secret-key: ${env:S3_SECRET}\n")
    (tmp_path / "cpu.yaml").write_text(CPU.replace("description:", "settings:\n  table.exec.state.ttl: it's 1 h\n"
                                                   "description:", 1))
    p = api.render(tmp_path / "cpu.yaml", "local", targets_file=targets).pipeline("cpu")
    ttl = p.statement("table.exec.state.ttl", "set")
    assert ttl.setting == SetOption("table.exec.state.ttl", "it's 1 h")
    assert ttl.sql == set_statement("table.exec.state.ttl", "it's 1 h") == "SET 'table.exec.state.ttl' = 'it''s 1 h'"
    assert p.settings["table.exec.state.ttl"] == "it's 1 h"
    assert p.settings["s3.secret-key"] == "${env:S3_SECRET}" and "S3_SECRET" in p.env
    resolved = p.resolved_settings({"S3_SECRET": "k3y"}, p.env)
    assert resolved["s3.secret-key"] == "k3y" and resolved["table.exec.state.ttl"] == "it's 1 h"
    with pytest.raises(UsageError, match=r"S3_SECRET.* not set"):
        p.resolved_settings({}, p.env)
    with pytest.raises(UsageError, match="S3_SECRET"):
        p.resolved_settings({"S3_SECRET": "x'y"}, p.env)


def test_a_template_override_changes_the_text_not_the_setting(tmp_path):
    project = tmp_path / "project"
    (project / "pipelines").mkdir(parents=True)
    (project / "sql_templates").mkdir()
    (project / "pipelines" / "cpu.yaml").write_text(CPU)
    (project / "sql_templates" / "set.sql.j2").write_text("SET {{ setting.key }} = {{ setting.value }} /* ours */")
    p = api.render(project / "pipelines", "local").pipeline("cpu")
    name = p.statement("pipeline.name", "set")
    assert name.sql == "SET 'pipeline.name' = 'cpu' /* ours */" and name.setting == SetOption("pipeline.name", "cpu")


def test_statements_round_trip_through_the_manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    bundle = api.render(ROOT / "pipelines", "local")
    bundle.write(tmp_path / "b")
    loaded = Bundle.load(tmp_path / "b")
    assert [p.statements for p in loaded.pipelines] == [
        tuple(s for s in p.statements) for p in bundle.pipelines
    ]
    entry = json.loads((tmp_path / "b" / "manifest.json").read_text())["pipelines"][0]["statements"]
    first_set = next(s for s in entry if s["kind"] == "set")
    assert first_set["setting"] == {"key": first_set["name"], "value": loaded.pipelines[0].settings[first_set["name"]]}


def test_a_version_1_bundle_asks_to_be_rendered_again(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    api.render(ROOT / "pipelines" / "cpu.yaml", "local").write(tmp_path / "b")
    path = tmp_path / "b" / "manifest.json"
    data = json.loads(path.read_text())
    for p in data["pipelines"]:  # what version 1 wrote: no setting, creates, reads or writes
        for s in p["statements"]:
            for key in ("setting", "creates", "reads", "writes"):
                del s[key]
    path.write_text(json.dumps({**data, "manifest_version": 1}))
    with pytest.raises(UsageError, match=r"manifest version 1 is not the version 2 .*render the bundle again"):
        Bundle.load(tmp_path / "b")
    path.write_text(json.dumps({**data, "manifest_version": 2}))  # v2 without a SET's setting: damaged
    with pytest.raises(UsageError, match=r"statements\.0: .*carries its setting.*render the bundle again"):
        Bundle.load(tmp_path / "b")


def test_a_set_statement_always_carries_its_option():
    here = Location("p.yaml", 1)
    with pytest.raises(ValueError, match=r"Statement\.set_option"):
        Statement("set", "pipeline.name", "SET 'pipeline.name' = 'x'", here)
    with pytest.raises(ValueError, match="only a SET"):
        Statement("insert", "i", "INSERT INTO t SELECT 1", here, setting=SetOption("a", "b"))
    s = Statement.set_option("pipeline.name", "o'k", here)
    assert s.sql == "SET 'pipeline.name' = 'o''k'" and s.setting == SetOption("pipeline.name", "o'k")
    with pytest.raises(ValueError, match="control characters"):
        Statement.set_option("k", "a\nb", here)
