"""Watches the records a running job writes to its sink topics: `run --until-idle/--max-records`
counts them, and the benchmarks time every arrival with the same reader."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Arrival:
    at: float  # time.time() when the reader got it (wall clock, comparable with Kafka timestamps)
    topic: str
    timestamp: int | None  # the Kafka record's timestamp (ms)
    value: bytes | None


class SinkMonitor(threading.Thread):
    """Reads the sink topics (read_committed) from their end as it was before the job started, or
    from their beginning with `from_beginning`.

    `count` counts records with a value; tombstones (null values: what upsert-kafka writes for a
    DELETE or UPDATE_BEFORE row) are counted apart. `first_at`/`last_at` are on `clock` (monotonic
    unless the caller compares them with wall-clock times); `keep` keeps every Arrival and
    `on_record` sees each one as it comes.
    """

    def __init__(self, bootstrap: str, topics: Iterable[str], *, from_beginning: bool = False, keep: bool = False,
                 on_record: Callable[[Arrival], None] | None = None, clock: Callable[[], float] = time.monotonic):
        from flinksql_gen.kafka.client import end_offsets

        super().__init__(daemon=True, name="flinksql-sink-monitor")
        self.bootstrap = bootstrap
        self.topics = sorted(set(topics))
        self.start_offsets = None if from_beginning or not self.topics else end_offsets(self.topics, bootstrap=bootstrap)
        self.keep, self.on_record, self.clock = keep, on_record, clock
        self.count = self.tombstones = 0
        self.per_topic: dict[str, int] = dict.fromkeys(self.topics, 0)
        self.records: list[Arrival] = []
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._stop_event = threading.Event()
        self._assigned = threading.Event()

    def start(self) -> SinkMonitor:  # type: ignore[override]  # returns self so it chains
        """Start reading; returns once the reader is assigned its partitions (or after 30 s)."""
        super().start()
        self._assigned.wait(30)
        return self

    def run(self) -> None:
        from flinksql_gen.kafka.client import open_consumer

        if not self.topics:
            self._assigned.set()
            return
        consumer = open_consumer(self.topics, bootstrap=self.bootstrap, start=self.start_offsets)
        self._assigned.set()
        try:
            while not self._stop_event.is_set():
                batch = [m for m in consumer.consume(num_messages=2000, timeout=0.1) if not m.error()]
                if batch:
                    self._take(batch)
        finally:
            consumer.close()

    def _take(self, batch: list) -> None:
        now, wall = self.clock(), time.time()
        for m in batch:
            if m.value() is None:
                self.tombstones += 1
                continue
            self.count += 1
            self.per_topic[m.topic()] = self.per_topic.get(m.topic(), 0) + 1
            if self.keep or self.on_record:
                ts_type, ts = m.timestamp()
                arrival = Arrival(wall, m.topic(), ts if ts_type else None, m.value())
                if self.keep:
                    self.records.append(arrival)
                if self.on_record:
                    self.on_record(arrival)
        self.first_at = self.first_at or now
        self.last_at = now

    @property
    def written(self) -> int:
        """Every record the job wrote, tombstones included."""
        return self.count + self.tombstones

    def idle_for(self) -> float | None:
        """Seconds since the last record, None before the first."""
        return None if self.last_at is None else self.clock() - self.last_at

    def wait(self, expected: int | None, idle_s: float = 15.0, timeout_s: float = 1800.0,
             done: Callable[[], bool] | None = None) -> str:
        """Until `expected` records with a value, `done()`, `idle_s` without a record (after the
        first), or the timeout; returns which of them ended the wait."""
        began = self.clock()
        while True:
            now = self.clock()
            if expected is not None and self.count >= expected:
                return "expected"
            if done is not None and done():
                return "done"
            if self.last_at is not None and now - self.last_at >= idle_s:
                return "idle"
            if self.last_at is None and now - began >= max(idle_s, 120.0):
                return "no output"
            if now - began >= timeout_s:
                return "timeout"
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(10)
