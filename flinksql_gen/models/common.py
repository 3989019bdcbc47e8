"""Small value types shared by the definition models: names and durations."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from flinksql_gen.durations import Duration, Interval, parse_duration

__all__ = ["Duration", "Interval", "Name", "parse_duration"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use letters, digits and underscores, starting with a letter or underscore"
        )
    return value


# Names we create (pipelines, views, tables we declare): simple identifiers so that file names,
# topic defaults and job names stay readable. Column names from user data may be anything and are
# quoted wherever they are used.
Name = Annotated[str, AfterValidator(_check_name)]
