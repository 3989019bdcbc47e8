"""The SQL Gateway target against a local server that enforces the published REST contract."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fakes import sample_pipeline
from fakes.sql_gateway import FakeSqlGateway, flink_exception

from flinksql_gen.bundle import UdfInfo
from flinksql_gen.deploy import get_target
from flinksql_gen.deploy.base import DeployError, root_cause
from flinksql_gen.deploy.gateway import GatewayDeployTarget, statement_set

FAST = {"poll_interval": 0.005, "max_poll_interval": 0.02, "timeout": 5.0}


@pytest.fixture
def gateway():
    with FakeSqlGateway() as gw:
        yield gw
        gw.check()


def target(gw: FakeSqlGateway, **options) -> GatewayDeployTarget:
    return GatewayDeployTarget(gw.url, **{**FAST, **options})


def test_happy_path_opens_session_runs_ddl_and_one_statement_set(gateway, monkeypatch):
    monkeypatch.setenv("FLINKSQL_TEST_SECRET", "s3cr3t-value")
    pipeline = sample_pipeline(inserts=2)
    result = target(gateway).submit(pipeline)

    assert result.pipeline == "cpu_alerts"
    assert result.job_id == gateway.jobs[0].job_id
    assert [j.name for j in gateway.jobs] == ["cpu_alerts"]
    # highest offered version, session properties from SET + pipeline.name
    open_call = gateway.calls("openSession")[0]
    assert open_call.path.startswith("/v4/")
    props = open_call.body["properties"]
    assert props["pipeline.name"] == "cpu_alerts"
    assert props["execution.checkpointing.interval"] == "10 s"
    # DDL through configure-session, resolved at submission time
    ddl = [c.body["statement"] for c in gateway.calls("configureSession")]
    assert len(ddl) == 3 and "s3cr3t-value" in ddl[0] and "${env:" not in ddl[0]
    # both inserts in one statement set, sent once
    (sql,) = gateway.statements()
    assert sql.startswith("EXECUTE STATEMENT SET\nBEGIN\nINSERT INTO sink_0") and sql.endswith(";\nEND")
    assert len(gateway.calls("closeSession")) == 1 and not gateway.sessions


def test_v2_gateway_single_insert(monkeypatch):
    with FakeSqlGateway(versions=("V1", "V2")) as gw:
        result = target(gw).submit(sample_pipeline())
        gw.check()
    assert result.job_id == gw.jobs[0].job_id
    assert all(r.path.startswith("/v2/") for r in gw.requests if r.operation != "getApiVersion")
    assert gw.statements()[0].startswith("INSERT INTO sink_0")
    # v2+ contract: rowFormat is a required query parameter of fetchResults
    assert all(r.query.get("rowFormat") == ["JSON"] for r in gw.calls("fetchResults"))


def test_gateway_without_v2_is_refused():
    with FakeSqlGateway(versions=("V1",)) as gw:
        with pytest.raises(DeployError, match="needs v2 or later"):
            target(gw).submit(sample_pipeline())
        gw.check()


def test_v4_script_deployment(monkeypatch):
    monkeypatch.setenv("FLINKSQL_TEST_SECRET", "s3cr3t-value")
    with FakeSqlGateway(execution_target="kubernetes-application") as gateway:
        result = target(gateway, script=True).submit(sample_pipeline(), savepoint="file:///sp/1")
        gateway.check()
    assert result.cluster_id and result.cluster_id.startswith("flink-app-") and result.job_id is None
    (body,) = gateway.scripts
    assert "s3cr3t-value" in body["script"] and "${env:FLINKSQL_TEST_SECRET" not in body["script"]
    assert body["executionConfig"]["execution.state-recovery.path"] == "file:///sp/1"
    assert not gateway.calls("executeStatement")


def test_script_deployment_on_a_session_cluster_is_refused_before_sending(gateway):
    with pytest.raises(DeployError) as err:
        target(gateway, script=True).submit(sample_pipeline())
    message = str(err.value)
    assert "execution.target is 'remote'" in message and "kubernetes-application" in message
    assert "Submit without --script" in message
    assert not gateway.scripts and not gateway.calls("deployScript") and not gateway.sessions  # session closed


def test_script_deployment_needs_v4():
    with FakeSqlGateway(versions=("V2", "V3")) as gw:
        with pytest.raises(DeployError, match=r"needs REST API v4 \(a Flink 2.0\+ gateway\)"):
            target(gw, script=True).submit(sample_pipeline())
        gw.check()
    assert not gw.scripts


def test_savepoint_and_udf_properties(gateway, tmp_path, monkeypatch):
    (tmp_path / "my_udfs.py").write_text("def f(x):\n    return x\n")
    monkeypatch.chdir(tmp_path)
    pipeline = sample_pipeline(udfs=(UdfInfo("f", "my_udfs:f"),))
    target(gateway, python_executable="/usr/bin/python3").submit(
        pipeline, savepoint="file:///sp/2", allow_non_restored_state=True
    )
    props = gateway.calls("openSession")[0].body["properties"]
    assert props["execution.state-recovery.path"] == "file:///sp/2"
    assert props["execution.state-recovery.ignore-unclaimed-state"] == "true"
    assert props["python.files"] == str(tmp_path / "my_udfs.py")
    assert props["python.executable"] == "/usr/bin/python3"


def test_not_ready_pages_are_retried(gateway):
    gateway.not_ready = 3
    gateway.running_polls = 2
    result = target(gateway).submit(sample_pipeline())
    assert result.job_id == gateway.jobs[0].job_id
    fetches = gateway.calls("fetchResults")
    tokens = [r.path.split("/result/")[1].split("?")[0] for r in fetches]
    assert tokens == ["0", "0", "0", "0", "1"]  # three NOT_READY (same token again), payload, EOS


def test_paging_through_next_result_uri(gateway):
    for i in range(5):
        gateway.add_job(f"job_{i}")
    gateway.page_size = 2
    jobs = target(gateway).jobs()
    assert [j.name for j in jobs] == [f"job_{i}" for i in range(5)]
    tokens = [r.path.split("/result/")[1].split("?")[0] for r in gateway.calls("fetchResults")]
    assert tokens == ["0", "1", "2", "3"]  # three payload pages, then EOS


def test_ddl_error_names_pipeline_and_yaml_line(gateway):
    gateway.fail_when["CREATE TABLE sink_0"] = flink_exception(
        "Could not find any factory for identifier 'blackhole2' that implements "
        "'org.apache.flink.table.factories.DynamicTableFactory' in the classpath."
    )
    with pytest.raises(DeployError) as info:
        target(gateway).submit(sample_pipeline())
    message = str(info.value)
    assert message.startswith(
        "pipelines/cpu_alerts.yaml:12:5: pipeline 'cpu_alerts': create table 'sink_0' failed"
    )
    assert "ValidationException: Could not find any factory for identifier 'blackhole2'" in message
    assert "\tat " not in message and "SqlGatewayException" not in message
    assert not gateway.calls("executeStatement")


def test_insert_error_maps_to_insert_origin(gateway):
    gateway.fail_when["INSERT INTO sink_0"] = flink_exception(
        "SQL validation failed. From line 1, column 40 to line 1, column 43: Column 'cpux' not found in any table"
    )
    with pytest.raises(DeployError) as info:
        target(gateway).submit(sample_pipeline())
    message = str(info.value)
    assert message.startswith("pipelines/cpu_alerts.yaml:20:5: pipeline 'cpu_alerts': insert 'sink_0' failed")
    assert "Column 'cpux' not found" in message
    assert len(gateway.statements()) == 1


def test_statement_set_error_blames_the_named_insert(gateway):
    gateway.fail_when["EXECUTE STATEMENT SET"] = flink_exception(
        "Column types of query result and sink for 'default_catalog.default_database.sink_1' do not match."
    )
    with pytest.raises(DeployError, match=r"^pipelines/cpu_alerts.yaml:24:5: .*insert 'sink_1' failed"):
        target(gateway).submit(sample_pipeline(inserts=2))


def test_session_expiry_reopens_once_and_replays_ddl(gateway):
    gateway.expire_before["configureSession"] = 1
    result = target(gateway).submit(sample_pipeline())
    assert result.job_id
    assert len(gateway.calls("openSession")) == 2
    assert len(gateway.calls("configureSession")) == 1 + 2  # the failed one, then all DDL again
    assert len(gateway.statements()) == 1


def test_session_expiring_twice_gives_up(gateway):
    gateway.expire_before["configureSession"] = 2
    with pytest.raises(DeployError, match="closed the session twice"):
        target(gateway).submit(sample_pipeline())
    assert len(gateway.calls("openSession")) == 2
    assert not gateway.statements()


def test_session_expiry_after_insert_never_resubmits(gateway):
    gateway.running_polls = 3
    gateway.expire_before["getOperationStatus"] = 1
    with pytest.raises(DeployError, match=r"may be running.*not resubmitted"):
        target(gateway).submit(sample_pipeline())
    assert len(gateway.statements()) == 1
    assert len(gateway.calls("openSession")) == 1


def test_session_expiry_on_insert_is_not_retried(gateway):
    gateway.expire_before["executeStatement"] = 1
    with pytest.raises(DeployError, match="was not retried"):
        target(gateway).submit(sample_pipeline())
    assert len(gateway.calls("executeStatement")) == 1
    assert len(gateway.calls("openSession")) == 1


def test_timeout_on_insert_is_one_clear_message_and_never_resubmits(gateway):
    gateway.delay["executeStatement"] = 1.0
    with pytest.raises(DeployError) as info:
        target(gateway, timeout=0.2).submit(sample_pipeline())
    message = str(info.value)
    assert "did not answer within 0.2s" in message and "was not retried" in message
    assert len(gateway.calls("executeStatement")) == 1


def test_timeout_on_connect_step(gateway):
    gateway.delay["getApiVersion"] = 1.0
    with pytest.raises(DeployError, match=r"did not answer within 0.2s \(GET /api_versions\)"):
        target(gateway, timeout=0.2).submit(sample_pipeline())


def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        DeployError, match=r"cannot connect to the Flink SQL Gateway at http://127.0.0.1:\d+ \("
    ):
        GatewayDeployTarget(f"http://127.0.0.1:{port}", **FAST).submit(sample_pipeline())


def test_secret_values_never_reach_error_messages(gateway, monkeypatch):
    monkeypatch.setenv("FLINKSQL_TEST_SECRET", "hunter2-secret")
    gateway.fail_when["CREATE TABLE cpu_metrics"] = flink_exception(
        "Invalid option 'properties.sasl.jaas.config' = 'hunter2-secret'"
    )
    with pytest.raises(DeployError) as info:
        target(gateway).submit(sample_pipeline())
    assert "hunter2-secret" not in str(info.value) and "***" in str(info.value)


def test_missing_env_var_is_a_usage_error_before_any_request(gateway, monkeypatch):
    from flinksql_gen.errors import UsageError

    pipeline = sample_pipeline()
    stmts = tuple(
        s
        if s.kind != "create_table" or s.name != "cpu_metrics"
        else type(s)(s.kind, s.name, s.sql + " ${env:NOPE_NOT_SET}", s.origin)
        for s in pipeline.statements
    )
    with pytest.raises(UsageError, match="NOPE_NOT_SET"):
        target(gateway).submit(type(pipeline)(**{**pipeline.__dict__, "statements": stmts}))


def test_jobs_stop_and_cancel_by_name_over_sql(gateway):
    gateway.add_job("other")
    target(gateway).submit(sample_pipeline())
    t = target(gateway)
    assert {(j.name, j.state) for j in t.jobs()} == {("other", "RUNNING"), ("cpu_alerts", "RUNNING")}

    path = t.stop("cpu_alerts", "file:///savepoints")
    assert path.startswith("file:///savepoints/savepoint-")
    job_id = gateway.jobs[1].job_id
    assert f"STOP JOB '{job_id}' WITH SAVEPOINT" in gateway.statements()
    stop_session = gateway.calls("openSession")[-1].body["properties"]
    assert stop_session["execution.checkpointing.savepoint-dir"] == "file:///savepoints"

    t.cancel("other")
    assert gateway.jobs[0].status == "CANCELED"
    with pytest.raises(DeployError, match=r"no running job named 'cpu_alerts' \(running jobs: none\)"):
        t.cancel("cpu_alerts")


def test_registry_builds_gateway_target(gateway):
    t = get_target("gateway", url=gateway.url, **FAST)
    assert isinstance(t, GatewayDeployTarget)
    with pytest.raises(Exception, match="unknown deployment target 'nope'"):
        get_target("nope")


def test_statement_set_and_root_cause_helpers():
    assert statement_set(["INSERT INTO a SELECT 1"]) == "INSERT INTO a SELECT 1"
    assert statement_set(["INSERT INTO a SELECT 1", "INSERT INTO b SELECT 2"]) == (
        "EXECUTE STATEMENT SET\nBEGIN\nINSERT INTO a SELECT 1;\nINSERT INTO b SELECT 2;\nEND"
    )
    trace = flink_exception("boom\nsecond line", cls="org.apache.flink.table.api.TableException")
    assert root_cause(trace) == "TableException: boom\nsecond line"
    assert (
        root_cause("java.lang.IllegalStateException: plain\n\tat x.y(Z.java:1)")
        == "IllegalStateException: plain"
    )


def test_heartbeat_keeps_the_session_alive_while_polling(gateway):
    gateway.running_polls = 3
    target(gateway, heartbeat_interval=0.0).submit(sample_pipeline())
    assert len(gateway.calls("triggerSession")) >= 2
    assert len(gateway.statements()) == 1


def test_udf_pipelines_carry_their_functions_and_the_targets_python(tmp_path):
    from flinksql_gen import api

    targets = tmp_path / "targets.yaml"
    targets.write_text('targets:\n  prod:\n    type: gateway\n    python:\n      executable: "/opt/venv/bin/python"\n'
                       '      files: ["/opt/udfs/flinksql_gen"]\n')
    root = Path(__file__).resolve().parents[1] / "pipelines"
    udf = api.render(root / "cpu_anomalies.yaml", "prod", targets_file=targets).pipelines[0]
    settings = udf.settings
    assert settings["python.executable"] == settings["python.client.executable"] == "/opt/venv/bin/python"
    assert settings["python.files"] == "/opt/udfs/flinksql_gen"
    (function,) = [s for s in udf.statements if s.kind == "create_function"]
    assert function.sql == ("CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS `fsg_detect` AS "
                            "'flinksql_gen.udfs.detect.fsg_detect' LANGUAGE PYTHON")
    assert function.sql + ";" in udf.script
    assert udf.script.index("CREATE TEMPORARY SYSTEM FUNCTION") < udf.script.index("CREATE TABLE")
    plain = api.render(root / "cpu.yaml", "prod", targets_file=targets).pipelines[0]
    assert not any(k.startswith("python.") for k in plain.settings)
    assert not any(s.kind == "create_function" for s in plain.statements)
