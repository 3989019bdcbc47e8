"""The examples with Python UDFs on the real Flink parts, with nothing registered behind their back:
the bundle's own CREATE TEMPORARY SYSTEM FUNCTION statements are all the cluster gets.

- pipelines/cpu_anomalies.yaml (fsg_detect) and pipelines/pizza_drilldown.yaml (fsg_drilldown) are
  submitted together through the real SQL Gateway, then pipelines/cpu.yaml (lookup join): each
  gives exactly the rows the local runs give (the same designed input and expectations as
  test_e2e_cpu_anomalies, test_drilldown_stream and test_e2e_cpu).
- `--script` on this gateway (a standalone session cluster) is refused with what to configure.
- A rendered script runs as is under Flink's own SQL client (`-f`, embedded mode) against the
  session cluster.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from e2e_helpers import Event, prepare, produce, trailer_keys, ts_ms, values
from stack_fixtures import fresh_topics
from test_drilldown_stream import assert_explains_the_drop, drilldown_copy, latest_explanations, produce_drop
from test_e2e_cpu import csv_thresholds, expected_alerts, expected_high, expected_windows
from test_e2e_cpu import readings as cpu_readings
from test_e2e_cpu_anomalies import (
    BASE,
    STEP_MS,
    T0,
    TICKS,
    assert_same_windows,
    assert_scores_like_offline,
    offline_window_anomalies,
    readings,
    window_rows,
)
from test_gateway_stack import collect

from flinksql_gen import api
from flinksql_gen.deploy.base import DeployError
from flinksql_gen.deploy.gateway import GatewayDeployTarget
from flinksql_gen.deploy.jobmanager import JobManagerClient
from flinksql_gen.kafka.client import iter_records
from flinksql_gen.runtime.jars import ensure_jars, pyflink_home
from flinksql_gen.runtime.java import find_java, java_env
from flinksql_gen.stack import stack_env, up
from flinksql_gen.stack.sql_gateway import flink_version, gateway_jar

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def gateway_env(gateway, monkeypatch):
    """The gateway target resolves ${env:...} from the process environment."""
    for key, value in {**stack_env(gateway), "SLACK_TOKEN": "xoxb-e2e-not-a-real-token"}.items():
        monkeypatch.setenv(key, value)
    return gateway


def cancel_all(rest_url: str, job_ids: list[str]) -> None:
    with JobManagerClient(rest_url) as jm:
        for job_id in job_ids:
            jm.cancel(job_id)


def wait_for_explanations(bootstrap: str, topic: str) -> list[dict]:
    """The drill-down's latest explanation per window, once all six windows are in (committed)."""
    records: list = []
    for record in iter_records(topic, bootstrap=bootstrap, idle_s=120.0, timeout_s=300.0):
        records.append(record)
        by_window = latest_explanations(records)
        if len(by_window) == 6 and by_window[5]["root_cause"]:
            break
    return latest_explanations(records)


def test_udf_pipelines_through_the_real_gateway_register_their_own_functions(gateway_env, tmp_path):
    gateway = gateway_env
    anomalies = prepare(gateway, "cpu_anomalies.yaml", tmp_path / "anomalies")
    assert [s.name for s in anomalies.bundle.statements if s.kind == "create_function"] == ["fsg_detect"]
    data = readings()
    last = T0 + TICKS * STEP_MS + 60_000
    trailers = [Event(k, {"hostname": k, "cpu": "cpu1", "usage": 50.0, "occurred_at": last}, last)
                for k in trailer_keys("trailer-", anomalies.partitions)]
    everything = data + trailers
    produce(gateway, anomalies.sources["cpu_load"], everything)

    src, out = fresh_topics(gateway, "pizzas", "explanations")
    drilldown = api.render_pipeline(drilldown_copy(tmp_path, src, out), "local")
    assert [s.name for s in drilldown.statements if s.kind == "create_function"] == ["fsg_drilldown"]
    produce_drop(gateway.bootstrap, src)

    target = GatewayDeployTarget(gateway.gateway_url)
    jobs = [target.submit(anomalies.bundle).job_id, target.submit(drilldown).job_id]
    assert all(jobs)
    try:
        expected = {"usage_band_alerts": len(offline_window_anomalies("usage_out_of_band", data)),
                    "usage_jump_alerts": len(offline_window_anomalies("usage_jump", data)),
                    "cpu_scored": len(everything)}
        got = collect(gateway.bootstrap, {t: anomalies.sinks[t] for t in expected}, expected)
        assert_same_windows({k: v for k, v in window_rows(got["usage_band_alerts"]).items() if k[0] in BASE},
                            offline_window_anomalies("usage_out_of_band", data), rel=1e-6)
        assert_same_windows({k: v for k, v in window_rows(got["usage_jump_alerts"]).items() if k[0] in BASE},
                            offline_window_anomalies("usage_jump", data), rel=1e-9)
        assert_scores_like_offline(got["cpu_scored"], everything)

        assert_explains_the_drop(wait_for_explanations(gateway.bootstrap, out))
    finally:
        cancel_all(gateway.rest_url, jobs)


def test_cpu_through_the_real_gateway_with_its_lookup_join(gateway_env, stack_workdir, tmp_path):
    state = up(stack_workdir, cluster=True, gateway=True, thresholds_dir=ROOT / "thresholds")  # idempotent
    prepared = prepare(state, "cpu.yaml", tmp_path)
    data = cpu_readings()
    last = max(e.timestamp_ms for e in data) + 120_000
    trailers = [Event(k, {"hostname": k, "cpu": "cpu1", "usage": 1.0, "occurred_at": last}, last)
                for k in trailer_keys("trailer-", prepared.partitions)]
    produce(state, prepared.sources["cpu_load"], data + trailers)
    job = GatewayDeployTarget(state.gateway_url).submit(prepared.bundle).job_id
    assert job
    try:
        tops = csv_thresholds()
        expected = {"cpu_high_alerts": len(expected_high(data)), "cpu_agg_stats": len(expected_windows()),
                    "cpu_threshold_alerts": len(expected_alerts(tops))}
        got = collect(state.bootstrap, {t: prepared.sinks[t] for t in expected}, expected)
    finally:
        cancel_all(state.rest_url, [job])
    high = sorted((ts_ms(v["occurred_ts"]), v["hostname"], v["cpu"], v["usage"])
                  for v in values(got["cpu_high_alerts"]))
    assert high == expected_high(data)
    windows = {(ts_ms(v["window_start"]), v["hostname"], v["cpu"]): (v["usage_avg"], v["usage_max"])
               for v in values(got["cpu_agg_stats"])}
    assert windows == expected_windows() and len(values(got["cpu_agg_stats"])) == len(windows)
    alerts = {(ts_ms(v["window_start"]), v["hostname"], v["cpu"]): (v["usage_avg"], v["allowed_top"])
              for v in values(got["cpu_threshold_alerts"])}
    assert alerts == expected_alerts(tops) and len(values(got["cpu_threshold_alerts"])) == len(alerts)


def test_script_deployment_is_refused_by_name_on_a_session_cluster(gateway_env, tmp_path):
    prepared = prepare(gateway_env, "cpu_anomalies.yaml", tmp_path)
    with pytest.raises(DeployError) as err:
        GatewayDeployTarget(gateway_env.gateway_url, script=True).submit(prepared.bundle)
    assert "execution.target is 'remote'" in str(err.value) and "Submit without --script" in str(err.value)


def test_a_rendered_script_runs_under_the_flink_sql_client(gateway, stack_workdir, tmp_path):
    """The script as rendered (a target with literal connection values: no ${env:...} left), with
    `sql-client -f` in embedded mode, against the session cluster's configuration."""
    src, out = fresh_topics(gateway, "pizzas", "explanations")
    targets = tmp_path / "targets.yaml"
    targets.write_text(f'targets:\n  local:\n    type: local\n    kafka:\n      bootstrap_servers: "{gateway.bootstrap}"\n')
    bundle = api.render(drilldown_copy(tmp_path, src, out), "local", targets_file=targets)
    bundle.write(tmp_path / "bundle")
    script = tmp_path / "bundle" / "pizza_drilldown.sql"
    assert "${env:" not in script.read_text() and "LANGUAGE PYTHON" in script.read_text()
    produce_drop(gateway.bootstrap, src)

    cluster = gateway.cluster
    client_jar = pyflink_home() / "opt" / f"flink-sql-client-{flink_version()}.jar"
    classpath = [*sorted((Path(cluster.root) / "lib").glob("*.jar")), *ensure_jars(Path(stack_workdir)),
                 gateway_jar(download=False), client_jar]
    conf = Path(cluster.root) / "gateway-conf"  # the cluster's config + execution.target remote + pipeline.jars
    done = subprocess.run([str(find_java().binary), "-Xmx512m", "-cp", ":".join(map(str, classpath)),
                           "org.apache.flink.table.client.SqlClient", "-f", str(script)],
                          env={**os.environ, **java_env(), "FLINK_CONF_DIR": str(conf)},
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Job ID" in done.stdout, done.stdout[-3000:]
    with JobManagerClient(gateway.rest_url) as jm:
        jobs = [j for j in jm.jobs() if j.name == "pizza_drilldown" and j.active]
    assert len(jobs) == 1
    try:
        assert_explains_the_drop(wait_for_explanations(gateway.bootstrap, out))
    finally:
        cancel_all(gateway.rest_url, [j.job_id for j in jobs])
