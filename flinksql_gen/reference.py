"""docs/reference.md, generated from the models: every field with its type, default, description
and an example, and every detector type with its SQL and UDF forms.

    python -m flinksql_gen.reference > docs/reference.md      (tests/test_reference_docs.py checks it)

Types, defaults and descriptions come from the JSON Schema the models produce (what editors see
through `flinksql-gen schema`); examples come from the example files shipped with the project
(the first value a field has in them), else from the field's default.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from flinksql_gen.load.validate import validate_model
from flinksql_gen.load.yaml_loader import load_yaml
from flinksql_gen.models.pipeline import Pipeline
from flinksql_gen.models.targets import TargetsFile

ROOT = Path(__file__).resolve().parents[1]
REF = "#/$defs/"

CONVENTIONS = """\
## Conventions

- **Durations** are a number and a unit: `500ms`, `10s`, `1m` (a minute), `2min`, `1h`, `1d`. A bare
  number is **seconds** (`5` is five seconds). Flink intervals are whole milliseconds.
- **Names** of sources, lookups, metrics, detectors and sinks share one namespace in a pipeline
  (they become tables and views); a pipeline's name is `pipeline:` or else the file name.
- **Column names** may be any text without control characters: every identifier is quoted in the
  generated SQL, and values are rendered as literals, never spliced.
- **Secrets** (tokens, passwords) are written as `${env:NAME}` or `${env:NAME:-default}`; they stay
  references in every rendered file and are resolved only when a job starts.
- **YAML 1.2 scalars**: only `true`/`false` are booleans (`on`, `yes`, `no` stay text), `010` is ten;
  duplicate keys, anchors/aliases and custom tags are errors.
- **Slack sinks** run only on the `aiven` target (through Aiven's Slack integration). On every other
  target a Slack sink becomes a `print` sink (its `local_fallback`, or nothing with `none`), so
  alerts show in the job's output instead.
- **Projects**: the project is the nearest folder at or above the given path (or the current
  directory) holding `targets.yaml` or `flinksql.yaml`; `--project-dir` and `FLINKSQL_PROJECT_DIR`
  override it. Definitions are every `.yaml`/`.yml` file under the given folder, recursively, except
  `targets.yaml`, `flinksql.yaml`, `sql_templates/`, hidden folders and rendered bundles.
- **Targets**: `-t NAME` picks a target of `targets.yaml`; a name it does not define falls back to the
  built-in target of that type (`local`, `cluster`, `gateway`, `aiven`) with the defaults below.
  Every command says which targets file and template folder it used (one line on stderr, or
  `"project"` in its JSON).
- **Selection**: `--select NAME|GLOB` and `--exclude NAME|GLOB` (repeatable) on validate, render,
  check, run, submit, plan and deploy choose pipelines by name; the others are not validated.
- **Output**: every reporting command takes `--format text|json`. JSON is one document on stdout;
  problems are `{"errors": [{"file", "line", "col", "path", "message", "hint"}]}` (exit 1), usage
  errors `{"errors": [{"message"}]}` (exit 2). `--json` remains as a deprecated alias.
"""


# ---------------------------------------------------------------------------- examples


def example_files() -> list[Path]:
    """The shipped examples: the starter project, then the repository's pipelines and targets."""
    starter = Path(str(files("flinksql_gen.starter")))
    found = [starter / "host_cpu.yaml", starter / "targets.yaml"]
    found += sorted((ROOT / "pipelines").rglob("*.yaml")) + [ROOT / "targets.yaml"]
    return [p for p in found if p.is_file()]


def collect_examples(paths: list[Path]) -> dict[tuple[str, str], Any]:
    """(model class name, field name) -> the first value that field is given in the files."""
    examples: dict[tuple[str, str], Any] = {}
    for path in paths:
        loaded, problems = load_yaml(path)
        if loaded is None or problems:
            continue
        model_type = TargetsFile if path.name == "targets.yaml" else Pipeline
        model, _ = validate_model(model_type, loaded)
        if model is not None:
            for obj, data in _walk(model, loaded.data):
                for name, value in data.items():
                    field = _field_named(type(obj), name)
                    if field is not None:
                        examples.setdefault((type(obj).__name__, field), value)
    return examples


def _field_named(cls: type[BaseModel], key: str) -> str | None:
    for name, f in cls.model_fields.items():
        if key in (name, f.alias):
            return name
    return None


def _walk(obj: Any, data: Any) -> Iterator[tuple[BaseModel, dict]]:
    """Each model instance together with the YAML mapping it was validated from."""
    if isinstance(obj, BaseModel) and isinstance(data, dict):
        yield obj, data
        for key, value in data.items():
            name = _field_named(type(obj), key)
            if name is not None:
                yield from _walk(getattr(obj, name), value)
    elif isinstance(obj, dict) and isinstance(data, dict):
        for key, value in obj.items():
            if key in data:
                yield from _walk(value, data[key])
    elif isinstance(obj, (list, tuple)) and isinstance(data, list):
        for item, raw in zip(obj, data, strict=False):
            yield from _walk(item, raw)


# ---------------------------------------------------------------------------- schema to text


def type_text(schema: dict) -> str:
    """A JSON Schema node as a short type: `text`, `integer ≥ 1`, `list of Condition`, ..."""
    if "$ref" in schema:
        return f"[{schema['$ref'].removeprefix(REF)}](#{_anchor(schema['$ref'].removeprefix(REF))})"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [type_text(s) for s in schema[key] if s.get("type") != "null"]
            text = " or ".join(dict.fromkeys(parts))
            return text + (" or null" if any(s.get("type") == "null" for s in schema[key]) else "")
    kind = schema.get("type")
    if kind == "array":
        return f"list of {type_text(schema.get('items', {}))}"
    if kind == "object":
        values = schema.get("additionalProperties")
        return f"map of name → {type_text(values)}" if isinstance(values, dict) else "mapping"
    words = {"string": "text", "integer": "integer", "number": "number", "boolean": "boolean", "null": "null"}
    text = words.get(kind, "any") if isinstance(kind, str) else "any"
    bounds = [f"{op} {schema[k]}" for k, op in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                                               ("exclusiveMaximum", "<")) if k in schema]  # fmt: skip
    return " ".join([text, *bounds])


def _anchor(name: str) -> str:
    return name.lower()


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`{text}`" if text else ""


def _example(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        return _cell(text if len(text) <= 80 else text[:77] + "...")
    return _cell(value)


def _placeholder(prop: dict) -> Any:
    """An example for a field no shipped file uses: its default when it has a useful one, else a
    value of its type (so every row has one)."""
    if prop.get("default") not in (None, "", [], {}):
        return prop["default"]
    options = [s for s in prop.get("anyOf", [prop]) if s.get("type") != "null"] or [prop]
    first = options[0]
    if "const" in first or "enum" in first:
        return first.get("const", (first.get("enum") or [None])[0])
    if any(o.get("type") == "integer" for o in options) and any(o.get("type") == "string" for o in options):
        return "1m"  # a duration: text with a unit, or a bare number of seconds
    kind = first.get("type")
    if kind == "integer":
        return max(first.get("minimum", 1), 1)
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return True
    if kind == "array":
        return [_placeholder(first.get("items", {}))]
    if kind == "object":
        return {"name": _placeholder(first.get("additionalProperties") or {"type": "string"})}
    if "$ref" in first:
        return {"...": "..."}
    return "name"


def _empty_default(prop: dict) -> str:
    kinds = {s.get("type") for s in prop.get("anyOf", [prop])}
    if "array" in kinds:
        return "`[]`"
    if "object" in kinds:
        return "`{}`"
    return "its defaults" if "$ref" in prop or "anyOf" in prop else ""


def model_table(name: str, schema: dict, required: set[str], examples: dict[tuple[str, str], Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [" ".join(schema["description"].split()), ""]
    lines += ["| key | type | default | description | example |", "|---|---|---|---|---|"]
    for key, prop in schema.get("properties", {}).items():
        default = "*required*" if key in required else _cell(prop["default"]) if "default" in prop else ""
        field = key.rstrip("_") if key.endswith("_") else key
        example = examples.get((name, field), examples.get((name, key)))
        if example is None and prop.get("examples"):
            example = prop["examples"][0]
        shown = _example(example if example is not None else _placeholder(prop))
        if "default" not in prop and key not in required:
            default = _empty_default(prop)
        desc = " ".join(prop.get("description", "").split()).replace("|", "\\|")
        lines.append(f"| `{key}` | {type_text(prop)} | {default} | {desc} | {shown} |")
    return [*lines, ""]


def schema_sections(model: type[BaseModel], examples: dict[tuple[str, str], Any]) -> list[str]:
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})
    out = model_table(model.__name__, schema, set(schema.get("required", [])), examples)
    for name in sorted(defs):
        out += model_table(name, defs[name], set(defs[name].get("required", [])), examples)
    return out


# ---------------------------------------------------------------------------- detectors


def detector_forms() -> list[str]:
    """Every detector type with the forms it runs in (pure Flink SQL, or a PyFlink UDF)."""
    from typing import get_args

    from flinksql_gen.detectors.registry import REGISTRY
    from flinksql_gen.models.pipeline import STATISTICAL, DetectorDefinition

    members = get_args(get_args(DetectorDefinition)[0])
    lines = ["## Detector types and their forms", "",
             "A detector runs as pure Flink SQL or as a PyFlink UDF (`fsg_detect`, `fsg_drilldown`). The aiven "
             "target runs no UDFs: a detector without a SQL form is refused there, with the pure-SQL types named. "
             "Statistical detectors take `form: auto | sql | udf` (auto: SQL where it can express the settings).",
             "", "| type | SQL form | UDF form | notes |", "|---|---|---|---|"]  # fmt: skip
    for cls in members:
        kind = get_args(cls.model_fields["type"].annotation)[0]
        doc = " ".join((cls.__doc__ or "").split()) if cls.__doc__ and cls not in STATISTICAL else ""
        if cls in STATISTICAL:
            sql = "yes" if REGISTRY[kind].sql_expressible else "no"
            notes = ("UDF when `postprocess` is set" if REGISTRY[kind].sql_expressible
                     else "always a UDF (keyed state in Flink)")
            if kind == "mean_variance":
                notes += "; UDF when `seasonality` is a number of points (daily/weekly stay SQL)"
            if kind == "model_service":
                notes = ("user code: an async lookup join on flinksql-gen's Java connector (engine java) or the "
                         "`fsg_model_service` UDF (engine python); the per-key state lives in the user's service")
            lines.append(f"| `{kind}` | {sql} | yes | {notes} |")
        else:
            udf = kind == "drilldown"
            lines.append(f"| `{kind}` | {'no' if udf else 'yes'} | {'yes' if udf else 'no'} | {doc} |")
    return [*lines, ""]


# Settings of the sample detector each statistical type is rendered with below.
SAMPLE_SETTINGS: dict[str, dict[str, Any]] = {
    "threshold": {"max": 90}, "percentage_change": {"threshold": 0.3}, "absolute_change": {"threshold": 10},
    "mean_variance": {"lookback": 12}, "ewma": {}, "holt_winters": {}, "score": {},
}  # fmt: skip


def _sample(kind: str, form: str) -> dict[str, Any]:
    """A one-metric pipeline (1-minute average of `v` per `host`) with detector `d` in that form."""
    udf = form == "udf"
    return {
        "pipeline": "p",
        "sources": {"src": {"topic": "t", "columns": {"host": "STRING", "v": "DOUBLE", "ts": "BIGINT"},
                            "event_time": {"column": "ts", "watermark": "5s"}}},
        "metrics": {"m": {"source": "src", "dimensions": ["host"], "window": {"type": "tumble", "size": "1m"},
                          "aggregates": {"avg_v": "avg(v)"}, "value": "avg_v"}},
        "detectors": {"d": {"type": kind, "metric": "m", "form": form, "sinks": ["out"], **SAMPLE_SETTINGS[kind],
                            **({"emit": "all"} if udf else {})}},
        "sinks": {"out": {"type": "upsert-kafka", "topic": "o", "key": ["host"]} if udf
                  else {"type": "kafka", "topic": "o"}},
    }  # fmt: skip


def detector_sql(kind: str, form: str) -> str:
    """The views detector `d` of the sample pipeline renders to (its input view and itself)."""
    import tempfile

    import yaml

    from flinksql_gen import api

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        path.write_text(yaml.safe_dump(_sample(kind, form), sort_keys=False))
        script = api.render(path, "local").pipeline("p").script
    start = script.find("CREATE VIEW `d__input`")
    if start < 0:
        start = script.find("CREATE VIEW `d`")
    return script[start : script.find("EXECUTE STATEMENT SET", start)].strip()


def detector_examples() -> list[str]:
    from flinksql_gen.detectors.registry import REGISTRY

    lines = ["## The forms of the statistical detectors", "",
             "Each statistical type rendered for the local target, on a 1-minute average `avg_v` per `host` "
             "(detector `d`, settings shown). The SQL form judges each window with window functions over "
             "the key's earlier rows; the UDF form runs the detector in `fsg_detect`, a PyFlink aggregate "
             "function per key whose state Flink keeps and checkpoints, and writes every point with its "
             "score (`emit: all`, an upsert stream keyed by the dimensions).", ""]  # fmt: skip
    for kind, settings in SAMPLE_SETTINGS.items():
        shown = ", ".join(f"{k}: {v}" for k, v in settings.items()) or "defaults"
        lines += [f"### `{kind}` ({shown})", ""]
        for form in ("sql", "udf") if REGISTRY[kind].sql_expressible else ("udf",):
            lines += [f"{'SQL' if form == 'sql' else 'UDF'} form:", "", "```sql", detector_sql(kind, form), "```", ""]
    return lines


# ---------------------------------------------------------------------------- page


def generate() -> str:
    examples = collect_examples(example_files())
    lines = ["# Definition format reference", "",
             "<!-- Generated by `python -m flinksql_gen.reference > docs/reference.md` from the models "
             "(flinksql_gen/models/pipeline.py, targets.py, detectors/config.py); do not edit by hand. -->", "",
             "One YAML file describes one pipeline (`Pipeline` below); `targets.yaml` describes where pipelines "
             "run (`TargetsFile`). `flinksql-gen schema` prints the same format as JSON Schema for editors. "
             "Examples are taken from the shipped example pipelines where a field appears in them.", "",
             CONVENTIONS, "", *detector_forms(), *detector_examples(),
             "## Pipeline definition", "", *schema_sections(Pipeline, examples),
             "## Targets file", "", *schema_sections(TargetsFile, examples)]  # fmt: skip
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(generate())
