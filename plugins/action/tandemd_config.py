# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of tandem.ha.tandemd_config: write this host's tandemd.conf with the runtime's writer.

The text comes from ``tandem.inventory.render`` (the runtime's own keyword tables, checks and
``tandem.config.dump``), imported from the collection itself; the file is installed by
``ansible.builtin.copy`` (validate, backup, check mode and diff as there), with every secret of the
diff masked.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible_collections.tandem.ha.plugins.plugin_utils.runtime import import_runtime

ARGUMENT_SPEC = {
    "plan": {"type": "dict", "default": {}},
    "instances": {"type": "list", "elements": "dict", "default": []},
    "scripts": {"type": "list", "elements": "dict", "default": []},
    "global_defs": {"type": "dict", "default": {}},
    "dest": {"type": "path", "required": True},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
    "mode": {"type": "raw", "default": "0640"},
    "backup": {"type": "bool", "default": True},
    "validate": {"type": "str"},
}


def host_part(plan: dict, host: str) -> dict:
    """This host's part of a tandem.ha.vrrp_plan plan; a registered result passed whole is an error."""
    if "plan" in plan and ("findings" in plan or "changed" in plan):
        raise AnsibleActionFail(
            "tandemd_plan is the whole registered result of tandem.ha.vrrp_plan; pass its plan: "
            'tandemd_plan: "{{ RESULT.plan }}"'
        )
    unknown = sorted(set(plan) - {"hosts", "instances", "dns_records", "real_server_sysctls"})
    if unknown or not isinstance(plan.get("hosts", {}), dict):
        raise AnsibleActionFail(
            "tandemd_plan must be the plan returned by tandem.ha.vrrp_plan (keys hosts, instances, "
            f"dns_records); got keys {', '.join(map(str, unknown or plan))}"
        )
    return plan.get("hosts", {}).get(host) or {}


def mask(text: str, secrets: set[str], masked: str) -> str:
    text = import_runtime("config.dump").mask_secret_lines(text, masked)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, masked)
    return text


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        try:
            render = import_runtime("inventory.render")
            report = import_runtime("inventory.report")
        except ImportError as exc:
            raise AnsibleActionFail(f"tandem.ha.tandemd_config: {exc}") from None
        host = task_vars.get("inventory_hostname")
        if args["plan"]:
            part = host_part(args["plan"], host)
        else:
            part = {"instances": args["instances"], "scripts": args["scripts"]}
        rendered = render.render_host(part, host, args["global_defs"])
        secrets = report.secrets(part) | report.secrets(args["global_defs"])
        if rendered.text is None:
            lines = "\n".join(f"- {mask(str(f), secrets, report.MASK)}" for f in rendered.errors)
            raise AnsibleActionFail(f"tandemd.conf for {host} has {len(rendered.errors)} error(s):\n{lines}")
        result = self._copy(rendered.text, args, task_vars)
        for diff in result.get("diff", []) if isinstance(result.get("diff"), list) else [result.get("diff")]:
            if isinstance(diff, dict):
                for side in ("before", "after"):
                    if isinstance(diff.get(side), str):
                        diff[side] = mask(diff[side], secrets, report.MASK)
        warnings = [str(f) for f in rendered.findings if f.severity is not render.Severity.ERROR]
        if warnings:
            result.setdefault("warnings", []).extend(mask(w, secrets, report.MASK) for w in warnings)
        return result

    def _copy(self, text: str, args: dict, task_vars: dict) -> dict:
        local = tempfile.mkdtemp(dir=C.DEFAULT_LOCAL_TMP)
        try:
            source = os.path.join(local, "tandemd.conf")
            with open(source, "w", encoding="utf-8") as handle:
                handle.write(text)
            task = self._task.copy()
            task.args.clear()
            task.args.update(
                src=source,
                dest=args["dest"],
                owner=args["owner"],
                group=args["group"],
                mode=args["mode"],
                backup=args["backup"],
            )
            if args.get("validate"):
                task.args["validate"] = args["validate"]
            copy = self._shared_loader_obj.action_loader.get(
                "ansible.legacy.copy",
                task=task,
                connection=self._connection,
                play_context=self._play_context,
                loader=self._loader,
                templar=self._templar,
                shared_loader_obj=self._shared_loader_obj,
            )
            return copy.run(task_vars=task_vars)
        finally:
            shutil.rmtree(local, ignore_errors=True)
