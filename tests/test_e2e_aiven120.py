"""Row parity on Aiven's Flink: the Aiven application bodies of pipelines/cpu.yaml and
pipelines/pizza.yaml run on a Flink 1.20 mini-cluster against the local broker and PostgreSQL,
with the designed input of test_e2e_cpu / test_e2e_pizza, and must give exactly the rows those
2.0 runs are held to (the same assertions are called on the 1.20 outputs).

Each INSERT runs as its own job, as each is its own application on Aiven. The Slack sink (an
Aiven-only connector) is left out; its rows are the cpu_threshold_alerts rows, compared here.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import test_e2e_cpu as cpu
import test_e2e_pizza as pizza
from aiven120_helpers import prepare_aiven, run_aiven_and_collect
from e2e_helpers import ROOT, Event, produce, trailer_keys

from flinksql_gen.stack import up

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cpu_120(stack, stack_workdir, stack_env_vars, flink120, tmp_path_factory):
    state = up(stack_workdir, thresholds_dir=ROOT / "thresholds")
    prepared = prepare_aiven(state, stack_env_vars, "cpu.yaml", tmp_path_factory.mktemp("aiven120_cpu"))
    data = cpu.readings()
    last = cpu.T0 + cpu.WINDOWS * cpu.WINDOW_MS + 60_000
    trailers = [Event(k, {"hostname": k, "cpu": "cpu1", "usage": 1.0, "occurred_at": last}, last)
                for k in trailer_keys("trailer-", prepared.partitions)]
    produce(state, prepared.sources["cpu_load"], data + trailers)
    expected = {"cpu_high_alerts": len(cpu.expected_high(data)), "cpu_agg_stats": len(cpu.expected_windows()),
                "cpu_threshold_alerts": len(cpu.expected_alerts(cpu.csv_thresholds())),
                "cpu_load_dead_letter": 0}
    out = run_aiven_and_collect(prepared, flink120, state.bootstrap, expected)
    return state, data, SimpleNamespace(records=out.records, complete=out.complete, seconds=out.seconds,
                                        apps=[a.plan.name for a in prepared.apps])


def test_cpu_runs_as_five_applications_four_with_kafka_sinks(cpu_120):
    _, _, out = cpu_120
    assert len(out.apps) == 5 and "cpu-cpu_over_host_threshold__slack_alerts" in out.apps
    assert out.complete, f"sinks stopped short of the expected rows after {out.seconds:.0f} s"
    assert out.records["cpu_load_dead_letter"] == []  # designed input is all valid


def test_cpu_threshold_filter_on_1_20(cpu_120):
    cpu.test_threshold_filter_emits_exactly_the_readings_over_80(cpu_120)


def test_cpu_30s_windows_on_1_20(cpu_120):
    cpu.test_30s_windows_have_the_exact_average_and_max(cpu_120)


def test_cpu_lookup_join_on_1_20(cpu_120):
    cpu.test_lookup_join_alerts_exactly_the_windows_over_the_hosts_threshold(cpu_120)


@pytest.fixture(scope="module")
def pizza_120(stack, stack_env_vars, flink120, tmp_path_factory):
    prepared = prepare_aiven(stack, stack_env_vars, "pizza.yaml", tmp_path_factory.mktemp("aiven120_pizza"))
    data = pizza.orders()
    last = pizza.T0 + pizza.WINDOWS * pizza.WINDOW_MS + 30_000
    trailers = [Event(k, {"id": 9000 + i, "shop": k, "name": "Late Order", "phoneNumber": "-", "address": "-",
                          "pizzas": [{"pizzaName": "Marinara", "additionalToppings": []}]}, last + i)
                for i, k in enumerate(trailer_keys("trailing shop ", prepared.partitions))]
    produce(stack, prepared.sources["pizza_orders"], data + trailers)
    heavy = pizza.expected_heavy(data)
    expected = {"forbidden_topping_lines": len(pizza.expected_forbidden_lines(data)),
                "busy_toppings_5s": len(pizza.expected_busy(data)),
                "topping_trend_alerts": len(pizza.reference_trends(pizza.window_counts(data))),
                "orders_with_forbidden_toppings": lambda records: pizza.latest_orders(records) == heavy}
    out = run_aiven_and_collect(prepared, flink120, stack.bootstrap, expected)
    assert out.complete, f"sinks stopped short of the expected rows after {out.seconds:.0f} s"
    return data, SimpleNamespace(records=out.records)


def test_pizza_forbidden_topping_lines_on_1_20(pizza_120):
    pizza.test_forbidden_topping_lines_exactly(pizza_120)


def test_pizza_orders_with_forbidden_toppings_on_1_20(pizza_120):
    pizza.test_orders_with_more_than_3_forbidden_toppings_latest_per_id(pizza_120)


def test_pizza_busy_toppings_on_1_20(pizza_120):
    pizza.test_busy_toppings_per_5s_window_exactly(pizza_120)


def test_pizza_match_recognize_trends_on_1_20(pizza_120):
    pizza.test_trends_are_exactly_the_injected_ones(pizza_120)
