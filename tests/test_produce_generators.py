"""Generators: deterministic, anomalies where the labels say, nothing forbidden outside bursts."""

from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner

from flinksql_gen.cli import main
from flinksql_gen.errors import UsageError
from flinksql_gen.produce import FORBIDDEN_TOPPINGS, IotGenerator, PizzaGenerator, parse_anomalies
from flinksql_gen.produce.iot import AUTO as IOT_AUTO

START = 1_700_000_000_000


def take(gen, n):
    return list(itertools.islice(gen.events(), n))


def forbidden(order: dict) -> bool:
    return any(t in FORBIDDEN_TOPPINGS for p in order["pizzas"] for t in p["additionalToppings"])


def test_iot_is_deterministic_and_keyed_by_host():
    a = take(IotGenerator(seed=7, start_ms=START), 500)
    b = take(IotGenerator(seed=7, start_ms=START), 500)
    c = take(IotGenerator(seed=8, start_ms=START), 500)
    assert a == b
    assert a != c
    first = a[0]
    assert set(first.value) == {"hostname", "cpu", "usage", "occurred_at"}
    assert first.key == first.value["hostname"]
    assert first.timestamp_ms == first.value["occurred_at"] == START
    assert all(0 <= e.value["usage"] <= 100 for e in a)


def test_iot_anomalies_change_only_their_window_and_are_labelled():
    specs = parse_anomalies("spike:host=dopey,at=10,len=3,size=50;level_shift:host=doc,at=20,delta=30")
    plain = take(IotGenerator(seed=3, start_ms=START), 7 * 2 * 40)
    gen = IotGenerator(seed=3, start_ms=START, anomalies=specs)
    spiked = take(gen, 7 * 2 * 40)
    labels = gen.labels()["anomalies"]
    assert [(x["kind"], x["entity"]) for x in labels] == [("spike", "dopey"), ("level_shift", "doc")]
    spike, shift = labels
    assert (spike["start_ms"], spike["end_ms"], spike["events"]) == (START + 10_000, START + 13_000, 6)
    assert (shift["start_ms"], shift["end_ms"], shift["events"]) == (START + 20_000, START + 40_000, 40)
    for p, s in zip(plain, spiked, strict=True):
        t, host = p.value["occurred_at"], p.value["hostname"]
        in_spike = host == "dopey" and spike["start_ms"] <= t < spike["end_ms"]
        in_shift = host == "doc" and shift["start_ms"] <= t < shift["end_ms"]
        if in_spike or in_shift:
            assert s.value["usage"] >= p.value["usage"]
            assert s.value["usage"] > p.value["usage"] or s.value["usage"] == 100
        else:
            assert s.value == p.value  # the baseline does not move


def test_anomaly_spec_units_percentages_files_and_errors(tmp_path):
    (a,) = parse_anomalies("trend:at=90s,len=2m,slope=0.3", tick_ms=1000)
    assert (a.kind, a.at, a.length, a.magnitude) == ("trend", 90, 120, 0.3)
    auto = parse_anomalies("auto", auto=IOT_AUTO, total_ticks=200)
    assert [x.at for x in auto] == [40, 100, 140]
    spec = tmp_path / "a.json"
    spec.write_text(json.dumps([{"kind": "spike", "host": "doc", "at": 5}]))
    (b,) = parse_anomalies(str(spec))
    assert (b.entity, b.at, b.length) == ("doc", 5, 10)
    for bad in ("wobble:at=1", "spike:at=soon", "spike:at", "spike:at=10%"):
        with pytest.raises(UsageError):
            parse_anomalies(bad)
    with pytest.raises(UsageError, match="unknown host"):
        IotGenerator(anomalies=parse_anomalies("spike:host=nobody"))


def test_pizza_orders_shape_and_forbidden_bursts():
    specs = parse_anomalies("forbidden_burst:shop=Mamma Mia,at=20,len=15,fraction=1;spike:shop=Pizzafy,at=40,len=5,size=4")
    gen = PizzaGenerator(seed=5, start_ms=START, anomalies=specs)
    orders = take(gen, 400)
    again = take(PizzaGenerator(seed=5, start_ms=START, anomalies=specs), 400)
    assert orders == again
    first = orders[0].value
    assert set(first) == {"id", "shop", "name", "phoneNumber", "address", "pizzas"}
    assert set(first["pizzas"][0]) == {"pizzaName", "additionalToppings"}
    assert [e.value["id"] for e in orders] == list(range(400))
    assert all(e.key == e.value["shop"] for e in orders)
    assert [e.timestamp_ms for e in orders] == sorted(e.timestamp_ms for e in orders)
    burst, spike = gen.labels()["anomalies"]
    assert burst["kind"] == "forbidden_burst" and burst["entity"] == "Mamma Mia"
    bad = [e for e in orders if forbidden(e.value)]
    assert len(bad) == burst["events"] > 0
    assert all(e.key == "Mamma Mia" and burst["start_ms"] <= e.timestamp_ms < burst["end_ms"] for e in bad)
    in_spike = [e for e in orders if e.key == "Pizzafy" and spike["start_ms"] <= e.timestamp_ms < spike["end_ms"]]
    assert spike["events"] > 0 and len(in_spike) >= spike["events"]


def test_cli_produce_to_jsonl_writes_events_and_labels(tmp_path):
    out = tmp_path / "iot.jsonl"
    result = CliRunner().invoke(main, ["produce", "iot", "--jsonl", str(out), "-n", "140", "--seed", "2",
                                       "--start", str(START), "--anomalies", "auto", "-q"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 140
    assert lines[0]["key"] == lines[0]["value"]["hostname"]
    labels = json.loads((tmp_path / "iot.labels.json").read_text())
    assert labels["generator"] == "iot" and labels["seed"] == 2
    assert {a["kind"] for a in labels["anomalies"]} == {"spike", "level_shift", "trend"}
    again = tmp_path / "again.jsonl"
    CliRunner().invoke(main, ["produce", "iot", "--jsonl", str(again), "-n", "140", "--seed", "2",
                              "--start", str(START), "--anomalies", "auto", "-q"])
    assert again.read_bytes() == out.read_bytes()
