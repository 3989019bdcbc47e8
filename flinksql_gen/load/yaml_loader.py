"""A YAML loader that keeps the position of every key and value (dagster-style).

`load_yaml(path)` returns the plain data plus a `Positions` map from key paths such as
("metrics", "cpu", "window", "size") to their file:line:col, so that validation errors can
say exactly where a problem is. Duplicate keys are errors, not silent overwrites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flinksql_gen.errors import Location, Problem, relative

PathKey = tuple[Any, ...]


Mark = tuple[int, int]  # 1-based (line, column)


@dataclass
class Positions:
    file: str
    # path -> (line, column) of the key (for mapping entries) or of the item (for sequence items)
    keys: dict[PathKey, Mark] = field(default_factory=dict)
    # path -> (line, column) of the value node
    values: dict[PathKey, Mark] = field(default_factory=dict)

    def of(self, path: PathKey, prefer_value: bool = False) -> Location:
        """The location of the deepest known prefix of `path`."""
        path = tuple(path)
        while path:
            table = (self.values, self.keys) if prefer_value else (self.keys, self.values)
            for t in table:
                if path in t:
                    return Location(self.file, *t[path])
            path = path[:-1]
        return Location(self.file, *self.values.get((), (1, 1)))


@dataclass
class LoadedYaml:
    data: Any
    positions: Positions


def _loc(file: str, mark: yaml.Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def _mark(node: yaml.Node) -> Mark:
    return node.start_mark.line + 1, node.start_mark.column + 1


# libyaml's parser when PyYAML has it (about 8x faster, same marks), else the pure-Python one.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader with YAML 1.2 booleans: only true/false, so `on`, `yes`, `no` stay text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


_STR = "tag:yaml.org,2002:str"


class _Converter:
    def __init__(self, file: str):
        self.file = file
        self.positions = Positions(file)
        self.problems: list[Problem] = []
        self._constructor = _Loader("")  # used only to construct scalar values

    def convert(self, node: yaml.Node, path: PathKey) -> Any:
        self.positions.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.problems.append(
                        Problem(_loc(self.file, key_node.start_mark), _dotted(path), "YAML merge keys (<<) are not supported", "write the keys out")
                    )
                    continue
                # Keys are their literal text: `on:` is the key "on", `1:` the key "1".
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    self.problems.append(
                        Problem(_loc(self.file, key_node.start_mark), _dotted(path), "a mapping key must be a plain value")
                    )
                    continue
                if key in out:
                    first_line = self.positions.keys[(*path, key)][0]
                    self.problems.append(
                        Problem(
                            _loc(self.file, key_node.start_mark),
                            _dotted((*path, key)),
                            f"duplicate key {key!r} (first defined at line {first_line})",
                            "remove one of them: YAML keeps only the last, silently",
                        )
                    )
                    continue
                self.positions.keys[(*path, key)] = _mark(key_node)
                out[key] = self.convert(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                self.positions.keys[(*path, i)] = _mark(item)
                items.append(self.convert(item, (*path, i)))
            return items
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR:  # most values: their text (what construct_object would return)
            return node.value
        return self._constructor.construct_object(node, deep=True)


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted = _dotted


def load_yaml(path: Path) -> tuple[LoadedYaml | None, list[Problem]]:
    """Parse one YAML file; returns (data, problems). Data is None when it cannot be parsed."""
    file = relative(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(Location(file), "", f"cannot read file: {exc}")]
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _loc(file, mark) if mark else Location(file)
        message = f"YAML syntax error: {exc.problem or exc}"
        if exc.context:
            message += f" ({exc.context})"
        return None, [Problem(loc, "", message, "check indentation, colons and quotes around this line")]
    except yaml.YAMLError as exc:
        return None, [Problem(Location(file), "", f"YAML error: {exc}")]
    converter = _Converter(file)
    if node is None:
        return LoadedYaml({}, converter.positions), []
    try:
        data = converter.convert(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        loc = _loc(file, mark) if mark else Location(file)
        return None, [Problem(loc, "", f"YAML error: {exc.problem}", "only plain YAML values are allowed")]
    return LoadedYaml(data, converter.positions), converter.problems
