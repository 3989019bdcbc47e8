"""`flinksql-gen test`: pipeline tests that users write (`*.test.yaml`), run on the real engine.

models (the file format) -> load (find, validate, build the input records) -> runner (one
shared TableEnvironment, isolated topics and tables per test) -> diff (missing, unexpected and
changed rows) -> report (one line per test, the diff, or JSON).
"""
