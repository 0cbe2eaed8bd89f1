"""Benchmarks: each ``bench_*.py`` module has ``run() -> str`` returning a Markdown section."""
