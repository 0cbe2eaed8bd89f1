"""Differential testing of the config language: ``keepalived -t`` (Debian's 2.2.7) against ``tandemd -t``.

Each config of the corpus (corpus/differential/*.conf, written for this, and keepalived's own samples
in /usr/share/doc/keepalived/samples) is checked by keepalived inside a lab namespace that has every
interface the config names (so "no such interface" never decides), and by tandemd. keepalived's exit
status is not its verdict: it is non-zero after any message, informational ones included ("no
scheduler set, setting default 'wlc'"). Its messages are sorted instead: those in ``KEEPALIVED_WARNINGS``
leave the config meaning what it says (keepalived runs it as written); any other is an error.

    python runtime/tests/config/differential.py          # the table, one line per config
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
CORPUS = HERE / "corpus" / "differential"
SAMPLES = Path("/usr/share/doc/keepalived/samples")

# keepalived messages that do not change what the config means (defaults, deprecations, notices)
KEEPALIVED_WARNINGS = re.compile(
    "|".join(
        [
            r"no protocol set - defaulting",
            r"no forwarding method set, setting default",
            r"no scheduler set, setting default",
            r"is incompatible with AH authentication - clearing",
            r"protocol specified for fwmark - protocol will be ignored",
            r"cannot track route .* with no interface specified, not tracking",
            r'"(or|gw)" for routes is deprecated',
            r"Rule has no preference specified - setting to \d+\. This is probably not what you want\.",
            r"Specifying lvs_sync_daemon_interface against a vrrp is deprecated",
            r"^\s*Please use global lvs_sync_daemon",
            r"SECURITY VIOLATION - (check )?scripts are being executed but script_security not enabled",
            r"A unicast keyword has been specified without any unicast peers.*deprecated",
            r"global_tracking is deprecated",
            r"one packet scheduling requires UDP - resetting",
            r"WARNING, more than one file matches",
            r"is deprecated - please use",
            r"has no real servers - ignoring",
            r"Warning - empty notification_email block",
            r"vrrp script timeout must be greater than 0, setting to 1",  # tandemd warns, uses 1 too
            r"real-time priority \d+ greater than maximum \d+ - setting to maximum",  # tandemd warns
            r"already specified - replacing",  # the last one is used (tandemd: "this one wins")
            r"iptables not supported, using nftables instead",  # tandemd: nftables, and it warns
            r"has only 1 virtual router\(s\) - this probably isn't what you want",
            r"Truncating auth_pass to 8 characters",
            r"ports don't match - resetting",
            r"No VIP specified; at least one is sensible",
            r"preempt_delay is incompatible with nopreempt mode - resetting",
            r"Warning - nopreempt will not work with initial state MASTER - clearing",
            r"'linkbeat_use_polling' in vrrp instance deprecated - use linkbeat_interfaces block",
            r"hysteresis \d+ >= quorum \d+; setting hysteresis to",
            r"VRRPv2 advertisement interval [1-9]\d*\.\d+s must be an integer\. rounding",  # tandemd warns
            r"nopreempt is incompatible with priority 255\. resetting nopreempt",
            r"Warning - preempt delay will not work with initial state MASTER - clearing",
            r"Warning - quorum \d+ for .* exceeds total weight of real servers \d+, reducing quorum to",
            # about this host, not the text (tandemd warns too)
            r"Disabling track script .* since not found/accessible",
            r"Error setting global script uid/gid",
            r"Invalid smtp server [A-Za-z]",  # a name that does not resolve in the lab
            r"Config files missing '[^']*[*?[][^']*'",  # a glob that matches nothing (conf.d empty)
            r"WARNING - fwmark virtual server .* has port specified - clearing",
            r"zero port only valid for persistent services - setting",  # persistent (tandemd warns)
        ]
    )
)
# Where Tandem deliberately differs: config name -> why (tandemd warns about each).
DEVIATIONS: dict[str, str] = {
    "ok-dup-vs.conf": "two virtual_server blocks for one service: keepalived reads both and IPVS refuses the "
    "second at run time; tandemd refuses the config (error at the second block)",
    "err-track-bfd.conf": "track_bfd of an undefined bfd_instance: keepalived ignores the entry with an "
    "error; Tandem has no BFD and warns that every track_bfd is ignored",
}


# Where the meaning differs (keepalived's dump against what tandemd runs): config name -> why. Each
# entry covers every disagreement of that config; test_differential checks that each still occurs.
MEANING_DEVIATIONS: dict[str, str] = {
    "ok-p255-backup.conf": "priority 255 with state BACKUP: keepalived starts it Backup and it takes over "
    "after Master_Down_Interval; tandemd starts an address owner as Master at once (and warns so)",
    "keepalived.conf.vrrp.lvs_syncd": "no dump: lvs_sync_daemon needs IPVS, and keepalived's VRRP child "
    "exits at start on this kernel",
}
# a small spread of the corpus for FAST runs: every key of the comparison is exercised
MEANING_FAST = (
    "ok-haproxy-pair.conf",
    "ok-use-vmac.conf",
    "ok-unicast-v6.conf",
    "ok-track-interface.conf",
    "ok-track-file.conf",
    "ok-track-process.conf",
    "ok-sync-group.conf",
    "ok-excluded-v6.conf",
    "ok-garp-master.conf",
    "ok-nopreempt-master.conf",
    "ok-strict-unicast.conf",
    "ok-conditional.conf",
    "ok-p255-backup.conf",
    "keepalived.conf.vrrp",
)


@dataclass
class Verdict:
    accepts: bool
    messages: list[str]


def keepalived_verdict(stderr: str) -> Verdict:
    messages = sorted({_strip_position(line) for line in stderr.splitlines() if line.strip()})
    errors = [m for m in messages if not KEEPALIVED_WARNINGS.search(m)]
    return Verdict(not errors, errors or messages)


def _strip_position(line: str) -> str:
    return re.sub(r"^\((?:[^)]*: )?Line \d+\) ", "", line.strip())


def tandemd_verdict(path: Path) -> Verdict:
    from tandem.config import load_config

    result = load_config(path, config_id="lb1")
    errors = [str(f) for f in result.errors]
    return Verdict(not errors, errors or [str(f) for f in result.findings])


_IFNAME = re.compile(r"^(?!(?:\.|\.\.|all|default)$)[^\s/:{}]{1,15}$")  # what Linux takes as a name
_NAMED = re.compile(r"\b(?:interface|dev|lvs_sync_daemon_interface|bind_if)\s+([^\s{}]+)")


def interfaces(text: str) -> set[str]:
    """Interface names a config mentions (interface, dev, track_interface entries), label parts cut."""
    names = set(_NAMED.findall(text))
    for block in re.findall(
        r"(?:track_interface|linkbeat_interfaces|interface_up_down_delays)\s*\{([^}]*)\}", text
    ):
        words = (line.split() for line in block.splitlines())
        names.update(first[0] for first in words if first and first[0][0] not in "#!")
    return {name.split(":")[0] for name in names if _IFNAME.match(name)} - {"lo"}


def corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.conf")) + sorted(SAMPLES.glob("keepalived.conf.*"))


class KeepalivedHost:
    """A lab host that runs ``keepalived -t``; interfaces are added (veth pairs) as configs need them."""

    def __init__(self, host) -> None:
        self.host = host
        self.made: set[str] = {"eth0", "lo"}

    def ensure(self, names: set[str]) -> None:
        from tandemlab.shell import LabError

        for name in sorted(names - self.made):
            peer = f"tdmpeer{len(self.made)}"
            self.made.add(name)
            try:  # "name"/"dev" before the names: a mutant may call an interface "dev" or "type"
                self.host.ip("link", "add", "name", name, "type", "veth", "peer", "name", peer)
            except LabError:  # a name the kernel refuses: keepalived sees no such interface
                continue
            self.host.ip("link", "set", "dev", name, "up")
            self.host.ip("link", "set", "dev", peer, "up")

    def verdict(self, path: Path) -> Verdict:
        self.ensure(interfaces(path.read_text(errors="replace")))
        return self.verdict_of(path)

    def verdict_of(self, path: Path) -> Verdict:
        """keepalived's verdict, the interfaces already made (so it may run in threads)."""
        argv = ["ip", "netns", "exec", self.host.netns, "timeout", "20", "keepalived", "-t", "-f", str(path)]
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace")
        return keepalived_verdict(done.stderr)


def compare(keepalived: KeepalivedHost) -> list[tuple[str, Verdict, Verdict]]:
    return [(path.name, keepalived.verdict(path), tandemd_verdict(path)) for path in corpus()]


def meaning(paths: list[Path]) -> dict[str, list[str] | None]:
    """For each config both accept that has a vrrp_instance: the differences between keepalived's dump
    and tandemd's resolved instances (vrrp_meaning), or None when keepalived gave no dump."""
    import keepalived_dumps
    import vrrp_meaning
    from tandem.config import load_config

    jobs = []
    for path in paths:
        text = path.read_text(errors="replace")
        if "vrrp_instance" in text and tandemd_verdict(path).accepts:
            jobs.append((path, interfaces(text)))
    rows: dict[str, list[str] | None] = {}
    for path, (dump, _log) in keepalived_dumps.vrrp_dumps(jobs).items():
        if dump is None:
            rows[path.name] = None
            continue
        config = load_config(path, config_id="lb1").config
        found = vrrp_meaning.differences(vrrp_meaning.from_keepalived(dump), vrrp_meaning.from_tandem(config))
        rows[path.name] = found
    return rows


def main() -> None:
    sys.path.insert(0, str(HERE.parents[2] / "lab" / "src"))
    from tandemlab import Lab

    with Lab(hosts=1) as lab:
        rows = compare(KeepalivedHost(lab.hosts[0]))
    disagreements = 0
    for name, ka, td in rows:
        same = ka.accepts == td.accepts
        disagreements += not same and name not in DEVIATIONS
        mark = "  " if same else ("~~" if name in DEVIATIONS else "!!")
        print(f"{mark} {name:45} keepalived {'accepts' if ka.accepts else 'rejects'}, "
              f"tandemd {'accepts' if td.accepts else 'rejects'}")  # fmt: skip
        if not same:
            print(f"     keepalived: {ka.messages[:3]}\n     tandemd: {td.messages[:3]}")
    print(f"{len(rows)} configs, {disagreements} unexplained disagreements, {len(DEVIATIONS)} deliberate")
    accepted = [CORPUS / n if (CORPUS / n).exists() else SAMPLES / n for n, ka, td in rows if ka.accepts]
    unexplained = 0
    found = meaning(accepted)
    for name, differences in sorted(found.items()):
        if differences == []:
            continue
        explained = name in MEANING_DEVIATIONS
        unexplained += not explained
        print(f"{'~~' if explained else '!!'} meaning {name}: {differences or 'no dump from keepalived'}")
    agree = sum(d == [] for d in found.values())
    print(
        f"meaning: {len(found)} configs, {agree} agree, {len(found) - agree - unexplained} explained, "
        f"{unexplained} unexplained"
    )


if __name__ == "__main__":
    main()
