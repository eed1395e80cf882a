"""Benchmarks at scale: ``python -m bench.run --db sqlite|postgres`` (see docs/benchmarks.md).

``bench.generate`` fills a database with realistic synthetic customers (deterministic
for a seed) and writes the CSV used by the import benchmark; ``bench.run`` prepares the
dedicated bench database, measures the API through the whole Django stack and prints
the query plans of the main list and search queries.
"""
