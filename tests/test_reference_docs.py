"""docs/reference.md is generated from the models and must be up to date (CI runs this test).

Regenerate with:  .venv/bin/python -m flinksql_gen.reference > docs/reference.md
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from flinksql_gen.models.pipeline import DetectorDefinition, Pipeline
from flinksql_gen.models.targets import TargetsFile
from flinksql_gen.reference import generate

DOC = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


def test_reference_is_up_to_date():
    assert DOC.read_text() == generate(), (
        "docs/reference.md is stale: run `.venv/bin/python -m flinksql_gen.reference > docs/reference.md`"
    )


def _properties(model) -> list[tuple[str, str, dict]]:
    schema = model.model_json_schema(by_alias=True)
    defs = {model.__name__: schema, **schema.get("$defs", {})}
    return [(name, key, prop) for name, d in defs.items() for key, prop in d.get("properties", {}).items()]


def test_every_field_of_every_model_has_a_row_with_type_and_example():
    text = generate()
    for model in (Pipeline, TargetsFile):
        for name, key, _ in _properties(model):
            section = text.split(f"\n### {name}\n", 1)[1].split("\n### ", 1)[0]
            rows = [r for r in section.splitlines() if r.startswith(f"| `{key}` |")]
            assert len(rows) == 1, (name, key)
            cells = [c.strip() for c in rows[0].strip("|").split(" | ")]
            assert cells[1] and cells[4], (name, key, rows[0])  # a type and an example


def test_every_detector_type_has_its_forms_and_the_conventions_are_explained():
    text = generate()
    for cls in get_args(get_args(DetectorDefinition)[0]):
        kind = get_args(cls.model_fields["type"].annotation)[0]
        assert f"| `{kind}` | " in text, kind
    assert "`1m` (a minute)" in text and "A bare\n  number is **seconds**" in text
    assert "a Slack sink becomes a `print` sink" in text
    # the statistical types with both forms: the SQL form uses no UDF, the UDF form calls fsg_detect
    sql = text.split("### `percentage_change`", 1)[1].split("### ", 1)[0]
    assert "SQL form:" in sql and "UDF form:" in sql
    assert "LAG(" in sql.split("UDF form:")[0] and "fsg_detect(" not in sql.split("UDF form:")[0]
    assert "fsg_detect(" in sql.split("UDF form:")[1]


def test_every_schema_property_has_a_description():
    missing = [f"{name}.{key}" for model in (Pipeline, TargetsFile) for name, key, prop in _properties(model)
               if not prop.get("description")]  # fmt: skip
    assert missing == []
