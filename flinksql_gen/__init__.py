"""flinksql-gen: declarative YAML metric and anomaly definitions to production Apache Flink SQL."""

__version__ = "0.1.0"
