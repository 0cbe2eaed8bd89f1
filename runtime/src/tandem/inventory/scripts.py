"""Scripts shipped from the controller: where the tandemd role puts them and with which mode.

A track or notify script given as ``src`` (a controller path, found like ``ansible.builtin.copy``'s) is
copied to ``SCRIPTS_DIR`` on every member, owned by root and writable by nobody else: keepalived's
script security (and tandemd's) refuses scripts a non-root user could change. It is executable only by
root (0700) unless it runs as another ``user`` (0755).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

SCRIPTS_DIR = "/etc/tandem/scripts"


def shipped(src: str, args: str | None = None, user: str | None = None) -> tuple[str, dict[str, str]]:
    """The command line that runs the shipped ``src`` on the host, and the file the role installs."""
    dest = f"{SCRIPTS_DIR}/{PurePosixPath(src).name}"
    command = f"{dest} {args}" if args else dest
    return command, {"src": src, "dest": dest, "mode": "0755" if user else "0700"}


def notify_script(value: str | Mapping[str, Any], files: list[dict]) -> str | dict[str, str]:
    """A notify (or FIFO) script as the plan carries it: the command, or ``{script, user, group?}`` when
    it runs as another user; a shipped one (``src``) adds its file to ``files``."""
    if isinstance(value, str):
        return value
    user = value.get("user")
    command = value.get("script")
    if "src" in value:
        command, file = shipped(value["src"], value.get("args"), user)
        files.append(file)
    if user is None and value.get("group") is None:
        return command
    return {"script": command, **{k: value[k] for k in ("user", "group") if value.get(k) is not None}}


def script_words(value: str | Mapping[str, Any]) -> list[str]:
    """``notify_script``'s result as keepalived's words: COMMAND [USER [GROUP]]."""
    if isinstance(value, str):
        return [value]
    return [value["script"], *(value[k] for k in ("user", "group") if value.get(k) is not None)]
