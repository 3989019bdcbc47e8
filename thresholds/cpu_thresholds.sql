-- Per-host CPU thresholds, joined by the cpu pipeline (FOR SYSTEM_TIME AS OF processing time).
CREATE TABLE IF NOT EXISTS cpu_thresholds (
    hostname    TEXT PRIMARY KEY,
    allowed_top DOUBLE PRECISION NOT NULL
);
