"""Helpers for tests and benchmarks that need several processes (not used by the library)."""
