#!/usr/bin/python
# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vrrp_maintenance
short_description: Put tandemd's VRRP instances in or out of maintenance for drills and upgrades
version_added: 0.1.0
description:
  - Steers the C(tandemd) running on the target through C(tandemctl maintenance) without touching its
    configuration. O(mode=force_backup) makes the node give up mastership (priority 1, peers take over),
    O(mode=lower) lowers its effective priority by O(lower_by), O(mode=clear) ends maintenance.
  - Idempotent, nothing is sent when the instances already are in the asked mode.
author:
  - Tandem team (@tandem)
options:
  instance:
    description: Only this VRRP instance. Default all instances.
    type: str
  mode:
    description: The maintenance to put the instances in.
    type: str
    required: true
    choices: [force_backup, lower, clear]
  lower_by:
    description: With O(mode=lower), how much to lower the effective priority.
    type: int
attributes:
  check_mode:
    support: full
    description: Reports what would change without sending it.
  diff_mode:
    support: none
    description: No diff is shown.
extends_documentation_fragment:
  - tandem.ha.tandemctl
seealso:
  - module: tandem.ha.vrrp_status
"""

EXAMPLES = r"""
- name: Hand mastership of every instance to the peers for a drill
  tandem.ha.vrrp_maintenance:
    mode: force_backup

- name: End the drill
  tandem.ha.vrrp_maintenance:
    mode: clear
"""

RETURN = r"""
instances:
  description: The chosen instances as the daemon reports them after the change.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tandem.ha.plugins.module_utils.tandemctl import (
    TANDEMCTL_ARGS,
    TandemctlError,
    select_instances,
    tandemctl_json,
)


def wanted_label(mode, lower_by):
    """The daemon's own wording of a maintenance mode in its status (None when there is none)."""
    return {"force_backup": "force_backup", "lower": f"lower_by {lower_by}", "clear": None}[mode]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instance=dict(type="str"),
            mode=dict(type="str", required=True, choices=["force_backup", "lower", "clear"]),
            lower_by=dict(type="int"),
            **TANDEMCTL_ARGS,
        ),
        required_if=[("mode", "lower", ["lower_by"])],
        supports_check_mode=True,
    )
    mode, name = module.params["mode"], module.params["instance"]
    wanted = wanted_label(mode, module.params["lower_by"])
    try:
        before = select_instances(tandemctl_json(module, "status"), name)
        if all(entry.get("maintenance") == wanted for entry in before):
            module.exit_json(changed=False, instances=before)
        if module.check_mode:
            module.exit_json(changed=True, instances=before)
        flags = {
            "force_backup": ["--force-backup"],
            "lower": ["--lower-by", str(module.params["lower_by"])],
            "clear": ["--clear"],
        }[mode]
        tandemctl_json(module, "maintenance", *([name] if name else []), *flags)
        after = select_instances(tandemctl_json(module, "status"), name)
    except TandemctlError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=True, instances=after)


if __name__ == "__main__":
    main()
