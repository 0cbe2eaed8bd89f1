"""``python -m bench [NAME ...]``: run the benchmarks (all, or those named) and write the report.

The report goes to stdout and to bench/results/latest.md, headed by the machine's load so numbers
can be read in context.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path

import bench

RESULTS = Path(__file__).parent / "results" / "latest.md"


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    wanted = [f"bench_{name.removeprefix('bench_')}" for name in argv] or available()
    unknown = sorted(set(wanted) - set(available()))
    if unknown:
        print(f"unknown benchmarks: {', '.join(unknown)}; available: {', '.join(available())}")
        return 2
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    when = time.strftime("%Y-%m-%d %H:%M")
    sections = [f"# Tandem benchmarks\n\n{when}, {os.cpu_count()} CPUs, load average {load}\n"]
    for name in wanted:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        sections.append(importlib.import_module(f"bench.{name}").run())
    report = "\n".join(sections)
    RESULTS.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
