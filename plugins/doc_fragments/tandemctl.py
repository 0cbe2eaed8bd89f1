# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options of the modules that talk to tandemd through tandemctl (module_utils/tandemctl.py).
    DOCUMENTATION = r"""
options:
  tandemctl:
    description: The C(tandemctl) command (a name looked up in PATH, /usr/local/bin and the runtime venv).
    type: path
    default: tandemctl
  socket:
    description: The daemon's control socket.
    type: path
    default: /run/tandem/tandemd.sock
requirements:
  - tandemd running on the target (role M(tandem.ha.tandemd)).
"""
