"""bench.report's plotting and tables on made-up data (the report itself runs for minutes, by hand)."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib", reason="bench.report's plots need matplotlib (requirements-dev.txt)")

from bench.report.__main__ import sections

PNG = b"\x89PNG\r\n\x1a\n"


def failover(takeover: float) -> dict:
    samples = [(t / 100, ["h1"] if t < 0 else [] if t < takeover * 100 else ["h2"]) for t in range(-50, 100)]
    adverts = [(t / 10, "h1", 100) for t in range(-5, 0)] + [(takeover + t / 10, "h2", 100) for t in range(6)]
    return {
        "samples": samples,
        "adverts": adverts,
        "garps": [(takeover, "h2")],
        "mdi": 0.361,
        "takeover": takeover,
        "dual": 0.0,
    }


def test_sections_write_three_plots_and_ratio_tables(tmp_path):
    runs = {"tandemd": [failover(0.36), failover(0.38)], "keepalived": [failover(0.35), failover(0.37)]}
    cpu = {
        kind: {n: {"master": [scale * n**0.1, scale * 1.1], "backup": [scale * 2.0]} for n in (10, 200)}
        for kind, scale in (("tandemd", 8.0), ("keepalived", 4.0))
    }
    checker = {
        "tandem": [{"servers": n, "checks_per_s": n * 0.9, "cpu_us": 250.0, "p50_ms": 1.0, "p99_ms": n / 100}
                   for n in (1000, 5000)],
        "haproxy": [{"servers": n, "checks_per_s": n, "cpu_us": 120.0, "p50_ms": None, "p99_ms": None}
                    for n in (1000, 5000)],
    }  # fmt: skip
    checker["tandem"].insert(1, {**checker["tandem"][0], "servers": 2500})
    checker["haproxy"].insert(1, {"servers": 2500, "error": "TimeoutExpired: haproxy did not exit"})
    text = "\n".join(sections(runs, cpu, checker, tmp_path))
    for name in ("failover.png", "cpu_per_advert.png", "checker.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000, name
        assert f"]({name})" in text
    assert "| takeover after SIGKILL (ms) | 360.0 / 370.0 / 380.0 | 350.0 / 360.0 / 370.0 | 1.03 |" in text
    assert "| 5000 | 4500 / 5000 | 250 / 120 | 2.08 | 1.0 / 50.0 |" in text
    assert "not measured: haproxy at 2500: TimeoutExpired: haproxy did not exit" in text
    assert "| 10 | backup | 16.0 / 16.0 / 16.0 | 8.0 / 8.0 / 8.0 | 2.00 |" in text
