"""Running the platform: health and readiness, Prometheus metrics (see docs/ops/)."""
