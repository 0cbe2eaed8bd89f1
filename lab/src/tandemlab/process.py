"""A process started inside a lab host, stopped by its pid."""

from __future__ import annotations

import signal
import subprocess

PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGKILL):
    """A ``preexec_fn``: the kernel sends ``signum`` to the child when the process that started it dies
    (even by SIGKILL, or a forked test worker that exits without its teardown), so a server a test
    started is never left behind."""

    def arm() -> None:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)

    return arm


class LabProcess:
    def __init__(self, popen: subprocess.Popen, host_name: str, argv: list[str]):
        self.popen = popen
        self.host_name = host_name
        self.argv = argv

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive:
            self.popen.send_signal(signum)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
        self.terminate()
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.wait(timeout)

    def __repr__(self) -> str:
        return f"<LabProcess {self.pid} on {self.host_name}: {' '.join(self.argv)}>"
