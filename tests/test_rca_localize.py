"""Root-cause localisation finds injected causes exactly; ThirdEye contribution formulas."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from flinksql_gen.rca import (
    LeafTable,
    balanced_cost,
    contribution_analysis,
    explain_rows,
    format_root_cause_set,
    localize,
    localize_baseline,
    parse_root_cause_set,
)

DIMS = {"country": ["us", "de", "fr", "jp", "br"], "device": ["ios", "android", "web", "tv"], "channel": ["ads", "seo", "mail"]}


def cube(causes: list[tuple[dict[str, str], float]], seed: int = 0, noise: float = 0.02) -> LeafTable:
    """Every leaf of DIMS; leaves under a cause change by its relative amount."""
    rng = np.random.default_rng(seed)
    rows = []
    for combo in itertools.product(*DIMS.values()):
        leaf = dict(zip(DIMS, combo, strict=True))
        base = float(rng.lognormal(4, 0.8))
        change = 1.0 + rng.normal(0, noise)
        for element, rel in causes:
            if all(leaf[k] == v for k, v in element.items()):
                change = (1.0 + rel) * (1 + rng.normal(0, noise))
        rows.append({**leaf, "baseline": base, "current": base * change})
    return LeafTable.from_rows(rows, list(DIMS))


def found(table: LeafTable) -> list[dict[str, str]]:
    return [e.dims for e in localize(table)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_dimension_cause(seed):
    assert found(cube([({"device": "android"}, -0.5)], seed)) == [{"device": "android"}]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_dimension_combination(seed):
    cause = {"country": "de", "device": "web"}
    assert found(cube([(cause, -0.6)], seed)) == [cause]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_three_dimension_combination(seed):
    cause = {"country": "us", "device": "ios", "channel": "seo"}
    assert found(cube([(cause, 0.9)], seed)) == [cause]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_coexisting_causes(seed):
    a = {"country": "jp"}
    b = {"device": "tv", "channel": "mail"}
    got = found(cube([(a, -0.5), (b, -0.7)], seed))
    assert sorted(map(str, got)) == sorted(map(str, [a, b]))


def test_opposite_direction_causes():
    a = {"country": "fr"}
    b = {"device": "ios", "channel": "ads"}
    got = found(cube([(a, -0.5), (b, 0.8)], 4))
    assert sorted(map(str, got)) == sorted(map(str, [a, b]))


def test_explanation_numbers_and_no_change():
    table = cube([({"device": "android"}, -0.5)], 0, noise=0.0)
    (e,) = localize(table)
    rows = table.codes[:, 1] == table.labels[1].index("android")
    assert e.baseline == pytest.approx(table.baseline[rows].sum())
    assert e.change == pytest.approx(e.current - e.baseline)
    assert e.share == pytest.approx(1.0)  # without noise it explains all of the change
    assert e.depth == 1
    assert localize(cube([], 0, noise=0.0)) == []


def test_contribution_analysis_matches_thirdeye_formulas():
    rows = [
        {"country": "us", "baseline": 100.0, "current": 50.0},
        {"country": "de", "baseline": 100.0, "current": 110.0},
        {"country": "fr", "baseline": 0.0, "current": 10.0},
    ]
    table = LeafTable.from_rows(rows, ["country"])
    out = {c.value: c for c in contribution_analysis(table)}
    us = out["us"]  # totals B=200, C=170, |C-B| = 30
    assert us.value_change_pct == pytest.approx(-50.0)
    assert us.contribution_change_pct == pytest.approx((50 / 170 - 100 / 200) * 100)
    assert us.contribution_to_overall_change_pct == pytest.approx(-50 / 30 * 100)
    assert us.cost == pytest.approx(abs(us.contribution_to_overall_change_pct) + abs(us.contribution_change_pct))
    assert math.isnan(out["fr"].value_change_pct)
    assert balanced_cost(1.0, 2.9) == 0.0  # under 3 % of the overall change: not of interest
    assert contribution_analysis(table)[0].value == "us"
    assert [c.value for c in contribution_analysis(table, min_share=0.05)] == ["us", "de"]


def test_root_cause_set_format_round_trip_and_rows_api():
    text = "a=a1&b=b2;c=c3"
    assert parse_root_cause_set(text) == [{"a": "a1", "b": "b2"}, {"c": "c3"}]
    assert format_root_cause_set(parse_root_cause_set(text), ["a", "b", "c"]) == text
    with pytest.raises(ValueError):
        parse_root_cause_set("a")
    table = cube([({"channel": "seo"}, -0.5)], 1)
    rows = [
        {**{d: table.labels[j][table.codes[i, j]] for j, d in enumerate(table.dimensions)},
         "b": table.baseline[i], "c": table.current[i]}
        for i in range(len(table))
    ]  # fmt: skip
    out = explain_rows(rows, baseline="b", current="c")
    assert out["explanations"][0]["dims"] == {"channel": "seo"}
    assert out["contributions"][0]["dimension"] == "channel" and out["contributions"][0]["value"] == "seo"


def _rows(table: LeafTable) -> list[dict]:
    return [{**{d: table.labels[j][table.codes[i, j]] for j, d in enumerate(table.dimensions)},
             "baseline": float(table.baseline[i]), "current": float(table.current[i])} for i in range(len(table))]  # fmt: skip


def test_tiny_and_empty_leaves_do_not_hide_a_single_dimension_cause():
    """As in Squeeze data: many leaves are 0/0 or forecast 1 with a rounded real value that did not
    move. Weighted by magnitude they have no say, so the whole dimension value is still the cause."""
    rng = np.random.default_rng(3)
    rows = _rows(cube([({"device": "android"}, -0.5)], 3, noise=0.01))
    for i, r in enumerate(rows):  # i % 5 mixes country and channel: no element is all tiny
        if i % 5 == 0:
            r["baseline"] = r["current"] = 0.0
        elif i % 5 in (1, 2):  # a tiny leaf, forecast 1: it did not follow the cause
            r["baseline"], r["current"] = 1.0, 1.0 + rng.normal(0, 0.01)
    table = LeafTable.from_rows(rows, list(DIMS))
    assert found(table) == [{"device": "android"}]
    assert [e.dims for e in localize_baseline(table)] != [{"device": "android"}]  # counting leaves misses it


def test_a_big_child_does_not_make_its_parent_the_cause():
    """us x ios holds most of the mass of `us` and drops; the rest of `us` stays put: the ripple
    rule narrows to the child even though `us` as a whole looks mostly anomalous."""
    rows = _rows(cube([], 5, noise=0.01))
    for r in rows:
        if r["country"] == "us" and r["device"] == "ios":
            r["baseline"] *= 40.0
            r["current"] = r["baseline"] * 0.5
    assert found(LeafTable.from_rows(rows, list(DIMS))) == [{"country": "us", "device": "ios"}]


@pytest.mark.parametrize(("off", "reported"), [(0.028, False), (0.08, True)])
def test_one_big_leaf_is_a_cause_only_beyond_chance(off, reported):
    """One leaf that dominates every element it is in, `off` below its forecast (noise 1 %): at
    2.8 sigma it is what the most extreme of 60 normal leaves reaches by chance (the Bonferroni z
    for 60 leaves is 3.3), at 8 sigma it is a cause."""
    rows = _rows(cube([], 6, noise=0.0))
    rng = np.random.default_rng(6)
    for r in rows:
        r["current"] = r["baseline"] * (1 + rng.normal(0, 0.01))
    rows[7]["baseline"] *= 50
    rows[7]["current"] = rows[7]["baseline"] * (1 - off)
    assert bool(found(LeafTable.from_rows(rows, list(DIMS)))) == reported
