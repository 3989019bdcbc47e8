"""Identifiers of flinksql-gen's own Flink formats, as SQL names them in a table's WITH options.
Here, below both the planner (which renders them) and the runtime (which builds the jar)."""

from __future__ import annotations

CHECKED_JSON = "flinksql-gen-json"  # CheckedJsonFormatFactory.IDENTIFIER in flinksql_gen/java/src
