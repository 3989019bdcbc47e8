"""Pizza orders, keyed by shop; the order time is the Kafka record timestamp.

    {"id": 17, "shop": "Mamma Mia", "name": "Ada Lovelace", "phoneNumber": "(555) 301-4412",
     "address": "12 Elm Street, Springfield",
     "pizzas": [{"pizzaName": "Margherita", "additionalToppings": ["olives"]}]}

Each tick every shop gets Poisson(rate) orders. Anomalies: spike / level_shift / trend add to a
shop's order rate; forbidden_burst puts a forbidden topping (pineapple, strawberry, banana) on
that share of a shop's orders. Normal orders never carry a forbidden topping, and the baseline
orders are the same with or without anomalies for a given seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

from flinksql_gen.errors import UsageError
from flinksql_gen.produce.anomalies import Anomaly, label
from flinksql_gen.produce.events import Event

DEFAULT_SHOPS = ("Luigis Pizza", "Mamma Mia", "Marios Pizza", "Circular Pi", "Pizzafy", "Its-a-me Pizza")
FORBIDDEN_TOPPINGS = ("pineapple", "strawberry", "banana")
TOPPINGS = ("mozzarella", "olives", "mushrooms", "onion", "ham", "tuna", "basil", "peppers", "salami",
            "garlic", "anchovies", "artichoke")
PIZZAS = ("Margherita", "Marinara", "Diavola", "Capricciosa", "Quattro Formaggi", "Napoli", "Prosciutto e Funghi",
          "Peperoni", "Ortolana")
FIRST = ("Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Edsger", "Frances", "Guido",
         "Katherine")
LAST = ("Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Dijkstra",
        "Allen", "van Rossum", "Johnson")
STREETS = ("Elm Street", "Main Street", "Via Roma", "Harbour Road", "Mill Lane", "Station Road", "Oak Avenue")
CITIES = ("Springfield", "Rivertown", "Lakeside", "Hillview")
AUTO = [
    {"kind": "forbidden_burst", "at": "30%", "len": "5%", "fraction": 0.8},
    {"kind": "spike", "at": "60%", "len": "2%", "size": 3},
]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class PizzaGenerator:
    def __init__(self, seed: int = 1, shops: Sequence[str] = DEFAULT_SHOPS, rate: float = 1.0,
                 start_ms: int = 1_700_000_000_000, tick_ms: int = 1000, anomalies: Sequence[Anomaly] = ()):
        if not shops:
            raise UsageError("pizza needs at least one shop")
        self.seed, self.shops, self.rate, self.start_ms, self.tick_ms = seed, tuple(shops), rate, start_ms, tick_ms
        order = list(self.shops)
        random.Random(f"{seed}:entities").shuffle(order)
        self.anomalies: list[tuple[Anomaly, str]] = []
        for n, a in enumerate(anomalies):
            shop = a.entity or order[n % len(order)]
            if shop not in self.shops:
                raise UsageError(f"anomaly {a.kind}: unknown shop {shop!r} (shops: {', '.join(self.shops)})")
            self.anomalies.append((a, shop))
        self.counts = [0] * len(self.anomalies)
        self.last_tick = -1
        self.next_id = 0

    def ticks_for(self, count: int) -> int:
        return max(1, math.ceil(count / max(self.rate * len(self.shops), 1e-9)))

    def _extra_rate(self, shop: str, tick: int) -> list[tuple[int, float]]:
        out = []
        for i, (a, target) in enumerate(self.anomalies):
            if target != shop or not a.active(tick) or a.kind == "forbidden_burst":
                continue
            out.append((i, a.magnitude * (tick - a.at + 1) if a.kind == "trend" else a.magnitude))
        return out

    def _order(self, rng: random.Random, shop: str) -> dict:
        pizzas = [{"pizzaName": rng.choice(PIZZAS),
                   "additionalToppings": rng.sample(TOPPINGS, rng.randint(0, 3))}
                  for _ in range(rng.randint(1, 3))]
        return {
            "shop": shop,
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "phoneNumber": f"(555) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
            "address": f"{rng.randint(1, 250)} {rng.choice(STREETS)}, {rng.choice(CITIES)}",
            "pizzas": pizzas,
        }

    def events(self) -> Iterator[Event]:
        tick = 0
        while True:
            self.last_tick = tick
            t0 = self.start_ms + tick * self.tick_ms
            batch: list[tuple[int, int, dict, list[int]]] = []  # (ts, seq, order, anomaly indexes)
            for shop in self.shops:
                rng = random.Random(f"{self.seed}:{tick}:{shop}")
                placed: list[tuple[dict, int | None]] = [(self._order(rng, shop), None)
                                                         for _ in range(_poisson(rng, self.rate))]
                for i, extra in self._extra_rate(shop, tick):
                    more = random.Random(f"{self.seed}:{tick}:{shop}:extra:{i}")
                    placed += [(self._order(more, shop), i) for _ in range(_poisson(more, max(0.0, extra)))]
                for k, (order, source) in enumerate(placed):
                    pick = random.Random(f"{self.seed}:{tick}:{shop}:{k}:burst")
                    offset, draw, topping = pick.randrange(self.tick_ms), pick.random(), pick.choice(FORBIDDEN_TOPPINGS)
                    causes = [] if source is None else [source]
                    for i, (a, target) in enumerate(self.anomalies):
                        if a.kind == "forbidden_burst" and target == shop and a.active(tick) and draw < a.magnitude:
                            pizza = order["pizzas"][0]
                            pizza["additionalToppings"] = [*pizza["additionalToppings"], topping]
                            causes.append(i)
                            break
                    batch.append((t0 + offset, len(batch), order, causes))
            for ts, _, order, causes in sorted(batch, key=lambda b: (b[0], b[1])):
                for i in causes:
                    self.counts[i] += 1
                value = {"id": self.next_id, **order}
                self.next_id += 1
                yield Event(order["shop"], value, ts)
            tick += 1

    def labels(self) -> dict:
        entries = [label(a, shop, self.start_ms, self.tick_ms, self.last_tick, n)
                   for (a, shop), n in zip(self.anomalies, self.counts, strict=True) if n]
        return {"generator": "pizza", "seed": self.seed, "start_ms": self.start_ms, "tick_ms": self.tick_ms,
                "shops": list(self.shops), "rate_per_tick": self.rate,
                "forbidden_toppings": list(FORBIDDEN_TOPPINGS), "anomalies": entries}
