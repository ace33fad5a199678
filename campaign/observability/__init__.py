"""Operations' view of the platform: Prometheus metrics, health checks and structured JSON logs."""
