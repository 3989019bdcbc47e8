"""Kafka helpers for the local broker and any Kafka: topics, JSON producing, consuming.

Every call takes the bootstrap servers explicitly: which broker to use is the caller's decision
(the CLI takes --bootstrap or the local stack's state), never read here from the environment.

Readers are read_committed (pipelines write with exactly-once transactions, so only committed
output counts) and know where a partition ends from its last stable offset. Keyed records are
partitioned with Kafka's murmur2, like the Java client does.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flinksql_gen.errors import UsageError


def client_config(bootstrap: str, **extra: Any) -> dict[str, Any]:
    """The settings every client of ours starts from: the one place for broker workarounds.

    log.connection.close off: brokers close idle connections after connections.max.idle.ms, and
    librdkafka would log each close as an error on the user's terminal.
    """
    return {"bootstrap.servers": bootstrap, "log.connection.close": False, **extra}


def _admin(bootstrap: str, log_level: int = 4):
    from confluent_kafka.admin import AdminClient

    return AdminClient(client_config(bootstrap, log_level=log_level))


def broker_answers(bootstrap: str, timeout: float = 2.0) -> bool:
    """True once a broker serves metadata (its listener opens before its controller is ready)."""
    try:
        return bool(_admin(bootstrap, log_level=0).list_topics(timeout=timeout).brokers)
    except Exception:  # any failure to answer means "not yet"
        return False


def delete_topics(topics: Iterable[str], *, bootstrap: str, timeout: float = 30.0) -> None:
    """Delete topics and wait until the broker has."""
    names = sorted(set(topics))
    if names:
        for fut in _admin(bootstrap, log_level=3).delete_topics(names, operation_timeout=timeout).values():
            fut.result(timeout)


def parse_topic_spec(spec: str, partitions: int = 1) -> tuple[str, int]:
    """`name` or `name:partitions`."""
    name, _, count = spec.partition(":")
    if not name or (count and not count.isdigit()):
        raise UsageError(f"bad topic {spec!r}: write NAME or NAME:PARTITIONS")
    return name, int(count) if count else partitions


def create_topics(topics: Iterable[str], *, bootstrap: str, partitions: int = 1,
                  timeout: float = 30.0) -> list[str]:
    """Create topics (`name` or `name:partitions`); existing ones are left alone. Returns the names."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    specs = [parse_topic_spec(t, partitions) for t in topics]
    if not specs:
        return []
    admin = _admin(bootstrap)
    futures = admin.create_topics([NewTopic(n, p, 1) for n, p in specs], operation_timeout=timeout,
                                  request_timeout=timeout)
    for name, fut in futures.items():
        try:
            fut.result(timeout)
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise UsageError(f"could not create topic {name!r}: {err.str()}") from None
    return [n for n, _ in specs]


def partition_count(topic: str, *, bootstrap: str, timeout: float = 10.0) -> int:
    """Number of partitions, or 0 if the topic does not exist."""
    return _partitions(_admin(bootstrap).list_topics(topic, timeout=timeout), topic)


def _partitions(meta, topic: str) -> int:
    t = meta.topics.get(topic)
    if t is None or t.error is not None:
        return 0
    return len(t.partitions)


def list_topics(*, bootstrap: str, timeout: float = 10.0) -> list[str]:
    meta = _admin(bootstrap).list_topics(timeout=timeout)
    return sorted(n for n, t in meta.topics.items() if t.error is None and not n.startswith("__"))


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (the Java client's default partitioner)."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = data[i] | data[i + 1] << 8 | data[i + 2] << 16 | data[i + 3] << 24
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = length & ~3
    extra = length % 4
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def _bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":"), default=str).encode()


class JsonProducer:
    """A JSON producer: `send` values are JSON-encoded unless bytes/str; keys are str/bytes and
    pick the partition with murmur2 like the Java client. Call `flush` (or use it as a context
    manager) to deliver everything; errors surface there."""

    def __init__(self, bootstrap: str, config: Mapping[str, Any] | None = None):
        from confluent_kafka import Producer

        self.bootstrap = bootstrap
        conf = client_config(bootstrap, **{"linger.ms": 20, "batch.num.messages": 10000,
                                           "queue.buffering.max.messages": 500000, **(config or {})})
        self._producer: Any = Producer(conf)
        self._partitions: dict[str, int] = {}
        self._round_robin: dict[str, int] = {}
        self._error: str | None = None
        self.sent = 0

    def __enter__(self) -> JsonProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Flush, then release the client (no reconnect attempts once the broker is gone)."""
        if self._producer is not None:
            try:
                self.flush()
            finally:
                self._producer = None

    def _count(self, topic: str) -> int:
        if topic not in self._partitions:
            n = partition_count(topic, bootstrap=self.bootstrap)
            if not n:
                raise UsageError(f"topic {topic!r} does not exist: create it first (flinksql-gen up --topic {topic})")
            self._partitions[topic] = n
        return self._partitions[topic]

    def _on_delivery(self, err, _msg) -> None:
        if err is not None and self._error is None:
            self._error = err.str()

    def send(self, topic: str, value: Any, key: Any = None, timestamp_ms: int | None = None,
             partition: int | None = None) -> None:
        kb, vb = _bytes(key), _bytes(value)
        n = self._count(topic)
        if partition is None:
            if kb is not None:
                partition = partition_for(kb, n)
            else:
                partition = self._round_robin.get(topic, 0) % n
                self._round_robin[topic] = partition + 1
        kwargs: dict[str, Any] = {"partition": partition, "on_delivery": self._on_delivery}
        if timestamp_ms is not None:
            kwargs["timestamp"] = int(timestamp_ms)
        while True:
            try:
                self._producer.produce(topic, value=vb, key=kb, **kwargs)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)
        self.sent += 1

    def flush(self, timeout: float = 60.0) -> None:
        left = self._producer.flush(timeout)
        if left:
            raise UsageError(f"the broker at {self.bootstrap} did not take {left} record(s) within {timeout:.0f}s")
        if self._error:
            error, self._error = self._error, None
            raise UsageError(f"producing to {self.bootstrap} failed: {error}")


def produce_json(topic: str, records: Iterable[Any], *, bootstrap: str,
                 key: str | Callable[[Any], Any] | None = None,
                 timestamp: str | Callable[[Any], int | None] | None = None) -> int:
    """Send records as JSON (keyed by a field name or function); returns the count sent."""
    key_of = (lambda r: r.get(key)) if isinstance(key, str) else key
    ts_of = (lambda r: r.get(timestamp)) if isinstance(timestamp, str) else timestamp
    with JsonProducer(bootstrap) as producer:
        for record in records:
            producer.send(topic, record, key_of(record) if key_of else None, ts_of(record) if ts_of else None)
        return producer.sent


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: Any
    timestamp: int | None


def _decode(raw: bytes | None, as_json: bool) -> Any:
    if raw is None:
        return None
    text = raw.decode("utf-8", errors="replace")
    if not as_json:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def open_consumer(topics: Iterable[str], *, bootstrap: str,
                  start: Mapping[tuple[str, int], int] | None = None, wait_s: float = 10.0, eof: bool = False):
    """A confluent Consumer assigned to every partition of `topics` at `start` (default: beginning);
    with `eof`, it reports each partition's end as a _PARTITION_EOF error message."""
    consumer = _consumer(bootstrap, eof)
    _assign(consumer, bootstrap, topics, start, wait_s)
    return consumer


def _consumer(bootstrap: str, eof: bool = False):
    """A read_committed consumer: it sees only committed transactions (exactly-once sinks)."""
    from confluent_kafka import Consumer

    return Consumer(client_config(bootstrap, **{
        "group.id": f"flinksql-gen-{uuid.uuid4().hex[:12]}", "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "isolation.level": "read_committed", "enable.partition.eof": eof}))


def _assign(consumer, bootstrap: str, topics: Iterable[str], start: Mapping[tuple[str, int], int] | None,
            wait_s: float) -> bool:
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    deadline = time.monotonic() + wait_s
    topics = list(topics)
    while True:  # one metadata request for every topic, on the consumer's own connection
        meta = consumer.list_topics(timeout=max(1.0, deadline - time.monotonic()))
        counts = {t: _partitions(meta, t) for t in topics}
        if all(counts.values()) or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    parts = [TopicPartition(t, p, (start or {}).get((t, p), OFFSET_BEGINNING))
             for t, n in counts.items() for p in range(n)]
    if not parts:
        return False
    consumer.assign(parts)
    return True


def iter_records(topics: str | Iterable[str], *, bootstrap: str, idle_s: float | None = 5.0,
                 start: Mapping[tuple[str, int], int] | None = None, as_json: bool = True,
                 timeout_s: float | None = None, to_end: bool = False) -> Iterator[Record]:
    """Committed records from the beginning (or `start` offsets). Stops at the end of every
    partition (its last stable offset) with `to_end`, after `idle_s` without a new record
    (None: never), or after `timeout_s` overall."""
    from confluent_kafka import KafkaError

    names = [topics] if isinstance(topics, str) else list(topics)
    consumer = _consumer(bootstrap, eof=to_end)
    began = time.monotonic()
    try:
        if not _assign(consumer, bootstrap, names, start, idle_s if idle_s is not None else 3600.0):
            return
        pending = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        last = time.monotonic()
        while True:
            now = time.monotonic()
            if to_end and not pending:
                return
            if idle_s is not None and now - last >= idle_s:
                return
            if timeout_s is not None and now - began >= timeout_s:
                return
            for msg in consumer.consume(num_messages=1000, timeout=0.2):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        pending.discard((msg.topic(), msg.partition()))
                    continue
                last = time.monotonic()
                ts_type, ts = msg.timestamp()
                key = msg.key()
                yield Record(msg.topic(), msg.partition(), msg.offset(),
                             key.decode("utf-8", errors="replace") if key is not None else None,
                             _decode(msg.value(), as_json), ts if ts_type else None)
    finally:
        consumer.close()


def consume(topic: str | Iterable[str], expected: int | None = None, idle_s: float = 5.0, *,
            bootstrap: str, timeout_s: float | None = None, as_json: bool = True,
            start: Mapping[tuple[str, int], int] | None = None) -> list[Record]:
    """Committed records from the beginning: everything up to the current end of each partition
    when `expected` is None, else until `expected` arrived (or `idle_s` without a new one)."""
    out: list[Record] = []
    for record in iter_records(topic, bootstrap=bootstrap, idle_s=idle_s, start=start, as_json=as_json,
                               timeout_s=timeout_s, to_end=expected is None):
        out.append(record)
        if expected is not None and len(out) >= expected:
            break
    return out


def end_offsets(topics: Iterable[str], *, bootstrap: str,
                timeout: float = 10.0) -> dict[tuple[str, int], int]:
    """Each partition's end as a read_committed reader sees it (the last stable offset)."""
    from confluent_kafka import TopicPartition

    topics = list(topics)
    consumer = _consumer(bootstrap)
    try:
        ends: dict[tuple[str, int], int] = {}
        for t in topics:
            for p in range(partition_count(t, bootstrap=bootstrap)):
                _low, high = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=timeout, cached=False)
                ends[(t, p)] = high
        return ends
    finally:
        consumer.close()
