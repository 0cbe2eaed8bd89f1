# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of tandem.ha.vrrp_plan: validate the whole inventory's VRRP design and plan it.

Runs on the controller only. The rules live in the runtime package (``tandem.inventory``), which the
controller's Python must be able to import; this file only gathers the inputs and reports.
"""

from __future__ import annotations

import sys

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

try:
    from tandem.inventory import plan_inventory
except ImportError as exc:
    TANDEM_IMPORT_ERROR: ImportError | None = exc
else:
    TANDEM_IMPORT_ERROR = None

ARGUMENT_SPEC = {
    "vrrp_groups": {"type": "raw"},
    "active_active": {"type": "raw"},
}
DEFAULT_VARS = {"vrrp_groups": "tandem_vrrp_groups", "active_active": "tandem_active_active"}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # it only reads the inventory

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        if TANDEM_IMPORT_ERROR is not None:
            raise AnsibleActionFail(
                "tandem.ha.vrrp_plan needs the tandem runtime package in the Python that runs Ansible "
                f"({sys.executable}), which cannot import it ({TANDEM_IMPORT_ERROR}); install it there with "
                "'pip install <collection path>/runtime'"
            )
        design = {
            key: args[key] if args.get(key) is not None else self._templar.template(task_vars.get(var))
            for key, var in DEFAULT_VARS.items()
        }
        plan = plan_inventory(design["vrrp_groups"], design["active_active"], task_vars["hostvars"])
        result.update(
            changed=False,
            plan=plan.as_dict(),
            findings=[finding.as_dict() for finding in plan.findings],
        )
        if plan.warnings:
            result["warnings"] = [str(f) for f in plan.warnings]
        if plan.errors:
            result["failed"] = True
            result["msg"] = f"{len(plan.errors)} error(s) in the VRRP design:\n" + "\n".join(
                f"- {f}" for f in plan.errors
            )
        else:
            result["msg"] = (
                f"{len(plan.instances)} VRRP instance(s) on {len(plan.hosts)} host(s), "
                f"{len(plan.dns_records)} DNS record set(s)"
            )
        return result
