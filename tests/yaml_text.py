"""YAML text for generated definitions that our YAML 1.2 loader reads back exactly.

PyYAML writes YAML 1.1: it leaves text such as `0E0` or `1e5` unquoted (not numbers in 1.1),
which YAML 1.2, and so flinksql-gen, reads as numbers. Every string is written quoted here.
"""

from __future__ import annotations

from typing import Any

import yaml


class _QuotingDumper(yaml.SafeDumper):
    pass


_QuotingDumper.add_representer(
    str, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
)


def dump(data: Any, allow_unicode: bool = True) -> str:
    return yaml.dump(data, Dumper=_QuotingDumper, allow_unicode=allow_unicode, sort_keys=False)
