"""tandemd runs with only its required dependencies: the optional ones (prometheus-client for
metrics) are imported only when the config asks for them, and a missing one is a clear error."""

from __future__ import annotations

import os
import subprocess

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from tandemlab.polling import wait_for
from vrrp_lab import TANDEMD

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture
def without_prometheus(tmp_path) -> dict:
    """An environment in which ``import prometheus_client`` fails, as on a host without the extra."""
    blocker = tmp_path / "blocked" / "prometheus_client"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("prometheus_client is not installed")\n')
    return {**os.environ, "PYTHONPATH": str(blocker.parent)}


def test_runs_without_prometheus_client_when_metrics_are_off(lab2, tmp_path, without_prometheus):
    h1 = lab2.hosts[0]
    daemon = Daemon(h1, tmp_path, env=without_prometheus)
    daemon.start(GLOBAL + instance(h1, "VI_1", 61, "198.51.100.161/24", 150))
    try:
        assert wait_for(lambda: daemon.state() == "MASTER", 10), daemon.log_text()
    finally:
        daemon.stop()


def test_metrics_without_prometheus_client_is_a_clear_error(lab2, tmp_path, without_prometheus):
    h1 = lab2.hosts[0]
    config = GLOBAL.replace("}", "    tandem_metrics_listen 127.0.0.1:9650\n}", 1)
    daemon = Daemon(h1, tmp_path, env=without_prometheus)
    daemon.conf.write_text(config + instance(h1, "VI_1", 62, "198.51.100.162/24", 150))
    argv = [*TANDEMD, "-f", str(daemon.conf), "-l", "-n", "--control-socket", daemon.socket]
    with open(daemon.log, "wb") as log:
        process = h1.spawn(argv, stdout=log, stderr=subprocess.STDOUT, env=without_prometheus)
        assert process.wait(15) != 0
    log = daemon.log_text()
    assert "cannot serve the control socket or metrics: prometheus_client is not installed" in log
    assert "Traceback" not in log
