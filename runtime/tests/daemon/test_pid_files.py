"""keepalived's pid file flags on a real tandemd: ``-p`` and ``-r`` hold the pid of the process that
runs VRRP (today the main one) while it runs and are removed at exit; ``-c`` (no checker process yet)
is not written, and the log says so instead of ignoring it."""

from __future__ import annotations

import pytest
from daemon_lab import GLOBAL, Daemon, instance
from tandemlab.polling import wait_for

pytestmark = [pytest.mark.lab]


def test_pid_files_are_written_and_removed(lab2, tmp_path):
    h1 = lab2.hosts[0]
    main, vrrp, check = (tmp_path / f"{name}.pid" for name in ("main", "vrrp", "check"))
    flags = ("-p", str(main), "-r", str(vrrp), "-c", str(check))
    daemon = Daemon(h1, tmp_path).start(GLOBAL + instance(h1, "VI_1", 71, "198.51.100.171/24", 150), flags)
    try:
        assert wait_for(lambda: daemon.state() == "MASTER", 5)
        pid = daemon.process.pid
        assert main.read_text() == vrrp.read_text() == f"{pid}\n"
        assert not check.exists()
        assert f"-c {check}: not written, tandemd runs no checker process yet" in daemon.log_text()
    finally:
        assert daemon.stop() == 0
    assert not main.exists() and not vrrp.exists()
