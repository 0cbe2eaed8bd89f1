"""What one check reports (``CheckResult``), and ``bounded``: the deadline and error rule every runner obeys.

A probe is a coroutine that returns a ``CheckResult``-to-be (``Outcome``) or raises ``CheckFailed``;
``bounded`` gives it its deadline, turns every failure (timeout, OSError, TLS error, a bug) into
``CheckResult(ok=False, reason=...)`` and measures the latency. A probe names what it is doing in
``Stage.name`` so that a timeout says where it happened ("timeout after 3 s (reading the response)").
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckResult:
    ok: bool
    reason: str  # e.g. "HTTP 503 (expected 200-299)", "timeout after 3 s (connecting)", "ok"
    latency: float  # seconds the check took
    weight: int | None = None  # MISC_CHECK misc_dynamic / FILE_CHECK: the new weight of the real server


class CheckFailed(Exception):
    """The server answered, but not as the check wants; the message is the reason."""


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool = True
    reason: str = "ok"
    weight: int | None = None


class Stage:
    """What a probe is doing now; a timeout reports it."""

    __slots__ = ("name",)

    def __init__(self, name: str = "connecting") -> None:
        self.name = name


Probe = Callable[[Stage], Awaitable[Outcome]]


def describe(error: BaseException) -> str:
    """An operator's words for a socket or TLS error."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(error, OSError) and error.errno is not None:
        return f"{error.strerror or errno.errorcode.get(error.errno, error.errno)}".lower()
    return str(error) or type(error).__name__


async def bounded(timeout: float, probe: Probe) -> CheckResult:
    """Run ``probe`` within ``timeout`` seconds; never raises (except cancellation)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    stage = Stage()
    try:
        async with asyncio.timeout(timeout):
            outcome = await probe(stage)
    except TimeoutError:
        outcome = Outcome(False, f"timeout after {timeout:g} s ({stage.name})")
    except CheckFailed as failure:
        outcome = Outcome(False, str(failure))
    except (OSError, EOFError) as error:
        outcome = Outcome(False, f"{describe(error)} ({stage.name})")
    except asyncio.CancelledError:
        raise
    except Exception as error:  # a bug must not stop the checker: report it as a failed check
        log.exception("checker failed unexpectedly")
        outcome = Outcome(False, f"internal error: {type(error).__name__}: {error}")
    return CheckResult(outcome.ok, outcome.reason, loop.time() - start, outcome.weight)
