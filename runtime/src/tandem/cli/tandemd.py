"""``tandemd``: the daemon's command line, flag-compatible with keepalived's.

Deliberate difference from keepalived: ``-t`` on a missing or unreadable file exits non-zero.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from tandem import __version__

if TYPE_CHECKING:
    import argparse

DEFAULT_CONFIG = "/etc/tandem/tandemd.conf"


def build_parser() -> argparse.ArgumentParser:
    import argparse  # not at the top: a child (--child) starts without it

    parser = argparse.ArgumentParser(
        prog="tandemd",
        description="VRRP daemon for highly available virtual IPs (keepalived-compatible).",
    )
    parser.add_argument(
        "-f",
        "--use-file",
        dest="config",
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"configuration file (default {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "-t",
        "--config-test",
        action="store_true",
        help="check the configuration, print findings as FILE:LINE: lines, and exit",
    )
    parser.add_argument("--json", action="store_true", help="with -t: print findings as JSON")
    parser.add_argument(
        "-n",
        "--dont-fork",
        action="store_true",
        help="stay in the foreground (tandemd never forks; accepted for keepalived habit)",
    )
    parser.add_argument("-l", "--log-console", action="store_true", help="log to the console (stderr)")
    parser.add_argument("-D", "--log-detail", action="store_true", help="detailed logging")
    parser.add_argument("-p", "--pid", dest="pidfile", metavar="FILE", help="write the main pid to FILE")
    parser.add_argument(
        "-r", "--vrrp_pid", dest="vrrp_pidfile", metavar="FILE", help="write the VRRP process pid to FILE"
    )
    parser.add_argument(
        "-c",
        "--checkers_pid",
        dest="checkers_pidfile",
        metavar="FILE",
        help="write the checker process pid to FILE",
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "-P", "--vrrp", dest="vrrp_only", action="store_true", help="run only the VRRP subsystem"
    )
    only.add_argument(
        "-C",
        "--check",
        dest="check_only",
        action="store_true",
        help="run only the load balancer and its checks",
    )
    parser.add_argument(
        "--control-socket",
        metavar="PATH",
        default="/run/tandem/tandemd.sock",
        help="unix socket of the JSON control interface",
    )
    parser.add_argument("-v", "--version", action="version", version=f"tandemd {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # a subsystem's process, started by the supervisor (tandem.daemon.spawn)
        from tandem.daemon.child import run_child

        return run_child(argv)
    args = build_parser().parse_args(argv)
    if args.config_test:
        from tandem.config.configtest import run_config_test

        return run_config_test(args.config, as_json=args.json)
    # the supervisor: its first child starts before anything heavy is imported, and the rest of its own
    # start-up waits for that child's (they would share the CPU)
    from tandem.daemon.spawn import CHILD_START_WAIT, first_role, send_config, spawn, wait_until_started

    first = spawn(args, first_role(args))
    from tandem.daemon import import_asyncio_without_tls, setup_logging

    setup_logging(args.log_console, args.log_detail)
    from tandem.daemon.configfile import load_at_start

    config = load_at_start(args.config)  # while the child's interpreter starts
    send_config(first, config)
    wait_until_started(first, CHILD_START_WAIT)
    import_asyncio_without_tls()
    from tandem.daemon.supervisor import supervise

    return supervise(args, first, config)


if __name__ == "__main__":
    sys.exit(main())
