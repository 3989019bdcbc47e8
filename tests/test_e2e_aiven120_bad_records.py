"""Bad records on Aiven's Flink: the checked source's SQL form (IS JSON, JSON_EXISTS, JSON_VALUE
... RETURNING ... NULL ON ERROR, TRY_CAST) as Aiven bodies on Flink 1.20 sends exactly the
records and reasons the 2.0 run of test_bad_records_stack sends to the dead-letter topic, byte
for byte with their headers, and the valid records to the alerts and the windows.

The late-events application runs too; the late event itself (timing-dependent) is left to the
2.0 test.
"""

from __future__ import annotations

import uuid

import pytest
import test_bad_records_stack as br
from aiven120_helpers import prepare_aiven, run_aiven_and_collect

from flinksql_gen.kafka.client import JsonProducer

pytestmark = pytest.mark.slow


def test_dead_letters_alerts_and_windows_on_1_20_are_those_of_2_0(stack, stack_env_vars, flink120, tmp_path):
    folder = tmp_path / "pipelines"
    folder.mkdir()
    suffix = uuid.uuid4().hex[:8]  # the broker is shared by the session
    names = {k: f"br120_{k}_{suffix}" for k in ("src", "dlq", "late", "out", "counts")}
    (folder / "bad_records_e2e.yaml").write_text(br.PIPELINE.format(mode="dead-letter", **names))
    prepared = prepare_aiven(stack, stack_env_vars, "bad_records_e2e.yaml", tmp_path, source_partitions=1,
                             folder=folder)
    assert [a.plan.name for a in prepared.apps] == [
        "bad_records_e2e-hot__alerts", "bad_records_e2e-per_10s__counts",
        "bad_records_e2e-readings__readings_dead_letter", "bad_records_e2e-readings__readings_late_events"]
    src, dlq = prepared.sources["readings"], prepared.sinks["readings_dead_letter"]
    events, hot = br._stream()
    with JsonProducer(stack.bootstrap) as producer:
        for i, (value, _) in enumerate(events):
            producer.send(src, value, key=f"k{i}", timestamp_ms=br.T0 + i)
    bad = [(i, value, reason) for i, (value, reason) in enumerate(events) if reason is not None]
    valid = len(events) - len(bad)
    expected = {
        "alerts": len(hot),
        "readings_dead_letter": lambda records: len(records) >= len(bad),  # a tombstone's copy has no value
        "counts": lambda records: sum(r.value["readings"] for r in records) >= valid - 1,
        "readings_late_events": 0,
    }
    out = run_aiven_and_collect(prepared, flink120, stack.bootstrap, expected)
    assert out.complete, f"sinks stopped short of the expected rows after {out.seconds:.0f} s"

    assert sorted(r.value["id"] for r in out.records["alerts"]) == hot
    # the windows saw exactly the valid events (the trailing one opens a window that never closes)
    assert sum(r.value["readings"] for r in out.records["counts"]) == valid - 1
    assert out.records["readings_late_events"] == []
    dead = br._read_raw(stack.bootstrap, dlq, expected=len(bad))
    # In source order; offsets rise but need not be consecutive: each exactly-once commit is a
    # transaction marker that takes an offset of its own.
    assert [(d[1], d[2]) for d in dead] == [(f"k{i}".encode(), value) for i, value, _ in bad]
    assert [d[0] for d in dead] == sorted({d[0] for d in dead})
    for (i, _, reason), (_, _, _, headers, timestamp) in zip(bad, dead, strict=True):
        assert headers == {"flinksql-gen.reason": reason, "flinksql-gen.topic": src, "flinksql-gen.partition": "0",
                           "flinksql-gen.offset": str(i), "flinksql-gen.pipeline": "bad_records_e2e",
                           "flinksql-gen.source": "readings"}  # fmt: skip
        assert timestamp == br.T0 + i
