# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to the tandemd installed on the target, through its own client ``tandemctl --json``.

The control protocol has one home, the runtime's ``tandemctl``; modules only run it and read its JSON.
"""

from __future__ import annotations

import json

TANDEMCTL_ARGS = dict(
    tandemctl=dict(type="path", default="tandemctl"),
    socket=dict(type="path", default="/run/tandem/tandemd.sock"),
)


class TandemctlError(Exception):
    """tandemctl could not be run, failed, or printed something that is not JSON."""


def tandemctl_json(module, *command):
    """Run ``tandemctl --json COMMAND...`` on the target and return its parsed output."""
    binary = module.params["tandemctl"]
    if "/" not in binary:
        binary = module.get_bin_path(binary, opt_dirs=["/usr/local/bin", "/opt/tandem/venv/bin"])
        if binary is None:
            raise TandemctlError("tandemctl not found on the target: is the tandem.ha.tandemd role applied?")
    argv = [binary, "--socket", module.params["socket"], "--json", *command]
    rc, out, err = module.run_command(argv)
    if rc != 0:
        raise TandemctlError(f"{' '.join(command)}: {err.strip() or out.strip() or f'exit {rc}'}")
    try:
        return json.loads(out)
    except ValueError as error:
        what = " ".join(command)
        raise TandemctlError(f"{what}: tandemctl printed no JSON ({error}): {out[:200]}") from None


def select_instances(instances, name):
    """The status entries of one instance (or all when ``name`` is None); an unknown name is an error."""
    if name is None:
        return instances
    chosen = [entry for entry in instances if entry["name"] == name]
    if not chosen:
        known = ", ".join(sorted(entry["name"] for entry in instances)) or "none"
        raise TandemctlError(f"no VRRP instance named {name!r} (instances: {known})")
    return chosen
