"""Labs from the command line (molecule's create and destroy playbooks, scripts/test.sh, make cleanup):

    python -m tandemlab create --prefix P --state FILE --host NAME=ADDRESS/PLEN[,ADDRESS/PLEN...] ...
    python -m tandemlab destroy --state FILE
    python -m tandemlab cleanup

``create`` builds a :class:`~tandemlab.topology.Layout` and owns FILE: it records the prefix and the
namespaces there (JSON) before making any, and refuses to run while FILE exists. ``destroy`` removes what
FILE records, skipping what is already gone, then FILE. ``cleanup`` removes the namespaces and containers
of runs whose owner process is gone.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
from pathlib import Path

from tandemlab import cleanup
from tandemlab.shell import LabError
from tandemlab.topology import Layout


def host_spec(text: str) -> tuple[str, list[str]]:
    """``NAME=ADDRESS/PLEN[,ADDRESS/PLEN...]`` as (name, addresses)."""
    name, _, joined = text.partition("=")
    addresses = joined.split(",")
    if not name or not all("/" in address for address in addresses):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=ADDRESS/PLEN[,ADDRESS/PLEN...]")
    for address in addresses:
        try:
            ipaddress.ip_interface(address)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return name, addresses


def create(prefix: str, state: Path, hosts: list[tuple[str, list[str]]]) -> str:
    layout = Layout(prefix, dict(hosts))
    if len(layout.hosts) != len(hosts):
        raise SystemExit("tandemlab create: a host name is given twice")
    if state.exists():
        raise SystemExit(f"tandemlab create: {state} exists: destroy that lab first")
    state.write_text(json.dumps({"prefix": prefix, "namespaces": layout.namespaces}, indent=2) + "\n")
    layout.create()
    return f"created {', '.join(layout.namespaces)}"


def destroy(state: Path) -> str:
    if not state.exists():
        return "no lab"
    namespaces = json.loads(state.read_text())["namespaces"]
    cleanup.remove_namespaces(namespaces)
    state.unlink()
    return f"destroyed {', '.join(namespaces)}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tandemlab")
    commands = parser.add_subparsers(dest="command", required=True)
    on = commands.add_parser("create", help="build a lab of namespaces on one bridge")
    on.add_argument("--prefix", required=True, help="namespaces are PREFIX-sw and PREFIX-NAME")
    on.add_argument("--state", required=True, type=Path, help="the file that records what is created")
    on.add_argument(
        "--host",
        required=True,
        action="append",
        type=host_spec,
        dest="hosts",
        metavar="NAME=ADDRS",
        help="a host and its eth0 addresses, ADDRESS/PLEN[,ADDRESS/PLEN...]; once per host",
    )
    off = commands.add_parser("destroy", help="remove the lab recorded in --state")
    off.add_argument("--state", required=True, type=Path)
    commands.add_parser("cleanup", help="remove the labs of runs that are gone")
    args = parser.parse_args(argv)
    try:
        if args.command == "create":
            print(create(args.prefix, args.state, args.hosts))
        elif args.command == "destroy":
            print(destroy(args.state))
        else:
            print(f"removed {len(cleanup.remove_stale())} stale lab namespaces and containers")
    except LabError as error:
        raise SystemExit(f"tandemlab {args.command}: {error}") from None


if __name__ == "__main__":
    main()
