"""Scripts shipped from the controller: where the tandemd role puts them and with which mode.

A track or notify script given as ``src`` (a controller path, found like ``ansible.builtin.copy``'s) is
copied to ``SCRIPTS_DIR`` on every member, owned by root and writable by nobody else: keepalived's
script security (and tandemd's) refuses scripts a non-root user could change. It is executable only by
root (0700) unless it runs as another ``user`` (0755).
"""

from __future__ import annotations

from pathlib import PurePosixPath

SCRIPTS_DIR = "/etc/tandem/scripts"


def shipped(src: str, args: str | None = None, user: str | None = None) -> tuple[str, dict[str, str]]:
    """The command line that runs the shipped ``src`` on the host, and the file the role installs."""
    dest = f"{SCRIPTS_DIR}/{PurePosixPath(src).name}"
    command = f"{dest} {args}" if args else dest
    return command, {"src": src, "dest": dest, "mode": "0755" if user else "0700"}
