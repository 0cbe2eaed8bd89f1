#!/usr/bin/python
# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vrrp_status
short_description: Read the VRRP state of tandemd on a host, optionally waiting for a state
version_added: 0.1.0
description:
  - Reads the state of the VRRP instances of the C(tandemd) running on the target (state, effective and
    base priority, current master, VIPs, time and reason of the last transition) through C(tandemctl).
  - With O(state), waits like M(ansible.builtin.wait_for) until the chosen instances are in that state,
    and fails after O(timeout) seconds showing the last status seen.
author:
  - Tandem team (@tandem)
options:
  instance:
    description: Only this VRRP instance (C(vrrp_instance) name). Default all instances.
    type: str
  state:
    description: Wait until the chosen instances are in this state.
    type: str
    choices: [MASTER, BACKUP, FAULT]
  timeout:
    description: Seconds to wait for O(state).
    type: float
    default: 30
  delay:
    description: Seconds between two reads while waiting.
    type: float
    default: 0.5
attributes:
  check_mode:
    support: full
    description: Only reads; the same in check mode.
  diff_mode:
    support: none
    description: No diff is shown.
extends_documentation_fragment:
  - tandem.ha.tandemctl
"""

EXAMPLES = r"""
- name: Read the state of every instance
  tandem.ha.vrrp_status:
  register: vrrp

- name: Wait until this host is MASTER of VI_web
  tandem.ha.vrrp_status:
    instance: VI_web
    state: MASTER
    timeout: 10
"""

RETURN = r"""
instances:
  description: The chosen instances as the daemon reports them.
  returned: always
  type: list
  elements: dict
  sample:
    - name: VI_web
      state: MASTER
      priority: 150
      base_priority: 150
      master: 198.51.100.11
      vips: [198.51.100.10/24]
      since: 1795590420.7
      reason: master down
      maintenance: null
elapsed:
  description: Seconds spent waiting for O(state).
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tandem.ha.plugins.module_utils.tandemctl import (
    TANDEMCTL_ARGS,
    TandemctlError,
    select_instances,
    tandemctl_json,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instance=dict(type="str"),
            state=dict(type="str", choices=["MASTER", "BACKUP", "FAULT"]),
            timeout=dict(type="float", default=30),
            delay=dict(type="float", default=0.5),
            **TANDEMCTL_ARGS,
        ),
        supports_check_mode=True,
    )
    wanted = module.params["state"]
    start = time.monotonic()
    while True:
        try:
            instances = select_instances(tandemctl_json(module, "status"), module.params["instance"])
        except TandemctlError as error:
            module.fail_json(msg=str(error), elapsed=time.monotonic() - start)
        elapsed = time.monotonic() - start
        if wanted is None or all(entry["state"] == wanted for entry in instances):
            module.exit_json(changed=False, instances=instances, elapsed=elapsed)
        if elapsed >= module.params["timeout"]:
            seen = ", ".join(f"{entry['name']} {entry['state']}" for entry in instances)
            module.fail_json(
                msg=f"not all {wanted} after {module.params['timeout']} s: {seen}",
                instances=instances,
                elapsed=elapsed,
            )
        time.sleep(module.params["delay"])


if __name__ == "__main__":
    main()
