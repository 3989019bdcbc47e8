"""Scoring through an HTTP model service: the reference server (`flinksql-gen serve-model`) and
the batching client the `model_service` detector runs inside Flink. The contract is in
docs/model_service.md."""
