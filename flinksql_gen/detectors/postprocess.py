"""From per-point flags to notifications: merge close anomalies, minimum duration, re-notify on growth.

Streaming (`AnomalyTracker.update`, one per key, state as a small dict) and offline
(`merge_anomalies`) use the same rules, with durations in seconds of the normalised timestamps
(= points for an index series):
  - anomalous points closer than `merge_gap` to the previous anomalous point extend the current
    anomaly; a larger gap closes it and starts a new one (a point-to-point distance; 0 merges
    nothing but still joins consecutive points only when they are 0 s apart, so use at least the
    sampling step to join adjacent points);
  - an anomaly is notified ('open') once `last - first >= min_duration`;
  - while open, 'escalate' is emitted when the peak score reaches (1 + renotify_growth) x the last
    notified score (never, when renotify_growth is None);
  - 'close' is emitted for a notified anomaly when a point arrives more than `merge_gap` after its
    last anomalous point (so a close is known only once the gap has passed).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from flinksql_gen.detectors.base import Result, to_seconds
from flinksql_gen.detectors.config import PostProcessConfig, duration_seconds


@dataclass(frozen=True)
class Anomaly:
    start: float  # epoch seconds of the first anomalous point
    end: float  # epoch seconds of the last anomalous point
    peak: float  # highest score seen
    points: int


@dataclass(frozen=True)
class Event:
    kind: str  # open | escalate | close
    anomaly: Anomaly

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self.anomaly)}


class AnomalyTracker:
    def __init__(self, config: PostProcessConfig | dict[str, Any] | None = None):
        if not isinstance(config, PostProcessConfig):
            config = PostProcessConfig.model_validate(config or {})
        self.config = config
        self.gap = duration_seconds(config.merge_gap) or 0.0
        self.min_duration = duration_seconds(config.min_duration) or 0.0
        self._cur: dict[str, Any] | None = None  # start, end, peak, points, notified (score or None)

    def _anomaly(self) -> Anomaly:
        c = self._cur or {}
        return Anomaly(c["start"], c["end"], c["peak"], c["points"])

    def update(self, timestamp: Any, result: Result) -> list[Event]:
        t = to_seconds(timestamp)
        events: list[Event] = []
        cur = self._cur
        if cur is not None and t - cur["end"] > self.gap:
            if cur["notified"] is not None:
                events.append(Event("close", self._anomaly()))
            self._cur = cur = None
        if not result.is_anomaly:
            return events
        score = result.score if not math.isnan(result.score) else 0.0
        if cur is None:
            self._cur = cur = {"start": t, "end": t, "peak": score, "points": 0, "notified": None}
        cur["end"] = t
        cur["peak"] = max(cur["peak"], score)
        cur["points"] += 1
        if cur["notified"] is None:
            if cur["end"] - cur["start"] >= self.min_duration:
                cur["notified"] = cur["peak"]
                events.append(Event("open", self._anomaly()))
        elif self.config.renotify_growth is not None and cur["peak"] >= (1 + self.config.renotify_growth) * cur["notified"]:
            cur["notified"] = cur["peak"]
            events.append(Event("escalate", self._anomaly()))
        return events

    def flush(self) -> list[Event]:
        """End of data: close the open anomaly, if notified."""
        events = []
        if self._cur is not None and self._cur["notified"] is not None:
            events.append(Event("close", self._anomaly()))
        self._cur = None
        return events

    def state_dict(self) -> dict[str, Any]:
        return {"cur": dict(self._cur) if self._cur else None}

    def load_state(self, state: dict[str, Any]) -> None:
        self._cur = dict(state["cur"]) if state.get("cur") else None


def merge_anomalies(
    timestamps: list[Any], results: list[Result], config: PostProcessConfig | dict[str, Any] | None = None
) -> list[Anomaly]:
    """Offline: the notified anomalies of a whole series (same rules as AnomalyTracker)."""
    tracker = AnomalyTracker(config)
    out: list[Anomaly] = []
    for t, r in zip(timestamps, results, strict=True):
        out.extend(ev.anomaly for ev in tracker.update(t, r) if ev.kind == "close")
    out.extend(ev.anomaly for ev in tracker.flush())
    return out
