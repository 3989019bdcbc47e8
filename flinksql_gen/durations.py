"""Durations as written in definitions ('30s', '10min', '1h') and their SQL interval form.

A leaf module: the definition models, the detector configs and the planner all read durations,
and none of them may depend on another for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|sec|second|seconds|m|min|minute|minutes|h|hour|hours|d|day|days)\s*$")
_UNITS = {
    "ms": ("MILLISECOND", 1),
    "s": ("SECOND", 1000),
    "sec": ("SECOND", 1000),
    "second": ("SECOND", 1000),
    "seconds": ("SECOND", 1000),
    "m": ("MINUTE", 60_000),
    "min": ("MINUTE", 60_000),
    "minute": ("MINUTE", 60_000),
    "minutes": ("MINUTE", 60_000),
    "h": ("HOUR", 3_600_000),
    "hour": ("HOUR", 3_600_000),
    "hours": ("HOUR", 3_600_000),
    "d": ("DAY", 86_400_000),
    "day": ("DAY", 86_400_000),
    "days": ("DAY", 86_400_000),
}


@dataclass(frozen=True)
class Interval:
    amount: int
    unit: str  # SECOND, MINUTE, HOUR, DAY, MILLISECOND
    millis: int

    def sql(self) -> str:
        # An interval's leading field has precision 2 unless written: '120' SECOND fails to plan
        # ("exceeds precision of SECOND(2)"), so 3 to 6 digits carry their precision.
        if self.unit == "MILLISECOND":
            # Flink has no MILLISECOND interval literal unit; use fractional seconds.
            digits = len(str(self.amount // 1000))
            return f"INTERVAL '{self.amount / 1000:.3f}' SECOND" + (f"({digits}, 3)" if digits > 2 else "")
        digits = len(str(self.amount))
        return f"INTERVAL '{self.amount}' {self.unit}" + (f"({digits})" if digits > 2 else "")

    def flink_config(self) -> str:
        """The value form Flink's configuration accepts, e.g. '10 s'."""
        return f"{self.millis} ms"


def parse_duration(text: str | int) -> Interval:
    if isinstance(text, int):
        text = f"{text}s"
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a duration: write a whole number and a unit, e.g. '5s', '30s', '10min', '1h', '7d'")
    amount, unit = int(m.group(1)), m.group(2)
    name, factor = _UNITS[unit]
    if amount <= 0 and name != "SECOND":
        raise ValueError(f"{text!r}: a duration must be positive")
    if amount >= (10**9 if name == "MILLISECOND" else 10**6):  # Flink's interval precision ends at 6 digits
        raise ValueError(f"{text!r}: at most 6 digits before the unit; use a larger unit, e.g. minutes or days")
    return Interval(amount, name, amount * factor)


def _check_duration(value: str | int) -> str:
    parse_duration(value)
    return str(value) if not isinstance(value, int) else f"{value}s"


Duration = Annotated[
    str,
    BeforeValidator(lambda v: f"{v}s" if isinstance(v, int) else v, json_schema_input_type=str | int),
    AfterValidator(_check_duration),
]
