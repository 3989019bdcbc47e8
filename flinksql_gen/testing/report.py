"""How a test run reads: one line per test, then for a failure the diff with the YAML lines."""

from __future__ import annotations

import json
from typing import Any

from flinksql_gen.testing.runner import TestResult

_WIDTH = 160


def _short(row: Any) -> str:
    text = "{" + ", ".join(f"{k}: {json.dumps(v, default=str)}" for k, v in row.items()) + "}" if isinstance(row, dict) else str(row)
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


def line(result: TestResult) -> str:
    word = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[result.status]
    return f"{word:5} {result.id} ({result.pipeline})  {result.seconds:.1f} s"


def phases(result: TestResult) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in result.phases.items())


def details(result: TestResult) -> list[str]:
    """The diff of a failed test (nothing for a passing one)."""
    out: list[str] = []
    if result.error:
        out.append(f"  {result.location}: {result.error}")
    for m in result.mismatches:
        out.append(f"  {m.location}: expect.{m.sink}: {m.message}")
        for row, loc in m.missing:
            out.append(f"    - missing     {_short(row)}  ({loc})")
        for c in m.changed:
            fields = "; ".join(f"{k}: expected {json.dumps(e, default=str)}, got {json.dumps(a, default=str)}"
                               for k, (e, a) in c.fields.items())  # fmt: skip
            out.append(f"    ~ changed     {_short(c.expected)}  ({c.location})")
            out.append(f"                  {fields}")
        for row in m.unexpected:
            out.append(f"    + unexpected  {_short(row)}")
    return out


def summary(results: list[TestResult], seconds: float) -> str:
    passed = sum(r.status == "pass" for r in results)
    failed = sum(r.status == "fail" for r in results)
    errors = sum(r.status == "error" for r in results)
    parts = [f"{passed} passed"] + ([f"{failed} failed"] if failed else []) + ([f"{errors} errors"] if errors else [])
    return f"{len(results)} test(s): {', '.join(parts)} in {seconds:.1f} s"


def to_json(results: list[TestResult], seconds: float, startup_s: float) -> dict:
    return {"passed": all(r.status == "pass" for r in results), "seconds": round(seconds, 3),
            "startup_seconds": round(startup_s, 3), "tests": [r.to_json() for r in results]}  # fmt: skip
