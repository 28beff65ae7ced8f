"""Reporting: run records (run.json and its artefacts), summary tables, figures."""
