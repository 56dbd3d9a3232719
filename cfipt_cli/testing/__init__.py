"""Seeded synthetic scenes for tests, the demo and benchmarks (never imported by the pipeline)."""
