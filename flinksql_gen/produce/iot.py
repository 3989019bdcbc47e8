"""IoT CPU readings: one event per host and CPU each tick, keyed by hostname.

    {"hostname": "dopey", "cpu": "cpu1", "usage": 41.3, "occurred_at": 1700000000000}

A host's CPUs hover around a level of their own with Gaussian noise; anomalies add on top
(spike: +size for len ticks; level_shift: +delta from `at`; trend: +slope per tick), so the
baseline values are the same with or without anomalies for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from flinksql_gen.errors import UsageError
from flinksql_gen.produce.anomalies import Anomaly, label
from flinksql_gen.produce.events import Event

DEFAULT_HOSTS = ("doc", "grumpy", "happy", "sleepy", "bashful", "sneezy", "dopey")
AUTO = [
    {"kind": "spike", "at": "20%", "len": 5, "size": 45},
    {"kind": "level_shift", "at": "50%", "len": 0, "delta": 25},
    {"kind": "trend", "at": "70%", "len": "20%", "slope": 0.5},
]


class IotGenerator:
    def __init__(self, seed: int = 1, hosts: Sequence[str] = DEFAULT_HOSTS, cpus: int = 2,
                 start_ms: int = 1_700_000_000_000, tick_ms: int = 1000, anomalies: Sequence[Anomaly] = ()):
        if not hosts or cpus < 1:
            raise UsageError("iot needs at least one host and one cpu")
        self.seed, self.hosts, self.tick_ms, self.start_ms = seed, tuple(hosts), tick_ms, start_ms
        self.cpus = tuple(f"cpu{i + 1}" for i in range(cpus))
        order = list(self.hosts)
        random.Random(f"{seed}:entities").shuffle(order)
        self.anomalies: list[tuple[Anomaly, str]] = []
        for n, a in enumerate(anomalies):
            if a.kind == "forbidden_burst":
                raise UsageError("forbidden_burst anomalies apply to the pizza generator only")
            host = a.entity or order[n % len(order)]
            if host not in self.hosts:
                raise UsageError(f"anomaly {a.kind}: unknown host {host!r} (hosts: {', '.join(self.hosts)})")
            self.anomalies.append((a, host))
        self.counts = [0] * len(self.anomalies)
        self.last_tick = -1

    @staticmethod
    def ticks_for(count: int, hosts: int, cpus: int) -> int:
        return -(-count // (hosts * cpus))

    def _effect(self, a: Anomaly, tick: int) -> float:
        if a.kind == "trend":
            return a.magnitude * (tick - a.at + 1)
        return a.magnitude

    def events(self) -> Iterator[Event]:
        rng = random.Random(self.seed)
        base = {(h, c): rng.uniform(20, 60) for h in self.hosts for c in self.cpus}
        tick = 0
        while True:
            self.last_tick = tick
            ts = self.start_ms + tick * self.tick_ms
            for host in self.hosts:
                for cpu in self.cpus:
                    usage = base[(host, cpu)] + rng.gauss(0, 5)
                    for i, (a, target) in enumerate(self.anomalies):
                        if target == host and a.active(tick) and a.params.get("cpu", cpu) == cpu:
                            usage += self._effect(a, tick)
                            self.counts[i] += 1
                    usage = round(min(100.0, max(0.0, usage)), 1)
                    yield Event(host, {"hostname": host, "cpu": cpu, "usage": usage, "occurred_at": ts}, ts)
            tick += 1

    def labels(self) -> dict:
        entries = [label(a, host, self.start_ms, self.tick_ms, self.last_tick, n)
                   for (a, host), n in zip(self.anomalies, self.counts, strict=True) if n]
        return {"generator": "iot", "seed": self.seed, "start_ms": self.start_ms, "tick_ms": self.tick_ms,
                "hosts": list(self.hosts), "cpus": list(self.cpus), "anomalies": entries}
