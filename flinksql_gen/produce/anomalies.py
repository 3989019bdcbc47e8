"""Anomaly specs for the generators and the ground-truth labels they produce.

Spec text: `kind:key=value,...;kind:...`, e.g.
    spike:host=dopey,at=120,len=5,size=45;level_shift:at=10m,delta=20;trend:at=300,len=200,slope=0.2
`at` and `len` count ticks, or take a unit (`90s`, `5m`, `1h`) or a percentage of the run
(`20%`, with a known count). `auto` picks each generator's standard set.
A path to a JSON or YAML file holding a list of such mappings works too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from flinksql_gen.errors import UsageError

KINDS = ("spike", "level_shift", "trend", "forbidden_burst")
_DEFAULT_MAGNITUDE = {"spike": 45.0, "level_shift": 25.0, "trend": 0.5, "forbidden_burst": 0.8}
_MAGNITUDE_KEYS = ("size", "delta", "slope", "fraction", "magnitude")
_ENTITY_KEYS = ("entity", "host", "shop")
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


@dataclass(frozen=True)
class Anomaly:
    kind: str
    at: int  # first tick
    length: int  # ticks; 0 = until the end (level shifts)
    magnitude: float
    entity: str | None = None  # host / shop; None = chosen by the generator
    params: dict[str, str] = field(default_factory=dict, compare=False)

    def active(self, tick: int) -> bool:
        return tick >= self.at and (self.length == 0 or tick < self.at + self.length)


def _ticks(value: str, tick_ms: int, what: str, total: int | None) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|%)?\s*", str(value))
    if not match:
        raise UsageError(f"anomaly {what}={value!r}: write a tick count, a duration like 90s / 5m, or a percentage")
    n, unit = float(match.group(1)), match.group(2)
    if unit == "%":
        if total is None:
            raise UsageError(f"anomaly {what}={value!r}: percentages need a known --count")
        return round(total * n / 100)
    return int(n) if unit is None else max(0, round(n * _UNITS_MS[unit] / tick_ms))


def _from_mapping(item: dict, tick_ms: int, total: int | None) -> Anomaly:
    item = {str(k): str(v) for k, v in item.items()}
    kind = item.pop("kind", "")
    if kind not in KINDS:
        raise UsageError(f"unknown anomaly kind {kind!r} (kinds: {', '.join(KINDS)})")
    entity = next((item.pop(k) for k in _ENTITY_KEYS if k in item), None)
    at = _ticks(item.pop("at", "0"), tick_ms, "at", total)
    length_text = next((item.pop(k) for k in ("len", "length", "duration") if k in item), None)
    length = _ticks(length_text, tick_ms, "len", total) if length_text is not None else (0 if kind == "level_shift" else 10)
    mag_text = next((item.pop(k) for k in _MAGNITUDE_KEYS if k in item), None)
    try:
        magnitude = float(mag_text) if mag_text is not None else _DEFAULT_MAGNITUDE[kind]
    except ValueError:
        raise UsageError(f"anomaly {kind}: magnitude {mag_text!r} is not a number") from None
    return Anomaly(kind, at, length, magnitude, entity, item)


def parse_anomalies(spec: str | None, tick_ms: int = 1000, auto: list[dict] | None = None,
                    total_ticks: int | None = None) -> list[Anomaly]:
    """Parse --anomalies (text, file path, `auto`, or empty); `total_ticks` resolves percentages."""
    if not spec or not spec.strip() or spec.strip() == "none":
        return []
    spec = spec.strip()
    if spec == "auto":
        return [_from_mapping(item, tick_ms, total_ticks) for item in (auto or [])]
    path = Path(spec)
    if path.suffix in (".json", ".yaml", ".yml") and path.is_file():
        data = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
        if not isinstance(data, list):
            raise UsageError(f"{spec}: expected a list of anomalies")
        return [_from_mapping(dict(item), tick_ms, total_ticks) for item in data]
    out = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        kind, _, rest = part.partition(":")
        item: dict = {"kind": kind.strip()}
        for pair in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = pair.partition("=")
            if not eq:
                raise UsageError(f"anomaly {part!r}: {pair!r} is not key=value")
            item[key.strip()] = value.strip()
        out.append(_from_mapping(item, tick_ms, total_ticks))
    return out


def label(anomaly: Anomaly, entity: str, start_ms: int, tick_ms: int, last_tick: int, events: int) -> dict:
    """One ground-truth entry: the time range [start_ms, end_ms) and entity an anomaly covers."""
    end_tick = last_tick + 1 if anomaly.length == 0 else min(anomaly.at + anomaly.length, last_tick + 1)
    return {
        "kind": anomaly.kind,
        "entity": entity,
        "start_ms": start_ms + anomaly.at * tick_ms,
        "end_ms": start_ms + end_tick * tick_ms,
        "first_tick": anomaly.at,
        "last_tick": end_tick - 1,
        "magnitude": anomaly.magnitude,
        "events": events,
        **({"params": anomaly.params} if anomaly.params else {}),
    }
