"""The real Flink SQL Gateway (flink-sql-gateway from Maven Central, `up --cluster --gateway`) in
front of the local session cluster: pipelines/pizza.yaml submitted through it gives exactly the
expected rows; `jobs`, stop-with-savepoint and resume-from-savepoint go through it too, and the
resumed job writes nothing twice (exactly-once sinks, read_committed reads).
"""

from __future__ import annotations

import time

import pytest
from e2e_helpers import Event, prepare, produce, trailer_keys, ts_ms
from test_e2e_pizza import (
    T0,
    WINDOW_MS,
    WINDOWS,
    expected_busy,
    expected_forbidden_lines,
    orders,
    reference_trends,
    window_counts,
)

from flinksql_gen.deploy.gateway import GatewayDeployTarget
from flinksql_gen.deploy.jobmanager import JobManagerClient
from flinksql_gen.kafka.client import Record, end_offsets, iter_records
from flinksql_gen.stack import stack_env

pytestmark = pytest.mark.slow


def collect(bootstrap: str, sinks: dict[str, str], expected: dict[str, int], timeout_s: float = 300.0
            ) -> dict[str, list[Record]]:
    """Committed records of every sink until each holds its expected number of values."""
    table_of = {topic: table for table, topic in sinks.items()}
    out: dict[str, list[Record]] = {table: [] for table in sinks}
    for r in iter_records(list(table_of), bootstrap=bootstrap, idle_s=180.0, timeout_s=timeout_s):
        out[table_of[r.topic]].append(r)
        if all(sum(x.value is not None for x in out[t]) >= n for t, n in expected.items()):
            break
    return out


def settle(url: str, job_id: str, checkpoints: int = 2, timeout: float = 120.0) -> None:
    """Until `checkpoints` more checkpoints completed (then every earlier write is committed)."""
    with JobManagerClient(url) as jm:
        def completed() -> int:
            return (jm.checkpoints(job_id).get("counts") or {}).get("completed", 0)

        target, deadline = completed() + checkpoints, time.monotonic() + timeout
        while completed() < target:
            assert time.monotonic() < deadline, f"job {job_id}: no {checkpoints} checkpoints in {timeout:.0f}s"
            time.sleep(0.5)


def test_pizza_through_the_real_gateway_exactly_then_stop_and_resume(gateway, stack_workdir, tmp_path,
                                                                     monkeypatch):
    for key, value in stack_env(gateway).items():  # the gateway target resolves ${env:...} from here
        monkeypatch.setenv(key, value)
    prepared = prepare(gateway, "pizza.yaml", tmp_path)
    data = orders()
    last = T0 + WINDOWS * WINDOW_MS + 30_000
    trailers = [Event(k, {"id": 9000 + i, "shop": k, "name": "Late Order", "phoneNumber": "-", "address": "-",
                          "pizzas": [{"pizzaName": "Marinara", "additionalToppings": []}]}, last + i)
                for i, k in enumerate(trailer_keys("trailing shop ", prepared.partitions))]
    produce(gateway, prepared.sources["pizza_orders"], data + trailers)
    target = GatewayDeployTarget(gateway.gateway_url)
    submitted = target.submit(prepared.bundle)
    assert submitted.job_id

    expected = {"forbidden_topping_lines": len(expected_forbidden_lines(data)),
                "busy_toppings_5s": len(expected_busy(data)),
                "topping_trend_alerts": len(reference_trends(window_counts(data)))}
    sinks = {t: prepared.sinks[t] for t in expected}
    out = collect(gateway.bootstrap, sinks, expected)
    lines = sorted((ts_ms(r.value["orderTimestamp"]), r.value["id"], r.value["shop"], r.value["name"],
                    r.value["pizzaName"], r.value["topping"]) for r in out["forbidden_topping_lines"])
    assert lines == expected_forbidden_lines(data)
    busy = {(r.value["topping"], ts_ms(r.value["window_start"])): r.value["topping_count"]
            for r in out["busy_toppings_5s"] if r.value is not None}
    assert busy == expected_busy(data)
    trends = {(v["topping"], ts_ms(v["trend_start"]), ts_ms(v["trend_end"]), v["start_value"], v["step_1_value"],
               v["step_2_value"]) for v in (r.value for r in out["topping_trend_alerts"])}
    assert trends == reference_trends(window_counts(data))

    jobs = [j for j in target.jobs() if j.name == "pizza" and j.state == "RUNNING"]
    assert [j.job_id for j in jobs] == [submitted.job_id]
    settle(gateway.rest_url, submitted.job_id)
    before = end_offsets(sinks.values(), bootstrap=gateway.bootstrap)
    savepoint = target.stop("pizza", (stack_workdir / "savepoints").as_uri())
    assert "savepoint-" in savepoint
    resumed = target.submit(prepared.bundle, savepoint=savepoint)
    try:
        assert resumed.job_id and resumed.job_id != submitted.job_id and resumed.restored_from == savepoint
        with JobManagerClient(gateway.rest_url) as jm:
            assert jm.wait_for(resumed.job_id, {"RUNNING"}, 120) == "RUNNING"
        settle(gateway.rest_url, resumed.job_id)
        # restored state: nothing is emitted again (only transaction markers may follow)
        again = {t: [r for r in iter_records(topic, bootstrap=gateway.bootstrap, idle_s=None, to_end=True,
                                             start={(topic, 0): before[(topic, 0)]})]
                 for t, topic in sinks.items()}
        assert again == {t: [] for t in sinks}
    finally:
        target.cancel("pizza")
