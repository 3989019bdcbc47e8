"""Counts the records a running job writes to its sink topics (for --until-idle / --max-records)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from flinksql_gen.kafka.client import end_offsets, open_consumer


class SinkMonitor(threading.Thread):
    """Reads the sink topics (read_committed) from their end as it was before the job started."""

    def __init__(self, bootstrap: str, topics: Iterable[str]):
        super().__init__(daemon=True, name="flinksql-sink-monitor")
        self.bootstrap = bootstrap
        self.topics = sorted(set(topics))
        self.start_offsets = end_offsets(self.topics, bootstrap=bootstrap) if self.topics else {}
        self.count = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        if not self.topics:
            return
        consumer = open_consumer(self.topics, bootstrap=self.bootstrap, start=self.start_offsets)
        try:
            while not self._stop_event.is_set():
                batch = [m for m in consumer.consume(num_messages=1000, timeout=0.2) if not m.error()]
                if batch:
                    now = time.monotonic()
                    self.count += len(batch)
                    self.first_at = self.first_at or now
                    self.last_at = now
        finally:
            consumer.close()

    def idle_for(self) -> float | None:
        """Seconds since the last record, None before the first."""
        return None if self.last_at is None else time.monotonic() - self.last_at

    def stop(self) -> None:
        self._stop_event.set()
