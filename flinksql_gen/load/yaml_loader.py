"""A YAML loader that keeps the position of every key and value (dagster-style).

`load_yaml(path)` returns the plain data plus a `Positions` map from key paths such as
("metrics", "cpu", "window", "size") to their file:line:col, so that validation errors can
say exactly where a problem is. Duplicate keys are errors, not silent overwrites.
"""

from __future__ import annotations

import math
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
    # paths of quoted scalars (their text starts one column after the value's mark)
    quoted: set[PathKey] = field(default_factory=set)

    def in_value(self, path: PathKey, offset: int) -> Location:
        """The location of character `offset` of a one-line scalar value (for expressions)."""
        loc = self.of(path, prefer_value=True)
        if not loc.col:
            return loc
        return Location(loc.file, loc.line, loc.col + offset + (1 if tuple(path) in self.quoted else 0))

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
    """SafeLoader with YAML 1.2 core-schema scalars: only true/false are booleans (so `on`, `yes`,
    `no` stay text), numbers are decimal, 0o octal or 0x hex (`010` is ten, `1:30` is text), and
    there are no timestamps."""


_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_COLLECTION_TAGS = frozenset({_TAG + "map", _TAG + "seq"})
_SCALAR_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL})

_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _INT, _FLOAT, _TAG + "timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_DECIMAL = re.compile(r"^[-+]?[0-9]+$")
_INT_12 = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_12 = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_Loader.add_implicit_resolver(_INT, _INT_12, list("-+0123456789"))
_Loader.add_implicit_resolver(_FLOAT, _FLOAT_12, list("-+0123456789."))

# Bounds: definitions are small, and YAML's aliases can make a few hundred bytes expand to
# gigabytes, so aliases are refused and size and nesting are capped.
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64


class _Converter:
    def __init__(self, file: str):
        self.file = file
        self.positions = Positions(file)
        self.problems: list[Problem] = []
        self._seen: set[int] = set()  # ids of nodes converted: a node met twice is an alias
        self._alias_reported = False

    def _problem(self, mark: yaml.Mark, path: PathKey, message: str, hint: str = "") -> None:
        self.problems.append(Problem(_loc(self.file, mark), _dotted(path), message, hint))

    def convert(self, node: yaml.Node, path: PathKey) -> Any:
        self.positions.values[path] = _mark(node)
        if id(node) in self._seen:
            # An alias node keeps the anchor's marks: point at the key that holds the alias. One
            # report a file is enough (a bomb has thousands).
            if not self._alias_reported:
                self._alias_reported = True
                self.problems.append(Problem(self.positions.of(path[:-1] or path), _dotted(path),
                                             "YAML anchors and aliases (&name, *name) are not supported",
                                             "write the value out in full"))  # fmt: skip
            return None
        self._seen.add(id(node))
        if len(path) > MAX_DEPTH:
            self._problem(node.start_mark, path, f"nested more than {MAX_DEPTH} levels deep", "flatten the structure")
            return None
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _COLLECTION_TAGS:
            self._problem(node.start_mark, path, f"YAML tag {node.tag!r} is not supported", _PLAIN_HINT)
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self._problem(key_node.start_mark, path, "YAML merge keys (<<) are not supported", "write the keys out")
                    continue
                # Keys are their literal text: `on:` is the key "on", `1:` the key "1".
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str) or key_node.tag not in _SCALAR_TAGS:
                    self._problem(key_node.start_mark, path, "a mapping key must be a plain value")
                    continue
                if key in out:
                    first_line = self.positions.keys[(*path, key)][0]
                    self._problem(key_node.start_mark, (*path, key), f"duplicate key {key!r} (first defined at line {first_line})",
                                  "remove one of them: YAML keeps only the last, silently")  # fmt: skip
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
        if node.style in ("'", '"'):
            self.positions.quoted.add(path)
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: PathKey) -> Any:
        tag, text = node.tag, node.value
        if tag == _STR:  # most values
            return text
        if tag == _INT and _INT_12.match(text):
            if _DECIMAL.match(text):
                return int(text, 10)
            return int(text[2:], 8) if text[1] == "o" else int(text, 16)
        if tag == _FLOAT and _FLOAT_12.match(text):
            value = math.inf if text.lstrip("+-").startswith(".") and text[-1] in "fFnN" else float(text)
            if math.isfinite(value):
                return value
            self._problem(node.start_mark, path, f"{text} is not a finite number",
                          "write a number within about ±1.8e308 (NaN and infinity are not allowed)")  # fmt: skip
            return None
        if tag == _BOOL and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if tag == _NULL:
            return None
        if tag in _SCALAR_TAGS:
            self._problem(node.start_mark, path, f"{text!r} is not a valid {tag.removeprefix(_TAG)}", _PLAIN_HINT)
        else:
            self._problem(node.start_mark, path, f"YAML tag {tag!r} is not supported", _PLAIN_HINT)
        return None


_PLAIN_HINT = "only plain YAML values are allowed: quote text, write numbers, true/false or null"


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, str) and not part.isprintable():  # a key path is printed on one line
            part = part.encode("unicode_escape").decode("ascii")
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


dotted = _dotted


def load_yaml(path: Path) -> tuple[LoadedYaml | None, list[Problem]]:
    """Parse one YAML file; returns (data, problems). Data is None when it cannot be parsed."""
    file = relative(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [Problem(Location(file), "", f"the file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte "
                                  "limit for one definition file", "split it into several files")]  # fmt: skip
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(Location(file), "", f"the file is not UTF-8 text (byte {exc.start})",
                              "save it as UTF-8")]  # fmt: skip
    except OSError as exc:
        return None, [Problem(Location(file), "", f"cannot read file: {exc.strerror or exc}")]
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
    data = converter.convert(node, ())
    return LoadedYaml(data, converter.positions), converter.problems
