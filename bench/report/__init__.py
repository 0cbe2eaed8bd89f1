"""``python -m bench.report``: the benchmarks side by side with keepalived (and HAProxy for the checker),
written as a Markdown report with PNG plots in bench/results/report/. See __main__.py."""
