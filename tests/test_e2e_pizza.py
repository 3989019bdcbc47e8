"""pipelines/pizza.yaml end to end: forbidden-topping lines, orders with more than 3 forbidden
toppings (upsert-kafka by id), busy toppings per 5 s window (upsert-kafka by topping + window)
and MATCH_RECOGNIZE rising-then-two-falls trends over the per-topping window counts.

Orders are built from a designed count per (topping, 5 s window): window w gets max_t count(t, w)
orders and order k carries topping t when k < count(t, w) (split over one or two pizzas), so
every window count is exact. The series hold injected trends (`TRENDS`) and near misses (a single
fall, falls only, a zigzag, a rise that stays flat); windows of exactly 10 and 11 test HAVING's
edge. A few extra orders carry 3 to 6 forbidden toppings, across pizzas and repeated. The order
time is the Kafka record timestamp; one trailing order per partition, 30 s after the last window,
closes every window.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest
from e2e_helpers import Event, prepare, produce, run_and_collect, trailer_keys, ts_ms, values

from flinksql_gen.produce.pizza import DEFAULT_SHOPS, FORBIDDEN_TOPPINGS

slow = pytest.mark.slow  # the tests that run the pipeline; the design checks are quick

T0 = 1_700_000_010_000  # a multiple of 5 s
WINDOW_MS = 5_000
SERIES = {  # topping -> orders carrying it in window 0, 1, 2, ...
    "mushrooms": [2, 2, 3, 5, 4, 3, 3, 3, 3, 3, 3, 3],  # trend w1..w5 (two rises, two falls)
    "olives": [4, 4, 4, 6, 5, 4, 4, 4, 7, 6, 5, 5],  # trends w2..w5 and w7..w10
    "ham": [3, 4, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4],  # rises, one fall: none
    "tuna": [6, 5, 4, 3, 2, 1, 1, 1, 1, 1, 1, 1],  # falls only: none
    "basil": [2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3],  # zigzag: none
    "onion": [11, 10, 12, 9, 9, 9, 9, 9, 9, 9, 9, 9],  # busy in w0 and w2 (w1 has exactly 10)
    "salami": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11],  # rises to busy, never falls: none
    "pineapple": [1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0],
    "banana": [0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
}
WINDOWS = len(SERIES["mushrooms"])
# (topping, first window of the trend, window of the peak, window of the second fall)
TRENDS = {("mushrooms", 1, 3, 5), ("olives", 2, 3, 5), ("olives", 7, 8, 10)}
# extra orders: (window, pizzas) with 3 to 6 forbidden toppings
HEAVY = [
    (4, [["pineapple", "banana"], ["strawberry", "pineapple"]]),  # 4: reported
    (6, [["pineapple"], ["banana", "strawberry", "garlic"]]),  # exactly 3: not reported
    (6, [["strawberry", "garlic"], ["banana"], ["pineapple", "strawberry", "strawberry"]]),  # 5
    (9, [["banana", "banana", "banana", "pineapple", "strawberry", "pineapple"]]),  # 6, one pizza
]
FIRST = ("Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis")
LAST = ("Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov")


def orders() -> list[Event]:
    """Every order in time order (so each partition is in time order too)."""
    planned: list[tuple[int, list[list[str]]]] = []
    for w in range(WINDOWS):
        count = max(SERIES[t][w] for t in SERIES)
        for k in range(count):
            toppings = [t for t in SERIES if k < SERIES[t][w]]
            half = (len(toppings) + 1) // 2 if len(toppings) > 2 else len(toppings)
            pizzas = [toppings[:half]] + ([toppings[half:]] if toppings[half:] else [])
            planned.append((T0 + w * WINDOW_MS + 200 + k * 350, pizzas))
    for j, (w, pizzas) in enumerate(HEAVY):
        planned.append((T0 + w * WINDOW_MS + 4700 + j * 50, pizzas))
    planned.sort(key=lambda p: p[0])
    out = []
    for n, (ts, pizzas) in enumerate(planned):
        shop = DEFAULT_SHOPS[n % len(DEFAULT_SHOPS)]
        names = ("Margherita", "Diavola", "Napoli")
        value = {"id": 1000 + n, "shop": shop, "name": f"{FIRST[n % 6]} {LAST[n % 7]}",
                 "phoneNumber": f"(555) 300-{n:04d}", "address": f"{n + 1} Via Roma, Springfield",
                 "pizzas": [{"pizzaName": names[(n + i) % 3], "additionalToppings": p} for i, p in enumerate(pizzas)]}
        out.append(Event(shop, value, ts))
    return out


def lines(data: list[Event]):
    """(ts, id, shop, name, pizzaName, topping) per topping of every pizza, in UNNEST order."""
    for e in data:
        o = e.value
        for p in o["pizzas"]:
            for t in p["additionalToppings"]:
                yield e.timestamp_ms, o["id"], o["shop"], o["name"], p["pizzaName"], t


def window_counts(data: list[Event]) -> dict[tuple[str, int], int]:
    """(topping, window_start) -> lines, as the 5 s tumbling count sees them."""
    return Counter((ln[5], ln[0] - ln[0] % WINDOW_MS) for ln in lines(data))


def reference_trends(counts: dict[tuple[str, int], int]) -> set[tuple]:
    """The trend pattern (START_ROW STEP_1_UP{1,} STEP_2_DOWN{2}, strict moves, AFTER MATCH SKIP
    PAST LAST ROW) over each topping's non-empty windows in time order:
    (topping, trend_start, trend_end, start_value, peak, last value)."""
    series: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for (topping, start), n in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        series[topping].append((start, n))
    found = set()
    for topping, s in series.items():
        i = 0
        while i < len(s) - 3:
            j = i + 1
            if s[j][1] <= s[i][1]:
                i += 1
                continue
            while j + 1 < len(s) and s[j + 1][1] > s[j][1]:
                j += 1
            if j + 2 < len(s) and s[j][1] > s[j + 1][1] > s[j + 2][1]:
                found.add((topping, s[i][0], s[j + 2][0] + WINDOW_MS, s[i][1], s[j][1], s[j + 2][1]))
                i = j + 3
            else:
                i += 1
    return found


@pytest.fixture(scope="module")
def pizza_run(stack, stack_workdir, stack_env_vars, table_env_factory, tmp_path_factory):
    prepared = prepare(stack, "pizza.yaml", tmp_path_factory.mktemp("e2e_pizza"))
    data = orders()
    last = T0 + WINDOWS * WINDOW_MS + 30_000
    trailers = [Event(k, {"id": 9000 + i, "shop": k, "name": "Late Order", "phoneNumber": "-", "address": "-",
                          "pizzas": [{"pizzaName": "Marinara", "additionalToppings": []}]}, last + i)
                for i, k in enumerate(trailer_keys("trailing shop ", prepared.partitions))]
    produce(stack, prepared.sources["pizza_orders"], data + trailers)
    expected = {"forbidden_topping_lines": len(expected_forbidden_lines(data)),
                "busy_toppings_5s": len(expected_busy(data)),
                "topping_trend_alerts": len(reference_trends(window_counts(data)))}
    # how many updates (and tombstones: an UPDATE_BEFORE passing HAVING becomes one in upsert-kafka)
    # depends on Flink's changelog: read until every order's latest value is the final one
    heavy = expected_heavy(data)
    expected["orders_with_forbidden_toppings"] = lambda records: latest_orders(records) == heavy
    out = run_and_collect(prepared, stack_env_vars, table_env_factory(), stack_workdir, expected)
    return data, out


def expected_forbidden_lines(data: list[Event]) -> list[tuple]:
    return sorted(ln for ln in lines(data) if ln[5] in FORBIDDEN_TOPPINGS)


def expected_heavy(data: list[Event]) -> dict[int, tuple[int, str]]:
    """order id -> (forbidden count, forbidden toppings in line order) for counts over 3."""
    per_order: dict[int, list[str]] = defaultdict(list)
    for ln in lines(data):
        if ln[5] in FORBIDDEN_TOPPINGS:
            per_order[ln[1]].append(ln[5])
    return {oid: (len(ts), ",".join(ts)) for oid, ts in per_order.items() if len(ts) > 3}


def latest_orders(records) -> dict[int, tuple[int, str]]:
    """order id -> (forbidden_count, forbidden_toppings) of its latest value (a tombstone deletes)."""
    latest: dict[int, tuple[int, str]] = {}
    for r in records:
        key = json.loads(r.key)["id"]
        if r.value is None:
            latest.pop(key, None)
        else:
            latest[key] = (r.value["forbidden_count"], r.value["forbidden_toppings"])
    return latest


def expected_busy(data: list[Event]) -> dict[tuple[str, int], int]:
    return {k: n for k, n in window_counts(data).items() if n > 10}


def test_the_design_holds_the_injected_cases():
    data = orders()
    counts = window_counts(data)
    for topping, series in SERIES.items():
        extra = [counts.get((topping, T0 + w * WINDOW_MS), 0) - n for w, n in enumerate(series)]
        assert topping in FORBIDDEN_TOPPINGS or not any(extra), topping  # heavy orders only add forbidden ones
    want = {(t, T0 + a * WINDOW_MS, T0 + (c + 1) * WINDOW_MS, SERIES[t][a], SERIES[t][b], SERIES[t][c])
            for t, a, b, c in TRENDS}
    assert reference_trends(counts) == want  # exactly the injected trends, none elsewhere
    busy = expected_busy(data)
    assert {("onion", T0), ("onion", T0 + 2 * WINDOW_MS), ("salami", T0 + 10 * WINDOW_MS)} <= set(busy)
    assert counts[("onion", T0 + WINDOW_MS)] == 10 and ("onion", T0 + WINDOW_MS) not in busy
    assert sorted(n for n, _ in expected_heavy(data).values()) == [4, 5, 6]


@slow
def test_forbidden_topping_lines_exactly(pizza_run):
    data, out = pizza_run
    got = sorted((ts_ms(v["orderTimestamp"]), v["id"], v["shop"], v["name"], v["pizzaName"], v["topping"])
                 for v in values(out.records["forbidden_topping_lines"]))
    assert got == expected_forbidden_lines(data)


@slow
def test_orders_with_more_than_3_forbidden_toppings_latest_per_id(pizza_run):
    data, out = pizza_run
    records = out.records["orders_with_forbidden_toppings"]
    assert latest_orders(records) == expected_heavy(data)
    seen: dict[int, list[int]] = defaultdict(list)
    for r in records:  # tombstones: the UPDATE_BEFORE of an update that passed HAVING
        if r.value is not None:
            assert json.loads(r.key) == {"id": r.value["id"]}
            seen[r.value["id"]].append(r.value["forbidden_count"])
    for oid, counts in seen.items():  # updates only grow, and never show 3 or fewer
        assert counts == sorted(counts) and min(counts) > 3, (oid, counts)


@slow
def test_busy_toppings_per_5s_window_exactly(pizza_run):
    data, out = pizza_run
    got: dict[tuple[str, int], int] = {}
    for r in out.records["busy_toppings_5s"]:
        key = json.loads(r.key)
        v = r.value
        assert (key["topping"], ts_ms(key["window_start"]), ts_ms(key["window_end"])) == (
            v["topping"], ts_ms(v["window_start"]), ts_ms(v["window_end"]))
        assert ts_ms(v["window_end"]) - ts_ms(v["window_start"]) == WINDOW_MS
        k = (v["topping"], ts_ms(v["window_start"]))
        assert k not in got, f"window emitted twice: {k}"
        got[k] = v["topping_count"]
    assert got == expected_busy(data)


@slow
def test_trends_are_exactly_the_injected_ones(pizza_run):
    data, out = pizza_run
    got = [(v["topping"], ts_ms(v["trend_start"]), ts_ms(v["trend_end"]), v["start_value"], v["step_1_value"],
            v["step_2_value"]) for v in values(out.records["topping_trend_alerts"])]
    assert len(got) == len(set(got)), "a trend was reported twice"
    assert set(got) == reference_trends(window_counts(data))
