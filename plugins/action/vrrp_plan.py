# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of tandem.ha.vrrp_plan: validate the whole inventory's VRRP design and plan it.

Runs on the controller only. The rules live in the runtime (``tandem.inventory``), imported from the
collection itself (plugin_utils/runtime.py); this file gathers the inputs and reports. The plan keeps
the secrets the role writes into tandemd.conf, so the task result is never displayed: the plugin shows
a readable summary itself, and the whole plan with secrets masked at -v.
"""

from __future__ import annotations

import json

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.tandem.ha.plugins.plugin_utils.runtime import import_runtime

display = Display()

ARGUMENT_SPEC = {
    "vrrp_groups": {"type": "raw"},
    "active_active": {"type": "raw"},
    "virtual_servers": {"type": "raw"},
    "global_settings": {"type": "raw"},
}
DEFAULT_VARS = {
    "vrrp_groups": "tandem_vrrp_groups",
    "active_active": "tandem_active_active",
    "virtual_servers": "tandem_virtual_servers",
    "global_settings": "tandem_global",
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # it only reads the inventory

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        try:
            inventory = import_runtime("inventory")
            report = import_runtime("inventory.report")
        except ImportError as exc:
            raise AnsibleActionFail(f"tandem.ha.vrrp_plan: {exc}") from None
        warnings = []
        if not self._task.run_once:
            warnings.append(
                "tandem.ha.vrrp_plan plans the whole inventory on every host of the play without "
                "run_once: true (the same plan, once per host); add run_once: true to the task"
            )
        design = {}
        for key, var in DEFAULT_VARS.items():
            if args.get(key) is not None:
                design[key] = args[key]
                continue
            design[key] = self._templar.template(task_vars.get(var))
        hostvars = task_vars["hostvars"]
        findings = [
            *self._unseen_design(design, args, hostvars, task_vars["inventory_hostname"], inventory),
        ]
        plan = inventory.plan_inventory(inventory=hostvars, **design)
        findings += plan.findings
        errors = [f for f in findings if f.severity is inventory.Severity.ERROR]
        warnings += [str(f) for f in findings if f.severity is inventory.Severity.WARNING]
        planned = inventory.InventoryPlan([], {}, [], []).as_dict() if errors else plan.as_dict()
        result.update(changed=False, plan=planned, findings=[f.as_dict() for f in findings])
        if warnings:
            result["warnings"] = warnings
        if errors:
            result["failed"] = True
            result["msg"] = f"{len(errors)} error(s) in the VRRP design:\n" + "\n".join(
                f"- {line}" for line in report.grouped(errors)
            )
            return result
        result["msg"] = report.summary(planned, []).splitlines()[0]
        # The registered result keeps the secrets for the role; what is shown never does.
        result["_ansible_no_log"] = True
        # stderr: stdout may be a machine-read callback's (json), which must stay parseable
        display.display(report.summary(planned, []), stderr=True)
        display.v("full plan (secrets masked):\n" + json.dumps(report.redacted(planned), indent=2))
        return result

    def _unseen_design(self, design, args, hostvars, planner, inventory):
        """The design is read from the planning host: a host that sees another value of a design
        variable (set in its own host or group vars) would be planned with what it does not see."""
        findings = []
        for key, var in DEFAULT_VARS.items():
            if args.get(key) is not None:
                continue
            for host in hostvars:
                if host == planner:
                    continue
                theirs = self._templar.template(hostvars[host].get(var))
                # a host without its own value sees the planner's (play vars are in no hostvars)
                if theirs is None or theirs == design[key]:
                    continue
                if design[key] is None:
                    message = f"{var} is set for {host} but not for the planning host {planner}"
                else:
                    message = f"{host} sees another {var} than the planning host {planner}"
                findings.append(
                    inventory.Finding(
                        inventory.Severity.ERROR,
                        None,
                        host,
                        var,
                        f"{message} (host or group vars): the plan is made from what {planner} sees; "
                        "define the design once, where every host sees it (group_vars/all)",
                    )
                )
        return findings
