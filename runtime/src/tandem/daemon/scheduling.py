"""A child process's scheduling, from global_defs, as keepalived sets its children's (core/process.c):

* ``vrrp_rt_priority`` / ``checker_rt_priority N``: SCHED_RR at priority N, reset on fork (scripts run
  at normal priority), with RLIMIT_RTTIME: ``*_rlimit_rttime`` µs of CPU without blocking (default
  10,000), SIGXCPU (logged) at half of it, SIGKILL at all of it, so a runaway loop cannot hold a CPU;
* otherwise ``vrrp_priority`` / ``checker_priority``: the nice value;
* ``*_no_swap``: memory locked (mlockall MCL_FUTURE);
* ``*_cpu_affinity``: the CPUs it may run on.

Applied when the child's service has started, and again after each reload (keepalived resets and
re-applies them around its reloads); a setting removed by a reload goes back to what the process
started with. What the kernel refuses (no CAP_SYS_NICE, a CPU that does not exist) is logged, as
keepalived logs it, and the child runs on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from typing import NamedTuple

log = logging.getLogger("tandem")
RT_RLIMIT_DEFAULT = 10_000  # µs, keepalived's
MCL_CURRENT, MCL_FUTURE = 1, 2


class Scheduling(NamedTuple):
    nice: int | None = None
    rt_priority: int | None = None
    rlimit_rttime: int | None = None
    no_swap: bool = False
    cpus: tuple[int, ...] = ()


def scheduling_of(global_defs, role: str) -> Scheduling:
    """``role``'s settings: the ``vrrp_*`` or the ``checker_*`` keys."""
    prefix = "vrrp" if role == "vrrp" else "checker"
    return Scheduling(*(getattr(global_defs, f"{prefix}_{key}") for key in _KEYS))


_KEYS = ("priority", "rt_priority", "rlimit_rttime", "no_swap", "cpu_affinity")


class Scheduler:
    """Applies one process's :class:`Scheduling`, remembering what it started with."""

    def __init__(self) -> None:
        self.applied = Scheduling()
        self._start_nice = os.getpriority(os.PRIO_PROCESS, 0)
        self._start_cpus = os.sched_getaffinity(0)
        self._outside_realtime = False  # inside not_realtime()

    def apply(self, wanted: Scheduling, name: str) -> None:
        if wanted == self.applied:
            return
        if wanted.rt_priority is not None:
            self._realtime(wanted, name)
        else:
            if self.applied.rt_priority is not None:
                self._normal()
            self._nice(wanted.nice if wanted.nice is not None else self._start_nice, name)
        if wanted.no_swap != self.applied.no_swap:
            self._lock_memory(wanted.no_swap, name)
        if wanted.cpus != self.applied.cpus:
            self._affinity(set(wanted.cpus) or self._start_cpus, name)
        self.applied = wanted

    # ctypes and resource are imported where used: the VRRP child's RSS goal (20 MB) has no room for
    # ctypes (~0.3 MB) in configs that set none of these keys
    def _realtime(self, wanted: Scheduling, name: str) -> None:
        import resource

        limit = wanted.rlimit_rttime or RT_RLIMIT_DEFAULT
        try:
            # the limit first: the process is never realtime without it
            signal.signal(signal.SIGXCPU, _on_sigxcpu)
            resource.setrlimit(resource.RLIMIT_RTTIME, (limit // 2, limit))
            policy = os.SCHED_RR | os.SCHED_RESET_ON_FORK
            os.sched_setscheduler(0, policy, os.sched_param(wanted.rt_priority))
        except (OSError, ValueError) as error:  # ValueError: a hard limit raised without CAP_SYS_RESOURCE
            log.warning("%s process: cannot set realtime priority %d: %s", name, wanted.rt_priority, error)
            return
        log.info("%s process: realtime priority %d, rlimit_rttime %d µs", name, wanted.rt_priority, limit)

    @contextlib.contextmanager
    def not_realtime(self):
        """Normal scheduling for a stretch of CPU work that may run past RLIMIT_RTTIME without blocking
        (a plane transaction at thousands of real servers: 16-80 ms, against 10 ms by default), realtime
        again after it. The kernel counts only realtime CPU against the limit."""
        priority = self.applied.rt_priority
        if priority is None or self._outside_realtime:  # not realtime, or already out of it
            yield
            return
        self._normal()
        self._outside_realtime = True
        try:
            yield
        finally:
            self._outside_realtime = False
            try:
                os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
            except OSError as error:
                log.warning("cannot return to realtime priority %d: %s", priority, error)

    def _normal(self) -> None:
        """SCHED_OTHER again (RLIMIT_RTTIME stays: it counts for realtime scheduling only)."""
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER | os.SCHED_RESET_ON_FORK, os.sched_param(0))
        except OSError as error:
            log.warning("cannot leave realtime scheduling: %s", error)

    def _nice(self, value: int, name: str) -> None:
        if value == os.getpriority(os.PRIO_PROCESS, 0):
            return
        try:
            os.setpriority(os.PRIO_PROCESS, 0, value)
        except OSError as error:
            log.warning("%s process: cannot set priority %d: %s", name, value, error)
            return
        log.info("%s process: priority %d", name, value)

    def _lock_memory(self, lock: bool, name: str) -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if (libc.mlockall(MCL_CURRENT | MCL_FUTURE) if lock else libc.munlockall()) != 0:
            error = os.strerror(ctypes.get_errno())
            log.warning("%s process: cannot %s memory: %s", name, "lock" if lock else "unlock", error)
        elif lock:
            log.info("%s process: memory locked (no_swap)", name)

    def _affinity(self, cpus: set[int], name: str) -> None:
        try:
            os.sched_setaffinity(0, cpus)
        except OSError as error:
            log.warning("%s process: cannot run on CPUs %s: %s", name, sorted(cpus), error)
            return
        log.info("%s process: CPUs %s", name, ",".join(map(str, sorted(cpus))))


def _on_sigxcpu(_signum, _frame) -> None:
    log.warning("realtime CPU limit half used without blocking: at the limit the kernel kills the process")
