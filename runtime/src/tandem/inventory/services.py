"""Design-wide settings (``tandem_global``: mail, notify FIFO, script security) and virtual servers
(``tandem_virtual_servers``), planned onto the hosts that run them.

A virtual server is written in keepalived's own keywords (``lvs_sched``, ``delay_loop``,
``persistence_timeout``, a checker's ``connect_timeout`` or ``url``...): the schema here checks only
its shape and where it runs; every keyword and value is judged by the runtime's own keyword tables when
the host's config is rendered (``render``), so the inventory accepts exactly what tandemd does and its
errors name the virtual server and field.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from voluptuous import ALLOW_EXTRA, All, Invalid, Length, Optional, Required, Schema

from tandem.config.lvs_blocks import CHECKERS

from .findings import Finding, error, warning
from .load import definitions
from .model import Instance
from .schema import GLOBAL, HOST, NAME, SHIPPED, address, integer, shown
from .scripts import notify_script, script_words, shipped

SMTP_PASSWORD_FILE = "/etc/tandem/smtp-password"


def _checker(value: Any) -> dict:
    """``{KIND: {keywords}}``, one kind per entry, as keepalived nests it (``TCP_CHECK: {}``)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise Invalid(f"expected one checker as {{KIND: {{keywords}}}}, KIND one of {', '.join(CHECKERS)}")
    ((kind, options),) = value.items()
    if kind not in CHECKERS:
        close = difflib.get_close_matches(str(kind), CHECKERS, n=1) if len(str(kind)) <= 100 else []
        hint = f"; did you mean '{close[0]}'?" if close else f"; expected one of {', '.join(CHECKERS)}"
        raise Invalid(f"unknown checker {shown(kind)}{hint}", [kind])
    options = dict(options or {})
    if not all(isinstance(k, str) for k in options):
        raise Invalid("expected keepalived keywords", [kind])
    if isinstance(options.get("misc_path"), Mapping):
        options["misc_path"] = Schema(SHIPPED)(options["misc_path"])
    return {kind: options}


REAL_SERVER = Schema(
    {
        Required("address"): address,
        Optional("port"): integer(1, 65535),
        Optional("host"): HOST,  # an inventory host: gets the DR sysctls (arp_ignore/arp_announce)
        Optional("checkers", default=list): [_checker],
    },
    extra=ALLOW_EXTRA,
)


def _where(server: dict) -> dict:
    if ("vrrp_group" in server) == ("hosts" in server):
        raise Invalid("give vrrp_group (its members run the server) or hosts, not both or neither")
    if ("fwmark" in server) == ("address" in server):
        raise Invalid("give address and port, or fwmark")
    if "address" in server and "port" not in server:
        raise Invalid("a port is needed with the address", ["port"])
    return server


VIRTUAL_SERVER = Schema(
    All(
        Schema(
            {
                Required("name"): NAME,
                Optional("vrrp_group"): NAME,
                Optional("hosts"): All([HOST], Length(min=1)),
                Optional("address"): address,
                Optional("port"): integer(1, 65535),
                Optional("fwmark"): integer(1, 2**32 - 1),
                Optional("real_servers", default=list): [REAL_SERVER],
            },
            extra=ALLOW_EXTRA,
        ),
        _where,
    )
)


def global_defs(raw: Any) -> tuple[dict[str, Any], str | None, list[dict], list[Finding]]:
    """``tandem_global`` as global_defs keywords, the SMTP password (kept out of the config), the FIFO
    scripts to ship (to every host) and findings."""
    if raw is None:
        return {}, None, [], []
    valid, findings = definitions([raw], GLOBAL, "tandem_global", None)
    if findings:
        return (
            {},
            None,
            [],
            [Finding(f.severity, None, None, f"tandem_global.{f.field}", f.message) for f in findings],
        )
    settings = valid[0]
    defs: dict[str, Any] = {
        key: settings.get(key)
        for key in (
            "notify_fifo",
            "vrrp_notify_fifo",
            "lvs_notify_fifo",
            "script_user",
            "enable_script_security",
        )
    }
    files: list[dict] = []
    for key in ("notify_fifo_script", "vrrp_notify_fifo_script"):
        if settings.get(key) is not None:
            defs[key] = script_words(notify_script(settings[key], files))
    mail = settings.get("mail")
    password = None
    if mail:
        password = mail.get("auth_password")
        defs.update(
            notification_email=mail["to"],
            notification_email_from=mail.get("from"),
            smtp_server=[mail["server"], mail["port"]] if "port" in mail else mail["server"],
            smtp_helo_name=mail.get("helo_name"),
            smtp_connect_timeout=mail.get("connect_timeout"),
            smtp_starttls=mail.get("starttls"),
            smtp_auth_user=mail.get("auth_user"),
            smtp_auth_password_file=SMTP_PASSWORD_FILE if password else None,
            smtp_alert=mail.get("alert"),
        )
    return {k: v for k, v in defs.items() if v is not None}, password, files, []


def _ship_misc(server: dict, files: list[dict]) -> dict:
    """MISC_CHECK ``misc_path: {src, args}``: shipped like track scripts, run from SCRIPTS_DIR."""
    for real in server["real_servers"]:
        for checker in (options for item in real["checkers"] for options in item.values()):
            if isinstance(checker.get("misc_path"), Mapping):
                spec = checker["misc_path"]
                checker["misc_path"], file = shipped(spec["src"], spec.get("args"), checker.get("user"))
                files.append(file)
    return server


def virtual_servers(
    raw: Any, instances: list[Instance], known_hosts: set[str], defined: frozenset[str] = frozenset()
) -> tuple[dict[str, list[dict]], dict[str, list[dict]], dict[str, dict[str, int]], list[Finding]]:
    """Per host: its virtual servers (plan format), the files to ship and the sysctls; and findings.
    ``defined`` names the groups and sets written in the design, valid or not: a server of one whose
    own errors left no instances gets no error of its own (one root cause, one report)."""
    servers, findings = definitions(raw, VIRTUAL_SERVER, "tandem_virtual_servers", None)
    findings = [Finding(f.severity, f.group, f.host, f.field, f.message) for f in findings]
    by_group: dict[str, list[Instance]] = {}
    for instance in instances:
        by_group.setdefault(instance.source, []).append(instance)
    per_host: dict[str, list[dict]] = {}
    files: dict[str, list[dict]] = {}
    sysctls: dict[str, dict[str, int]] = {}
    for server in servers:
        name = server["name"]
        if "vrrp_group" in server:
            group = by_group.get(server["vrrp_group"])
            if group is None and server["vrrp_group"] in defined:
                continue
            if group is None:
                findings.append(
                    error(
                        name, None, "vrrp_group", f"no VRRP group or active-active set {server['vrrp_group']}"
                    )
                )
                continue
            hosts = [m.host for m in group[0].members]
            vips = {vip.ip for instance in group for vip in instance.vips}
            if "address" in server and server["address"] not in vips:
                findings.append(
                    warning(
                        name,
                        None,
                        "address",
                        f"{server['address']} is no VIP of {server['vrrp_group']}: every member serves it, "
                        "not only the master",
                    )
                )
        else:
            hosts = server["hosts"]
            for index, host in enumerate(hosts):
                if host not in known_hosts:
                    findings.append(
                        error(name, host, f"hosts[{index}]", f"host {host} is not in the inventory")
                    )
        shipped_files: list[dict] = []
        entry = _ship_misc(server, shipped_files)
        entry = {
            "source": name,
            **{
                k: (str(v) if k == "address" else v)
                for k, v in entry.items()
                if k not in ("vrrp_group", "hosts")
            },
        }
        for real in entry["real_servers"]:
            real["address"] = str(real["address"])
        family = server["address"].version if "address" in server else 4
        method = str(server.get("lvs_method", server.get("lb_kind", "NAT"))).upper()
        for host in hosts:
            per_host.setdefault(host, []).append(
                {
                    **entry,
                    "real_servers": [
                        {k: v for k, v in r.items() if k != "host"} for r in entry["real_servers"]
                    ],
                }
            )
            files.setdefault(host, []).extend(shipped_files)
            if method == "NAT":  # replies come back through the director, which routes them
                key = "net.ipv4.ip_forward" if family == 4 else "net.ipv6.conf.all.forwarding"
                sysctls.setdefault(host, {})[key] = 1
        for index, real in enumerate(server["real_servers"]):
            if real.get("host") and real["host"] not in known_hosts:
                where = f"real_servers[{index}].host"
                findings.append(
                    error(name, real["host"], where, f"host {real['host']} is not in the inventory")
                )
            elif method == "DR" and real.get("host"):
                # a DR real server carries the VIP on lo and must not answer ARP for it
                sysctls.setdefault(real["host"], {}).update(
                    {"net.ipv4.conf.all.arp_ignore": 1, "net.ipv4.conf.all.arp_announce": 2}
                )
    return per_host, files, sysctls, findings
