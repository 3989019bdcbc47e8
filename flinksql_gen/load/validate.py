"""Validate loaded YAML against a pydantic model; every error gets file:line:col, key path and hint."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar, Union

from pydantic import BaseModel, ValidationError

from flinksql_gen.errors import Problem
from flinksql_gen.load.yaml_loader import LoadedYaml, dotted

M = TypeVar("M", bound=BaseModel)


def validate_model(model: type[M], loaded: LoadedYaml) -> tuple[M | None, list[Problem]]:
    if not isinstance(loaded.data, dict):
        loc = loaded.positions.of(())
        kind = type(loaded.data).__name__ if loaded.data is not None else "nothing"
        return None, [Problem(loc, "", f"expected a mapping of keys at the top of the file, found {kind}")]
    try:
        return model.model_validate(loaded.data, strict=True), []
    except ValidationError as exc:
        return None, [_problem(model, loaded, err) for err in exc.errors(include_url=False)]


def _problem(model: type[BaseModel], loaded: LoadedYaml, err: dict[str, Any]) -> Problem:
    loc = tuple(err["loc"])
    data_path, skipped = _walk(loaded.data, loc)
    kind = err["type"]
    display = data_path
    if kind == "missing" and loc and loc[-1] not in data_path:
        display = (*data_path, loc[-1])
    location = loaded.positions.of(data_path, prefer_value=kind not in ("extra_forbidden", "missing"))
    message = _clean(err["msg"])
    hint = ""
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        message = f"unknown key {loc[-1]!r}"
        hint = _suggest(str(loc[-1]), allowed, "valid keys")
    elif kind == "missing":
        message = f"missing required key {loc[-1]!r}"
    elif kind == "union_tag_invalid":
        expected = [t.strip(" '") for t in str(err.get("ctx", {}).get("expected_tags", "")).split(",") if t.strip()]
        tag = err.get("ctx", {}).get("tag", "")
        message = f"unknown type {tag!r}"
        hint = _suggest(str(tag), expected, "types")
        location = loaded.positions.of((*data_path, "type"), prefer_value=True)
        display = (*data_path, "type")
    elif kind == "union_tag_not_found":
        message = "missing required key 'type'"
        display = (*data_path, "type")
    elif kind == "literal_error":
        expected = [e.strip(" '") for e in str(err.get("ctx", {}).get("expected", "")).replace(" or ", ",").split(",")]
        given = err.get("input")
        message = f"{given!r} is not allowed here; expected one of: {', '.join(e for e in expected if e)}"
        if isinstance(given, str):
            close = difflib.get_close_matches(given, expected, n=1)
            hint = f"did you mean {close[0]!r}?" if close else ""
    del skipped
    return Problem(location, dotted(display), message, hint)


def _walk(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], list[Any]]:
    """Follow a pydantic loc through the data, skipping segments that are union tags or validators."""
    path: list[Any] = []
    skipped: list[Any] = []
    cur = data
    for seg in loc:
        if (isinstance(cur, dict) and seg in cur) or (isinstance(cur, list) and isinstance(seg, int) and 0 <= seg < len(cur)):
            path.append(seg)
            cur = cur[seg]
        else:
            skipped.append(seg)
    return tuple(path), skipped


def _clean(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def _suggest(given: str, allowed: list[str], what: str) -> str:
    if not allowed:
        return ""
    close = difflib.get_close_matches(given, allowed, n=1, cutoff=0.6)
    listing = f"{what}: {', '.join(sorted(allowed))}"
    return f"did you mean {close[0]!r}? {listing}" if close else listing


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a model accepts at a pydantic loc (following dicts, lists and tagged unions)."""
    tp: Any = model
    for seg in loc:
        tp = _step(tp, seg)
        if tp is None:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or name for name, f in tp.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return [_unwrap(a) for a in typing.get_args(tp)]
    return [tp]


def _step(tp: Any, seg: Any) -> Any:
    tp = _unwrap(tp)
    members = _union_members(tp)
    if len(members) > 1:
        # A tagged union's loc segment is the tag value: pick the member whose `type` default matches.
        for m in members:
            is_tagged = isinstance(m, type) and issubclass(m, BaseModel) and "type" in m.model_fields
            if is_tagged and seg in _tag_values(m):
                return m
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if len(models) == 1:
            return _step(models[0], seg)
        others = [m for m in members if m is not type(None)]
        return _step(others[0], seg) if len(others) == 1 else None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, f in tp.model_fields.items():
            if seg in (name, f.alias):
                return f.annotation
        return None
    origin = typing.get_origin(tp)
    if origin is dict:
        return typing.get_args(tp)[1]
    if origin is list:
        return typing.get_args(tp)[0]
    return None


def _tag_values(model: type[BaseModel]) -> tuple[Any, ...]:
    ann = _unwrap(model.model_fields["type"].annotation)
    return typing.get_args(ann) if typing.get_origin(ann) is typing.Literal else ()
