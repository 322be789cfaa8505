"""Observability: cost accounting and the Prometheus exporter."""
