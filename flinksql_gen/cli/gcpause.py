"""The cyclic garbage collector paused while a CLI command plans and renders.

Planning allocates many small, acyclic objects; the collector's passes over them cost a share of
rendering many pipelines (bench/bench_render.py measures it: `--gc-only`). Reference counting
still frees everything. Only the `render` and `validate` commands use this, around one call, in a
process that ends right after: the library itself never changes the collector.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Promote what was allocated meanwhile to the oldest generation without a pass over it
        # (the first young-generation collection would otherwise scan all of it at once).
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()
