"""The test-file format (`*.test.yaml`): given these events and lookup rows, exactly these rows.

One file tests one pipeline on one target; it holds any number of named tests. Times in inputs
and expectations are absolute (`2024-01-01T00:00:30Z`) or offsets from `base` (`+30s`, `-5s`,
`+1m30s`). Every field is described: `flinksql-gen test --schema` prints the JSON Schema.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from flinksql_gen.testing.times import parse_time

Scalar = str | int | float | bool | None
Row = dict[str, Any]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{value!r} is not a valid name: use letters, digits and underscores")
    return value


def _check_time(value: str | int) -> str | int:
    parse_time(value, 0)  # offsets and absolute times both parse; the base is applied later
    return value


def _check_duration(value: str) -> str:
    from flinksql_gen.testing.times import parse_offset

    if parse_offset("+" + value.lstrip("+")) <= 0:
        raise ValueError(f"{value!r}: a timeout must be positive")
    return value


Name = Annotated[str, AfterValidator(_check_name)]
TimeText = Annotated[str | int, AfterValidator(_check_time)]
Timeout = Annotated[str, AfterValidator(_check_duration)]


class SourceInput(Strict):
    """The records one source reads, in this order: the file's rows first, then `rows`."""

    key: str | None = Field(default=None, description="the column whose value becomes each record's Kafka key (a row's `_key` overrides it)")
    rows: list[Row] = Field(default_factory=list, description="events as column -> value mappings; the event-time column takes a time "
                            "(`+30s` or absolute); reserved keys: `_key` (record key), `_at` (record timestamp, default: the "
                            "row's event time), `_raw` (send this text as the record value instead: a malformed record)")  # fmt: skip
    file: str | None = Field(default=None, description="a .csv (header row of column names) or .jsonl file of rows, relative to the test file")


class LookupRows(Strict):
    """The rows of one PostgreSQL lookup table during the test (a fresh table per test)."""

    rows: list[Row] = Field(default_factory=list, description="rows as column -> value mappings; a key without a row is a missing key")


class AdvanceStep(Strict):
    """A sentinel event appended after a source's inputs: it moves that source's watermark to `to`.

    The end of the bounded input already moves every watermark to the end of time, closing every
    window, and late events need none (the watermark follows each event). A sentinel is for a
    pipeline that must see one more event at a given time; it is an ordinary event."""

    source: Name = Field(description="the source whose watermark moves")
    to: TimeText = Field(description="the sentinel's event time (`+10m` or absolute)")
    row: Row = Field(default_factory=dict, description="the sentinel's other column values (the event-time column is set to `to`)")


class Expectation(Strict):
    """What one sink (or a source's dead-letter / late-events topic) holds when the job has ended.

    Rows name only the columns they check; other columns are ignored. Floats compare within
    `tolerance`, times as instants (an expected `+30s` equals the sink's `2024-01-01 00:00:30`)."""

    rows: list[Row] | None = Field(default=None, description="exactly these rows (order-insensitive unless `ordered`); `[]` means none")
    contains: list[Row] | None = Field(default=None, description="at least these rows (others may be there too)")
    count: int | None = Field(default=None, ge=0, description="exactly this many rows")
    ordered: bool = Field(default=False, description="with `rows`: the sink's order must be the expected order")
    where: Row = Field(default_factory=dict, description="check only the sink rows whose columns equal these values")
    tolerance: float = Field(default=1e-9, ge=0, description="relative tolerance of float comparisons: |a-b| <= tolerance * max(1, |a|, |b|)")
    read: Literal["records", "latest"] | None = Field(
        default=None, description="`records`: every record in topic order; `latest`: the latest row per key, deleted keys left "
        "out (default: latest for upsert-kafka sinks, records otherwise)")  # fmt: skip

    @model_validator(mode="after")
    def _something_to_check(self) -> Expectation:
        if self.rows is None and self.contains is None and self.count is None:
            raise ValueError("give `rows`, `contains` or `count`")
        if self.rows is not None and self.contains is not None:
            raise ValueError("give `rows` (exactly these) or `contains` (at least these), not both")
        if self.ordered and self.rows is None:
            raise ValueError("`ordered` applies to `rows` only")
        return self


class PipelineTest(Strict):
    """One test: inputs, lookup rows, watermark steps, and what each sink holds afterwards."""

    __test__ = False  # not a pytest class

    description: str = Field(default="", description="free text for people reading the test")
    inputs: dict[Name, SourceInput] = Field(default_factory=dict, description="source name -> the records it reads (a source left out reads nothing)")
    lookups: dict[Name, LookupRows] = Field(default_factory=dict, description="lookup name -> its table's rows (a lookup left out is an empty table)")
    advance: list[AdvanceStep] = Field(default_factory=list, description="sentinel events that move a source's watermark, after its inputs")
    expect: dict[str, Expectation] = Field(min_length=1, description="sink name (or <source>_dead_letter, <source>_late_events) -> what it holds")
    timeout: Timeout = Field(default="600s", description="fail the test when the job has not ended after this long (wall clock)")


class TestFile(Strict):
    """A `*.test.yaml` file: the pipeline under test and its tests."""

    __test__ = False  # not a pytest class

    pipeline: str = Field(min_length=1, description="the pipeline definition file, relative to this file")
    target: str = Field(default="local", min_length=1, description="the target the pipeline is rendered for (its Kafka and PostgreSQL "
                        "settings are pointed at the embedded stack)")  # fmt: skip
    base: TimeText = Field(default="2024-01-01T00:00:00Z", description="the instant offsets such as `+30s` count from (UTC when no zone is given)")
    tests: dict[Name, PipelineTest] = Field(min_length=1, description="test name -> test")
