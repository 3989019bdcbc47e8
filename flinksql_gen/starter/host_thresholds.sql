-- Per-host CPU thresholds, joined by pipelines/host_cpu.yaml (FOR SYSTEM_TIME AS OF processing time).
CREATE TABLE IF NOT EXISTS host_thresholds (
    hostname  TEXT PRIMARY KEY,
    max_usage DOUBLE PRECISION NOT NULL
);
