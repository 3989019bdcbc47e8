"""Aiven application bodies: the INSERT split, table selection, positions, golden request bodies."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakes.aiven_api import SHAPES, check_shape, iot_bundle, pizza_bundle

from flinksql_gen.bundle import Statement
from flinksql_gen.deploy.aiven import AivenDeployTarget
from flinksql_gen.deploy.aiven_bodies import (
    excerpt,
    offset_of,
    plan_applications,
    position_of,
    resolve_tracked,
)
from flinksql_gen.errors import DefinitionError, Location
from flinksql_gen.models.targets import AivenIntegrations, AivenTarget
from flinksql_gen.secrets import resolve

GOLDEN = Path(__file__).parent / "golden" / "aiven"
KAFKA_ID = "4ec23427-9e9f-4827-90fa-ea9e38c31bc3"  # the id in Aiven's CLI example
PG_ID = "7d8e3f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6"


def test_each_insert_gets_only_its_tables():
    plans, problems = plan_applications(pizza_bundle().pipelines[0])
    assert problems == []
    assert [(a.name, [t.name for t in a.sources], [t.name for t in a.sinks]) for a in plans] == [
        ("pizza-big_orders", ["pizza_orders", "shop_limits"], ["slack_alerts"]),
        ("pizza-counts", ["pizza_orders"], ["shop_counts"]),
    ]
    assert [t.integration_kind for t in plans[0].tables] == ["kafka", "postgres", "slack"]


def test_views_and_unknown_targets_are_problems():
    p = iot_bundle().pipelines[0]
    view = Statement(
        "create_view", "HOT", "CREATE TEMPORARY VIEW HOT AS SELECT 1", Location("pipelines/iot.yaml", 40),
        creates=("HOT",),
    )
    bad = Statement(
        "insert", "to_view", "INSERT INTO nowhere SELECT * FROM HOT", Location("pipelines/iot.yaml", 44),
        reads=("HOT",), writes=("nowhere",),
    )
    p = dataclasses.replace(p, statements=(*p.statements, view, bad))
    _, problems = plan_applications(p)
    text = "\n".join(str(x) for x in problems)
    assert "pipelines/iot.yaml:44: pipeline iot: insert to_view: reads the view 'HOT'" in text
    assert "render with --target aiven so views are inlined" in text
    assert "writes to 'nowhere', which is not a table of this pipeline" in text
    assert "insert inlined" not in text  # a WITH clause of the same name is not the view


def test_udfs_are_refused_with_their_names():
    with pytest.raises(DefinitionError, match=r"Python UDF 'zscore' \(detectors.zscore:zscore\)"):
        AivenDeployTarget(out=lambda _: None).plan(pizza_bundle(udf=True))


def test_positions_map_back_through_substitutions():
    sql = "a = '${env:A}'\nb = '${env:B}' x"
    res = resolve_tracked(sql, lambda ref: resolve(ref, {"A": "long-value-a", "B": "v"}))
    assert res.text == "a = 'long-value-a'\nb = 'v' x"
    for line, col, want in [
        (1, 1, (1, 1)),
        (1, 8, (1, 6)),
        (1, 18, (1, 14)),
        (2, 6, (2, 6)),
        (2, 9, (2, 16)),
    ]:
        assert position_of(sql, res.original_offset(offset_of(res.text, line, col))) == want
    assert excerpt("ab\ncdef", 2, 2, 2, 3) == "   2 | cdef\n     |  ^^"


def _target() -> AivenDeployTarget:
    target = AivenTarget(integrations=AivenIntegrations(kafka=KAFKA_ID, postgres=PG_ID))
    return AivenDeployTarget(target, project="p", service="s", env={}, out=lambda _: None)


@pytest.mark.parametrize("example", ["pizza", "iot"])
def test_generate_dir_matches_golden(example, tmp_path):
    bundle = {"pizza": pizza_bundle, "iot": iot_bundle}[example]()
    written = _target().generate(bundle, tmp_path)  # integration ids are ids: no HTTP call, no token
    got = {str(p.relative_to(tmp_path)): p.read_text() for p in written}
    golden = GOLDEN / example
    if os.environ.get("UPDATE_GOLDEN"):
        for name, text in got.items():
            (golden / name).parent.mkdir(parents=True, exist_ok=True)
            (golden / name).write_text(text)
    want = {str(p.relative_to(golden)): p.read_text() for p in sorted(golden.rglob("*.json"))}
    assert got == want
    # deterministic: a second run writes the same bytes
    again = _target().generate(bundle, tmp_path / "again")
    assert [p.read_text() for p in again] == list(got.values())


@pytest.mark.parametrize("example", ["pizza", "iot"])
def test_golden_bodies_have_the_shape_of_aivens_tutorial_files(example):
    """The shape of the `avn service flink create-application-version` example (aiven-docs,
    docs/tools/cli/service/flink.md) and of the API's ServiceFlinkCreateApplicationVersionIn."""
    for app in sorted((GOLDEN / example).iterdir()):
        version = json.loads((app / "version.json").read_text())
        assert check_shape(version, SHAPES["version"]) == []
        assert (
            check_shape(json.loads((app / "application.json").read_text()), SHAPES["create_application"])
            == []
        )
        assert check_shape(json.loads((app / "deployment.json").read_text()), SHAPES["deployment"]) == []
        assert set(version) == {"sources", "sinks", "statement"}
        assert version["statement"].startswith("INSERT INTO ") and ";" not in version["statement"]
        assert len(version["sinks"]) == 1 and version["sources"]
        for table in version["sources"] + version["sinks"]:
            ddl = table["create_table"]
            assert ddl.startswith("CREATE TABLE ") and set(table) <= {"create_table", "integration_id"}
            if "'connector' = 'kafka'" in ddl:
                assert "'properties.bootstrap.servers' = ''" in ddl and table["integration_id"] == KAFKA_ID
            if "'connector' = 'jdbc'" in ddl:
                assert "'url' = ''" in ddl and table["integration_id"] == PG_ID
            if "'connector' = 'slack'" in ddl:
                assert "'token' = '${env:SLACK_TOKEN}'" in ddl and "integration_id" not in table
