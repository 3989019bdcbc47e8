"""What an upgrade does to running jobs: compare a deployed manifest with a new bundle.

Each insert Statement carries a `state_signature`: a digest of everything that shapes the
job's state (filled in by the renderer; empty means the insert keeps no state). Per pipeline:

- unchanged            every statement (kind, name, SQL, signature) is the same
- stateless            something changed, but no insert keeps state: restart from scratch
- stateful_compatible  state signatures kept (SQL may differ), or only new stateful inserts:
                       stop with a savepoint and restore from it
- state_breaking       a stateful insert was removed or its signature changed (or the max
                       parallelism changed): the old state cannot be restored as is
- added / removed      the pipeline is new / no longer defined
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from flinksql_gen.bundle import Bundle, PipelineBundle
from flinksql_gen.manifest import read_manifest

ChangeKind = Literal["unchanged", "stateless", "stateful_compatible", "state_breaking", "added", "removed"]

# Settings whose change makes a savepoint unusable for the new job.
STATE_BREAKING_SETTINGS = ("pipeline.max-parallelism",)


@dataclass(frozen=True)
class Change:
    pipeline: str
    kind: ChangeKind
    reason: str

    @property
    def breaks_state(self) -> bool:
        return self.kind == "state_breaking"

    @property
    def needs_savepoint(self) -> bool:
        """True when the running job should be stopped with a savepoint and the new one restored."""
        return self.kind == "stateful_compatible"


def load_manifest(path: Path | str) -> dict:
    """A manifest.json (or a bundle folder holding one) as written by Bundle.write, checked
    against the typed, versioned model (flinksql_gen/manifest.py)."""
    return read_manifest(path).model_dump(mode="json")


def classify(old_manifest: dict, new_bundle: Bundle) -> list[Change]:
    """One Change per pipeline of either side, sorted by pipeline name."""
    if not isinstance(old_manifest, dict) or not isinstance(new_bundle, Bundle):
        raise TypeError("classify(old_manifest: dict, new_bundle: Bundle): give a manifest and a Bundle")
    old = {p["name"]: p for p in old_manifest.get("pipelines", [])}
    changes = [
        _classify_pipeline(old[p.name], p) if p.name in old else Change(p.name, "added", "new pipeline")
        for p in new_bundle.pipelines
    ]
    new_names = {p.name for p in new_bundle.pipelines}
    changes += [
        Change(name, "removed", "no longer defined: stop (or cancel) its job")
        for name in old
        if name not in new_names
    ]
    return sorted(changes, key=lambda c: c.pipeline)


def _classify_pipeline(old: dict, new: PipelineBundle) -> Change:
    old_statements = [
        (s["kind"], s["name"], s["sql"], s.get("state_signature", "")) for s in old.get("statements", [])
    ]
    new_statements = [(s.kind, s.name, s.sql, s.state_signature) for s in new.statements]
    if old_statements == new_statements:
        return Change(new.name, "unchanged", "same statements")

    old_sig = {name: sig for kind, name, _, sig in old_statements if kind == "insert" and sig}
    new_sig = {s.name: s.state_signature for s in new.inserts if s.state_signature}
    changed_sql = _changed(old_statements, new_statements)
    if not old_sig and not new_sig:
        return Change(new.name, "stateless", f"no insert keeps state; changed: {changed_sql}")

    breaking = [f"stateful insert {n!r} removed" for n in sorted(old_sig.keys() - new_sig.keys())]
    breaking += [
        f"state of insert {n!r} changed"
        for n in sorted(old_sig.keys() & new_sig.keys())
        if old_sig[n] != new_sig[n]
    ]
    old_settings = {s["setting"]["key"]: s["setting"]["value"] for s in old.get("statements", []) if s.get("setting")}
    new_settings = new.settings
    breaking += [
        f"{key} changed" for key in STATE_BREAKING_SETTINGS if old_settings.get(key) != new_settings.get(key)
    ]
    if breaking:
        return Change(
            new.name,
            "state_breaking",
            "; ".join(breaking)
            + " (restore with --allow-non-restored-state to drop that state, or start fresh)",
        )
    added = sorted(new_sig.keys() - old_sig.keys())
    notes = [f"changed: {changed_sql}"] if changed_sql else []
    notes += [f"new stateful insert {n!r} starts empty" for n in added]
    return Change(new.name, "stateful_compatible", "state kept; " + "; ".join(notes))


def _changed(old: list[tuple[str, str, str, str]], new: list[tuple[str, str, str, str]]) -> str:
    """Statements added, removed or edited, as 'kind name' items."""
    before = {(k, n): (sql, sig) for k, n, sql, sig in old}
    after = {(k, n): (sql, sig) for k, n, sql, sig in new}
    items = [f"+{k} {n}" for k, n in after if (k, n) not in before]
    items += [f"-{k} {n}" for k, n in before if (k, n) not in after]
    items += [f"{k} {n}" for (k, n), v in after.items() if (k, n) in before and before[(k, n)] != v]
    return ", ".join(items) or "statement order"


_STATEFUL = re.compile(r"\b(GROUP\s+BY|OVER\s*\(|MATCH_RECOGNIZE|JOIN|DISTINCT|TUMBLE|HOP|CUMULATE)\b", re.IGNORECASE)


STATE_MARK = "-- flinksql-gen state: "
_MARK = re.compile(r"^-- flinksql-gen state: (\S+)\s*$", re.MULTILINE)


def mark_statement(sql: str, state_signature: str) -> str:
    """The statement with its state signature as a trailing comment, for targets that keep only SQL."""
    return f"{sql}\n{STATE_MARK}{state_signature or 'stateless'}"


def classify_statements(old_sql: str, new_sql: str) -> str:
    """For targets that keep only the statement text (Aiven): '' when the new statement can start
    from the old one's state, else the reason it cannot.

    Statements marked with `mark_statement` compare their state signatures (as `classify` does for
    manifests). Unmarked ones: identical statements, or statements that hold no operator state,
    are compatible; a changed statement with aggregations, windows, joins or patterns is treated
    as state-breaking, since without the planner's signature we cannot prove otherwise.
    """
    old_mark, new_mark = _MARK.search(old_sql), _MARK.search(new_sql)
    if old_mark and new_mark:
        old_sig, new_sig = old_mark.group(1), new_mark.group(1)
        return "" if old_sig == new_sig else f"the job's state layout changed (state signature {old_sig} -> {new_sig})"
    if " ".join(old_sql.split()) == " ".join(new_sql.split()):
        return ""
    if not _STATEFUL.search(old_sql) and not _STATEFUL.search(new_sql):
        return ""
    return "a stateful statement (aggregation, window, join or pattern) changed"
