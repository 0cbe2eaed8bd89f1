"""Wall-clock steps for one process tree, never for the machine: an LD_PRELOAD shim that adds an offset
to CLOCK_REALTIME as its processes see it.

A time namespace cannot do this: it offsets only CLOCK_MONOTONIC and CLOCK_BOOTTIME, fixed before its
first process enters. libfaketime can, but with monotonic time left alone its clock_nanosleep fails with
EINVAL (Python's ``time.sleep`` breaks), and without it monotonic time jumps too, which a real step never
does. The shim shifts exactly what a real step shifts, for the processes that load it:
``clock_gettime(CLOCK_REALTIME*)``, ``gettimeofday``, ``time``, and the SO_TIMESTAMP(NS) arrival times of
received packets (``recvmsg``), which the kernel stamps on the realtime scale. CLOCK_MONOTONIC, sleeps
and timers are untouched. The offset (int64 nanoseconds) lives in a file the shim maps, so a step is
one write: :meth:`ClockStep.set`.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int64_t *offset_ns;
static int mapped;
static int (*real_clock_gettime)(clockid_t, struct timespec *);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);

/* Resolved on first use: a program may read the clock in its own constructors, before ours. */
static void init(void) {
    if (!real_clock_gettime) real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    if (!real_recvmsg) real_recvmsg = dlsym(RTLD_NEXT, "recvmsg");
    if (mapped) return;
    mapped = 1;
    const char *path = getenv("TANDEMLAB_CLOCK_OFFSET");
    if (!path) return;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return;
    void *map = mmap(NULL, sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map != MAP_FAILED) offset_ns = map;
}

static void shift(struct timespec *ts) {
    if (!offset_ns) return;
    int64_t total = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + *offset_ns;
    ts->tv_sec = total / 1000000000;
    ts->tv_nsec = total % 1000000000;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    init();
    int result = real_clock_gettime(clock, ts);
    if (result == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) shift(ts);
    return result;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    struct timespec ts;
    int result = clock_gettime(CLOCK_REALTIME, &ts);
    if (tv) { tv->tv_sec = ts.tv_sec; tv->tv_usec = ts.tv_nsec / 1000; }
    (void)tz;
    return result;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
    init();
    ssize_t result = real_recvmsg(fd, msg, flags);
    if (result < 0 || !offset_ns) return result;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            shift(&ts);
            memcpy(CMSG_DATA(c), &ts, sizeof ts);
        } else if (c->cmsg_type == SCM_TIMESTAMP) {
            struct timeval tv;
            memcpy(&tv, CMSG_DATA(c), sizeof tv);
            struct timespec ts = {tv.tv_sec, tv.tv_usec * 1000};
            shift(&ts);
            tv.tv_sec = ts.tv_sec;
            tv.tv_usec = ts.tv_nsec / 1000;
            memcpy(CMSG_DATA(c), &tv, sizeof tv);
        }
    }
    return result;
}
"""


class ClockStep:
    """The shim, built in ``workdir``, and one offset file per clock: ``env()`` for the processes that
    should see it, ``set(seconds)`` to step their wall clock to real time + seconds."""

    def __init__(self, workdir: Path, name: str = "clock"):
        self.library = build(workdir)
        self.offset_file = workdir / f"{name}.offset"
        self.offset_file.write_bytes(struct.pack("=q", 0))

    def env(self, base: dict | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env["LD_PRELOAD"] = " ".join(filter(None, [str(self.library), env.get("LD_PRELOAD", "")]))
        env["TANDEMLAB_CLOCK_OFFSET"] = str(self.offset_file)
        return env

    def set(self, seconds: float) -> None:
        with open(self.offset_file, "r+b") as f:  # in place: the shim maps this page
            f.write(struct.pack("=q", round(seconds * 1e9)))


def available() -> str | None:
    """Why the shim cannot be built here, or None."""
    return None if shutil.which("gcc") else "gcc is not installed (it builds the clock-step shim)"


def build(workdir: Path) -> Path:
    library = workdir / "tandemlab-clockstep.so"
    if not library.exists():
        source = workdir / "tandemlab-clockstep.c"
        source.write_text(SOURCE)
        subprocess.run(
            ["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-o", str(library), str(source), "-ldl"],
            check=True,
            capture_output=True,
            text=True,
        )
    return library
