"""Reproducible benchmarks; results go to docs/benchmarks.md."""
