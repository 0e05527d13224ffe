"""Metrics, bootstrap intervals, calibration and monitoring. Never imports llm or classify."""
