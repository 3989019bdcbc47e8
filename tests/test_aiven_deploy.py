"""`deploy aiven` against a local fake of Aiven's Flink application API (tests/fakes/aiven_api.py)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakes.aiven_api import BIG_ORDERS, FakeAiven, iot_bundle, pizza_bundle

from flinksql_gen.deploy.aiven import AivenDeployTarget, format_status
from flinksql_gen.deploy.aiven_api import ReadOnlyViolation, find_token
from flinksql_gen.deploy.base import DeployError, DeployTarget, get_target
from flinksql_gen.errors import DefinitionError, UsageError
from flinksql_gen.models.targets import AivenIntegrations, AivenTarget

PG_ID = "7d8e3f0a-1b2c-4d5e-8f90-a1b2c3d4e5f6"
SLACK_TOKEN = "xoxb-slack-" + "9" * 20


@pytest.fixture
def fake():
    with FakeAiven() as f:
        f.kafka_id = f.add_integration("demo-kafka", "kafka")
        f.add_integration("demo-postgresql", "pg", PG_ID)
        yield f
        # Every request the deployer sent had the documented shape.
        assert f.violations == []


def make(fake: FakeAiven, out: list[str] | None = None, **env: str) -> AivenDeployTarget:
    target = AivenTarget(
        api_url=fake.url,
        # kafka by service name (looked up), postgres by id, slack without integration
        integrations=AivenIntegrations(kafka="demo-kafka", postgres=PG_ID),
    )
    lines = out if out is not None else []
    return AivenDeployTarget(
        target,
        project=fake.project,
        service=fake.service,
        env={"AIVEN_TOKEN": fake.token, "SLACK_TOKEN": SLACK_TOKEN, "HOME": "/nonexistent", **env},
        out=lines.append,
        poll_interval=0,
        retry_backoff=0,
    )


def test_first_deploy_creates_one_application_per_insert(fake):
    out: list[str] = []
    results = make(fake, out).deploy(pizza_bundle())
    assert [r.application for r in results] == ["pizza-big_orders", "pizza-counts"]
    assert all(r.action == "deployed" and r.version == 1 and not r.savepoint for r in results)

    big = fake.app("pizza-big_orders")
    version = big["application_versions"][0]
    # Only the tables the INSERT uses; Slack needs no integration, its token is resolved for Aiven.
    assert [t["table_name"] for t in version["sources"]] == ["pizza_orders", "shop_limits"]
    assert [t.get("integration_id") for t in version["sources"]] == [fake.kafka_id, PG_ID]
    assert [t["table_name"] for t in version["sinks"]] == ["slack_alerts"]
    assert "integration_id" not in version["sinks"][0]
    assert SLACK_TOKEN in version["sinks"][0]["create_table"]
    assert version["statement"] == BIG_ORDERS + "\n-- flinksql-gen state: sig-big_orders"
    counts = fake.app("pizza-counts")["application_versions"][0]
    assert [t["table_name"] for t in counts["sources"] + counts["sinks"]] == ["pizza_orders", "shop_counts"]

    deployment = next(r.body for r in fake.calls("POST") if r.path.endswith("/deployment"))
    assert deployment == {"version_id": version["id"], "parallelism": 1, "restart_enabled": True}
    assert [d["status"] for a in fake.applications.values() for d in a["deployments"]] == ["RUNNING"] * 2
    # validation ran for every application before the first version was created
    order = [(r.method, r.path.rsplit("/", 2)[-2:]) for r in fake.requests if r.method == "POST"]
    first_version = next(i for i, (_, p) in enumerate(order) if p[-1] == "version")
    assert sum(1 for _, p in order[:first_version] if p[-1] == "validate") == 2
    assert not any(fake.token in line or SLACK_TOKEN in line for line in out)


def test_redeploy_stops_with_savepoint_and_restores(fake):
    deployer = make(fake)
    deployer.deploy(pizza_bundle())
    first = fake.app("pizza-big_orders")["deployments"][0]

    changed = pizza_bundle(BIG_ORDERS.replace("> l.max_pizzas", ">= l.max_pizzas"))
    results = {r.application: r for r in make(fake).deploy(changed)}

    big = results["pizza-big_orders"]
    assert big.action == "deployed" and big.version == 2
    assert big.savepoint and big.savepoint == first["last_savepoint"]
    assert first["status"] == "FINISHED"
    assert len(fake.calls("POST", f"/deployment/{first['id']}/stop")) == 1
    new = fake.app("pizza-big_orders")["deployments"][-1]
    assert new["starting_savepoint"] == first["last_savepoint"] and new["status"] == "RUNNING"
    # The unchanged INSERT is left alone: no version, no stop.
    assert results["pizza-counts"].action == "unchanged"
    assert len(fake.app("pizza-counts")["application_versions"]) == 1
    assert len(fake.app("pizza-counts")["deployments"]) == 1


def test_deploy_after_stop_restores_from_the_stop_savepoint(fake):
    make(fake).deploy(iot_bundle())
    [stopped] = make(fake).stop_bundle(iot_bundle())
    assert stopped.action == "stopped" and stopped.savepoint
    [again] = make(fake).deploy(iot_bundle())
    assert again.version == 1  # identical body: the existing version is reused
    assert again.savepoint == stopped.savepoint
    assert len(fake.calls("POST", "/version")) - len(fake.calls("POST", "/validate")) == 1


def test_validation_error_points_at_the_yaml_of_the_statement(fake):
    fake.validation = {
        "statement_error": {
            "message": "Column 'max_pizza' not found in table 'l'",
            "position": {
                "line_number": 8,
                "character_number": 33,
                "end_line_number": 8,
                "end_character_number": 43,
            },
        }
    }
    with pytest.raises(DefinitionError) as exc:
        make(fake).deploy(pizza_bundle())
    text = str(exc.value)
    assert text.startswith("pipelines/pizza.yaml:31:3: pipeline pizza: application pizza-big_orders:")
    assert "insert big_orders at SQL line 8, column 33: Column 'max_pizza' not found" in text
    assert "WHERE CARDINALITY(o.pizzas) > l.max_pizzas" in text and "^" * 11 in text
    assert not fake.calls("POST", "/version") or all(
        r.path.endswith("/validate") for r in fake.calls("POST", "/version")
    )
    assert not fake.calls("POST", "/deployment")


def test_table_error_position_maps_back_through_resolved_secrets(fake):
    # Aiven sees the resolved token; the column after it must map back to the DDL as written.
    make(fake).deploy(iot_bundle())  # an application to validate against
    resolved_line = f"    'token' = '{SLACK_TOKEN}'"
    col = resolved_line.index("'", 16) + 1  # the closing quote, 1-based
    fake.validation = {
        "sinks": {
            0: {
                "message": f"bad token {SLACK_TOKEN}",
                "position": {"line_number": 6, "character_number": col},
            }
        }
    }
    with pytest.raises(DefinitionError) as exc:
        make(fake).validate(pizza_bundle(), read_only=True)
    text = str(exc.value)
    written = "    'token' = '${env:SLACK_TOKEN}'"
    assert (
        "pipelines/pizza.yaml:18:3: pipeline pizza: application pizza-big_orders: Aiven rejected table "
        in text
    )
    assert f"SQL line 6, column {written.index(chr(39), 16) + 1}" in text
    assert SLACK_TOKEN not in text and "bad token ***" in text


def test_udf_pipeline_is_refused_before_any_http_call(fake):
    with pytest.raises(DefinitionError) as exc:
        make(fake).deploy(pizza_bundle(udf=True))
    text = str(exc.value)
    assert "zscore" in text and "detectors.zscore:zscore" in text and "pure-SQL detector form" in text
    assert text.startswith("pipelines/pizza.yaml:2:3")
    assert fake.requests == []
    with pytest.raises(DefinitionError):
        make(fake).generate(pizza_bundle(udf=True), Path("/nonexistent/never-written"))
    assert fake.requests == []


def test_rejected_token_gives_one_clear_message_without_the_token(fake):
    deployer = make(fake, AIVEN_TOKEN="tok-wrong-but-secret")
    with pytest.raises(UsageError) as exc:
        deployer.deploy(pizza_bundle())
    assert "token rejected (HTTP 401)" in str(exc.value)
    assert "tok-wrong-but-secret" not in str(exc.value)
    assert not any(r.mutating for r in fake.requests)


def test_missing_token_is_reported_before_any_call(fake, tmp_path):
    deployer = make(fake, AIVEN_TOKEN="", AIVEN_CONFIG_DIR=str(tmp_path))
    with pytest.raises(UsageError, match="no Aiven token found"):
        deployer.status(None)
    assert fake.requests == []


def test_5xx_is_retried_for_idempotent_calls_only(fake):
    fake.fail("GET", r"/flink/application$", 503, times=1)
    fake.fail("POST", r"/version/validate$", 502, times=1)
    make(fake).deploy(iot_bundle())
    assert len(fake.calls("GET", "")) > 1
    assert fake.app("iot-cpu_over_threshold")["deployments"][0]["status"] == "RUNNING"

    # creating a deployment is not idempotent: one 5xx is one failure, no second POST
    fake.fail("POST", r"/deployment$", 503, times=1, message="upstream unavailable")
    with pytest.raises(DeployError, match=r"HTTP 503.*upstream unavailable"):
        _redeploy_changed(fake)
    creates = [r for r in fake.calls("POST") if r.path.endswith("/deployment")]
    assert len(creates) == 2  # the first deploy's, and the failed one


def _redeploy_changed(fake):
    b = iot_bundle()
    p = b.pipelines[0]
    ins = p.statement("cpu_over_threshold")
    changed = dataclasses.replace(ins, sql=ins.sql.replace("usage > allowed_top", "usage >= allowed_top"))
    statements = tuple(changed if s is ins else s for s in p.statements)
    return make(fake).deploy(dataclasses.replace(p, statements=statements))


def test_dry_run_makes_no_mutating_call(fake):
    deployer = make(fake)
    # nothing exists yet: validated locally only, nothing created
    plans = deployer.validate(pizza_bundle(), read_only=True)
    assert [a.name for a in plans] == ["pizza-big_orders", "pizza-counts"]
    assert not any(r.mutating for r in fake.requests)
    # with an application present, every version is validated remotely, still without a change
    make(fake).deploy(iot_bundle())
    before = len(fake.requests)
    make(fake).validate(pizza_bundle(), read_only=True)
    new = fake.requests[before:]
    assert not any(r.mutating for r in new)
    assert len([r for r in new if r.path.endswith("/version/validate")]) == 2


def test_read_only_api_refuses_mutation(fake):
    api = make(fake).api(read_only=True)
    with pytest.raises(ReadOnlyViolation):
        api.create_application("x")
    assert fake.requests == []


def test_status_and_stop(fake):
    make(fake).deploy(pizza_bundle())
    rows = make(fake).status(pizza_bundle())
    assert [(r["application"], r["versions"], r["deployments"][0]["status"]) for r in rows] == [
        ("pizza-big_orders", [1], "RUNNING"),
        ("pizza-counts", [1], "RUNNING"),
    ]
    text = format_status(rows + [{"application": "iot-x", "exists": False}])
    assert (
        "pizza-counts (" in text
        and "RUNNING version 1 (parallelism 1)" in text
        and "iot-x: not deployed" in text
    )
    results = make(fake).stop_bundle(pizza_bundle())
    assert [r.action for r in results] == ["stopped", "stopped"]
    assert all(r.savepoint.startswith("s3://") for r in results)
    assert [r.action for r in make(fake).stop_bundle(pizza_bundle())] == ["not running"] * 2


def test_failed_deployment_reports_aivens_error(fake):
    fake.deploy_outcome = "FAILED"
    with pytest.raises(DeployError, match=r"ended FAILED: .*ValidationException: scripted failure"):
        make(fake).deploy(iot_bundle())


def test_integration_lookup_errors_name_the_tables(fake):
    deployer = make(fake)
    deployer.target = AivenTarget(api_url=fake.url, integrations=AivenIntegrations(kafka="no-such-kafka"))
    with pytest.raises(UsageError) as exc:
        deployer.validate(iot_bundle(), read_only=True)
    assert "no integration of the service 'no-such-kafka'" in str(exc.value)
    assert "CPU_IN" in str(exc.value) and "demo-kafka (kafka)" in str(exc.value)
    # without configuration, the only Flink integration of the right service type is used
    deployer.target = AivenTarget(api_url=fake.url)
    plans = deployer.plan(iot_bundle())
    assert deployer.integration_ids(plans) == {"kafka": fake.kafka_id, "postgres": PG_ID}


def test_deploy_target_protocol_and_registry(fake):
    deployer = get_target(
        "aiven",
        target=AivenTarget(
            api_url=fake.url, integrations=AivenIntegrations(kafka=fake.kafka_id, postgres=PG_ID)
        ),
        project=fake.project,
        service=fake.service,
        env={"AIVEN_TOKEN": fake.token},
        out=lambda _: None,
        poll_interval=0,
    )
    assert isinstance(deployer, DeployTarget)
    result = deployer.submit(iot_bundle().pipelines[0])
    assert result.pipeline == "iot" and result.job_id
    [job] = deployer.jobs()
    assert (job.name, job.state, job.active) == ("iot-cpu_over_threshold", "RUNNING", True)
    savepoint = deployer.stop("iot", "ignored")
    assert savepoint.startswith("s3://")
    again = deployer.submit(iot_bundle().pipelines[0], savepoint=savepoint)
    assert again.restored_from == savepoint
    deployer.cancel("iot-cpu_over_threshold")
    assert deployer.jobs()[0].state == "CANCELED"


def test_token_sources(tmp_path):
    creds = tmp_path / "aiven-credentials.json"
    creds.write_text(json.dumps({"auth_token": "from-file", "user_email": "a@b.c"}))
    assert find_token("configured", {"AIVEN_AUTH_TOKEN": "x"}) == "configured"
    assert find_token("", {"AIVEN_AUTH_TOKEN": "from-env"}) == "from-env"
    assert find_token("", {"AIVEN_CONFIG_DIR": str(tmp_path)}) == "from-file"
    assert find_token("", {"AIVEN_CREDENTIALS_FILE": str(creds), "AIVEN_CONFIG_DIR": "/nope"}) == "from-file"
    assert find_token("", {"AIVEN_CONFIG_DIR": str(tmp_path / "missing")}) is None


def _changed_insert(p, signature: str | None):
    """The alert INSERT with another condition and the given state signature (None: unchanged)."""
    ins = p.statement("cpu_over_threshold")
    changed = dataclasses.replace(ins, sql=ins.sql.replace("usage > allowed_top", "usage >= allowed_top"),
                                  state_signature=ins.state_signature if signature is None else signature)  # fmt: skip
    return dataclasses.replace(p, statements=tuple(changed if s is ins else s for s in p.statements))


def test_state_breaking_change_is_refused_unless_allowed(fake):
    make(fake).deploy(iot_bundle())
    versions_before = len(fake.calls("POST", "/version")) - len(fake.calls("POST", "/validate"))
    p = _changed_insert(iot_bundle().pipelines[0], "0123456789abcdef")  # new state layout
    with pytest.raises(DeployError, match=r"state signature sig-cpu_over_threshold -> 0123456789abcdef.*--allow-non-restored-state"):
        make(fake).deploy(p)
    assert len(fake.calls("POST", "/version")) - len(fake.calls("POST", "/validate")) == versions_before
    assert not fake.calls("POST", "/stop")

    [result] = make(fake).deploy(p, allow_non_restored_state=True)
    assert result.version == 2 and result.savepoint == ""
    assert len(fake.calls("POST", "/stop")) == 1  # the old job still kept its state in a savepoint
    new = fake.app("iot-cpu_over_threshold")["deployments"][-1]
    assert "starting_savepoint" not in new and new["status"] == "RUNNING"


def test_compatible_change_restores_state(fake):
    make(fake).deploy(iot_bundle())
    [result] = make(fake).deploy(_changed_insert(iot_bundle().pipelines[0], None))  # same state layout
    assert result.savepoint and result.notes == []


def test_plan_is_immutable_and_carries_its_secret_names(fake):
    plan = make(fake).plan(pizza_bundle())
    assert [a.name for a in plan] == ["pizza-big_orders", "pizza-counts"] and len(plan) == 2
    assert "SLACK_TOKEN" in plan.secret_names
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.secret_names = ()  # type: ignore[misc]
    assert plan.masker({"SLACK_TOKEN": SLACK_TOKEN})(f"bad token {SLACK_TOKEN}") == "bad token ***"
