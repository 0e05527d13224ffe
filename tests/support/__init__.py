"""Helpers only the tests (and benchmarks) use: PII scans, a local model server, a headless browser, notebook checks."""
