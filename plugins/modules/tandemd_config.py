#!/usr/bin/python
# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tandemd_config
short_description: Write this host's tandemd.conf from the plan with the runtime's own config writer
version_added: 0.1.0
description:
  - Turns this host's part of the plan of M(tandem.ha.vrrp_plan) into the runtime's syntax tree, reads it
    with the runtime's keyword tables and checks (those of C(tandemd -t)) and writes it with the runtime's
    config writer (C(tandem.config.dump)), so every keyword is written in one place.
  - Installs the text like M(ansible.builtin.copy) (owner, mode, backup, validate, check mode, diff); in
    the diff and in messages every secret (VRRP passwords, the SSL key password) is masked.
  - Runs the writer on the controller with the runtime shipped in the collection (C(runtime/src)).
options:
  plan:
    description:
      - The C(plan) returned by M(tandem.ha.vrrp_plan); this host takes C(plan.hosts[inventory_hostname]).
        The whole registered result passed by mistake is an error.
    type: dict
    default: {}
  instances:
    description: VRRP instances in the plan's format, when no O(plan) is given.
    type: list
    elements: dict
    default: []
  scripts:
    description: C(vrrp_script) definitions in the plan's format, when no O(plan) is given.
    type: list
    elements: dict
    default: []
  global_defs:
    description: Further C(global_defs) keywords (for example C(router_id)), checked like the rest.
    type: dict
    default: {}
  dest:
    description: Path of the configuration file on the host.
    type: path
    required: true
  owner:
    description: Owner of the file.
    type: str
    default: root
  group:
    description: Group of the file.
    type: str
    default: root
  mode:
    description: Mode of the file.
    type: raw
    default: "0640"
  backup:
    description: Keep a backup of the replaced file.
    type: bool
    default: true
  validate:
    description: Command validating the new file before it replaces the old one (C(%s) is its path).
    type: str
author:
  - Tandem team (@tandem)
attributes:
  check_mode:
    support: full
    description: Reports whether the file would change.
  diff_mode:
    support: full
    description: Shows the change of the file with its secrets masked.
  platform:
    support: full
    platforms: posix
    description: The text is made on the controller and copied to a POSIX host.
seealso:
  - module: tandem.ha.vrrp_plan
  - name: keepalived.conf(5)
    description: The configuration language tandemd reads.
    link: https://www.keepalived.org/manpage.html
"""

EXAMPLES = r"""
- name: Write tandemd.conf from the plan
  tandem.ha.tandemd_config:
    plan: "{{ tandem_plan.plan }}"
    global_defs: {router_id: "{{ inventory_hostname }}"}
    dest: /etc/tandem/tandemd.conf
    validate: /usr/local/sbin/tandemd -t -f %s
"""

RETURN = r"""
dest:
  description: The configuration file.
  returned: success
  type: str
  sample: /etc/tandem/tandemd.conf
"""
