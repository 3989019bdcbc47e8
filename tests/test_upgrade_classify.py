"""Upgrade classification of a new bundle against a deployed manifest (Bundle.manifest format)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fakes import sample_bundle, sample_pipeline

from flinksql_gen.bundle import Bundle
from flinksql_gen.deploy.upgrade import classify, load_manifest
from flinksql_gen.errors import UsageError


def manifest_of(*pipelines) -> dict:
    # Through JSON, exactly as a deployed manifest.json would be read back.
    return json.loads(json.dumps(sample_bundle(*pipelines).manifest()))


def kinds(changes) -> dict[str, str]:
    return {c.pipeline: c.kind for c in changes}


def test_unchanged():
    p = sample_pipeline()
    (change,) = classify(manifest_of(p), sample_bundle(p))
    assert change.kind == "unchanged" and not change.breaks_state


def test_same_signatures_different_sql_is_stateful_compatible():
    old = sample_pipeline()
    new = sample_pipeline(
        insert_sql=("INSERT INTO sink_0 SELECT host, AVG(cpu) FROM cpu_metrics WHERE cpu > 0 GROUP BY host",)
    )
    (change,) = classify(manifest_of(old), sample_bundle(new))
    assert change.kind == "stateful_compatible" and change.needs_savepoint
    assert "insert sink_0" in change.reason


def test_changed_signature_is_state_breaking():
    old = sample_pipeline(signatures=("a",))
    new = sample_pipeline(signatures=("b",))
    (change,) = classify(manifest_of(old), sample_bundle(new))
    assert change.kind == "state_breaking" and change.breaks_state
    assert "state of insert 'sink_0' changed" in change.reason


def test_removed_stateful_insert_is_state_breaking():
    old = sample_pipeline(inserts=2)
    new = sample_pipeline(inserts=1)
    (change,) = classify(manifest_of(old), sample_bundle(new))
    assert change.kind == "state_breaking" and "stateful insert 'sink_1' removed" in change.reason


def test_added_stateful_insert_is_compatible():
    (change,) = classify(manifest_of(sample_pipeline(inserts=1)), sample_bundle(sample_pipeline(inserts=2)))
    assert (
        change.kind == "stateful_compatible" and "new stateful insert 'sink_1' starts empty" in change.reason
    )


def test_no_stateful_inserts_is_stateless():
    old = sample_pipeline(signatures=("",))
    new = sample_pipeline(
        signatures=("",), insert_sql=("INSERT INTO sink_0 SELECT host, cpu FROM cpu_metrics",)
    )
    (change,) = classify(manifest_of(old), sample_bundle(new))
    assert change.kind == "stateless"


def test_max_parallelism_change_breaks_state():
    old = sample_pipeline(settings={"pipeline.max-parallelism": "128"})
    new = sample_pipeline(settings={"pipeline.max-parallelism": "256"})
    (change,) = classify(manifest_of(old), sample_bundle(new))
    assert change.kind == "state_breaking" and "pipeline.max-parallelism changed" in change.reason


def test_parallelism_change_keeps_state():
    old = sample_pipeline(settings={"parallelism.default": "1"})
    new = sample_pipeline(settings={"parallelism.default": "2"})
    assert classify(manifest_of(old), sample_bundle(new))[0].kind == "stateful_compatible"


def test_added_and_removed_pipelines():
    a, b, c = sample_pipeline("a"), sample_pipeline("b"), sample_pipeline("c")
    changes = classify(manifest_of(a, b), sample_bundle(b, c))
    assert kinds(changes) == {"a": "removed", "b": "unchanged", "c": "added"}
    assert [c.pipeline for c in changes] == ["a", "b", "c"]


def test_load_manifest_from_written_bundle(tmp_path):
    p = sample_pipeline()
    Bundle(target="gateway", pipelines=(p,)).write(tmp_path / "bundle")
    manifest = load_manifest(tmp_path / "bundle")
    assert classify(manifest, sample_bundle(replace(p)))[0].kind == "unchanged"
    assert load_manifest(tmp_path / "bundle" / "manifest.json") == manifest


def test_load_manifest_errors(tmp_path):
    with pytest.raises(UsageError, match="no such manifest"):
        load_manifest(tmp_path / "missing")
    (tmp_path / "m.json").write_text('{"manifest_version": 99, "pipelines": []}')
    with pytest.raises(UsageError, match="manifest version 99"):
        load_manifest(tmp_path / "m.json")
    (tmp_path / "n.json").write_text("[1]")
    with pytest.raises(UsageError, match="not a flinksql-gen manifest"):
        load_manifest(tmp_path / "n.json")


def test_wrong_argument_types_raise_type_error():
    # Callers probing for another signature (e.g. classify(old_sql, new_sql)) get a TypeError.
    with pytest.raises(TypeError):
        classify("INSERT INTO a SELECT 1", "INSERT INTO a SELECT 2")


def test_the_manifest_is_typed_and_versioned(tmp_path):
    import json

    from flinksql_gen.bundle import Bundle
    from flinksql_gen.manifest import MANIFEST_VERSION, read_manifest

    bundle = sample_bundle(sample_pipeline())
    bundle.write(tmp_path / "b")
    typed = read_manifest(tmp_path / "b")
    assert typed.manifest_version == MANIFEST_VERSION and typed.pipelines[0].statements
    assert Bundle.load(tmp_path / "b").files() == bundle.files()  # the typed read loses nothing
    path = tmp_path / "b" / "manifest.json"
    data = json.loads(path.read_text())
    for version, words in ((MANIFEST_VERSION + 1, "newer than the version"), (0, "render the bundle again")):
        path.write_text(json.dumps({**data, "manifest_version": version}))
        with pytest.raises(UsageError, match=words):
            Bundle.load(tmp_path / "b")
    data["pipelines"][0]["statements"][0]["kind"] = "drop_table"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=r"manifest\.json: pipelines\.0\.statements\.0\.kind: .*render the bundle again"):
        Bundle.load(tmp_path / "b")
    del data["pipelines"][0]["statements"][0]["kind"]
    data["pipelines"][0]["surprise"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError, match=r"manifest\.json: pipelines"):
        load_manifest(tmp_path / "b")
