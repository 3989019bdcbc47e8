"""All errors at once: check references even when some entries of a file failed validation.

pydantic rejects a whole pipeline when one source is malformed, which would hide every reference
error of the file. `partial_model` drops the entries that failed (`sources.orders`, ...) and
validates the rest, so the planner can still check references; `unchecked_references` then turns
each "unknown source 'orders'" about a dropped entry into one note that it could not be checked.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import TypeAdapter, ValidationError

from flinksql_gen.errors import Location, Problem
from flinksql_gen.load.yaml_loader import LoadedYaml
from flinksql_gen.models.pipeline import Pipeline

# Sections whose entries are named and referenced by name from other entries.
SECTIONS = ("sources", "lookups", "metrics", "detectors", "sinks")
_REFERENCE = re.compile(r"^unknown (source|lookup|metric|detector|sink) '(.+)'$")
Failed = dict[tuple[str, str], Location]


def partial_model(loaded: LoadedYaml, rounds: int = 5) -> tuple[Pipeline | None, Failed]:
    """The pipeline without the named entries that fail validation, and where those entries are.
    None when a failure is outside such an entry (a top-level key, a section that must not be empty)."""
    data = loaded.data
    if not isinstance(data, dict):
        return None, {}
    data = {k: dict(v) if k in SECTIONS and isinstance(v, dict) else v for k, v in data.items()}
    failed: Failed = {}
    for _ in range(rounds):  # dropping an entry can make a section empty or uncover a later error
        try:
            return Pipeline.model_validate(data, strict=True), failed
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            entries = {_entry(err["loc"], data) for err in errors}
        if None in entries:
            if failed and all(_entry(e["loc"], data) or _emptied(e, data) for e in errors):
                # Only sections left empty by dropping failed entries (a file's one source): the
                # rest is still checked, field by field, so its references are too.
                entries.discard(None)
                if not entries:
                    return _construct(data), failed
            else:
                return None, failed
        for section, name in entries:  # type: ignore[misc]
            failed[(section, name)] = loaded.positions.of((section, name))
            del data[section][name]
    return None, failed


def _emptied(err: dict, data: dict) -> bool:
    loc = tuple(err["loc"])
    return err["type"] == "too_short" and len(loc) == 1 and loc[0] in SECTIONS and data.get(loc[0]) == {}


def _construct(data: dict) -> Pipeline | None:
    """The pipeline from fields validated one by one, without the sections' must-not-be-empty rule
    (Pipeline has no model-level validator, so nothing else is skipped)."""
    values = {}
    for name, field in Pipeline.model_fields.items():
        if name in data:
            try:
                values[name] = TypeAdapter(field.annotation).validate_python(data[name], strict=True)
            except ValidationError:
                return None
    return Pipeline.model_construct(**values)


def _entry(loc: tuple[Any, ...], data: dict) -> tuple[str, str] | None:
    if len(loc) >= 2 and loc[0] in SECTIONS and isinstance(data.get(loc[0]), dict) and loc[1] in data[loc[0]]:
        return loc[0], loc[1]
    return None


def unchecked_references(problems: list[Problem], failed: Failed) -> list[Problem]:
    """The planner's problems, with references to failed entries replaced by one note per entry."""
    if not failed:
        return problems
    out: list[Problem] = []
    noted: set[tuple[str, str]] = set()
    for p in problems:
        m = _REFERENCE.match(p.message)
        key = (m.group(1) + "s", m.group(2)) if m else None
        if key is None or key not in failed:
            out.append(p)
        elif key not in noted:
            noted.add(key)
            section, name = key
            out.append(Problem(p.location, p.path, f"cannot be checked because {section}.{name} failed "
                               f"(at line {failed[key].line})", "fix that entry first"))  # fmt: skip
    return out
