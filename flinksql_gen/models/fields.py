"""Field types and validators shared by the definition models (every model is Strict)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from flinksql_gen.models.types import parse_type
from flinksql_gen.sql.quoting import has_control_character


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_type(text: str) -> str:
    parse_type(text)
    return text


TypeText = Annotated[str, AfterValidator(_check_type)]
Scalar = str | int | float | bool
def _check_identifier(value: str) -> str:
    if has_control_character(value):
        raise ValueError(f"{value!r}: names cannot contain control characters (Flink SQL cannot quote them)")
    if not value.strip():
        raise ValueError(f"{value!r}: a name needs at least one character that is not a space (Flink requires it)")
    return value


# Column names from user data may be any text but control characters; they are always quoted.
ColumnName = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_check_identifier)]


def _check_env_reference(value: str) -> str:
    if not re.fullmatch(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}", value):
        raise ValueError("secrets must be written as an environment reference such as ${env:SLACK_TOKEN}, never as a value")
    return value


SecretRef = Annotated[str, AfterValidator(_check_env_reference)]


def _check_option_text(value: str) -> str:
    if has_control_character(value):
        raise ValueError("control characters (such as newlines or tabs) are not allowed in this setting")
    return value


# Values that end up in connector options (WITH (...)): plain text, no control characters.
OptionText = Annotated[str, Field(min_length=1), AfterValidator(_check_option_text)]
# Flink's JDBC connector writes table and column names into its SQL unquoted, so they must be
# plain identifiers: anything else could read or write other tables.
_SQL_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
JDBC_NAME_RULE = "a plain identifier: letters, digits and underscores, not starting with a digit"
JdbcTableName = Annotated[str, Field(min_length=1, max_length=127, pattern=rf"^{_SQL_IDENTIFIER}(\.{_SQL_IDENTIFIER})?$",
                                     description="table name, optionally schema-qualified (schema.table)")]  # fmt: skip
JdbcColumnName = Annotated[str, Field(min_length=1, max_length=63, pattern=rf"^{_SQL_IDENTIFIER}$")]
# Kafka's own rule for topic names.
Topic = Annotated[str, Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")]
