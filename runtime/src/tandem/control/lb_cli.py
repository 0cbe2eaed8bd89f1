"""tandemctl's load-balancer subcommands: lb-status, lb-stats and drain (over the control socket).

Wired like :mod:`tandem.control.cli`: ``add_commands(subparsers)``, and ``run(args)`` for
``args.command in COMMANDS``; ``args.socket`` and ``args.json`` come from tandemctl's own options.
"""

from __future__ import annotations

import argparse
import json
import sys

from tandem.control.cli import table
from tandem.control.client import ControlError, request

COMMANDS = ("lb-status", "lb-stats", "drain")


def add_commands(sub) -> None:
    sub.add_parser("lb-status", help="virtual servers and real servers: state, weight, last check")
    sub.add_parser("lb-stats", help="checks and data-plane counters of each real server")
    drain = sub.add_parser(
        "drain", help="take a real server out of rotation for maintenance (weight 0), or back"
    )
    drain.add_argument("virtual_server", help="as lb-status names it, e.g. [203.0.113.100]:80")
    drain.add_argument("real_server", help="as lb-status names it, e.g. [198.51.100.13]:80")
    mode = drain.add_mutually_exclusive_group()
    mode.add_argument("--remove", action="store_true", help="remove it from the plane (after draining)")
    mode.add_argument("--restore", action="store_true", help="back into rotation")


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "drain":
            mode = "remove" if args.remove else "restore" if args.restore else "drain"
            arguments = {"virtual_server": args.virtual_server, "real_server": args.real_server, "mode": mode}
            result = request(args.socket, "drain", **arguments)
        else:
            result = request(args.socket, args.command.replace("-", "_"))
    except ControlError as error:
        print(f"tandemctl: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else RENDER[args.command](result))
    return 0


def _lb_status(status: dict) -> str:
    rows = []
    for vs in status["virtual_servers"]:
        quorum = f"quorum {vs['quorum']} ({vs['live_weight']}/{vs['quorum_weight']})"
        notes = [quorum, *(["sorry server " + vs["sorry_server"]] if vs["sorry_server"] else [])]
        notes += ["suspended (no VIP local)"] if vs["suspended"] else []
        rows.append([vs["name"], "", "", "", ", ".join(notes)])
        for rs in vs["real_servers"]:
            plane = "-" if rs["plane_weight"] is None else rs["plane_weight"]
            checks = "; ".join(_check_line(check) for check in rs["checks"]) or "no checks"
            state = rs["state"] + (f" [{rs['maintenance']}]" if rs["maintenance"] else "")
            rows.append(["", rs["id"], state, f"{rs['weight']}/{rs['configured_weight']}/{plane}", checks])
    header = ["VIRTUAL SERVER", "REAL SERVER", "STATE", "WEIGHT/CONF/PLANE", "LAST CHECK"]
    return f"plane: {status['plane']}\n" + table(header, rows)


def _check_line(check: dict) -> str:
    if check["ok"] is None:
        return f"{check['kind']}: not run yet"
    return f"{check['kind']}: {check['reason']} ({check['latency'] * 1000:.1f} ms)"


def _lb_stats(stats: dict) -> str:
    head = (
        f"plane: {stats['plane']}, {stats['plane_changes']} change(s), {stats['plane_errors']} refused; "
        f"checks: {stats['checks_run']} run, {stats['checks_failed']} failed, {stats['checks_running']} "
        f"running (at most {stats['checks_bound']}), {stats['checks_waiting']} waiting; "
        f"lateness p50 {stats['lateness_p50'] * 1000:.1f} ms, p99 {stats['lateness_p99'] * 1000:.1f} ms"
    )
    keys = ["virtual_server", "real_server", "checks_run", "checks_failed", "connections", "packets", "bytes"]
    rows = [[r[key] for key in keys] for r in stats["real_servers"]]
    header = ["VIRTUAL SERVER", "REAL SERVER", "CHECKS", "FAILED", "CONNECTIONS", "PACKETS", "BYTES"]
    return head + "\n" + table(header, rows)


def _drain(rs: dict) -> str:
    plane = "not in the plane" if rs["plane_weight"] is None else f"plane weight {rs['plane_weight']}"
    return f"{rs['id']}: {rs['maintenance'] or 'in rotation'} ({plane})"


RENDER = {"lb-status": _lb_status, "lb-stats": _lb_stats, "drain": _drain}
