"""The nftables data plane: virtual services as DNAT in one table of Tandem's own (after zevenet's nftlb).

Everything lives in ``table inet tandem_lb``; no other table is read or touched. A new connection
(the NAT hooks see only a connection's first packet; conntrack carries the rest) is dispatched by
verdict maps keyed like nftlb's, ``ip daddr . meta l4proto . th dport`` (``... . meta l4proto`` for
port-0 services, ``meta mark`` for fwmark services, which IPVS-like take precedence), to the service's
chain. That chain picks a real server and jumps to the real server's chain, which counts the
connection and DNATs it::

    nat_prerouting / nat_output ─ jump dispatch ─ vmap ─▶ s/<service> ─ vmap ─▶ d/<service>/<real server>
                                                   (persistence sets, then the scheduler map)   counter, dnat

Schedulers (``lb_algo``), each over the real servers with weight > 0 (weight 0 keeps a real server's
chain and counters, so its established connections flow on, but gives it no new connection):

- rr: ``numgen inc mod N``; wrr: ``numgen inc mod W`` (W: the weights' sum over their gcd) through a
  map that spells out IPVS's wrr order over one cycle (``A A B A B`` for weights 3, 2); where W would
  exceed 4,096 the weights are scaled down to fit (a warning says so);
- sh: ``jhash`` of the source address (and source port with sh-port) over the weights; dh: of the
  destination address; fo: the highest weight takes everything;
- approximations (a warning each, :func:`approximations`): lc → rr, wlc/sed/nq → wrr (nftables does
  not count a real server's connections), lblc/lblcr → dh, mh → sh, ovf → fo, twos → weighted random
  (``numgen random``).

persistence_timeout: each real server has a dynamic set of client addresses (masked by
persistence_granularity) with that timeout; a client found in a set goes to that real server and its
entry is refreshed. It expires ``timeout`` after the client's last new connection (IPVS: after its
last connection ends), said as a warning too. uthreshold/lthreshold and ops are not available here
(warnings); DR and TUN cannot be DNAT and are refused (:func:`unsupported`, PlaneError). ``tandemd -t``
can show both lists: they depend only on the config's services.

Return path: DNAT needs the real servers' replies to come back through this host. Where their
default route points elsewhere, ``NftablesPlane(masquerade=True)`` adds ``masquerade`` for the
connections this table DNATed (the real servers then see the load balancer's address, not the
client's). The host must forward (``net.ipv4.ip_forward``, ``net.ipv6.conf.all.forwarding``), as for
IPVS NAT; the plane does not change sysctls.

Counters: each real server has two named counters: ``n/...`` counted in its chain (connections) and
``t/...`` (packets, bytes of both directions) counted in filter chains on the forward, input and output
hooks through maps keyed by the conntrack entry (``ct original ip daddr . meta l4proto`` plus the
real server's address and port). A real server shared by two fwmark services is counted on the
first; where a port-0 service and a port service of one address share a real server, the kernel
picks which of the two counters a packet hits.

Every change is one transaction of nft JSON run through libnftables (a small ctypes binding): the
first apply replaces any table left by a crashed run (add, delete, build: atomic); later applies add
and delete only the chains, map elements and rules that differ from what was applied before (what
is no longer wanted is deleted one transaction later: see :func:`transaction`). If such
a change fails (the table was changed behind the plane's back), the table is rebuilt whole, again in
one transaction; if that fails too, the kernel keeps its previous state and PlaneError says why.
"""

from __future__ import annotations

import bisect
import ctypes
import functools
import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from tandem.config.model import IPAddress
from tandem.lb.plane import DestinationCounters, PlaneError, Service, ServiceKey, Timeouts

log = logging.getLogger(__name__)

TABLE = "tandem_lb"
FAMILY = "inet"
PROTOCOLS = ("tcp", "udp", "sctp")
HASH_SEED = 0x7A3D  # fixed, so a rebuilt table hashes clients as before
PERSISTENCE_SIZE = 65535  # clients remembered per real server
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
TIMEOUTS_NOT_CARRIED = "lvs_timeouts are not carried by the nftables plane (conntrack's timeouts apply)"


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
    counters: dict[str, tuple[str, tuple[ServiceKey, IPAddress, int | None]]] = field(default_factory=dict)
    lingering: frozenset[tuple[str, str]] = frozenset()  # unreferenced, deleted by the next transaction

    def add(self, kind: str, name: str, **definition: Any) -> None:
        self.objects[(kind, name)] = definition
        if kind in ("map", "set"):
            self.elements.setdefault(name, {})

    def rule(self, chain: str, *expr: dict) -> None:
        self.rules[chain] = (*self.rules.get(chain, ()), _key(list(expr)))

    def element(self, name: str, key: Any, value: Any = None) -> None:
        elem = key if value is None else [key, value]
        self.elements.setdefault(name, {}).setdefault(_key(key), (key, elem))

    def merge(self, part: _Table) -> None:
        """Add ``part`` (its chains are its own; an element key already here keeps its first value)."""
        self.objects |= part.objects
        self.rules |= part.rules
        self.counters |= part.counters
        for name, items in part.elements.items():
            mine = self.elements.setdefault(name, {})
            mine |= {k: v for k, v in items.items() if k not in mine}


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


ALL_PORTS = {"range": [0, 65535]}
ADDRESS_TYPE = {4: "ipv4_addr", 6: "ipv6_addr"}


def _skeleton(masquerade: bool) -> _Table:
    """The chains and maps every table has, services or not."""
    t = _Table()
    for family in (4, 6):
        addr = ADDRESS_TYPE[family]
        t.add("map", f"svc{family}", type=[addr, "inet_proto", "inet_service"], map="verdict")
        t.add("map", f"svc{family}_any", type=[addr, "inet_proto"], map="verdict")
        t.add("map", f"fwm{family}", type="mark", map="verdict")
        # traffic counters by conntrack entry: (original destination, protocol, real server, port)
        counted = dict(map="counter", flags=["interval"])
        t.add("map", f"cnt{family}", type=[addr, "inet_proto", addr, "inet_service"], **counted)
        t.add("map", f"cntf{family}", type=["inet_proto", addr, "inet_service"], **counted)
    t.add("chain", "dispatch")
    t.add("chain", "count")
    if masquerade:
        t.add("chain", "nat_postrouting", type="nat", hook="postrouting", prio=100, policy="accept")
    for name, kind, hook, prio in (
        ("nat_prerouting", "nat", "prerouting", -100),
        ("nat_output", "nat", "output", -100),
        ("count_forward", "filter", "forward", 0),
        ("count_input", "filter", "input", 0),
        ("count_output", "filter", "output", 0),
    ):
        t.add("chain", name, type=kind, hook=hook, prio=prio, policy="accept")
        t.rule(name, {"jump": {"target": "dispatch" if kind == "nat" else "count"}})
    for family in (4, 6):
        a = _addr(family)
        nfproto = _match(_meta("nfproto"), f"ipv{family}")
        service = [_payload(a, "daddr"), _meta("l4proto")]
        by_port = {"concat": [*service, _payload("th", "dport")]}
        t.rule("dispatch", nfproto, {"vmap": {"key": _meta("mark"), "data": f"@fwm{family}"}})
        t.rule("dispatch", {"vmap": {"key": by_port, "data": f"@svc{family}"}})
        t.rule("dispatch", {"vmap": {"key": {"concat": service}, "data": f"@svc{family}_any"}})
        dnat = _match({"ct": {"key": "status"}}, "dnat", op="in")
        for direction, end in (("original", "d"), ("reply", "s")):
            is_direction = _match({"ct": {"key": "direction"}}, direction)
            for name, key in _counted(family, end):
                counter = {"counter": {"map": {"key": key, "data": f"@{name}"}}}
                t.rule("count", nfproto, dnat, is_direction, counter)
        if masquerade:
            original = _match({"ct": {"key": "direction"}}, "original")
            for name, key in _counted(family, "d"):
                ours = _match(key, f"@{name}")
                t.rule("nat_postrouting", nfproto, dnat, original, ours, {"masquerade": None})
    return t


def _counted(family: int, end: str) -> list[tuple[str, dict]]:
    """The traffic-counter maps and their keys, for the real server at ``end`` (d: daddr, s: saddr)."""
    rs = [_payload(_addr(family), f"{end}addr"), _payload("th", f"{end}port")]
    return [
        (f"cnt{family}", {"concat": [_ct_original_daddr(family), _meta("l4proto"), *rs]}),
        (f"cntf{family}", {"concat": [_meta("l4proto"), *rs]}),
    ]


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


def _add_service(t: _Table, service: Service) -> None:
    key, family = service.key, service.key.family
    name = _service_name(key)
    chain = f"s/{name}"
    t.add("chain", chain)
    if key.fwmark is not None:
        t.element(f"fwm{family}", key.fwmark, _goto(chain))
    elif key.port:
        t.element(f"svc{family}", {"concat": [str(key.address), _proto(key), key.port]}, _goto(chain))
    else:
        t.element(f"svc{family}_any", {"concat": [str(key.address), _proto(key)]}, _goto(chain))
    live = []
    sticky = service.persistence_timeout, service.persistence_granularity
    for d in service.destinations:
        t.merge(_destination_part(key, *sticky, d.address, d.port))
        if d.weight > 0:
            live.append((d, _destination_name("d", key, d.address, d.port)))
            if service.persistence_timeout:
                clients = _destination_name("p", key, d.address, d.port, service.persistence_timeout)
                t.rule(chain, _match(_client(family, sticky[1]), f"@{clients}"), _goto(live[-1][1]))
    _add_scheduler(t, service, chain, live)


def _proto(key: ServiceKey) -> str | None:
    return None if key.fwmark is not None else key.protocol.lower()


def _destination_name(kind: str, key: ServiceKey, address: IPAddress, port: int | None, *more: object) -> str:
    """``d/`` chain, ``n/``, ``t/`` counters, ``p/`` persistence set of one real server of one service."""
    return "/".join([kind, _service_name(key), f"{address}_{port or 0}", *map(str, more)])


@functools.lru_cache(maxsize=65536)
def _destination_part(
    key: ServiceKey, timeout: int | None, granularity: IPAddress | None, address: IPAddress, port: int | None
) -> _Table:
    """One real server's chain, counters, persistence set and counter-map elements (not its weight)."""
    t = _Table()
    family, proto = key.family, _proto(key)
    dchain, conns, traffic = (_destination_name(kind, key, address, port) for kind in "dnt")
    t.add("chain", dchain)
    t.add("counter", conns)
    t.add("counter", traffic)
    t.counters[conns] = ("connections", (key, address, port))
    t.counters[traffic] = ("traffic", (key, address, port))
    if timeout:
        # the timeout is in the name: a set's timeout cannot change, a new set replaces it
        clients = _destination_name("p", key, address, port, timeout)
        t.add(
            "set",
            clients,
            type=ADDRESS_TYPE[family],
            flags=["timeout"],
            timeout=timeout,
            size=PERSISTENCE_SIZE,
        )
        t.rule(dchain, {"set": {"op": "update", "elem": _client(family, granularity), "set": f"@{clients}"}})
    t.rule(dchain, {"counter": conns})
    nat: dict[str, Any] = {"family": _addr(family), "addr": str(address)}
    port = port or key.port or None
    if port:
        nat["port"] = port
        t.rule(dchain, _match(_meta("l4proto"), proto or {"set": list(PROTOCOLS)}), {"dnat": nat})
    else:
        t.rule(dchain, {"dnat": nat})
    counted = port or ALL_PORTS
    if key.fwmark is None:
        t.element(f"cnt{family}", {"concat": [str(key.address), proto, str(address), counted]}, traffic)
    else:
        for p in PROTOCOLS:
            t.element(f"cntf{family}", {"concat": [p, str(address), counted]}, traffic)
    return t


def _add_scheduler(t: _Table, service: Service, chain: str, live: list) -> None:
    if not live:
        return  # nothing to choose: the connection goes on un-NATed (like IPVS with no real server)
    runs = _runs(service)
    if runs == "fo":
        best = max(d.weight for d, _ in live)
        t.rule(chain, _goto(next(dchain for d, dchain in live if d.weight == best)))
        return
    weights = cycle_weights([1 if runs == "rr" else d.weight for d, _ in live])
    if runs == "wrr":
        order = wrr_order(weights)
    else:  # hashing, random: each real server owns a run of values
        order = [i for i, weight in enumerate(weights) for _ in range(weight)]
    # An anonymous map in the rule: libnftables' JSON (1.0.6) cannot declare a named map keyed by
    # numgen/jhash (it needs "typeof"). One element per value, no ranges: an interval map made in the
    # commit that first uses it misses lookups for a moment on this kernel (seen under load). The rule
    # lives in a chain named by its content, so a change of weights is a new chain and one new rule
    # in the service chain; the old one lingers (see transaction).
    choices = [[value, _goto(live[i][1])] for value, i in enumerate(order)]
    rule = {"vmap": {"key": _chooser(service, len(order)), "data": {"set": choices}}}
    pick = f"c/{chain[2:]}/{hashlib.blake2s(_key(rule).encode(), digest_size=6).hexdigest()}"
    t.add("chain", pick)
    t.rule(pick, rule)
    t.rule(chain, _goto(pick))


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


def desired(services: tuple[Service, ...], masquerade: bool = False) -> _Table:
    """The whole table for ``services``; raises PlaneError for what this plane cannot carry."""
    t = _skeleton(masquerade)
    keys = set()
    for service in services:
        problems = unsupported(service)
        if service.key in keys:
            problems.append(f"{service.key}: the service is listed twice")
        if problems:
            raise PlaneError("; ".join(problems))
        keys.add(service.key)
        t.merge(_service_part(service))
    return t


@functools.lru_cache(maxsize=4096)
def _service_part(service: Service) -> _Table:
    """One service's chains, sets, counters and elements; cached, so an unchanged service costs a lookup."""
    t = _Table()
    _add_service(t, service)
    return t


# --- from one table to the next: one transaction -------------------------------------------------------

ADD_ORDER = {"counter": 0, "set": 1, "map": 1, "chain": 2}  # what is referred to first
DELETE_ORDER = {"set": 0, "map": 0, "chain": 1, "counter": 2}  # maps refer to chains, rules to counters


def _ref(kind: str, name: str, **more: Any) -> dict:
    return {kind: {"family": FAMILY, "table": TABLE, "name": name, **more}}


def transaction(old: _Table | None, new: _Table) -> tuple[list[dict], _Table]:
    """nft JSON commands turning ``old`` (None: whatever is there, if anything) into ``new``, and the
    table the kernel holds after them.

    What ``new`` no longer has is only unreferenced by these commands and deleted by the next
    transaction: a packet that entered a chain just before the commit finishes in the previous
    generation's rules, but looks set elements up in the new one, so a map deleted in the same commit
    would miss it (seen here as a refused connection about once in a thousand changes under load).
    """
    commands: list[dict] = []
    if old is None:  # replace a stale table atomically: add (no-op if present), delete, build
        table = {"table": {"family": FAMILY, "name": TABLE}}
        commands += [{"add": table}, {"delete": table}, {"add": table}]
        old = _Table()
    later = old.objects.keys() - new.objects.keys() - old.lingering
    held = _Table(
        objects=new.objects | {k: old.objects[k] for k in later},
        rules=new.rules | {name: old.rules[name] for kind, name in later if name in old.rules},
        elements=new.elements | {name: old.elements[name] for kind, name in later if name in old.elements},
        counters=new.counters,
        lingering=frozenset(later),
    )
    added = sorted(held.objects.keys() - old.objects.keys(), key=lambda k: (ADD_ORDER[k[0]], k[1]))
    removed = sorted(old.objects.keys() - held.objects.keys(), key=lambda k: (DELETE_ORDER[k[0]], k[1]))
    commands += [{"add": _ref(kind, name, **held.objects[(kind, name)])} for kind, name in added]

    def elements(name: str, ids: set[str], source: _Table, verb: str) -> None:
        if ids:
            items = [source.elements[name][i][0 if verb == "delete" else 1] for i in sorted(ids)]
            commands.append(
                {verb: {"element": {"family": FAMILY, "table": TABLE, "name": name, "elem": items}}}
            )

    for name, items in old.elements.items():
        if name in held.elements:
            elements(name, items.keys() - held.elements[name].keys(), old, "delete")
    chains = old.rules.keys() | held.rules.keys()
    changed = sorted(c for c in chains if old.rules.get(c, ()) != held.rules.get(c, ()))
    commands += [{"flush": _ref("chain", c)} for c in changed if c in old.rules and c in held.rules]
    for name, items in held.elements.items():
        elements(name, items.keys() - old.elements.get(name, {}).keys(), held, "add")
    for chain in changed:
        for expr in held.rules.get(chain, ()):
            rule = {"family": FAMILY, "table": TABLE, "chain": chain, "expr": json.loads(expr)}
            commands.append({"add": {"rule": rule}})
    commands += [{"delete": _ref(kind, name)} for kind, name in removed]
    return commands, held


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
        return json.loads(output)["nftables"] if output.strip() else []

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
        self._applied: _Table | None = None  # None: not known, the next apply rebuilds the table
        self._warned: set[str] = set()

    def set_timeouts(self, timeouts: Timeouts) -> None:
        if timeouts != Timeouts() and "timeouts" not in self._warned:
            self._warned.add("timeouts")
            log.warning("nftables plane: %s", TIMEOUTS_NOT_CARRIED)

    def apply(self, services: tuple[Service, ...]) -> None:
        new = desired(services, self.masquerade)
        for service in services:
            for note in approximations(service):
                if note not in self._warned:
                    self._warned.add(note)
                    log.warning("nftables plane: %s", note)
        commands, held = transaction(self._applied, new)
        if not commands:
            return
        try:
            self._nft.run(commands)
        except PlaneError:
            if self._applied is None:
                raise
            # the table is not what we applied (changed by hand?): rebuild it whole, in one transaction
            self._applied = None
            commands, held = transaction(None, new)
            self._nft.run(commands)
        self._applied = held

    def counters(self) -> dict[tuple[ServiceKey, IPAddress, int | None], DestinationCounters]:
        if self._applied is None:
            return {}
        listing = self._nft.run([{"list": {"counters": {"family": FAMILY, "table": TABLE}}}])
        seen: dict[tuple, dict[str, int]] = {}
        for item in listing:
            counter = item.get("counter")
            if not counter or counter["name"] not in self._applied.counters:
                continue
            what, dest = self._applied.counters[counter["name"]]
            values = seen.setdefault(dest, {})
            if what == "connections":
                values["connections"] = counter["packets"]
            else:
                values.update(packets=counter["packets"], bytes=counter["bytes"])
        return {dest: DestinationCounters(**values) for dest, values in seen.items()}

    def close(self) -> None:
        table = {"table": {"family": FAMILY, "name": TABLE}}
        self._nft.run([{"add": table}, {"delete": table}])
        self._applied = None
