"""Re-export of `flinksql_gen.sql.quoting`, where quoting lives so that the planner and the models
can use it without importing the render layer (which itself imports the plan)."""

from flinksql_gen.sql.quoting import (
    comment_text,
    has_control_character,
    literal,
    number_literal,
    option_string,
    quote_identifier,
    quote_string,
)

__all__ = ["comment_text", "has_control_character", "literal", "number_literal", "option_string",
           "quote_identifier", "quote_string"]
