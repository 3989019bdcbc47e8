"""Stream = offline on real data: one labelled anomaly-dev series (tests/data/anomaly_dev, MIT)
through pipelines/cpu_anomalies.yaml's `score` detector (the `fsg_detect` UDAF) on the real stack,
judged row for row exactly as `flinksql-gen evaluate` judges it (same code: evaluate's per-row
results for the file). Rows without a value are sent without `usage` and pass through unjudged.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from e2e_helpers import Event, close, prepare, produce, run_and_collect, ts_ms
from test_e2e_cpu_anomalies import detector_spec

from flinksql_gen.evaluate.metrics import evaluate, run_corpus, series_files

DATA = Path(__file__).parent / "data" / "anomaly_dev"
HOST = "app1-05"


def offline_rows() -> list[tuple]:
    """evaluate's per-row judgements of the file: (ts ms, value, expected, lower, upper, score, is_anomaly)."""
    (run,) = run_corpus(detector_spec("usage_score"), series_files(DATA / "series"), workers=1)
    out = []
    for sec, v, r in zip(run.series.seconds, run.series.values, run.results, strict=True):
        fin = [None if x != x else x for x in (r.expected, r.lower, r.upper, r.score)]
        out.append((round(sec * 1000), None if v != v else v, *fin, bool(r.is_anomaly)))
    return out


def test_the_series_exercises_detections_and_missing_values():
    assert detector_spec("usage_score") == {"type": "score"}  # the pipeline runs the default detector
    rows = offline_rows()
    assert len(rows) == 697 and sum(r[1] is None for r in rows) == 11
    assert sum(r[6] for r in rows) >= 5
    rep = evaluate({"type": "score"}, DATA / "series", DATA / "labels.json", scoring="nab")
    assert rep.nab is not None and rep.summary()["detected"] >= 1


@pytest.mark.slow
def test_stream_judges_a_real_series_like_evaluate(stack, stack_workdir, stack_env_vars, table_env_factory, tmp_path):
    prepared = prepare(stack, "cpu_anomalies.yaml", tmp_path)
    want = offline_rows()
    events = []
    for ts, v, *_ in want:
        value = {"hostname": HOST, "cpu": "cpu1", "occurred_at": ts}
        if v is not None:
            value["usage"] = v
        events.append(Event(HOST, value, ts))
    produce(stack, prepared.sources["cpu_load"], events)
    out = run_and_collect(prepared, stack_env_vars, table_env_factory(), stack_workdir, {"cpu_scored": len(want)},
                          idle_s=240.0, deadline_s=600.0)
    got: dict[str, list[tuple]] = defaultdict(list)
    for r in out.records["cpu_scored"]:
        if r.value is None:  # upsert-kafka tombstone before an update (see test_e2e_cpu_anomalies)
            continue
        v = r.value
        got[json.loads(r.key)["hostname"]].append(
            (ts_ms(v["ts"]), v["value"], v["expected"], v["lower"], v["upper"], v["score"], v["is_anomaly"]))
    assert list(got) == [HOST] and len(got[HOST]) == len(want)
    for i, (g, w) in enumerate(zip(got[HOST], want, strict=True)):
        assert g[:2] == w[:2] and g[6] == w[6], (i, g, w)
        assert all(close(a, b, 1e-12) for a, b in zip(g[2:6], w[2:6], strict=True)), (i, g, w)
    assert sum(g[6] for g in got[HOST]) == sum(w[6] for w in want)
