"""tandemctl's live subcommands: status, stats, watch, reload, maintenance, processes (control socket).

tandemctl wires them with ``add_commands(subparsers)`` and, for ``args.command in COMMANDS``,
``run(args)``; ``args.socket`` and ``args.json`` come from tandemctl's own options.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from tandem.control.client import ControlError, request, watch

COMMANDS = ("status", "stats", "watch", "reload", "maintenance", "processes")


def add_commands(sub) -> None:
    sub.add_parser("status", help="state, priority, master and VIPs of each VRRP instance")
    sub.add_parser("stats", help="advert, drop and transition counters of each VRRP instance")
    sub.add_parser("watch", help="print transitions as they happen (Ctrl-C ends)")
    sub.add_parser("reload", help="re-read the config and apply the difference (like SIGHUP)")
    maintenance = sub.add_parser("maintenance", help="lower priority or force BACKUP for a drill")
    maintenance.add_argument("instance", nargs="?", help="one instance (default: all)")
    action = maintenance.add_mutually_exclusive_group(required=True)
    action.add_argument("--lower-by", type=int, metavar="N", help="lower the effective priority by N")
    action.add_argument("--force-backup", action="store_true", help="priority 1: peers take over")
    action.add_argument("--clear", action="store_true", help="end maintenance")
    sub.add_parser("processes", help="tandemd's subsystem processes: pid, state, restarts, last exit")


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "watch":
            return _watch(args)
        if args.command == "maintenance":
            result = request(
                args.socket,
                "maintenance",
                instance=args.instance,
                lower_by=args.lower_by or 0,
                force_backup=args.force_backup,
            )
        else:
            result = request(args.socket, args.command)
    except ControlError as error:
        print(f"tandemctl: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(RENDER[args.command](result))
    return 1 if args.command == "reload" and not result["ok"] else 0


def _watch(args: argparse.Namespace) -> int:
    try:
        for event in watch(args.socket):
            if args.json:
                print(json.dumps(event), flush=True)
            else:
                print(_transition_line(event), flush=True)
    except KeyboardInterrupt:
        pass
    return 0


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def _clock(unix_time: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unix_time))


def _status(instances: list[dict]) -> str:
    rows = [
        [
            i["name"],
            i["state"],
            f"{i['priority']}/{i['base_priority']}",
            i["master"] or "-",
            ",".join(i["vips"]) or "-",
            _clock(i["since"]),
            i["reason"] + (f" [maintenance: {i['maintenance']}]" if i.get("maintenance") else ""),
        ]
        for i in instances
    ]
    return table(["INSTANCE", "STATE", "PRIO/BASE", "MASTER", "VIPS", "SINCE", "REASON"], rows)


def _stats(instances: list[dict]) -> str:
    rows = [
        [
            i["name"],
            i["adverts_sent"],
            i["adverts_received"],
            i["priority_zero_sent"],
            i["priority_zero_received"],
            i["transitions"],
            i["became_master"],
            ", ".join(f"{reason}={count}" for reason, count in sorted(i["drops"].items())) or "-",
        ]
        for i in instances
    ]
    header = ["INSTANCE", "SENT", "RECEIVED", "PRIO0_SENT", "PRIO0_RECV", "TRANSITIONS", "MASTER", "DROPS"]
    return table(header, rows)


def _reload(outcome: dict) -> str:
    if not outcome["ok"]:
        return "reload refused, still running the previous config:\n" + "\n".join(outcome["errors"])
    parts = [f"{kind}: {', '.join(names)}" for kind, names in outcome["summary"].items() if names]
    return "reloaded" + ("; " + "; ".join(parts) if parts else "")


def _maintenance(affected: list[str]) -> str:
    return "maintenance applied to " + (", ".join(affected) or "no instance")


def _processes(children: list[dict]) -> str:
    rows = [
        [
            c["role"],
            c["pid"] or "-",
            c["state"],
            "yes" if c["ready"] else "no",
            c["restarts"],
            c["last_exit"] or "-",
        ]
        for c in children
    ]
    return table(["PROCESS", "PID", "STATE", "READY", "RESTARTS", "LAST EXIT"], rows)


def _transition_line(event: dict) -> str:
    return (
        f"{_clock(event['time'])} {event['instance']}: {event['old']} -> {event['new']}"
        f" (priority {event['priority']}, {event['reason']})"
    )


RENDER = {
    "status": _status,
    "stats": _stats,
    "reload": _reload,
    "maintenance": _maintenance,
    "processes": _processes,
}
