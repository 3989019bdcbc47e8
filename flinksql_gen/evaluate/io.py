"""Reading and writing the evaluation files, with errors that name the file and line.

Series CSV: header `timestamp,value`; timestamp ISO-8601 ('2024-01-01 00:05:00') or epoch
seconds/milliseconds; an empty value (or NaN) is a missing point. Rows are kept in arrival order,
exactly as a stream would see them: a time that goes back or repeats is counted, never fatal.
Labels JSON: {"category/file.csv": [["start", "end"], ...], ...} (NAB's combined_windows format),
keyed by the path relative to the series folder.
RCA truth CSV: header `timestamp,set`, set like `a=a1&b=b2;c=c3`.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flinksql_gen.detectors.base import to_seconds
from flinksql_gen.errors import DefinitionError, Location, Problem, UsageError, relative


def _fail(path: Path, line: int, message: str, hint: str = "") -> DefinitionError:
    return DefinitionError([Problem(Location(relative(path), line), "", message, hint)])


@dataclass
class Series:
    name: str
    timestamps: list[str]  # as written
    seconds: list[float]
    values: list[float]  # NaN = missing
    backwards: int = 0  # rows whose time is earlier than the previous row's
    repeats: int = 0  # rows whose time equals the previous row's
    missing: int = 0  # rows without a value
    gaps: int = 0  # steps longer than twice the median step (missing rows in the source)

    def count_gaps(self) -> None:
        steps = sorted(b - a for a, b in zip(self.seconds, self.seconds[1:], strict=False) if b > a)
        if steps:
            typical = steps[len(steps) // 2]
            self.gaps = sum(1 for a, b in zip(self.seconds, self.seconds[1:], strict=False) if b - a > 2 * typical)


def read_series(path: Path, name: str | None = None) -> Series:
    """Read one series; `name` (default: the file name) keys it in the labels."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{relative(path)}: no such file")
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise _fail(path, 1, "empty file", "expected a header 'timestamp,value'")
        cols = [h.strip().lower() for h in header]
        if "timestamp" not in cols or "value" not in cols:
            raise _fail(path, 1, f"header {header!r} lacks 'timestamp' and 'value' columns")
        it, iv = cols.index("timestamp"), cols.index("value")
        backwards = repeats = missing = 0
        ts: list[str] = []
        secs: list[float] = []
        vals: list[float] = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) <= max(it, iv):
                raise _fail(path, line, f"expected {len(cols)} columns, got {len(row)}")
            raw_t, raw_v = row[it].strip(), row[iv].strip()
            try:
                sec = to_seconds(float(raw_t)) if _is_number(raw_t) else to_seconds(raw_t)
            except (TypeError, ValueError):
                raise _fail(path, line, f"bad timestamp {raw_t!r}", "use ISO-8601 or epoch seconds/ms") from None
            try:
                val = float(raw_v) if raw_v else math.nan
            except ValueError:
                raise _fail(path, line, f"bad value {raw_v!r}", "expected a number or empty") from None
            if not math.isfinite(sec):
                raise _fail(path, line, f"bad timestamp {raw_t!r}", "use ISO-8601 or epoch seconds/ms")
            if secs and sec < secs[-1]:
                backwards += 1
            elif secs and sec == secs[-1]:
                repeats += 1
            if math.isnan(val) or math.isinf(val):
                val = math.nan
                missing += 1
            ts.append(raw_t)
            secs.append(sec)
            vals.append(val)
    series = Series(name or path.name, ts, secs, vals, backwards, repeats, missing)
    series.count_gaps()
    return series


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_labels(path: Path) -> dict[str, list[tuple[float, float]]]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{relative(path)}: no such file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise _fail(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise _fail(path, 1, "expected an object {file: [[start, end], ...]}")
    out: dict[str, list[tuple[float, float]]] = {}
    text = path.read_text()
    for name, windows in data.items():
        at = text.find(json.dumps(name))
        line = text.count("\n", 0, at) + 1 if at >= 0 else 0  # the key's line, for the messages
        if not isinstance(windows, list):
            raise _fail(path, line, f"{name}: expected a list of [start, end] windows")
        parsed = []
        for w in windows:
            if not (isinstance(w, list) and len(w) == 2):
                raise _fail(path, line, f"{name}: window {w!r} is not [start, end]")
            try:
                a, b = (to_seconds(x) for x in w)
            except (TypeError, ValueError):
                raise _fail(path, line, f"{name}: window {w!r} has a bad timestamp") from None
            if b < a:
                raise _fail(path, line, f"{name}: window {w!r} ends before it starts")
            parsed.append((a, b))
        out[label_key(name)] = parsed
    return out


def label_key(name: str) -> str:
    """A labels key as a relative POSIX path ('./a\\b.csv' -> 'a/b.csv')."""
    return Path(name.replace("\\", "/")).as_posix().removeprefix("./")


def load_spec(text: str) -> dict[str, Any]:
    """A detector spec: inline JSON/YAML mapping, or a path to a .yaml/.yml/.json file.

    A file may hold the detector mapping itself or {detector: {...}}."""
    stripped = text.strip()
    source = "<inline spec>"
    if not stripped.startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"{text}: no such spec file (give a YAML/JSON file or inline JSON like '{{\"type\": \"score\"}}')")
        source = relative(path)
        stripped = path.read_text()
    try:
        data = yaml.safe_load(stripped)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError([Problem(Location(source, line), "", f"invalid YAML/JSON: {problem}")]) from None
    if isinstance(data, dict) and "detector" in data and isinstance(data["detector"], dict):
        data = data["detector"]
    if not isinstance(data, dict):
        raise DefinitionError([Problem(Location(source), "", "a detector spec must be a mapping with a 'type' key")])
    data.setdefault("__source__", source)
    return data


def spec_source(spec: dict[str, Any]) -> tuple[dict[str, Any], str]:
    spec = dict(spec)
    source = spec.pop("__source__", "<detector>")
    return spec, source
