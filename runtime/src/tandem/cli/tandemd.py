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


# keepalived options tandemd takes but does not carry out, with why (said at every start), and whether
# each takes a value
UNSUPPORTED_OPTIONS = {
    ("-X", "--release-vips"): ("VIPs are dropped on transitions as usual", False),
    ("-V", "--dont-release-vrrp"): ("virtual addresses and routes are removed at stop", False),
    ("-I", "--dont-release-ipvs"): ("the load balancer's services are removed at stop", False),
    ("-a", "--address-monitoring"): ("address changes are not logged", False),
    ("-x", "--snmp"): ("tandemd has no SNMP subsystem (tandemctl and the metrics endpoint instead)", False),
    ("-A", "--snmp-agent-socket"): ("tandemd has no SNMP subsystem", True),
    ("-b", "--bfd_pid"): ("tandemd has no BFD subsystem", True),
    ("-M", "--core-dump-pattern"): ("the kernel's core_pattern is left as it is", True),
}
FACILITIES = {str(n): f"local{n}" for n in range(8)} | {f"local{n}": f"local{n}" for n in range(8)}
FACILITIES |= {"user": "user", "daemon": "daemon"}


def parse_umask(text: str) -> int:
    """``-u MASK`` as keepalived reads it (C strtoul, base 0): 0x.. hex, 0.. octal, else decimal."""
    import argparse

    try:
        base = 16 if text.lower().startswith("0x") else 8 if text.startswith("0") and len(text) > 1 else 10
        value = int(text, base)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777:
        raise argparse.ArgumentTypeError(f"{text!r} is not a umask (0 to 0777)")
    return value


def parse_facility(text: str) -> str:
    import argparse

    if text not in FACILITIES:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 0-7, local0-local7, user or daemon")
    return FACILITIES[text]


def build_parser() -> argparse.ArgumentParser:
    import argparse  # not at the top: a child (--child) starts without it

    parser = argparse.ArgumentParser(
        prog="tandemd",
        description="VRRP daemon for highly available virtual IPs (keepalived-compatible).",
    )
    add = parser.add_argument
    add("-f", "--use-file", dest="config", default=DEFAULT_CONFIG, metavar="FILE",
        help=f"configuration file (default {DEFAULT_CONFIG})")  # fmt: skip
    add("-t", "--config-test", nargs="?", const="-", metavar="LOG_FILE",
        help="check the configuration, print findings as FILE:LINE: lines (to stderr, or to LOG_FILE "
        "given as -tLOG_FILE or --config-test=LOG_FILE), and exit")  # fmt: skip
    add("--json", action="store_true", help="with -t: print findings as JSON")
    add("-i", "--config-id", metavar="ID",
        help="keep config lines '@ID ...', drop '@^ID ...' (default: the host name up to a dot)")  # fmt: skip
    add("-e", "--all-config", action="store_true", help="an include that matches no file is an error")
    add("-d", "--dump-conf", action="store_true", help="log the configuration at start (secrets masked)")
    add("-n", "--dont-fork", action="store_true",
        help="stay in the foreground (tandemd never forks; accepted for keepalived habit)")  # fmt: skip
    add("-l", "--log-console", action="store_true", help="log to the console (stderr)")
    add("-D", "--log-detail", action="store_true", help="detailed logging")
    add("-S", "--log-facility", type=parse_facility, default="daemon", metavar="FACILITY",
        help="syslog facility: 0-7 (local0-local7), local0-local7, user or daemon (default)")  # fmt: skip
    add("-G", "--no-syslog", action="store_true", help="do not log to syslog")
    add("-u", "--umask", type=parse_umask, metavar="MASK", help="umask for the files tandemd creates")
    add("-m", "--core-dump", action="store_true", help="allow a core dump if tandemd ends abnormally")
    add("-R", "--dont-respawn", action="store_true",
        help="do not restart a child process that ended: tandemd stops")  # fmt: skip
    add("-s", "--namespace", metavar="NAME",
        help="run in network namespace NAME (/run/netns/NAME; overrides net_namespace)")  # fmt: skip
    add("-p", "--pid", dest="pidfile", metavar="FILE", help="write the main pid to FILE")
    add("-r", "--vrrp_pid", dest="vrrp_pidfile", metavar="FILE", help="write the VRRP process pid to FILE")
    add("-c", "--checkers_pid", dest="checkers_pidfile", metavar="FILE",
        help="write the checker process pid to FILE")  # fmt: skip
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "-P", "--vrrp", dest="vrrp_only", action="store_true", help="run only the VRRP subsystem"
    )
    only.add_argument("-C", "--check", dest="check_only", action="store_true",
                      help="run only the load balancer and its checks")  # fmt: skip
    add("--all", dest="all_children", action="store_true",
        help="run every child process, even one the configuration gives nothing to do")  # fmt: skip
    add("-B", "--no_bfd", action="store_true", help="no BFD subsystem (tandemd never runs one)")
    add("--signum", metavar="SIGFUNC", help="print the signal number of STOP, RELOAD, DATA, STATS, "
        "STATS_CLEAR or JSON, and exit")  # fmt: skip

    class Unsupported(argparse.Action):
        """A keepalived option tandemd does not carry out: noted (said at start), its value ignored."""

        def __call__(self, parser, namespace, values, option_string=None):
            why, _ = UNSUPPORTED_OPTIONS[tuple(self.option_strings)]
            namespace.unsupported = [*(namespace.unsupported or ()), ("/".join(self.option_strings), why)]

    for (short, long), (why, takes_value) in UNSUPPORTED_OPTIONS.items():
        add(short, long, action=Unsupported, dest="unsupported", nargs=None if takes_value else 0,
            metavar="VALUE", help=f"not supported: {why}")  # fmt: skip
    add("-T", "--genhash", action="store_true", help="not supported: tandemd has no genhash mode")
    add("--control-socket", metavar="PATH", default="/run/tandem/tandemd.sock",
        help="unix socket of the JSON control interface")  # fmt: skip
    add("-v", "--version", action="version", version=f"tandemd {__version__}")
    return parser


def parse_args(argv: list[str]):
    """tandemd's arguments. ``-t``/``--config-test`` take their LOG_FILE only attached (``-tFILE``,
    ``--config-test=FILE``), as keepalived's optional argument: ``tandemd -t keepalived.conf`` must
    not write the findings over the config."""
    from tandem.config import ConfigSource

    argv = ["--config-test=-" if word in ("-t", "--config-test") else word for word in argv]
    args = build_parser().parse_args(argv)
    args.unsupported = args.unsupported or []
    args.source = ConfigSource(args.config, args.config_id, args.all_config)
    return args


def config_test(args) -> int:
    from tandem.config.configtest import run_config_test

    if args.config_test == "-":
        return run_config_test(args.source, as_json=args.json)
    try:
        with open(args.config_test, "w", encoding="utf-8") as report:
            return run_config_test(args.source, as_json=args.json, report=report)
    except OSError as error:
        print(f"tandemd: cannot write {args.config_test}: {error.strerror}", file=sys.stderr)
        return 1


def apply_process_settings(args) -> str | None:
    """``-u``, ``-m`` and ``-s`` for this process and the children it starts; an error, or None."""
    import os

    if args.umask is not None:
        os.umask(args.umask)
    if args.core_dump:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    if args.namespace is not None:
        from pyroute2 import netns

        try:
            netns.setns(args.namespace, flags=0)  # flags=0: an existing namespace only, never created
        except OSError as error:
            return f"network namespace {args.namespace}: {error.strerror or error}"
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # a subsystem's process, started by the supervisor (tandem.daemon.spawn)
        from tandem.daemon.child import run_child

        return run_child(argv)
    from tandem.vrrp.early import for_daemon

    early = for_daemon(argv)  # first of all: the VRRP child's Backups count Master_Down_Interval from here
    args = parse_args(argv)
    if args.signum is not None:
        from tandem.daemon import SIGNAL_FUNCTIONS, signal_of

        if args.signum not in SIGNAL_FUNCTIONS:
            print(f"Unknown sigfunc {args.signum}", file=sys.stderr)
            return 1
        print(int(signal_of(args.signum)))
        return 0
    if args.genhash:
        print("tandemd: -T/--genhash is not supported: tandemd has no genhash mode", file=sys.stderr)
        return 1
    for name, why in args.unsupported:
        print(f"tandemd: {name} is not supported: {why}; ignored", file=sys.stderr)
    if args.config_test is not None:
        return config_test(args)
    if error := apply_process_settings(args):
        print(f"tandemd: {error}", file=sys.stderr)
        return 1
    # the supervisor: its first child starts before anything heavy is imported, and the rest of its own
    # start-up waits for that child's (they would share the CPU)
    from tandem.daemon import hold_signals
    from tandem.daemon.spawn import CHILD_START_WAIT, first_role, send_config, spawn, wait_until_started

    held = hold_signals()  # a SIGHUP before the supervisor's loop runs is a reload, not the end

    first = spawn(args, first_role(args), early=early if first_role(args) == "vrrp" else None)
    if early is not None:
        early.close()  # the child's now
    from tandem.daemon import LogOptions, import_asyncio_without_tls, setup_logging

    setup_logging(LogOptions.of(args))
    from tandem.daemon.configfile import load_at_start

    config = load_at_start(args.source, dump=args.dump_conf)  # while the child's interpreter starts
    send_config(first, config)
    wait_until_started(first, CHILD_START_WAIT)
    import_asyncio_without_tls()
    from tandem.daemon.supervisor import supervise

    return supervise(args, first, config, held)


if __name__ == "__main__":
    sys.exit(main())
