"""No dead code in flinksql_gen: every function, method, class and property is used somewhere in the
package, its tests or bench/ (vulture, the usual 60 % confidence for these kinds)."""

from __future__ import annotations

from pathlib import Path

import vulture

ROOT = Path(__file__).resolve().parents[1]
# Called by a framework, not by our code: click commands, pydantic validators, PyFlink's UDF
# interface, http.server handlers, and the expression renderer's `_<node type>` dispatch.
IGNORE_DECORATORS = ["@*.command", "@click.*", "@*.group", "@model_validator", "@field_validator"]
IGNORE_NAMES = ["get_result_type", "get_accumulator_type", "eval", "open", "do_*", "_binary", "_isnull",
                "_inlist", "_between"]  # fmt: skip
KINDS = {"function", "method", "class", "property"}


def test_no_unused_functions_classes_or_properties() -> None:
    scan = vulture.Vulture(ignore_names=IGNORE_NAMES, ignore_decorators=IGNORE_DECORATORS)
    scan.scavenge([str(ROOT / "flinksql_gen"), str(ROOT / "tests"), str(ROOT / "bench")])
    package = ROOT / "flinksql_gen"
    unused = [f"{Path(item.filename).relative_to(ROOT)}:{item.first_lineno} {item.typ} {item.name}"
              for item in scan.get_unused_code(min_confidence=60)
              if item.typ in KINDS and Path(item.filename).is_relative_to(package)]  # fmt: skip
    assert not unused, "unused (remove it, or if a framework calls it, add it to IGNORE_*):\n" + "\n".join(unused)


def test_the_scan_finds_an_unused_function(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("def used():\n    return 1\n\n\ndef unused():\n    return used()\n")
    scan = vulture.Vulture()
    scan.scavenge([str(tmp_path)])
    assert [i.name for i in scan.get_unused_code(min_confidence=60)] == ["unused"]
