"""`check --target aiven`: the application bodies `deploy aiven` sends, planned on Flink 1.20.

The planning tests share one Flink 1.20 process (tests/aiven_fixtures.py), installed by
`setup --aiven` when missing; the filling of blank connection options is tested without it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from flinksql_gen.api import render_pipeline
from flinksql_gen.cli import main
from flinksql_gen.deploy.aiven.check import check_apps, planned_apps
from flinksql_gen.deploy.aiven.local_bodies import local_apps
from flinksql_gen.models.targets import AivenTarget
from flinksql_gen.runtime.aiven.client import App

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "targets.yaml"


def bundle(name: str):
    return render_pipeline(ROOT / "pipelines" / f"{name}.yaml", "aiven", targets_file=TARGETS)


def quiet(_: str) -> None:
    pass


def test_the_aiven_target_names_flink_1_20_by_default():
    assert AivenTarget().flink_version == "1.20"
    with pytest.raises(ValueError, match=r"1\.20"):
        AivenTarget(flink_version="1.17")


def test_blank_connection_options_are_filled_on_copies_only():
    b = bundle("cpu")
    apps = planned_apps(b, AivenTarget(), quiet)
    app = next(a for a in apps if a.plan.name == "cpu-cpu_over_host_threshold__cpu_threshold_alerts")
    kafka, jdbc, _ = app.app.tables
    assert "'properties.bootstrap.servers' = '127.0.0.1:9092'" in kafka
    assert "'url' = 'jdbc:postgresql://127.0.0.1:5432/defaultdb'" in jdbc
    assert "'username' = 'avnadmin'" in jdbc and "'password' = 'aiven-integration-placeholder'" in jdbc
    # the bundle, and so the bodies deploy aiven sends, keep Aiven's blanks
    ddl = {s.name: s.sql for s in b.statements if s.kind == "create_table"}
    assert "'properties.bootstrap.servers' = ''" in ddl["cpu_load"] and "'url' = ''" in ddl["cpu_thresholds"]
    body = app.plan.version_body({})
    assert body["sources"][0]["create_table"] == ddl["cpu_load"]
    # only the options changed: the rest of each CREATE TABLE is the body's text
    assert kafka.replace("'127.0.0.1:9092'", "''") == ddl["cpu_load"]
    assert app.app.statement == body["statement"]


def test_the_slack_sink_is_planned_as_a_blackhole_of_the_same_columns():
    apps = planned_apps(bundle("cpu"), AivenTarget(), quiet)
    app = next(a for a in apps if a.plan.name == "cpu-cpu_over_host_threshold__slack_alerts")
    sink = app.app.tables[-1]
    assert sink.startswith("CREATE TABLE `slack_alerts` (\n  `channel_id` STRING,\n  `message` STRING\n)")
    assert "'connector' = 'blackhole'" in sink and "slack" not in sink.split("WITH")[1]


def test_real_connections_replace_the_blanks_for_a_local_run():
    plans = [a.plan for a in planned_apps(bundle("cpu"), AivenTarget(), quiet)]
    conns = {"kafka": {"properties.bootstrap.servers": "127.0.0.1:1234"},
             "postgres": {"url": "jdbc:postgresql://127.0.0.1:5433/postgres", "username": "u", "password": "p'q"}}
    apps = local_apps(plans, conns, {"SLACK_TOKEN": "t"})
    jdbc = next(t for a in apps for t in a.app.tables if "'connector' = 'jdbc'" in t)
    assert "'password' = 'p''q'" in jdbc and "'url' = 'jdbc:postgresql://127.0.0.1:5433/postgres'" in jdbc


@pytest.mark.slow
def test_the_runtime_is_flink_1_20(flink120):
    assert flink120.version().startswith("1.20.")


@pytest.mark.slow
def test_cpu_and_pizza_bodies_plan_on_flink_1_20(flink120):
    apps = [a for name in ("cpu", "pizza") for a in planned_apps(bundle(name), AivenTarget(), quiet)]
    assert len(apps) == 9
    assert check_apps(apps, flink120) == []


@pytest.mark.slow
def test_percentile_does_not_exist_on_flink_1_20(flink120):
    """Why the language refuses percentiles for aiven: FLINK-36123 added PERCENTILE in 2.0."""
    app = App("p", ("CREATE TABLE s (x DOUBLE) WITH ('connector' = 'datagen')",
                    "CREATE TABLE k (p DOUBLE) WITH ('connector' = 'blackhole')"),
              "INSERT INTO k SELECT PERCENTILE(x, 0.5) FROM s")
    [error] = flink120.plan([app])
    assert error.part == "statement" and "PERCENTILE" in error.message


@pytest.mark.slow
def test_a_refused_statement_is_reported_at_its_yaml_line(flink120):
    b = bundle("cpu")
    ins = b.statement("cpu_high__cpu_high_alerts")
    broken = dataclasses.replace(ins, sql=ins.sql.replace("WHERE `usage` > 80", "WHERE `usage` > NO_SUCH_FN(80)"))
    b = dataclasses.replace(b, statements=tuple(broken if s is ins else s for s in b.statements))
    problems = check_apps(planned_apps(b, AivenTarget(), quiet), flink120)
    assert len(problems) == 1
    [p] = problems
    assert p.location == ins.origin and p.location.line and p.location.file.endswith("cpu.yaml")
    assert "Flink 1.20 (Aiven) rejects statement 'cpu_high__cpu_high_alerts'" in p.message
    assert "NO_SUCH_FN" in p.message and "application cpu-cpu_high__cpu_high_alerts" in p.path


@pytest.mark.slow
def test_a_refused_table_is_reported_at_its_yaml_line(flink120):
    b = bundle("pizza")
    ddl = next(s for s in b.statements if s.kind == "create_table" and s.name == "pizza_orders")
    broken = dataclasses.replace(ddl, sql=ddl.sql.replace("`shop` STRING,", "`shop` STRINGG,"))
    b = dataclasses.replace(b, statements=tuple(broken if s is ddl else s for s in b.statements))
    problems = check_apps(planned_apps(b, AivenTarget(), quiet), flink120)
    assert len(problems) == 4  # every application reads the orders
    assert all(p.location == ddl.origin and p.location.line for p in problems)
    assert all("rejects table 'pizza_orders'" in p.message and "STRINGG" in p.message for p in problems)


def test_check_without_the_runtime_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FLINKSQL_GEN_CACHE", str(tmp_path / "empty-cache"))
    result = CliRunner().invoke(main, ["check", "-t", "aiven", "--targets", str(TARGETS),
                                       str(ROOT / "pipelines" / "cpu.yaml"), "--workdir", str(tmp_path)])
    assert result.exit_code != 0
    assert "flinksql-gen setup --aiven" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_check_cli_plans_the_aiven_bundle_on_1_20(flink120_runtime, tmp_path):
    result = CliRunner().invoke(main, ["check", "-t", "aiven", "--targets", str(TARGETS), "--format", "json",
                                       str(ROOT / "pipelines" / "pizza.yaml"), "--workdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["errors"] == [] and doc["pipelines"] == ["pizza"] and doc["statements"] == 4


def test_an_unknown_flink_version_is_a_usage_error_naming_the_known_ones(tmp_path):
    from flinksql_gen.errors import UsageError
    from flinksql_gen.runtime.aiven import ensure_runtime, find_runtime

    for call in (find_runtime, ensure_runtime):
        with pytest.raises(UsageError, match=r"no Flink 1\.17 runtime .*known: 1\.20"):
            call("1.17", cache=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing was created for it


def test_a_runtime_without_its_jars_asks_for_setup_aiven(tmp_path):
    from flinksql_gen.errors import UsageError
    from flinksql_gen.runtime.aiven import find_runtime

    folder = tmp_path / "flink-1.20.5"
    (folder / "venv" / "bin").mkdir(parents=True)
    (folder / "venv" / "bin" / "python").write_text("")
    (folder / ".installed").write_text("1.20.5\n")
    with pytest.raises(UsageError, match=r"connector jars are missing .*flinksql-gen setup --aiven"):
        find_runtime("1.20", cache=tmp_path)
