"""Virtual-server values resolved once: what each real server's checkers and state machine run with.

keepalived lets a checker inherit delay_loop, retry, delay_before_retry, connect_timeout, warmup and
alpha from its real_server and virtual_server; the check's target is connect_ip/connect_port, else the
real server's address and port (else the virtual server's port). Everything is resolved here, so
checkers and the state machine never look further up the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandem.config.model import Checker, IPAddress, TrackFile
from tandem.notify.scripts import ScriptPolicy

DEFAULT_SCRIPT_POLICY = ScriptPolicy()


@dataclass(frozen=True, slots=True)
class CheckParams:
    """One checker of one real server, with every inherited value resolved."""

    id: str  # stable across reloads while the checker's config is unchanged
    checker: Checker  # the model object: kind-specific keys (urls, misc_path, type/name, payload, ...)
    address: IPAddress  # connect_ip, else the real server's address
    port: int | None  # connect_port, else the real server's port, else the virtual server's
    bindto: IPAddress | None = None
    bind_port: int | None = None
    bind_if: str | None = None
    connect_timeout: float = 5.0
    delay_loop: float = 60.0
    retry: int = 1
    delay_before_retry: float = 1.0
    warmup: float = 0.0
    alpha: bool = False
    virtualhost: str | None = None  # the checker's, else the virtual server's
    weight: int = 1  # the real server's configured weight (FILE_CHECK offsets it)
    script_policy: ScriptPolicy = DEFAULT_SCRIPT_POLICY  # global_defs' script user and security (MISC_CHECK)
    track_file: TrackFile | None = None  # FILE_CHECK: the track_file it names

    @property
    def kind(self) -> str:
        return self.checker.kind
