"""Synthetic datasets and tiny models for tests, benchmarks, the README tour and the demo.

Nothing in the product packages imports this package (an import-linter contract checks it): fixtures
live here so the product code holds only what users run.
"""
