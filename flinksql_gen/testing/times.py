"""Times in test files: offsets from the file's base (`+30s`, `-5s`, `+1m30s`, `+250ms`) or
absolute ISO 8601 instants (UTC when no zone is given); and the timestamps Flink writes to JSON."""

from __future__ import annotations

import datetime as dt
import re

_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_OFFSET = re.compile(r"^[+-](?:\d+(?:ms|s|m|h|d))+$")
_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# What Flink's JSON format writes for TIMESTAMP / TIMESTAMP_LTZ: '2024-01-01 00:00:30[.123][Z]'
_FLINK_TS = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z?$")


def is_offset(text: object) -> bool:
    return isinstance(text, str) and bool(_OFFSET.match(text.strip()))


def parse_offset(text: str) -> int:
    """`+1m30s` -> 90000 (milliseconds, signed)."""
    s = text.strip()
    if not _OFFSET.match(s):
        raise ValueError(f"{text!r} is not an offset: write e.g. +30s, -5s, +1m30s, +250ms")
    total = sum(int(n) * _MS[unit] for n, unit in _PART.findall(s[1:]))
    return -total if s[0] == "-" else total


def parse_instant(text: str) -> int:
    """An ISO 8601 instant -> epoch milliseconds (UTC when no zone is given)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: write an offset such as +30s or an instant such as "
                         "2024-01-01T00:00:30Z") from None  # fmt: skip
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return round(moment.timestamp() * 1000)


def parse_time(value: str | int, base_ms: int) -> int:
    """A time as written in a test file -> epoch milliseconds. Integers are epoch milliseconds."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, int):
        return value
    if is_offset(value):
        return base_ms + parse_offset(value)
    return parse_instant(value)


def looks_like_time(value: object) -> bool:
    """Whether an expected value is written as a time (an offset or an ISO instant)."""
    if not isinstance(value, str):
        return False
    if is_offset(value):
        return True
    return bool(_FLINK_TS.match(value.strip())) or bool(re.match(r"^\d{4}-\d{2}-\d{2}T", value.strip()))


def flink_ts_ms(text: object) -> int | None:
    """A timestamp as Flink's JSON format writes it -> epoch ms (UTC); None when it is not one."""
    if not isinstance(text, str) or not _FLINK_TS.match(text.strip()):
        return None
    return parse_instant(text.strip().removesuffix("Z"))


def format_sql_timestamp(ms: int) -> str:
    """Epoch ms -> '2024-01-01 00:00:30.000' (what a TIMESTAMP column's text reads as)."""
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"
