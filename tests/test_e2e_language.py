"""examples/checkout.yaml and examples/latency.yaml end to end on the real stack, with designed input.

checkout: three regions send 10 paid orders of 10.0 every minute for five minutes, on day 0 and on
day 1. On day 1:
- eu sends nothing after minute 2: `fill: zero` gives minutes 3 and 4 revenue 0, which is a 100 %
  drop against day 0 (two alerts), and `no_data` reports the silence from minute 3;
- us loses 10 % in minute 1 (one of ten orders failed: failed ratio 0.1 > 0.05, an alert) and
  50 % in minute 2 (a drop alert: us has no row in region_limits, so the default 30 % applies);
- apac has a row (max drop 60 %, max failed ratio 15 %): minute 1's ratio 0.1 and minute 2's
  50 % drop raise nothing, minute 3's 70 % drop does.
Every region falls silent after day 0's minute 4 and day 1's last minute: one `no_data` alert
each time. Expected rows come from a small reference of the rules, not from a copy of the output.

latency: three endpoints, eight 10 s windows of 20 requests at one latency each (so the p95 is
that latency): one rises three windows in a row (a trend), one rises twice, falls, rises twice
(near misses), one only falls. Every window of every endpoint also gets an anomaly score.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from e2e_helpers import (
    Event,
    Prepared,
    produce,
    run_and_collect,
    trailer_keys,
    ts_ms,
    values,
    with_fast_checkpoints,
)

from flinksql_gen.api import render_pipeline
from flinksql_gen.kafka.client import create_topics
from flinksql_gen.stack.postgres import connect
from flinksql_gen.stack.thresholds import read_seed

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.slow

MINUTE, DAY = 60_000, 86_400_000
T0 = 1_700_006_400_000  # a whole minute
REGIONS = ("eu", "us", "apac")
# day 1, (region, minute) -> (paid orders, failed orders); everything else: 10 paid, 0 failed
DAY1 = {("eu", 3): (0, 0), ("eu", 4): (0, 0), ("us", 1): (9, 1), ("us", 2): (5, 0),
        ("apac", 1): (9, 1), ("apac", 2): (5, 0), ("apac", 3): (3, 0)}  # fmt: skip
LIMITS = {"apac": (0.6, 0.15)}  # thresholds/region_limits.csv: max revenue drop, max failed ratio
DEFAULT_DROP, DEFAULT_RATIO, FILL_FOR, SILENT_AFTER = 0.3, 0.05, 3, 2


def _prepare(stack, file: str, tmp_dir: Path, partitions: int = 2) -> Prepared:
    """A copy of examples/<file> with fresh topic names, rendered, with its topics created."""
    suffix = uuid.uuid4().hex[:8]
    mapping: dict[str, str] = {}

    def rename(m: re.Match) -> str:
        mapping[m.group(2)] = f"{m.group(2)}_{suffix}"
        return m.group(1) + mapping[m.group(2)]

    copy = tmp_dir / file
    copy.write_text(re.sub(r"^([ \t]*topic:[ \t]*)([A-Za-z0-9_.\-]+)", rename, (EXAMPLES / file).read_text(),
                           flags=re.MULTILINE))  # fmt: skip
    bundle = with_fast_checkpoints(render_pipeline(copy, "local", targets_file=ROOT / "targets.yaml"))
    sources = {t.name: t.topic for t in bundle.tables if t.role == "source" and t.topic}
    sinks = {t.name: t.topic for t in bundle.tables if t.role == "sink" and t.topic}
    create_topics(sorted(set(sources.values())), bootstrap=stack.bootstrap, partitions=partitions)
    create_topics(sorted(set(sinks.values())), bootstrap=stack.bootstrap, partitions=1)
    return Prepared(bundle, mapping, sources, sinks, partitions)


def _load_region_limits(dsn: str) -> None:
    seed, problems = read_seed(ROOT / "thresholds" / "region_limits.csv")
    assert seed is not None, problems
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS region_limits")
            cur.execute((ROOT / "thresholds" / "region_limits.sql").read_text())
            for _, row in seed.rows:
                cur.execute("INSERT INTO region_limits VALUES (%s, %s, %s)", row)
    finally:
        conn.close()
    assert {r: (float(a), float(b)) for _, (r, a, b) in seed.rows} == LIMITS


def _orders(day: int, region: str, minute: int) -> tuple[int, int]:
    """(paid, failed) orders of a region in a minute."""
    if minute >= 5:
        return 0, 0
    return DAY1.get((region, minute), (10, 0)) if day else (10, 0)


def _last_minute(day: int, region: str) -> int:
    return max(m for m in range(5) if sum(_orders(day, region, m)) > 0)


def checkout_orders() -> list[Event]:
    events = []
    for day in (0, 1):
        for minute in range(5):
            for region in REGIONS:
                paid, failed = _orders(day, region, minute)
                start = T0 + day * DAY + minute * MINUTE + 1_000
                for k in range(paid + failed):
                    status = "paid" if k < paid else "failed"
                    value = {"order_id": f"{region}-{day}-{minute}-{k}", "region": region, "amount": 10.0,
                             "status": status, "ts": start + k * 1_000}  # fmt: skip
                    events.append(Event(region, value, start + k * 1_000))
    events.sort(key=lambda e: e.timestamp_ms)
    return events


def revenue_table() -> dict[tuple[str, int], tuple[float, int, int]]:
    """(region, window start) -> (revenue, orders, failed), filled with zeros as `fill: zero` does."""
    table = {}
    for day in (0, 1):
        for region in REGIONS:
            for minute in range(_last_minute(day, region) + FILL_FOR + 1):
                paid, failed = _orders(day, region, minute)
                table[(region, T0 + day * DAY + minute * MINUTE)] = (10.0 * paid, paid + failed, failed)
    return table


def expected_checkout_alerts():
    table = revenue_table()
    drops, ratios = set(), set()
    for (region, start), (revenue, orders, failed) in table.items():
        max_drop, max_ratio = LIMITS.get(region, (DEFAULT_DROP, DEFAULT_RATIO))
        base = table.get((region, start - DAY))
        if base is not None and revenue < base[0] - max_drop * abs(base[0]):
            drops.add((region, start))
        if orders and failed / orders > max_ratio:
            ratios.add((region, start))
    silences = set()
    for day in (0, 1):
        for region in REGIONS:
            begin = T0 + day * DAY + (_last_minute(day, region) + 1) * MINUTE
            silences.add((region, begin, begin + SILENT_AFTER * MINUTE))
    return drops, ratios, silences


def test_the_designed_alerts_are_the_ones_asked_for():
    """The reference holds exactly the alerts the scenario describes."""
    drops, ratios, silences = expected_checkout_alerts()
    d1 = T0 + DAY
    assert drops == {("eu", d1 + 3 * MINUTE), ("eu", d1 + 4 * MINUTE), ("us", d1 + 2 * MINUTE),
                     ("apac", d1 + 3 * MINUTE)}  # fmt: skip
    assert ratios == {("us", d1 + MINUTE)}
    assert ("eu", d1 + 3 * MINUTE, d1 + 5 * MINUTE) in silences and len(silences) == 6


@pytest.fixture(scope="module")
def checkout_run(stack, stack_workdir, stack_env_vars, table_env_factory, tmp_path_factory):
    _load_region_limits(stack.dsn)
    prepared = _prepare(stack, "checkout.yaml", tmp_path_factory.mktemp("e2e_checkout"))
    late = T0 + DAY + 3_600_000
    trailers = [Event(k, {"order_id": f"t{i}", "region": k, "amount": 1.0, "status": "paid", "ts": late + i},
                      late + i) for i, k in enumerate(trailer_keys("zz-trailer-", prepared.partitions))]  # fmt: skip
    produce(stack, prepared.sources["checkouts"], checkout_orders() + trailers)
    drops, ratios, silences = expected_checkout_alerts()
    revenue_rows = len(revenue_table())
    expected = {"revenue_alerts": len(drops), "failed_ratio_alerts": len(ratios), "silence_alerts": len(silences),
                "revenue_per_minute": revenue_rows}  # fmt: skip
    out = run_and_collect(prepared, stack_env_vars, table_env_factory(), stack_workdir, expected)
    return prepared, out


def test_revenue_drops_including_to_zero(checkout_run):
    _, out = checkout_run
    drops, _, _ = expected_checkout_alerts()
    got = [(v["region"], ts_ms(v["window_start"])) for v in values(out.records["revenue_alerts"])]
    assert sorted(got) == sorted(drops)
    by_key = {(v["region"], ts_ms(v["window_start"])): v for v in values(out.records["revenue_alerts"])}
    to_zero = by_key[("eu", T0 + DAY + 3 * MINUTE)]
    assert to_zero["revenue"] == 0 and to_zero["expected"] == 100.0 and to_zero["is_anomaly"] is True


def test_failed_ratio_with_per_region_limits(checkout_run):
    _, out = checkout_run
    _, ratios, _ = expected_checkout_alerts()
    got = [(v["region"], ts_ms(v["window_start"])) for v in values(out.records["failed_ratio_alerts"])]
    assert sorted(got) == sorted(ratios)
    (alert,) = values(out.records["failed_ratio_alerts"])
    assert alert["failed_ratio"] == pytest.approx(0.1) and alert["upper"] == pytest.approx(DEFAULT_RATIO)


def test_silent_regions(checkout_run):
    _, out = checkout_run
    _, _, silences = expected_checkout_alerts()
    got = {(v["region"], ts_ms(v["silent_from"]), ts_ms(v["silent_until"])) for v in values(out.records["silence_alerts"])}
    assert got == silences and len(out.records["silence_alerts"]) == len(silences)


def test_filled_windows_and_derived_values(checkout_run):
    _, out = checkout_run
    table = revenue_table()
    rows = {(v["region"], ts_ms(v["window_start"])): v for v in values(out.records["revenue_per_minute"])
            if not v["region"].startswith("zz-")}  # fmt: skip
    assert set(rows) == set(table)
    for key, (revenue, orders, failed) in table.items():
        row = rows[key]
        assert (row["revenue"], row["orders"], row["failed_orders"]) == (revenue, orders, failed), key
        if orders:
            assert row["failed_ratio"] == pytest.approx(failed / orders)
            assert row["revenue_per_order"] == pytest.approx(revenue / orders)
        else:  # a filled minute: no division by zero, no ratio
            assert row["failed_ratio"] is None and row["revenue_per_order"] is None


# ---------------------------------------------------------------------------- latency

T1 = 1_700_000_000_000  # a whole 10 s
P95 = {  # endpoint -> p95 (every request's latency) per 10 s window
    "/api/orders": [100, 100, 110, 120, 130, 125, 125, 125],  # rises three times from window 1: a trend
    "/api/cart": [100, 110, 120, 115, 120, 130, 120, 110],  # rises twice, twice: near misses
    "/api/search": [200, 190, 180, 170, 160, 150, 140, 130],  # only falls
}


def reference_rises(series: list[int], rises: int = 3) -> list[int]:
    """Start windows of `rises` strict rises in a row (a match skips past its last window)."""
    found, i = [], 0
    while i + rises < len(series):
        if all(series[i + k] < series[i + k + 1] for k in range(rises)):
            found.append(i)
            i += rises + 1
        else:
            i += 1
    return found


def test_latency_trend_and_scores(stack, stack_workdir, stack_env_vars, table_env_factory, tmp_path):
    prepared = _prepare(stack, "latency.yaml", tmp_path)
    events = []
    for endpoint, series in P95.items():
        for w, latency in enumerate(series):
            for k in range(20):
                ts = T1 + w * 10_000 + 200 + k * 400
                status = 500 if k == 0 and w == 5 else 200
                events.append(Event(endpoint, {"endpoint": endpoint, "latency_ms": float(latency), "status": status,
                                               "ts": ts}, ts))  # fmt: skip
    late = T1 + 600_000
    trailers = [Event(k, {"endpoint": k, "latency_ms": 1.0, "status": 200, "ts": late + i}, late + i)
                for i, k in enumerate(trailer_keys("/zz-trailer-", prepared.partitions))]  # fmt: skip
    events.sort(key=lambda e: e.timestamp_ms)
    produce(stack, prepared.sources["requests"], events + trailers)
    trends = {(e, T1 + 10_000 * i) for e, s in P95.items() for i in reference_rises(s)}
    assert trends == {("/api/orders", T1 + 10_000)}
    scored = sum(len(s) for s in P95.values())  # the trailers' own window never closes
    out = run_and_collect(prepared, stack_env_vars, table_env_factory(), stack_workdir,
                          {"latency_trend_alerts": len(trends), "latency_scored": scored})  # fmt: skip
    got = {(v["endpoint"], ts_ms(v["trend_start"])) for v in values(out.records["latency_trend_alerts"])}
    assert got == trends and len(out.records["latency_trend_alerts"]) == 1
    (alert,) = values(out.records["latency_trend_alerts"])
    assert (alert["start_value"], alert["step_1_value"]) == (100.0, 130.0)
    judged = [v for v in values(out.records["latency_scored"]) if not v["endpoint"].startswith("/zz-")]
    assert len(judged) == sum(len(s) for s in P95.values())
    for endpoint, series in P95.items():  # every window judged once, in order, with its p95
        assert [v["value"] for v in judged if v["endpoint"] == endpoint] == [float(x) for x in series]
