"""ast.parse for tests that read the package's own sources.

CPython 3.11 keeps the AST constructor's recursion depth in module-wide state, so an ast.parse
racing another thread's AST work (PyFlink's and Py4J's threads run during the suite) can fail
with a spurious `SystemError: AST constructor recursion depth mismatch`
(https://github.com/python/cpython/issues/106905, fixed in 3.12). The source is fine: parse again.
"""

from __future__ import annotations

import ast


def parse_source(text: str, attempts: int = 3) -> ast.Module:
    for attempt in range(attempts):
        try:
            return ast.parse(text)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
