"""Root-cause drill-down: offline on leaf data, and in the stream on the real stack.

A pizza stream with an injected drop in one shop x topping must come out of the
pizza_drilldown pipeline with an explanation that names exactly that combination. A real
Squeeze-format case (tests/data/rca_case, from rca-dev) streamed through `fsg_drilldown` must give
exactly what `evaluate-rca` gives for it offline.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from e2e_helpers import with_fast_checkpoints
from stack_fixtures import fresh_topics

from flinksql_gen import api
from flinksql_gen.evaluate.rca_eval import evaluate_corpus, read_snapshot
from flinksql_gen.kafka.client import JsonProducer, consume, iter_records
from flinksql_gen.runtime.runner import run_pipeline
from flinksql_gen.udfs.drilldown import explain_window

ROOT = Path(__file__).resolve().parents[1]
SHOPS = ("luigis", "marios", "peppes")
TOPPINGS = ("mushroom", "olive", "ham")
CONFIG = {"dimensions": ["shop", "topping"], "min_change": 0.1, "max_depth": 2, "top": 3}


def _leaves(drop: dict[tuple[str, str], float]) -> list:
    return [[[s, t], 10.0, drop.get((s, t), 10.0)] for s in SHOPS for t in TOPPINGS]


def test_explain_window_names_the_dropped_combination():
    result = explain_window(CONFIG, _leaves({("luigis", "mushroom"): 1.0}))
    assert result["baseline_total"] == 90.0 and result["current_total"] == 81.0
    assert result["root_cause"] == "shop=luigis&topping=mushroom"


def test_explain_window_names_a_whole_shop_and_stays_quiet_below_min_change():
    drop = {("marios", t): 4.0 for t in TOPPINGS}
    assert explain_window(CONFIG, _leaves(drop))["root_cause"] == "shop=marios"
    quiet = explain_window(CONFIG, _leaves({("luigis", "ham"): 8.0}))
    assert quiet["root_cause"] == "" and quiet["explanation"] == []


T0 = 1_700_000_000_000 - 1_700_000_000_000 % 10_000  # a window boundary
WINDOWS, DROPPED_WINDOW = 6, 4


def drilldown_copy(tmp_path: Path, src: str, out: str) -> Path:
    """pipelines/pizza_drilldown.yaml reading `src` and writing `out`."""
    text = (ROOT / "pipelines" / "pizza_drilldown.yaml").read_text()
    definition = tmp_path / "pizza_drilldown.yaml"
    definition.write_text(text.replace("topic: pizzas\n", f"topic: {src}\n")
                          .replace("topic: pizzas_change_explanations", f"topic: {out}"))  # fmt: skip
    return definition


def produce_drop(bootstrap: str, src: str, per_leaf: int = 10) -> None:
    """Six 10 s windows of every shop x topping; luigis x mushroom drops to one order in window 4.
    A last order far past the last window closes them all."""
    order_id = 0
    with JsonProducer(bootstrap) as producer:
        for w in range(WINDOWS):
            for s in SHOPS:
                for t in TOPPINGS:
                    n = 1 if (w == DROPPED_WINDOW and (s, t) == ("luigis", "mushroom")) else per_leaf
                    for i in range(n):
                        order_id += 1
                        order = {"id": order_id, "shop": s,
                                 "pizzas": [{"pizzaName": "margherita", "additionalToppings": [t]}]}  # fmt: skip
                        producer.send(src, order, key=s, timestamp_ms=T0 + w * 10_000 + 100 + i * 50)
        producer.flush()
        producer.send(src, {"id": 0, "shop": "luigis", "pizzas": []}, key="luigis", timestamp_ms=T0 + 120_000)


def latest_explanations(records) -> list[dict]:
    """The upsert topic's latest value per window, in window order."""
    latest = {}
    for record in records:
        if record.value is not None:
            latest[record.value["window_start"]] = record.value
    return [latest[k] for k in sorted(latest)]


def assert_explains_the_drop(by_window: list[dict]) -> None:
    assert len(by_window) == WINDOWS  # the first window has no baseline, but is still reported
    explained = {i: w["root_cause"] for i, w in enumerate(by_window) if w["root_cause"]}
    # The drop, and the recovery right after it, are both explained by the one leaf that moved.
    assert explained == {DROPPED_WINDOW: "shop=luigis&topping=mushroom",
                         DROPPED_WINDOW + 1: "shop=luigis&topping=mushroom"}  # fmt: skip
    drop = by_window[DROPPED_WINDOW]
    assert drop["baseline_total"] == 90.0 and drop["current_total"] == 81.0


@pytest.mark.slow
def test_stream_explains_an_injected_drop(stack, stack_env_vars, table_env_factory, tmp_path):
    src, out = fresh_topics(stack, "pizzas", "explanations")
    pipeline = with_fast_checkpoints(api.render_pipeline(drilldown_copy(tmp_path, src, out), "local"))
    produce_drop(stack.bootstrap, src)
    run_pipeline(pipeline, stack_env_vars, table_env=table_env_factory(), until_idle=8, workdir=Path(stack.workdir))
    assert_explains_the_drop(latest_explanations(consume(out, idle_s=3, bootstrap=stack.bootstrap)))


RCA_CASE = ROOT / "tests" / "data" / "rca_case" / "B_cuboid_layer_2_n_ele_2"
KEPT_B = {f"b{i}" for i in range(1, 7)}
RCA_PIPELINE = """
pipeline: rca_case_drilldown
sources:
  leaves:
    topic: {src}
    group_id: flinksql-gen.rca_case_drilldown
    columns: {{a: STRING, b: STRING, c: STRING, d: STRING, v: DOUBLE}}
    event_time: {{kafka_timestamp: true, name: leaf_ts, watermark: 1s}}
metrics:
  leaf_totals:
    source: leaves
    dimensions: [a, b, c, d]
    window: {{type: tumble, size: 10s}}
    aggregates: {{total: sum(v)}}
    value: total
detectors:
  why_total_changed:
    type: drilldown
    metric: leaf_totals
    min_change: 0
    max_depth: 3
    top: 10
    sinks: [explanations]
sinks:
  explanations: {{type: upsert-kafka, topic: {out}, key: [window_start, window_end]}}
"""


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 7,200 records through a Python UDAF (43,200 took 13 min at load 40)
def test_stream_gives_what_evaluate_rca_gives_on_a_real_case(stack, stack_env_vars, table_env_factory, tmp_path):
    """One rca-dev snapshot: window 0 carries every leaf's forecast, window 1 its real value, so the
    drill-down's baseline (the leaf one window back) is `predict` and its current value is `real`."""
    case = tmp_path / "setting"
    case.mkdir()
    # The leaves of 6 of its 36 b values (3,600 of 21,600, b2 of the cause a=a6&b=b2 among them):
    # a sixth of the records through the Python UDAF, the same real values on both sides.
    lines = gzip.decompress((RCA_CASE / "1450843800.csv.gz").read_bytes()).decode().splitlines(keepends=True)
    kept = [line for line in lines[1:] if line.split(",")[3] in KEPT_B]
    (case / "1450843800.csv").write_text(lines[0] + "".join(kept))
    (case / "injection_info.csv").write_bytes((RCA_CASE / "injection_info.csv").read_bytes())
    (offline,) = evaluate_corpus(case)["localize"].cases
    assert offline.predicted  # the case has causes to find

    leaves = read_snapshot(case / "1450843800.csv")  # the very floats evaluate-rca localised
    src, out = fresh_topics(stack, "rca_leaves", "rca_explanations")
    definition = tmp_path / "rca_case_drilldown.yaml"
    definition.write_text(RCA_PIPELINE.format(src=src, out=out))
    pipeline = with_fast_checkpoints(api.render_pipeline(definition, "local"))
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % 10_000
    n = len(leaves)
    with JsonProducer(stack.bootstrap) as producer:
        for w, values in enumerate((leaves.baseline, leaves.current)):
            for i in range(n):
                dims = {d: leaves.labels[j][leaves.codes[i, j]] for j, d in enumerate(leaves.dimensions)}
                producer.send(src, {**dims, "v": float(values[i])}, timestamp_ms=t0 + w * 10_000 + 100 + i * 9_000 // n)
        producer.flush()
        producer.send(src, {**dims, "v": 0.0}, timestamp_ms=t0 + 120_000)  # closes both windows
    # Window 0 (no baseline yet) is written early; window 1 updates while its 3,600 leaves go
    # through the UDAF, which on a loaded machine takes minutes. Read until its totals are whole
    # (every leaf counted), then on until nothing new comes for 6 s (a later bundle's update; 2 s checkpoints).
    result = run_pipeline(pipeline, stack_env_vars, table_env=table_env_factory(), wait=False,
                          workdir=Path(stack.workdir))  # fmt: skip
    latest: dict = {}
    whole = (pytest.approx(float(leaves.baseline.sum())), pytest.approx(float(leaves.current.sum())))

    def read(idle_s: float | None, start=None) -> int:
        last = -1
        for record in iter_records(out, bootstrap=stack.bootstrap, idle_s=idle_s, timeout_s=1500, start=start):
            last = record.offset
            if record.value is not None:
                latest[record.value["window_start"]] = record.value
            windows = sorted(latest)
            if idle_s is None and len(windows) >= 2 and (latest[windows[1]]["baseline_total"],
                                                         latest[windows[1]]["current_total"]) == whole:
                break
        return last

    try:
        last = read(None)
        read(6.0, {(out, 0): last + 1})
    finally:
        result.cancel()
    assert len(latest) >= 2, f"windows written: {sorted(latest)}"
    second = latest[sorted(latest)[1]]
    assert second["baseline_total"] == pytest.approx(float(leaves.baseline.sum()))
    assert second["current_total"] == pytest.approx(float(leaves.current.sum()))
    assert second["root_cause"] == offline.predicted
