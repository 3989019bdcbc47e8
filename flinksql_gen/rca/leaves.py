"""Leaf rows for root-cause analysis: dimension columns + a baseline value + a current value.

Leaves come from a pandas DataFrame, a list of dicts, or a CSV (the RCA snapshot format: dimension
columns + `real` (current) + `predict` (baseline/expected)). Internally each dimension is coded
as small integers so aggregation over any combination of dimensions is a numpy bincount.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class LeafTable:
    dimensions: list[str]
    codes: np.ndarray  # (n_leaves, n_dims) int
    labels: list[list[str]]  # labels[d][code] -> value
    baseline: np.ndarray  # float
    current: np.ndarray  # float

    def __len__(self) -> int:
        return len(self.baseline)

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[Mapping[str, Any]],
        dimensions: Sequence[str] | None = None,
        baseline: str = "baseline",
        current: str = "current",
    ) -> LeafTable:
        rows = list(rows)
        if dimensions is None:
            dimensions = [k for k in (rows[0] if rows else {}) if k not in (baseline, current)]
        dims = list(dimensions)
        columns = {d: [str(r[d]) for r in rows] for d in dims}
        return cls._build(dims, columns, [float(r[baseline]) for r in rows], [float(r[current]) for r in rows])

    @classmethod
    def from_frame(
        cls, frame: Any, dimensions: Sequence[str] | None = None, baseline: str = "baseline", current: str = "current"
    ) -> LeafTable:
        dims = list(dimensions) if dimensions is not None else [c for c in frame.columns if c not in (baseline, current)]
        columns = {d: frame[d].astype(str).tolist() for d in dims}
        return cls._build(dims, columns, frame[baseline].astype(float).tolist(), frame[current].astype(float).tolist())

    @classmethod
    def from_leaves(cls, dimensions: Sequence[str], leaves: Sequence[Sequence[Any]]) -> LeafTable:
        """From [[dimension values...], baseline, current] lists (the drill-down UDAF's leaves)."""
        dims = list(dimensions)
        columns = {d: [str(leaf[0][j]) for leaf in leaves] for j, d in enumerate(dims)}
        return cls._build(dims, columns, [float(leaf[1]) for leaf in leaves], [float(leaf[2]) for leaf in leaves])

    @classmethod
    def _build(cls, dims: list[str], columns: dict[str, list[str]], base: list[float], cur: list[float]) -> LeafTable:
        n = len(base)
        codes = np.zeros((n, len(dims)), dtype=np.int64)
        labels: list[list[str]] = []
        for j, d in enumerate(dims):
            uniq, inv = np.unique(np.asarray(columns[d], dtype=object).astype(str), return_inverse=True)
            codes[:, j] = inv.reshape(-1)
            labels.append([str(u) for u in uniq])
        b = np.nan_to_num(np.asarray(base, dtype=float))
        c = np.nan_to_num(np.asarray(cur, dtype=float))
        return cls(dims, codes, labels, b, c)

    def cardinality(self, j: int) -> int:
        return len(self.labels[j])

    def group(self, dims: Sequence[int], rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(group id per selected leaf, unique combined keys) for a combination of dimension indexes."""
        codes = self.codes if rows is None else self.codes[rows]
        if not dims:
            return np.zeros(len(codes), dtype=np.int64), np.zeros(1, dtype=np.int64)
        shape = tuple(self.cardinality(j) for j in dims)
        key = np.ravel_multi_index(tuple(codes[:, j] for j in dims), shape)
        uniq, inv = np.unique(key, return_inverse=True)
        return inv.reshape(-1), uniq

    def decode(self, dims: Sequence[int], key: int) -> dict[str, str]:
        shape = tuple(self.cardinality(j) for j in dims)
        idx = np.unravel_index(int(key), shape)
        return {self.dimensions[j]: self.labels[j][int(i)] for j, i in zip(dims, idx, strict=True)}


def parse_root_cause_set(text: str) -> list[dict[str, str]]:
    """'a=a1&b=b2;c=c3' -> [{'a': 'a1', 'b': 'b2'}, {'c': 'c3'}] (whitespace ignored)."""
    out = []
    for element in str(text).split(";"):
        element = element.strip()
        if not element:
            continue
        pairs = {}
        for pair in element.split("&"):
            name, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"{pair!r} is not dim=value")
            pairs[name.strip()] = value.strip()
        out.append(pairs)
    return out


def format_root_cause_set(elements: Iterable[Mapping[str, str]], order: Sequence[str] | None = None) -> str:
    """Inverse of parse_root_cause_set; dimensions in `order` (else sorted)."""
    parts = []
    for e in elements:
        keys = [k for k in order if k in e] if order else sorted(e)
        parts.append("&".join(f"{k}={e[k]}" for k in keys))
    return ";".join(parts)
