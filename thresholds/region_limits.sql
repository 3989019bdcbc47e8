-- Per-region limits, joined by examples/checkout.yaml (FOR SYSTEM_TIME AS OF processing time).
-- A region without a row keeps the detector's own setting.
CREATE TABLE IF NOT EXISTS region_limits (
    region           TEXT PRIMARY KEY,
    max_revenue_drop DOUBLE PRECISION,
    max_failed_ratio DOUBLE PRECISION
);
