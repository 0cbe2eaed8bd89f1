"""``tandemctl``: inspect and steer a running tandemd, and work with config files offline."""

from __future__ import annotations

import argparse
import sys

from tandem import __version__
from tandem.control import cli as control_cli
from tandem.control import lb_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tandemctl", description="Control and inspect tandemd.")
    parser.add_argument("--version", action="version", version=f"tandemctl {__version__}")
    parser.add_argument(
        "-s",
        "--socket",
        default="/run/tandem/tandemd.sock",
        help="control socket of the daemon (default %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    control_cli.add_commands(sub)
    lb_cli.add_commands(sub)
    config = sub.add_parser("config", help="work with configuration files offline")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    check = config_sub.add_parser("check", help="validate a config file (same as tandemd -t)")
    check.add_argument("-f", "--use-file", dest="config", required=True, metavar="FILE")
    dump = config_sub.add_parser("dump", help="print the normalized config (includes and macros expanded)")
    dump.add_argument("-f", "--use-file", dest="config", required=True, metavar="FILE")
    dump.add_argument("--defaults", action="store_true", help="also show keys left at their defaults")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in control_cli.COMMANDS:
        return control_cli.run(args)
    if args.command in lb_cli.COMMANDS:
        return lb_cli.run(args)
    if args.command == "config" and args.config_command == "check":
        from tandem.config import ConfigSource
        from tandem.config.configtest import run_config_test

        return run_config_test(ConfigSource(args.config), as_json=args.json)
    if args.command == "config" and args.config_command == "dump":
        from tandem.config.dump import run_dump

        return run_dump(args.config, show_defaults=args.defaults)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
