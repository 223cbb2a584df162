"""Metrics, health checks and the operations dashboard."""
