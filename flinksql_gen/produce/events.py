"""What the generators yield, and where events go (Kafka or a JSON-lines file), with pacing."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    key: str | None
    value: dict[str, Any]
    timestamp_ms: int


class Sink(Protocol):
    def send(self, event: Event) -> None: ...
    def close(self) -> None: ...


class KafkaSink:
    """Keyed JSON records to a topic (murmur2-partitioned like the Java client)."""

    def __init__(self, topic: str, bootstrap: str, flush_every_s: float = 1.0, config: dict[str, Any] | None = None):
        from flinksql_gen.kafka.client import JsonProducer

        self.topic = topic
        self.producer = JsonProducer(bootstrap, config)
        self.flush_every_s = flush_every_s
        self._last_flush = time.monotonic()

    def send(self, event: Event) -> None:
        self.producer.send(self.topic, event.value, event.key, event.timestamp_ms)

    def tick(self) -> None:
        """Called while pacing: deliver held-back records of a slow stream now and then."""
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.producer.flush()
            self._last_flush = time.monotonic()

    def close(self) -> None:
        self.producer.close()


class JsonlSink:
    """One JSON object per line: {"key", "timestamp", "value"}."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def send(self, event: Event) -> None:
        self._file.write(json.dumps({"key": event.key, "timestamp": event.timestamp_ms, "value": event.value},
                                    separators=(",", ":")) + "\n")

    def tick(self) -> None:
        pass

    def close(self) -> None:
        self._file.close()


def take(events: Iterable[Event], count: int | None) -> Iterator[Event]:
    """The first `count` events (all if None), never pulling one more from the generator."""
    return iter(events) if count is None else itertools.islice(events, count)


def pump(events: Iterable[Event], sink: KafkaSink | JsonlSink, count: int | None = None,
         rate: float | None = None, progress: bool = False, description: str = "producing") -> int:
    """Send events (at most `count`, at most `rate` per second); returns how many were sent."""
    sent = 0
    started = time.monotonic()
    bar = None
    if progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        if count:
            columns.append(TimeRemainingColumn())
        bar = Progress(*columns, transient=False)
        bar.start()
        task = bar.add_task(description, total=count)
    try:
        for event in take(events, count):
            sink.send(event)
            sent += 1
            if rate:
                ahead = started + sent / rate - time.monotonic()
                if ahead > 0:
                    sink.tick()
                    time.sleep(ahead)
            if bar is not None and (sent % 500 == 0 or rate):
                bar.update(task, completed=sent)
    finally:
        sink.close()
        if bar is not None:
            bar.update(task, completed=sent)
            bar.stop()
    return sent


def write_labels(path: Path, labels: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(labels, indent=2, sort_keys=True) + "\n")
    return path
