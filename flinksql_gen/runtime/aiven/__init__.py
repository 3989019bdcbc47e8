"""A Flink runtime of the version an Aiven target names, kept apart from the default install.

Aiven for Apache Flink runs Flink 1.20, the local engine is PyFlink 2.0. `flinksql-gen setup
--aiven` builds an isolated virtualenv with the matching PyFlink (from PyPI) and fetches that
version's connector jars (from Maven Central, digests checked); `check --target aiven` and the
1.20 tests then plan and run Aiven application bodies in a child process of that Python
(runner.py), one process shared by every call of a session.
"""

from flinksql_gen.runtime.aiven.install import Runtime, ensure_runtime, find_runtime
from flinksql_gen.runtime.aiven.versions import DEFAULT_FLINK_VERSION, FLINK_VERSIONS

__all__ = ["DEFAULT_FLINK_VERSION", "FLINK_VERSIONS", "Runtime", "ensure_runtime", "find_runtime"]
