"""tandemd on lab hosts with its control socket: start, reconfigure, ask, and read what it logged."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from tandem.control.client import ControlError, request
from tandemlab.polling import wait_for
from vrrp_lab import TANDEMD

TANDEMCTL = [sys.executable, "-m", "tandem.cli.tandemctl"]
GLOBAL = """\
global_defs {
    vrrp_version 3
    vrrp_garp_master_delay 1
}
"""


def instance(host, name: str, vrid: int, vip: str, priority: int, body: str = "") -> str:
    """One VRRPv3 instance on ``host``'s eth0 at 0.1 s adverts; ``body`` adds lines inside it."""
    lines = [
        f"vrrp_instance {name} {{",
        "    state BACKUP",
        f"    interface {host.ifname}",
        f"    virtual_router_id {vrid}",
        f"    priority {priority}",
        "    advert_int 0.1",
        *(f"    {line}" for line in textwrap.dedent(body).strip().splitlines()),
        "    virtual_ipaddress {",
        f"        {vip}",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


class Daemon:
    """One tandemd on one lab host; its config, log and control socket live in ``workdir``."""

    def __init__(self, host, workdir: Path, env: dict | None = None) -> None:
        self.host = host
        self.conf = workdir / f"{host.name}-tandemd.conf"
        self.log = workdir / f"{host.name}-tandemd.log"
        # unix socket paths are limited to 107 bytes: pytest's tmp_path can be longer
        self._sockdir = Path(tempfile.mkdtemp(prefix="tandemd-", dir="/tmp"))
        self.socket = str(self._sockdir / "ctl" / f"{host.name}.sock")
        self.env = env
        self.process = None

    def start(self, config: str | None = None, flags: tuple[str, ...] = ()) -> Daemon:
        """Start tandemd (``flags``: more command-line options) and wait until its socket answers."""
        if config is not None:
            self.conf.write_text(config)
        argv = [*TANDEMD, "-f", str(self.conf), "-l", "-D", "-n", "--control-socket", self.socket, *flags]
        log = open(self.log, "ab")  # noqa: SIM115 - handed to the child process
        self.process = self.host.spawn(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        assert wait_for(self._answers, 15), self.log.read_text()
        return self

    def _answers(self) -> bool:
        try:
            request(self.socket, "status", timeout=2)
        except ControlError:
            return False
        return True

    def stop(self) -> int:
        code = self.process.stop(timeout=10)
        shutil.rmtree(self._sockdir, ignore_errors=True)
        return code

    def signal(self, signum: signal.Signals) -> None:
        self.process.signal(signum)

    def request(self, cmd: str, **args):
        return request(self.socket, cmd, **args)

    def status(self) -> dict[str, dict]:
        return {s["name"]: s for s in self.request("status")}

    def state(self, name: str = "VI_1") -> str:
        return self.status()[name]["state"]

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*TANDEMCTL, "--socket", self.socket, *args], capture_output=True, text=True, timeout=60
        )

    def log_text(self) -> str:
        return self.log.read_text()
