"""The nftables data plane: virtual services as DNAT in one table of Tandem's own (after zevenet's nftlb).

Everything lives in ``table inet tandem_lb``; no other table is read or touched. A new connection
(the NAT hooks see only a connection's first packet; conntrack carries the rest) is dispatched by
verdict maps keyed like nftlb's, ``ip daddr . meta l4proto . th dport`` (``... . meta l4proto`` for
port-0 services, ``meta mark`` for fwmark services, which IPVS-like take precedence), to the service's
chain. That chain picks a real server through the service's slot map and jumps to the real server's
chain, which DNATs it (what it counts is counted in the filter hooks, see Counters)::

    nat_prerouting / nat_output ─ jump dispatch ─ vmap ─▶ s/<service> ─ vmap @q/… ─▶ d/<service>/<rs>
                               (persistence sets, then <numgen|jhash> mod T)       dnat

Schedulers (``lb_algo``), each over the real servers with weight > 0 (weight 0 keeps a real server's
chain and its counting elements, so its established connections flow on, but gives it no new
connection):

- rr: ``numgen inc mod T`` over T slots, one per real server; wrr: one slot per unit of weight (the
  weights over their gcd; where their sum would exceed 4,096 the weights are scaled down to fit, a
  warning says so), laid out in IPVS's wrr order over one cycle (``A A B A B`` for weights 3, 2);
- sh: ``jhash`` of the source address (and source port with sh-port) over the weights; dh: of the
  destination address; fo: the highest weight takes everything;
- approximations (a warning each, :func:`approximations`): lc → rr, wlc/sed/nq → wrr (nftables does
  not count a real server's connections), lblc/lblcr → dh, mh → sh, ovf → fo, twos → weighted random
  (``numgen random``).

persistence_timeout: each real server has a dynamic set of client addresses (masked by
persistence_granularity) with that timeout; a client found in a set goes to that real server and its
entry is refreshed. It expires ``timeout`` after the client's last new connection (IPVS: after its
last connection ends), said as a warning too. The lookups are the rules of the service's own chain
(``k/<service>``), one per live real server, added and deleted one at a time (a deletion by the
rule's handle, which the plane reads from the kernel: :func:`lookup_handles`), so a change costs
what changed there too. uthreshold/lthreshold and ops are not available here (warnings); DR and TUN
cannot be DNAT and are refused (:func:`unsupported`, PlaneError). ``tandemd -t`` can show both
lists: they depend only on the config's services.

Return path: DNAT needs the real servers' replies to come back through this host. Where their
default route points elsewhere, ``NftablesPlane(masquerade=True)`` adds ``masquerade`` for the
connections this table DNATed (the real servers then see the load balancer's address, not the
client's). The host must forward (``net.ipv4.ip_forward``, ``net.ipv6.conf.all.forwarding``), as for
IPVS NAT; the plane does not change sysctls.

Counters: no named counter objects (libnftables reads every named object into its cache before each
change: 10,000 of them cost more than the change). Each real server has an element in sets with
per-element counters, looked up in filter chains on the forward, input and output hooks (for DNATed
connections only: any other packet, e.g. a health check's, passes them with one test), keyed by
the conntrack entry (``ct original ip daddr . meta l4proto`` plus the real server's address and
port; fwmark services without the address, port-0 ones without the port): ``t...`` counts packets
and bytes of both directions, ``n...`` the first packet of each connection. A real server shared by
two fwmark services, or by two services of one address and protocol, is counted once, on the first.
They are read back by one nfnetlink dump of each set in use (:func:`set_elements`), not through
libnftables, whose listing of the same two sets cost 280-520 ms of CPU at 5,000 real servers.

Every change is one transaction of nft JSON run through libnftables (a small ctypes binding), and
costs what changed, not the table: the plane keeps the table as parts (the skeleton, one part per
service, one per real server of a service) and a change adds and deletes only the chains, counters,
map elements and rules of the parts that differ. The slot map (``q/<service>/<build>``: slot ->
``goto`` the real server's chain) is named, not an anonymous map in the rule: removing one of 5,000
real servers moves the last slot's real server into its hole (one element rewritten) and the rule's
modulus shrinks by one; a weight change adds or frees that server's slots; values past the cycle are
never deleted while the service has a live server (rewritten to a live one where theirs is gone: a
packet in an older generation's rule may still pick one). A long cycle keeps its layout, so its
order drifts from IPVS's but every weight stays exact. A cycle of at most SMALL_CYCLE slots is
instead an anonymous map in a chain named by its content, new at each change (IPVS's order; the old
chain lingers a transaction): rewriting a slot map in place lost one to three new connections in
2,000 changes under load (lab, load ~8) where fresh maps lost none. Each change's rule starts a
new cycle (as IPVS resets wrr's position when a destination changes).

libnftables 1.0.6's JSON cannot declare a map keyed by numgen or jhash (no ``typeof``, and it refuses
``type integer``): each slot map is declared in nft's own syntax, from one fixed template
(:meth:`Libnftables.declare`), empty, just before the transaction that fills and uses it; an empty
map nothing refers to changes no packet's path. Everything else is JSON.

What a change no longer wants is deleted one transaction later (see :func:`transaction`). The first
apply replaces any table left by a crashed run: its objects (listed) are deleted and the new ones
built in the same transaction. If a change fails (the table was changed behind the plane's back),
the table is rebuilt whole the same way; if that fails too, the kernel keeps its previous state and
PlaneError says why.
"""

from __future__ import annotations

import bisect
import collections
import ctypes
import functools
import hashlib
import json
import logging
import math
import re
import secrets
import socket
import struct
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from typing import Any

from tandem.config.model import IPAddress
from tandem.lb.netlink import HEADER, NLM_F_DUMP, NLM_F_REQUEST, NetlinkSocket, attribute, attributes, fields
from tandem.lb.plane import Destination, DestinationCounters, PlaneError, Service, ServiceKey, Timeouts

log = logging.getLogger(__name__)

TABLE = "tandem_lb"
FAMILY = "inet"
PROTOCOLS = ("tcp", "udp", "sctp")
HASH_SEED = 0x7A3D  # fixed, so a rebuilt table hashes clients as before
MAX_CYCLE = 4096  # values of one scheduling cycle (one map element each): weights beyond are scaled

# scheduler -> (what runs, warning or None)
SCHEDULERS: dict[str, tuple[str, str | None]] = {
    "rr": ("rr", None),
    "wrr": ("wrr", None),
    "sh": ("sh", None),
    "dh": ("dh", None),
    "fo": ("fo", None),
    "lc": ("rr", "lc runs as rr: nftables does not count a real server's connections"),
    "wlc": ("wrr", "wlc runs as wrr: nftables does not count a real server's connections"),
    "sed": ("wrr", "sed runs as wrr: nftables does not count a real server's connections"),
    "nq": ("wrr", "nq runs as wrr: nftables does not count a real server's connections"),
    "lblc": ("dh", "lblc runs as dh (destination hashing): nftables does not count connections"),
    "lblcr": ("dh", "lblcr runs as dh (destination hashing): nftables does not count connections"),
    "mh": ("sh", "mh runs as sh (jhash): a change of real servers moves more clients than maglev"),
    "ovf": ("fo", "ovf runs as fo: the highest weight is not left when its connections exceed it"),
    "twos": ("random", "twos runs as weighted random choice: nftables does not count connections"),
}
HASH_FLAGS = {"sh-port", "sh-fallback", "mh-port", "mh-fallback", "flag-1", "flag-2"}
SLOT_MAP_NAME = re.compile(r"q/[0-9a-f]+/[0-9a-f]+")
TIMEOUTS_NOT_CARRIED = (  # libnftables 1.0.6's JSON drops a ct timeout's policy and aborts deleting one
    "lvs_timeouts are not carried out by the nftables plane: the connections it balances keep "
    "conntrack's own timeouts (net.netfilter.nf_conntrack_*_timeout*)"
)


def unsupported(service: Service) -> list[str]:
    """Why the nftables plane cannot carry ``service`` (empty: it can)."""
    problems = []
    if service.scheduler not in SCHEDULERS:
        problems.append(f"{service.key}: scheduler {service.scheduler!r} is not known to the nftables plane")
    if service.key.fwmark is None and service.key.protocol.lower() not in PROTOCOLS:
        problems.append(f"{service.key}: protocol {service.key.protocol} is not TCP, UDP or SCTP")
    seen = set()
    for d in service.destinations:
        if d.method != "NAT":
            problems.append(
                f"{service.key}: real server {d.address} uses lb_kind {d.method}; the nftables plane "
                "carries NAT only (DR and TUN need IPVS)"
            )
        if d.address.version != service.key.family:
            problems.append(f"{service.key}: real server {d.address} is not IPv{service.key.family}")
        if (d.address, d.port) in seen:
            problems.append(f"{service.key}: real server {d.address} port {d.port} is listed twice")
        seen.add((d.address, d.port))
    return problems


def approximations(service: Service) -> list[str]:
    """One-line warnings: where the nftables plane does something close to, not exactly, what IPVS does."""
    notes = []
    runs, warning = SCHEDULERS.get(service.scheduler, ("", None))
    if warning:
        notes.append(f"{service.key}: {warning}")
    for flag in service.scheduler_flags:
        if flag not in HASH_FLAGS or runs != "sh":
            notes.append(f"{service.key}: scheduler flag {flag} has no effect with the nftables plane")
    if service.persistence_timeout:
        notes.append(
            f"{service.key}: persistence ends {service.persistence_timeout}s after a client's last new "
            "connection (IPVS: after its last connection ends)"
        )
    if service.ops:
        notes.append(
            f"{service.key}: ops is not available with nftables: a UDP flow stays on one real server"
        )
    if any(d.upper_threshold or d.lower_threshold for d in service.destinations):
        notes.append(f"{service.key}: uthreshold/lthreshold are not enforced by the nftables plane")
    weights = [d.weight for d in service.destinations if d.weight > 0]
    if runs not in ("rr", "fo") and weights and sum(weights) // math.gcd(*weights) > MAX_CYCLE:
        notes.append(f"{service.key}: weights are scaled to a cycle of {MAX_CYCLE} (ratios approximate)")
    return notes


def _runs(service: Service) -> str:
    return SCHEDULERS[service.scheduler][0]


# --- the table as data --------------------------------------------------------------------------------


_key = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode  # canonical: for comparing


@dataclass
class _Table:
    """What the table should hold: objects (chains, maps, sets, counters), rules per chain, elements."""

    objects: dict[tuple[str, str], dict] = field(default_factory=dict)  # (kind, name) -> definition
    rules: dict[str, tuple[str, ...]] = field(default_factory=dict)  # chain -> rule exprs (json)
    elements: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)  # name -> {id: (key, elem)}

    def add(self, kind: str, name: str, **definition: Any) -> None:
        self.objects[(kind, name)] = definition
        if kind in ("map", "set"):
            self.elements.setdefault(name, {})

    def rule(self, chain: str, *expr: dict) -> None:
        self.rules[chain] = (*self.rules.get(chain, ()), _key(list(expr)))

    def element(self, name: str, key: Any, value: Any = None) -> None:
        elem = key if value is None else [key, value]
        self.elements.setdefault(name, {}).setdefault(_key(key), (key, elem))


def _addr(family: int) -> str:
    return "ip" if family == 4 else "ip6"


def _payload(protocol: str, field_: str) -> dict:
    return {"payload": {"protocol": protocol, "field": field_}}


def _meta(key: str) -> dict:
    return {"meta": {"key": key}}


def _match(left: Any, right: Any, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def _goto(chain: str) -> dict:
    return {"goto": {"target": chain}}


def _ct_original_daddr(family: int) -> dict:
    return {"ct": {"key": f"{_addr(family)} daddr", "dir": "original"}}


ADDRESS_TYPE = {4: "ipv4_addr", 6: "ipv6_addr"}


def _skeleton(masquerade: bool) -> _Table:
    """The chains and maps every table has, services or not."""
    t = _Table()
    for family in (4, 6):
        addr = ADDRESS_TYPE[family]
        t.add("map", f"svc{family}", type=[addr, "inet_proto", "inet_service"], map="verdict")
        t.add("map", f"svc{family}_any", type=[addr, "inet_proto"], map="verdict")
        t.add("map", f"fwm{family}", type="mark", map="verdict")
        # by conntrack entry: (original destination,) protocol, real server(, port); each element
        # counts what its lookups match: t traffic, n new connections; m: is ours (masquerade)
        for name, _key in _counted(family, "d"):
            counting = {} if name[0] == "m" else {"stmt": [{"counter": None}]}
            t.add("set", name, type=_COUNTED_TYPES[name[1:-1]](addr), **counting)
    t.add("chain", "dispatch")
    t.add("chain", "count")
    if masquerade:
        t.add("chain", "nat_postrouting", type="nat", hook="postrouting", prio=100, policy="accept")
    dnat = _match({"ct": {"key": "status"}}, "dnat", op="in")
    for name, kind, hook, prio in (
        ("nat_prerouting", "nat", "prerouting", -100),
        ("nat_output", "nat", "output", -100),
        ("count_forward", "filter", "forward", 0),
        ("count_input", "filter", "input", 0),
        ("count_output", "filter", "output", 0),
    ):
        t.add("chain", name, type=kind, hook=hook, prio=prio, policy="accept")
        if kind == "nat":
            t.rule(name, {"jump": {"target": "dispatch"}})
        else:  # only DNATed connections are counted: every other packet (the checks' own, the
            # host's) passes with one test, not the count chain's two dozen
            t.rule(name, dnat, {"jump": {"target": "count"}})
    for family in (4, 6):
        a = _addr(family)
        nfproto = _match(_meta("nfproto"), f"ipv{family}")
        service = [_payload(a, "daddr"), _meta("l4proto")]
        by_port = {"concat": [*service, _payload("th", "dport")]}
        t.rule("dispatch", nfproto, {"vmap": {"key": _meta("mark"), "data": f"@fwm{family}"}})
        t.rule("dispatch", {"vmap": {"key": by_port, "data": f"@svc{family}"}})
        t.rule("dispatch", {"vmap": {"key": {"concat": service}, "data": f"@svc{family}_any"}})
        original = _match({"ct": {"key": "direction"}}, "original")
        new = _match({"ct": {"key": "state"}}, "new", op="in")
        for direction, end in (("original", "d"), ("reply", "s")):
            is_direction = _match({"ct": {"key": "direction"}}, direction)
            for name, key in _counted(family, end):
                if name[0] == "t":
                    t.rule("count", nfproto, is_direction, _match(key, f"@{name}"))
                elif name[0] == "n" and end == "d":
                    t.rule("count", nfproto, original, new, _match(key, f"@{name}"))
                elif name[0] == "m" and end == "d" and masquerade:
                    t.rule(
                        "nat_postrouting",
                        nfproto,
                        dnat,
                        original,
                        _match(key, f"@{name}"),
                        {"masquerade": None},
                    )
    return t


_COUNTED_TYPES = {  # by set name after its purpose letter: v VIP-keyed, f fwmark; p with the port
    "vp": lambda addr: [addr, "inet_proto", addr, "inet_service"],
    "v": lambda addr: [addr, "inet_proto", addr],
    "fp": lambda addr: ["inet_proto", addr, "inet_service"],
    "f": lambda addr: ["inet_proto", addr],
}


def _counted(family: int, end: str) -> list[tuple[str, dict]]:
    """The counting sets (t, n, m: see _skeleton) of ``family`` and their keys, for the real server at
    ``end`` (d: daddr, s: saddr): sets of exact keys (an interval set costs libnftables a read of
    all its elements at each change)."""
    rs_addr, rs_port = _payload(_addr(family), f"{end}addr"), _payload("th", f"{end}port")
    keys = {
        "vp": [_ct_original_daddr(family), _meta("l4proto"), rs_addr, rs_port],
        "v": [_ct_original_daddr(family), _meta("l4proto"), rs_addr],
        "fp": [_meta("l4proto"), rs_addr, rs_port],
        "f": [_meta("l4proto"), rs_addr],
    }
    return [(f"{purpose}{kind}{family}", {"concat": key}) for purpose in "tnm" for kind, key in keys.items()]


def _service_name(key: ServiceKey) -> str:
    if key.fwmark is not None:
        return f"fwm{key.family}_{key.fwmark}"
    return f"{key.protocol.lower()}_{key.address}_{key.port or 0}"


def _client(family: int, granularity: IPAddress | None) -> dict:
    """The client as persistence sees it: its source address, masked by persistence_granularity."""
    saddr = _payload(_addr(family), "saddr")
    if granularity is None or int(granularity) == (1 << granularity.max_prefixlen) - 1:
        return saddr
    return {"&": [saddr, str(granularity)]}


def _chooser(service: Service, n: int) -> dict:
    """The expression whose value (0..n-1) picks a real server."""
    family = service.key.family
    runs = _runs(service)
    if runs in ("rr", "wrr", "random"):
        return {"numgen": {"mode": "random" if runs == "random" else "inc", "mod": n, "offset": 0}}
    if runs == "dh":
        hashed = _payload(_addr(family), "daddr")
    elif {"sh-port", "mh-port", "flag-2"} & set(service.scheduler_flags):
        hashed = {"concat": [_payload(_addr(family), "saddr"), _payload("th", "sport")]}
    else:
        hashed = _payload(_addr(family), "saddr")
    return {"jhash": {"mod": n, "seed": HASH_SEED, "expr": hashed}}


def _proto(key: ServiceKey) -> str | None:
    return None if key.fwmark is not None else key.protocol.lower()


@functools.lru_cache(maxsize=131072)
def _destination_name(kind: str, key: ServiceKey, address: IPAddress, port: int | None, *more: object) -> str:
    """``d/`` chain, ``p/`` persistence set of one real server of one service."""
    return "/".join([kind, _service_name(key), f"{address}_{port or 0}", *map(str, more)])


@functools.lru_cache(maxsize=65536)
def _destination_part(
    key: ServiceKey, timeout: int | None, granularity: IPAddress | None, address: IPAddress, port: int | None
) -> _Table:
    """One real server's chain, persistence set and counting-set elements (not its weight)."""
    t = _Table()
    family, proto = key.family, _proto(key)
    dchain = _destination_name("d", key, address, port)
    t.add("chain", dchain)
    if timeout:
        # the timeout is in the name: a set's timeout cannot change, a new set replaces it
        clients = _destination_name("p", key, address, port, timeout)
        t.add(
            "set",
            clients,
            type=ADDRESS_TYPE[family],
            flags=["timeout"],
            timeout=timeout,
        )  # no size: the kernel caps a set rules add to at 65,535 clients all the same (nft list
        # says so) but allocates as it fills; "size 65535" had it allocate for all of them at once:
        # ~2 MB and ~4.4 ms of kernel CPU per set (1,000 real servers: 2.1 GB, a 4.4 s build)
        t.rule(dchain, {"set": {"op": "update", "elem": _client(family, granularity), "set": f"@{clients}"}})
    nat: dict[str, Any] = {"family": _addr(family), "addr": str(address)}
    port = port or key.port or None
    if port:
        nat["port"] = port
        t.rule(dchain, _match(_meta("l4proto"), proto or {"set": list(PROTOCOLS)}), {"dnat": nat})
    else:
        t.rule(dchain, {"dnat": nat})
    kind = ("v" if key.fwmark is None else "f") + ("p" if port else "")
    for p in PROTOCOLS if key.fwmark is not None else (proto,):
        element = [
            *([] if key.fwmark is not None else [str(key.address)]),
            p,
            str(address),
            *([port] if port else []),
        ]
        for purpose in "tnm":
            t.element(f"{purpose}{kind}{family}", {"concat": element})
    return t


def _destination_id(service: Service, d: Destination) -> tuple:
    """The part id of one real server of ``service``: what its part (:func:`_destination_part`) depends on."""
    return ("d", service.key, service.persistence_timeout, service.persistence_granularity, d.address, d.port)


def slot_map(key: ServiceKey, token: str) -> str:
    """The name of a service's slot map (one table build's ``token`` in it: a rebuilt table declares
    new ones). Hex digits and ``/`` only: it is declared in nft's own syntax (Libnftables.declare)."""
    return f"q/{hashlib.blake2s(_service_name(key).encode(), digest_size=6).hexdigest()}/{token}"


def _service_part(service: Service, token: str, total: int, short: list[Slot] | None = None) -> _Table:
    """One service's own objects: its chain (persistence lookups, then the choice through its slot
    map), the slot map, and its element in the dispatch map; its real servers have parts of their own."""
    t = _Table()
    key, family = service.key, service.key.family
    chain = f"s/{_service_name(key)}"
    t.add("chain", chain)
    slots = slot_map(key, token)
    t.add("slots", slots)
    if key.fwmark is not None:
        t.element(f"fwm{family}", key.fwmark, _goto(chain))
    elif key.port:
        t.element(f"svc{family}", {"concat": [str(key.address), _proto(key), key.port]}, _goto(chain))
    else:
        t.element(f"svc{family}_any", {"concat": [str(key.address), _proto(key)]}, _goto(chain))
    live = [d for d in service.destinations if d.weight > 0]
    if service.persistence_timeout:  # first the clients seen (rules of their own: see _lookup_changes)
        t.add("chain", lookup_chain(key))
        t.rule(chain, {"jump": {"target": lookup_chain(key)}})
    if not live:
        return t  # nothing to choose: the connection goes on un-NATed (like IPVS with no real server)
    if _runs(service) == "fo":
        best = max(d.weight for d in live)
        best_d = next(d for d in live if d.weight == best)
        t.rule(chain, _goto(_destination_name("d", key, best_d.address, best_d.port)))
        return t
    if short is None:
        t.rule(chain, {"vmap": {"key": _chooser(service, total), "data": f"@{slots}"}})
        return t
    # a short cycle: an anonymous map in a chain named by its content, new at each change (the old
    # one lingers a transaction); a slot map rewritten in place missed lookups under load here
    index = {(int(d.address), d.port): d for d in live}
    choices = [
        [value, _goto(_destination_name("d", key, index[k].address, k[1]))] for value, k in enumerate(short)
    ]
    rule = {"vmap": {"key": _chooser(service, total), "data": {"set": choices}}}
    pick = f"c/{chain[2:]}/{hashlib.blake2s(_key(rule).encode(), digest_size=6).hexdigest()}"
    t.add("chain", pick)
    t.rule(pick, rule)
    t.rule(chain, _goto(pick))
    return t


def lookup_chain(key: ServiceKey) -> str:
    """A persistence service's chain of lookups, one rule per live real server: a client found in
    its persistence set goes to it (:func:`_lookup_rule`)."""
    return f"k/{_service_name(key)}"


def _lookup_rule(service: Service, d: Destination) -> tuple[str, list[dict]]:
    """The persistence set of one live real server, and the lookup rule sending its clients to it."""
    key, timeout = service.key, service.persistence_timeout
    clients = _destination_name("p", key, d.address, d.port, timeout)
    client = _client(key.family, service.persistence_granularity)
    return clients, [_match(client, f"@{clients}"), _goto(_destination_name("d", key, d.address, d.port))]


def _lookup_changes(before: Service | None, after: Service | None, index: dict[Slot, Destination], old_index):
    """The lookup rules of one service's change: (flush the lookup chain?, rules to delete (by their
    persistence set), rules to add). Only the real servers that went or came are touched, so a change
    costs what changed (a chain rewritten whole cost ~1 s of CPU at 5,000 real servers); a new
    timeout or granularity rewrites them all."""
    had = before is not None and bool(before.persistence_timeout)
    keeps = had and after is not None and _sticky(before) == _sticky(after)
    live_before = {k for k, d in old_index.items() if d.weight > 0} if keeps else set()
    live_after = (
        {k for k, d in index.items() if d.weight > 0} if after and after.persistence_timeout else set()
    )
    gone = [_lookup_rule(before, old_index[k])[0] for k in sorted(live_before - live_after)]
    come = [_lookup_rule(after, index[k]) for k in sorted(live_after - live_before)]
    return had and not keeps, gone, come


# --- scheduling: the slot map ----------------------------------------------------------------------------
#
# A service's choice is ``<numgen or jhash> mod T vmap @slots``: a named map from each value 0..T-1 (a
# slot) to the chain of the real server owning it; a real server owns as many slots as its weight
# (over the weights' gcd, scaled to MAX_CYCLE; rr: one each). A change of real servers or weights
# moves only the slots that must move (relayout): one removal is one element changed, where a
# renumbered choice would rewrite them all. A service of at most SMALL_CYCLE slots uses an anonymous
# map instead (see the module docstring).

SMALL_CYCLE = 256


def cycle_weights(weights: list[int]) -> list[int]:
    """The weights over their gcd, scaled down (each at least 1) where their sum, the values of one
    scheduling cycle, would exceed MAX_CYCLE."""
    divisor = math.gcd(*weights)
    weights = [w // divisor for w in weights]
    total = sum(weights)
    if total <= MAX_CYCLE:
        return weights
    scaled = [max(1, w * MAX_CYCLE // total) for w in weights]
    divisor = math.gcd(*scaled)
    return [w // divisor for w in scaled]


def wrr_order(weights: list[int]) -> list[int]:
    """IPVS wrr's picks over one cycle (indexes into ``weights``, reduced by their gcd): the current
    weight steps down from the largest, each step taking, in order, every server weighing at least it."""
    heaviest_first = sorted(range(len(weights)), key=lambda i: -weights[i])
    taking: list[int] = []
    order: list[int] = []
    for cw in range(max(weights), 0, -1):
        while len(taking) < len(weights) and weights[heaviest_first[len(taking)]] >= cw:
            bisect.insort(taking, heaviest_first[len(taking)])
        order += taking
    return order


Slot = tuple[int, int | None]  # a real server in a slot layout: its address as a number, its port


def slot_counts(service: Service, index: dict[Slot, Destination] | None = None) -> dict[Slot, int]:
    """Slots per live real server, in the service's order (empty: fo, or no live server); ``index``:
    the service's :func:`destination_index`, if made already."""
    live = [(k, d) for k, d in (index or destination_index(service)).items() if d.weight > 0]
    runs = _runs(service)
    if not live or runs == "fo":
        return {}
    weights = cycle_weights([1 if runs == "rr" else d.weight for _, d in live])
    return {k: w for (k, _), w in zip(live, weights, strict=True)}


def destination_index(service: Service) -> dict[Slot, Destination]:
    """The service's real servers by (address as a number, port), in order (an address's own hash
    goes through hex(): too slow at 5,000)."""
    return {(int(d.address), d.port): d for d in service.destinations}


def fresh_slots(service: Service, counts: dict[Slot, int]) -> list[Slot]:
    """The layout of a new cycle: IPVS's wrr order for wrr, the real servers in order for rr, a run of
    values each for hashing and random choice."""
    names, weights = list(counts), list(counts.values())
    if _runs(service) == "wrr":
        return [names[i] for i in wrr_order(weights)]
    return [name for name, weight in zip(names, weights, strict=True) for _ in range(weight)]


def relayout(old: list[Slot], counts: dict[Slot, int]) -> list[Slot]:
    """``old`` changed so that each real server owns ``counts`` slots, moving as few as it can: one
    losing slots frees its last ones, one gaining slots takes freed ones first (then new ones at the
    end), and where the cycle shrinks, its last slots move into the holes left."""
    have = collections.Counter(old)
    slots: list[Slot | None] = list(old)
    surplus = {name: n - counts.get(name, 0) for name, n in have.items() if n > counts.get(name, 0)}
    holes: list[int] = []
    for i in range(len(slots) - 1, -1, -1) if surplus else ():
        name = slots[i]
        if surplus.get(name, 0) > 0:
            surplus[name] -= 1
            slots[i] = None
            holes.append(i)
    needs = [name for name, n in counts.items() for _ in range(n - have.get(name, 0))]
    holes.sort()
    filled = min(len(holes), len(needs))
    for i, name in zip(holes, needs, strict=False):
        slots[i] = name
    slots += needs[filled:]
    left = collections.deque(holes[filled:])
    while left:  # the Nones are exactly the holes left: the largest is the last slot, or a tail moves in
        if slots[-1] is None:
            slots.pop()
            left.pop()
        else:
            slots[left.popleft()] = slots.pop()
    return slots  # type: ignore[return-value]  # no None is left


def _slot_changes(
    held: list[Slot], new: list[Slot], present: dict[Slot, Destination]
) -> tuple[list[int], list[int], list[Slot]]:
    """The slot elements to delete and to add for ``held`` (what the map holds) to become ``new``, and
    what the map holds then. Values past the new cycle are never deleted while the service has a live
    real server: a packet still in an older generation's rule (its softirq preempted, under load, while
    two commits pass) may pick one, and a missing value would leave its connection un-NATed. They stay,
    rewritten (atomically) to a live real server where theirs is gone (``present``: the service's
    real servers now), so no chain the plane deletes is referred to."""
    changed = [i for i in range(min(len(held), len(new))) if held[i] != new[i]]
    if not new:  # no live real server: nothing to send a connection to, even a late one
        return list(range(len(held))), [], []
    holds = list(new)
    rewritten = []
    for i in range(len(new), len(held)):
        if held[i] in present:
            holds.append(held[i])
        else:
            holds.append(new[i % len(new)])
            rewritten.append(i)
    return changed + rewritten, changed + list(range(len(held), len(new))) + rewritten, holds


# --- the plane's state, and one transaction from it to the next -----------------------------------------

ADD_ORDER = {"counter": 0, "set": 1, "map": 1, "chain": 2}  # what is referred to first
DELETE_ORDER = {
    "set": 0,
    "map": 0,
    "slots": 0,
    "chain": 1,
    "counter": 2,
}  # maps refer to chains, rules to counters
SKELETON = ("k",)


@dataclass
class State:
    """What the kernel's table holds, as parts: the skeleton, one part per service, one per real server
    of a service. A change touches the parts that differ, so it costs what changed, not the table."""

    token: str
    masquerade: bool
    services: dict[ServiceKey, Service] = field(default_factory=dict)
    parts: dict[tuple, _Table] = field(default_factory=dict)
    owners: dict[tuple[str, str], tuple[tuple, ...]] = field(
        default_factory=dict
    )  # element -> parts, first's value
    slots: dict[str, tuple[list[str], int]] = field(
        default_factory=dict
    )  # map -> what it holds, values in use
    lingering: _Table = field(
        default_factory=_Table
    )  # unreferenced by the last transaction: deleted by the next
    index: dict[ServiceKey, dict[Slot, Destination]] = field(default_factory=dict)  # destination_index's

    def rules_of(self, prefix: str) -> list[str]:
        """The chains (of every part) whose names start with ``prefix``, for tests and debugging."""
        return [chain for part in self.parts.values() for chain in part.rules if chain.startswith(prefix)]


@dataclass
class Change:
    """One change: the slot maps to declare first (nft syntax, see Libnftables.declare), then one
    transaction of nft JSON commands, and the state the kernel holds after them."""

    declare: list[str]
    commands: list[dict]
    state: State
    # (index in commands, chain, persistence set): rule deletions whose handle the plane fills in
    # (the kernel's, known only to it: tandem.lb.nftables.lookup_handles)
    unhandled: list[tuple[int, str, str]] = field(default_factory=list)


def check(services: tuple[Service, ...], changed: set[ServiceKey] | None = None) -> None:
    """PlaneError for what the plane cannot carry (of ``changed`` services only, unless None)."""
    keys: set[ServiceKey] = set()
    for service in services:
        problems = unsupported(service) if changed is None or service.key in changed else []
        if service.key in keys:
            problems.append(f"{service.key}: the service is listed twice")
        if problems:
            raise PlaneError("; ".join(problems))
        keys.add(service.key)


def _ref(kind: str, name: str, **more: Any) -> dict:
    return {kind: {"family": FAMILY, "table": TABLE, "name": name, **more}}


def _elements(verb: str, name: str, items: list) -> dict:
    return {verb: {"element": {"family": FAMILY, "table": TABLE, "name": name, "elem": items}}}


def transaction(
    old: State | None,
    services: tuple[Service, ...],
    masquerade: bool = False,
    token: str = "0",
    stale: tuple[tuple[str, str], ...] = (),
    changed: set[ServiceKey] | None = None,
) -> Change:
    """The change from ``old`` (None: a new build, replacing the ``stale`` objects of a table already
    there) to ``services``; the services are checked already (:func:`check`), ``changed`` (None:
    compare) says which differ from ``old``'s.

    What the change unreferences is deleted by the next transaction: a packet that entered a chain just
    before the commit finishes in the previous generation's rules, but looks set elements up in the
    new one, so a map deleted in the same commit would miss it (seen here as a refused connection
    about once in a thousand changes under load)."""
    commands: list[dict] = []
    if old is None:
        commands += _delete_stale(stale)
        old = State(token, masquerade)
    token = old.token
    wanted = {service.key: service for service in services}
    if changed is None:
        changed = {key for key, service in wanted.items() if old.services.get(key) != service}
    touched: dict[tuple, tuple[_Table | None, _Table | None]] = {}  # part -> (before, after)
    if SKELETON not in old.parts:
        touched[SKELETON] = (None, _skeleton(masquerade))
    slot_plans: dict[str, tuple[Service, list[Slot]]] = {}
    lookups: dict[ServiceKey, tuple] = {}  # _lookup_changes of each service changed or removed
    index = dict(old.index)
    for key, service in wanted.items():
        before = old.services.get(key)
        if key not in changed:
            continue
        index[key] = mine = destination_index(service)
        counts = slot_counts(service, mine)
        total = sum(counts.values())
        short = fresh_slots(service, counts) if total <= SMALL_CYCLE else None
        touched[("s", key)] = (old.parts.get(("s", key)), _service_part(service, token, total, short))
        theirs = old.index.get(key, {})
        if before is not None and _sticky(before) != _sticky(service):
            theirs = {}  # every real server's part changes (its persistence set)
        for k in theirs.keys() - mine.keys() if before is not None else ():
            touched[_destination_id(before, theirs[k])] = (
                old.parts[_destination_id(before, theirs[k])],
                None,
            )
        for k in mine.keys() - theirs.keys():
            pid = _destination_id(service, mine[k])
            touched[pid] = (None, _destination_part(*pid[1:]))
        if before is not None and not theirs:
            for d in before.destinations:
                touched[_destination_id(before, d)] = (old.parts[_destination_id(before, d)], None)
        lookups[key] = _lookup_changes(before, service, mine, old.index.get(key, {}))
        name = slot_map(key, token)
        held, live = old.slots.get(name, ([], 0))
        if short is not None:
            slot_plans[name] = (service, [])  # the slot map is not used (emptied)
        else:
            slot_plans[name] = (
                service,
                relayout(held[:live], counts) if live else fresh_slots(service, counts),
            )
    for key, before in old.services.items():
        if key not in wanted:
            lookups[key] = _lookup_changes(before, None, {}, old.index[key])
            del index[key]
            touched[("s", key)] = (old.parts[("s", key)], None)
            for d in before.destinations:
                touched[_destination_id(before, d)] = (old.parts[_destination_id(before, d)], None)

    state = State(
        token,
        masquerade,
        wanted,
        dict(old.parts),
        dict(old.owners),
        dict(old.slots),
        index=index,
    )
    objects_before, rules_before = dict(old.lingering.objects), dict(old.lingering.rules)
    objects_after: dict[tuple[str, str], dict] = {}
    rules_after: dict[str, tuple[str, ...]] = {}
    for pid, (before_part, after_part) in touched.items():
        if before_part is not None:
            objects_before |= before_part.objects
            rules_before |= before_part.rules
        if after_part is not None:
            objects_after |= after_part.objects
            rules_after |= after_part.rules
            state.parts[pid] = after_part
        else:
            del state.parts[pid]
    added = sorted(objects_after.keys() - objects_before.keys(), key=lambda k: (ADD_ORDER.get(k[0], 1), k[1]))
    unreferenced = objects_before.keys() - old.lingering.objects.keys() - objects_after.keys()
    expired = sorted(
        old.lingering.objects.keys() - objects_after.keys(), key=lambda k: (DELETE_ORDER[k[0]], k[1])
    )
    state.lingering = _Table(
        objects={k: objects_before[k] for k in unreferenced},
        rules={name: rules_before[name] for kind, name in unreferenced if name in rules_before},
    )
    declare = [name for kind, name in added if kind == "slots"]
    commands += [
        {"add": _ref(kind, name, **objects_after[(kind, name)])} for kind, name in added if kind != "slots"
    ]

    # elements of the shared maps (dispatch, counters): a key's value is its first part's
    deletes: dict[str, list] = collections.defaultdict(list)
    adds: dict[str, list] = collections.defaultdict(list)
    keys = {
        (m, e)
        for b, a in touched.values()
        for p in (b, a)
        if p is not None
        for m, i in p.elements.items()
        for e in i
    }
    values_before = {k: _element_value(old.parts, old.owners, k) for k in keys}
    for pid, (before_part, after_part) in touched.items():
        for part, keep in ((before_part, False), (after_part, True)):
            for m, items in part.elements.items() if part is not None else ():
                for e in items:
                    others = tuple(p for p in state.owners.get((m, e), ()) if p != pid)
                    state.owners[(m, e)] = (*others, pid) if keep else others
    for m, e in sorted(keys):
        if not state.owners[(m, e)]:
            del state.owners[(m, e)]
        before_value, after_value = values_before[(m, e)], _element_value(state.parts, state.owners, (m, e))
        if before_value == after_value:
            continue
        if before_value is not None:
            deletes[m].append(before_value[0])
        if after_value is not None:
            adds[m].append(after_value[1])

    # slot maps: what each service's cycle moves
    for name, (service, new) in slot_plans.items():
        held, _ = state.slots.get(name, ([], 0))
        dests = index[service.key]
        gone, put, holds = _slot_changes(held, new, dests)
        state.slots[name] = (holds, len(new))
        deletes[name] += gone
        if put:
            chains = {
                k: _destination_name("d", service.key, dests[k].address, k[1])
                for k in {holds[i] for i in put}
            }
            adds[name] += [[i, _goto(chains[holds[i]])] for i in put]
    for kind, name in expired:
        if kind == "slots":
            del state.slots[name]

    commands += [_elements("delete", name, items) for name, items in deletes.items() if items]
    changed = sorted(
        chain
        for kind, chain in objects_after
        if kind == "chain" and rules_before.get(chain, ()) != rules_after.get(chain, ())
    )
    commands += [
        {"flush": _ref("chain", c)} for c in changed if rules_before.get(c) and ("chain", c) in objects_before
    ]
    # persistence lookups: the rules of the real servers that went (by handle, see Change) or came
    unhandled: list[tuple[int, str, str]] = []
    for key, (flush, gone, _) in lookups.items():
        if flush:
            commands.append({"flush": _ref("chain", lookup_chain(key))})
        for clients in gone:
            unhandled.append((len(commands), lookup_chain(key), clients))
            commands.append(
                {"delete": {"rule": {"family": FAMILY, "table": TABLE, "chain": lookup_chain(key)}}}
            )
    commands += [_elements("add", name, items) for name, items in adds.items() if items]
    for chain in changed:
        for expr in rules_after.get(chain, ()):
            rule = {"family": FAMILY, "table": TABLE, "chain": chain, "expr": json.loads(expr)}
            commands.append({"add": {"rule": rule}})
    for key, (_, _, come) in lookups.items():
        for _, expr in come:
            commands.append(
                {
                    "add": {
                        "rule": {"family": FAMILY, "table": TABLE, "chain": lookup_chain(key), "expr": expr}
                    }
                }
            )
    # an expired chain's rules go first: they may refer to the sets and chains deleted with it
    commands += [{"flush": _ref("chain", name)} for kind, name in expired if kind == "chain"]
    commands += [{"delete": _ref("map" if kind == "slots" else kind, name)} for kind, name in expired]
    return Change(declare, commands, state, unhandled)


def _sticky(service: Service) -> tuple:
    return service.persistence_timeout, service.persistence_granularity


def _element_value(parts: dict[tuple, _Table], owners: dict, key: tuple[str, str]) -> tuple[Any, Any] | None:
    providers = owners.get(key)
    return parts[providers[0]].elements[key[0]][key[1]] if providers else None


def _delete_stale(stale: tuple[tuple[str, str], ...]) -> list[dict]:
    """Commands emptying a table left by an earlier run (its objects, as listed): rules first, then
    what refers to chains, the chains, and what rules referred to."""
    if not stale:
        return []
    order = {"set": 0, "map": 0, "chain": 1}
    commands: list[dict] = [{"flush": {"table": {"family": FAMILY, "name": TABLE}}}]
    return commands + [
        {"delete": _ref(kind, name)} for kind, name in sorted(stale, key=lambda k: (order.get(k[0], 2), k[1]))
    ]


def desired(services: tuple[Service, ...], masquerade: bool = False) -> State:
    """The state of a new build holding ``services`` (raises PlaneError for what the plane cannot carry)."""
    check(services)
    return transaction(None, services, masquerade).state


# --- reading the table over nfnetlink: counters, rule handles -----------------------------------------
#
# libnftables lists a set of 5,000 counted elements in ~85 ms of CPU and its JSON takes ~60 ms more to
# read (a status at 5,000 real servers read two: 280-520 ms); the kernel dumps the same elements in
# a few ms, and their keys and counters are read here in ~10 ms (reading only: every change still
# goes through libnftables). A key is the concatenation of its fields, each padded to 4 octets. The
# handles of the lookup chains' rules are read the same way (libnftables echoes them only with a full
# cache of the table).

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES, NFT_MSG_GETRULE, NFT_MSG_GETSETELEM, NFPROTO_INET = 10, 7, 13, 1
NFTA_RULE_TABLE, NFTA_RULE_CHAIN, NFTA_RULE_HANDLE, NFTA_RULE_EXPRESSIONS = 1, 2, 3, 4
NFTA_LOOKUP_SET = 1
NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET, NFTA_SET_ELEM_LIST_ELEMENTS = 1, 2, 3
NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_EXPR, NFTA_SET_ELEM_EXPRESSIONS = 1, 7, 11
NFTA_DATA_VALUE, NFTA_EXPR_NAME, NFTA_EXPR_DATA = 1, 1, 2
NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS = 1, 2
_NFGENMSG = struct.Struct("=BBH")  # family, version, resource id
_U64 = struct.Struct(">Q")
PROTOCOL_NAMES = {socket.IPPROTO_TCP: "tcp", socket.IPPROTO_UDP: "udp", 132: "sctp"}


def set_elements(netlink: NetlinkSocket, name: str) -> list[tuple[bytes, int, int]]:
    """(key, packets, bytes) of each element of this table's set ``name`` (an element without a
    counter counts 0)."""
    body = (
        _NFGENMSG.pack(NFPROTO_INET, 0, 0)
        + attribute(NFTA_SET_ELEM_LIST_TABLE, TABLE.encode() + b"\0")
        + attribute(NFTA_SET_ELEM_LIST_SET, name.encode() + b"\0")
    )
    kind = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM
    request = HEADER.pack(HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, 0, 0) + body
    try:
        messages = netlink.exchange(request)
    except OSError as error:
        raise PlaneError(f"nftables plane: cannot read set {name}: {error}") from error
    found = []
    for message in messages:
        listing = fields(message, HEADER.size + _NFGENMSG.size, len(message))
        for _, *element in attributes(message, *listing.get(NFTA_SET_ELEM_LIST_ELEMENTS, (0, 0))):
            parts = fields(message, *element)
            key = fields(message, *parts[NFTA_SET_ELEM_KEY])[NFTA_DATA_VALUE]
            if NFTA_SET_ELEM_EXPR in parts:  # the kernel's form for one expression
                expressions = [parts[NFTA_SET_ELEM_EXPR]]
            else:
                expressions = [
                    e for _, *e in attributes(message, *parts.get(NFTA_SET_ELEM_EXPRESSIONS, (0, 0)))
                ]
            counted = (_counter(message, *expression) for expression in expressions)
            found.append((message[slice(*key)], *next((c for c in counted if c), (0, 0))))
    return found


def _counter(message: bytes, start: int, end: int) -> tuple[int, int] | None:
    """(packets, bytes) of a counter expression; None for another expression."""
    expression = fields(message, start, end)
    name = message[slice(*expression.get(NFTA_EXPR_NAME, (0, 0)))]
    if name.rstrip(b"\0") != b"counter" or NFTA_EXPR_DATA not in expression:
        return None
    data = fields(message, *expression[NFTA_EXPR_DATA])
    packets, octets = (data.get(k) for k in (NFTA_COUNTER_PACKETS, NFTA_COUNTER_BYTES))
    return (
        _U64.unpack_from(message, packets[0])[0] if packets else 0,
        _U64.unpack_from(message, octets[0])[0] if octets else 0,
    )


def lookup_handles(netlink: NetlinkSocket, chain: str) -> dict[str, int]:
    """The handle of each rule of this table's ``chain`` that looks a set up, by the set's name (the
    lookup chains' rules, one per persistence set: :func:`lookup_chain`)."""
    body = (
        _NFGENMSG.pack(NFPROTO_INET, 0, 0)
        + attribute(NFTA_RULE_TABLE, TABLE.encode() + b"\0")
        + attribute(NFTA_RULE_CHAIN, chain.encode() + b"\0")
    )
    kind = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE
    try:
        messages = netlink.exchange(
            HEADER.pack(HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, 0, 0) + body
        )
    except OSError as error:
        raise PlaneError(f"nftables plane: cannot read chain {chain}: {error}") from error
    handles = {}
    for message in messages:
        rule = fields(message, HEADER.size + _NFGENMSG.size, len(message))
        if NFTA_RULE_HANDLE not in rule:
            continue
        (handle,) = _U64.unpack_from(message, rule[NFTA_RULE_HANDLE][0])
        for _, *expression in attributes(message, *rule.get(NFTA_RULE_EXPRESSIONS, (0, 0))):
            parts = fields(message, *expression)
            name = message[slice(*parts.get(NFTA_EXPR_NAME, (0, 0)))].rstrip(b"\0")
            if name == b"lookup" and NFTA_EXPR_DATA in parts:
                looked_up = fields(message, *parts[NFTA_EXPR_DATA]).get(NFTA_LOOKUP_SET)
                if looked_up:
                    handles[message[slice(*looked_up)].rstrip(b"\0").decode()] = handle
    return handles


@functools.cache
def _element_key(name: str):
    """The function from a raw key of counting set ``name`` (see _counted) to the element's id in
    State.owners (:data:`_key` of its concatenation, as _destination_part wrote it)."""
    kind, family = name[1:-1], int(name[-1])
    address = "4s" if family == 4 else "16s"
    by_vip, with_port = kind[0] == "v", kind.endswith("p")
    layout = struct.Struct(">" + (address if by_vip else "") + "B3x" + address + ("H2x" if with_port else ""))
    text = socket.inet_ntoa if family == 4 else lambda raw: str(IPv6Address(raw))

    def element_key(raw: bytes) -> str:
        fields = list(layout.unpack(raw))
        if by_vip:
            fields[0] = text(fields[0])
        at = 1 if by_vip else 0
        fields[at], fields[at + 1] = PROTOCOL_NAMES.get(fields[at], ""), text(fields[at + 1])
        return _key({"concat": fields})

    return element_key


# --- libnftables -----------------------------------------------------------------------------------------

NFT_CTX_OUTPUT_JSON = 1 << 4


class Libnftables:
    """The few calls of Debian's libnftables.so.1 this plane needs; JSON in, JSON out."""

    def __init__(self, soname: str = "libnftables.so.1"):
        try:
            lib = ctypes.CDLL(soname)
        except OSError as e:
            raise PlaneError(
                f"nftables plane: cannot load {soname} (Debian package libnftables1): {e}"
            ) from e
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
            getattr(lib, name).restype = ctypes.c_char_p
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._ctx = lib.nft_ctx_new(0)
        lib.nft_ctx_output_set_flags(self._ctx, NFT_CTX_OUTPUT_JSON)
        lib.nft_ctx_buffer_output(self._ctx)
        lib.nft_ctx_buffer_error(self._ctx)

    def run(self, commands: list[dict]) -> list[dict]:
        """Run ``commands`` as one transaction; their output objects (listings), or PlaneError."""
        payload = json.dumps({"nftables": commands}).encode()
        rc = self._lib.nft_run_cmd_from_buffer(self._ctx, payload)
        output = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
        error = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode().strip()
        if rc != 0:
            raise PlaneError(f"nftables refused the change: {error or 'no reason given'}")
        # one JSON document a line, one per listing command
        return [item for line in output.splitlines() if line.strip() for item in json.loads(line)["nftables"]]

    def declare(self, slot_maps: list[str]) -> None:
        """Declare empty slot maps (``typeof numgen``: integer keys): the one thing libnftables 1.0.6's
        JSON cannot say (it refuses "type integer", has no "typeof"), so it is said in nft's syntax, from
        this fixed template and names of :func:`slot_map`'s alphabet only. An empty map nothing refers
        to changes no packet's path; the transaction using it follows."""
        for name in slot_maps:
            if not SLOT_MAP_NAME.fullmatch(name):
                raise PlaneError(f"nftables plane: {name!r} is not a slot map name")
        text = f"add table {FAMILY} {TABLE}\n" + "".join(
            f"add map {FAMILY} {TABLE} {name} {{ typeof numgen inc mod 1 : verdict ; }}\n"
            for name in slot_maps
        )
        rc = self._lib.nft_run_cmd_from_buffer(self._ctx, text.encode())
        if rc != 0:
            error = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode().strip()
            raise PlaneError(f"nftables refused the slot maps: {error or 'no reason given'}")

    def close(self) -> None:
        if self._ctx:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None


class NftablesPlane:
    """:class:`tandem.lb.plane.DataPlane` on nftables, in the network namespace of the calling process."""

    name = "nftables"

    def __init__(self, masquerade: bool = False, nft: Libnftables | None = None):
        self.masquerade = masquerade
        self._nft = nft or Libnftables()
        self._state: State | None = None  # None: not known, the next apply rebuilds the table
        self._netlink: NetlinkSocket | None = None  # reads counters and handles (made at the first use)
        self._handles: dict[str, dict[str, int]] = {}  # lookup chain -> persistence set -> rule handle
        self._warned: set[str] = set()

    def set_timeouts(self, timeouts: Timeouts) -> None:
        if timeouts != Timeouts() and "timeouts" not in self._warned:
            self._warned.add("timeouts")
            log.warning("nftables plane: %s", TIMEOUTS_NOT_CARRIED)

    def apply(self, services: tuple[Service, ...]) -> None:
        before = self._state.services if self._state is not None else {}
        changed = {s.key for s in services if before.get(s.key) != s}
        check(services, changed)
        for service in services:
            if service.key not in changed:
                continue
            for note in approximations(service):
                if note not in self._warned:
                    self._warned.add(note)
                    log.warning("nftables plane: %s", note)
        if self._state is not None:
            change = transaction(self._state, services, self.masquerade, changed=changed)
            try:
                self._run(change)
                self._state = change.state
                return
            except PlaneError:
                pass  # the table is not what we applied (changed by hand?): rebuild it whole
        self._state = None
        self._handles.clear()
        stale = self._stale()
        token = secrets.token_hex(3)
        while any(name.endswith(f"/{token}") for _, name in stale):
            token = secrets.token_hex(3)
        change = transaction(None, services, self.masquerade, token, stale)
        self._run(change)
        self._state = change.state

    def _run(self, change: Change) -> None:
        for at, chain, clients in change.unhandled:  # a lookup rule deleted: the kernel's handle
            if clients not in self._handles.get(chain, {}):
                self._handles[chain] = lookup_handles(self._reader(), chain)
            handle = self._handles[chain].pop(clients, None)
            if handle is None:
                raise PlaneError(f"nftables plane: no rule of {chain} looks {clients} up")
            change.commands[at]["delete"]["rule"]["handle"] = handle
        if change.declare:
            self._nft.declare(change.declare)
        if change.commands:
            self._nft.run(change.commands)
        for command in change.commands:  # the handles known of a chain flushed or deleted are gone
            ((verb, body),) = command.items()
            if verb in ("flush", "delete") and "chain" in body:
                self._handles.pop(body["chain"]["name"], None)

    def _reader(self) -> NetlinkSocket:
        """The plane's nfnetlink socket, for what it reads from the kernel itself (see set_elements)."""
        if self._netlink is None:
            try:
                self._netlink = NetlinkSocket(NETLINK_NETFILTER)
            except OSError as error:
                raise PlaneError(f"nftables plane: cannot read the table: {error}") from error
        return self._netlink

    def _stale(self) -> tuple[tuple[str, str], ...]:
        """The objects of a table already there (left by a crashed run), to be replaced."""
        try:
            listing = self._nft.run([{"list": {"table": {"family": FAMILY, "name": TABLE}}}])
        except PlaneError:
            return ()  # no such table
        return tuple(
            (kind, body["name"])
            for item in listing
            for kind, body in item.items()
            if kind not in ("metainfo", "table", "rule", "element")
            and isinstance(body, dict)
            and "name" in body
        )

    def counters(self) -> dict[tuple[ServiceKey, IPAddress, int | None], DestinationCounters]:
        """Every real server's counters, from one nfnetlink dump of each counting set in use (see the
        module docstring: libnftables' listing of the same cost 15x more)."""
        state = self._state
        if state is None:
            return {}
        used = {name for name, _ in state.owners}
        by_element: dict[str, list] = {}  # a real server's t and n elements have one key
        for family in (4, 6):
            for name, _ in _counted(family, "d"):
                if name[0] not in "tn" or name not in used:
                    continue
                element_key = _element_key(name)
                for raw, packets, octets in set_elements(self._reader(), name):
                    key = element_key(raw)
                    if (values := by_element.get(key)) is None:
                        if not (providers := state.owners.get((name, key))):
                            continue
                        values = by_element[key] = [0, 0, 0, providers[0]]
                    if name[0] == "n":
                        values[2] += packets
                    else:
                        values[0] += packets
                        values[1] += octets
        seen: dict[tuple, list[int]] = {}
        for *counted, pid in by_element.values():
            values = seen.setdefault((pid[1], pid[4], pid[5]), [0, 0, 0])
            values[:] = [a + b for a, b in zip(values, counted, strict=True)]
        return {dest: DestinationCounters(*values) for dest, values in seen.items()}

    def close(self) -> None:
        table = {"table": {"family": FAMILY, "name": TABLE}}
        self._nft.run([{"add": table}, {"delete": table}])
        self._state = None
        if self._netlink is not None:
            self._netlink.close()
            self._netlink = None
