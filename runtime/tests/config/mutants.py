"""Randomised differential testing: corpus configs mutated one statement at a time (a line dropped or
repeated, a value replaced by a near miss, a keyword misspelt or moved, a word added or taken away),
each mutant through ``keepalived -t`` and tandemd like the corpus itself (differential.py); the two
must agree on accept/reject. A disagreement is a class of parity bug, unless ``EXPLAINED`` lists it
with the reason.

    python runtime/tests/config/mutants.py --count 3000 --seed 1   # a run by hand: classes, examples

test_differential runs a short seeded form of it (``SHORT``).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import differential

HERE = Path(__file__).parent
KEYWORDS = HERE / "corpus" / "keepalived-2.2.7-keywords.txt"
SHORT = 120  # mutants in the test command's run

# Disagreements on mutants that are deliberate: (pattern searched in the mutant's description and both
# sides' messages, why). Every one of them is also said by tandemd (a warning or an error).
EXPLAINED: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"virtual_server .* is already defined|more than one virtual_server for"),
        differential.DEVIATIONS["ok-dup-vs.conf"],
    ),
    (re.compile(r"track_bfd"), differential.DEVIATIONS["err-track-bfd.conf"]),
    (
        re.compile(r"Unable to set default user"),
        "about this host, not the text: no keepalived_script user here (nor the one named), so keepalived "
        "drops the scripts; tandemd warns that script_user names no user here",
    ),
    (
        re.compile(r"virtual_router_id \d+ on \S+ \(IPv[46]\) is also used by"),
        "one VRID twice on one interface and family: keepalived -t accepts it and both instances then "
        "answer for one virtual router; tandemd refuses the config (error at the second instance)",
    ),
    (
        re.compile(r"due to insecure|is not executable|No such file or directory"),
        "about this host, not the text: the script named is a directory or missing here",
    ),
]
# Classes found and not fixed yet (parity gaps, each said here; the test lets them pass and prints them)
KNOWN: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Digest '.*' is a duplicate"), "a url's digest repeated: keepalived errors, tandemd warns"),
    (
        re.compile(r"\) duplicate track_|is a duplicate"),
        "a tracked interface/script/name listed twice: keepalived reports an error, tandemd takes it once",
    ),
    (
        re.compile(r"in SMTP_CHECK is not supported yet"),
        "SMTP_CHECK host { } blocks are not read by tandemd (warned), so errors inside them pass",
    ),
    (
        re.compile(r"min_ttl|max_ttl|unicast_peer"),
        "unicast_peer edge cases (an emptied block, max_ttl 0): vrrp_blocks, not read as keepalived yet",
    ),
    (re.compile(r"drop 'auth_type"), "auth_pass without auth_type: keepalived accepts it, tandemd refuses"),
    (re.compile(r"cut 'status_code"), "status_code with no value: keepalived accepts it, tandemd refuses"),
    (
        re.compile(r"repeat 'notify\w* [^'\"]+ [^'\"]+'"),
        "a repeated notify script with unquoted arguments: keepalived accepts the repeat, tandemd refuses it",
    ),
    (
        re.compile(r"cut 'smtp_helo_name|-> 'fwmark 0 |-> 'script \"[^\"]*\" \S+ "),
        "smtp_helo_name with no value, a group's fwmark 0, words after a quoted vrrp_script command: "
        "keepalived accepts them, tandemd refuses",
    ),
    (
        re.compile(r"vrrp_strict needs state MASTER exactly when priority is 255"),
        "vrrp_strict with priority 255 and no state line: keepalived accepts it; tandemd's strict rule asks "
        "for state MASTER (checks.py)",
    ),
    (
        re.compile(
            r"interface \S{16,} (doesn't exist|specified for)|tracked interface \S{16,} doesn't exist"
        ),
        "an interface name over 15 characters, which no Linux host can have: keepalived finds no such "
        "interface; tandemd -t does not look at the host's interfaces (it may run elsewhere)",
    ),
    (
        re.compile(r"payload|require_reply"),
        "UDP_CHECK hex with an odd number of digits (payload 101): keepalived takes it, tandemd refuses",
    ),
    (
        re.compile(r"Cannot use unicast_ttl without unicast peers|vmac_xmit_base is only valid with a vmac"),
        "VRRP keys that keepalived refuses out of their context (unicast_ttl without peers, vmac_xmit_base "
        "without use_vmac): vrrp_blocks, not checked yet",
    ),
    (
        re.compile(r"ignoring tracked script .* with weights due to address_owner"),
        "an address owner (priority 255) ignores weighted track scripts in keepalived; tandemd does not say",
    ),
    (re.compile(r"bfd_instance"), "bfd_instance blocks are not read by tandemd (warned as not supported)"),
    (
        re.compile(r"unexpected '\S+' in route"),
        "a word after a route's last option: keepalived ignores it, tandemd refuses (vrrp_blocks)",
    ),
    (
        re.compile(r"-> '\S+ \d+\.\d+\.\d+'"),
        "inet_aton's short forms (255.255.255 is 255.255.0.255): keepalived takes them for some addresses; "
        "tandemd refuses them",
    ),
]


@dataclass(frozen=True)
class Mutant:
    source: str  # the corpus config it comes from
    line: int  # the line changed (1-based)
    kind: str  # drop, repeat, value, keyword, add, cut
    keyword: str  # the keyword of the line changed
    before: str
    after: str | None  # None: the line was dropped
    text: str

    @property
    def description(self) -> str:
        change = "dropped" if self.after is None else f"-> {self.after.strip()!r}"
        return f"{self.source}:{self.line} {self.kind} {self.before.strip()!r} {change}"


def _keywords() -> list[str]:
    found = []
    for line in KEYWORDS.read_text().splitlines():
        if line and not line.startswith("#"):
            found.extend(line.split()[1:])
    return sorted(set(found))


_NUMBER = re.compile(r"^-?[0-9]+$")
_DECIMAL = re.compile(r"^-?[0-9]*\.[0-9]+$")
_IPV4 = re.compile(r"^(\d+\.\d+\.\d+\.)(\d+)(/\d+)?$")
_IPV6 = re.compile(r"^[0-9a-fA-F:]*:[0-9a-fA-F:]*(/\d+)?$")


def near_misses(word: str) -> list[str]:
    """Values a hand might write instead of ``word``: off by one, at a bound, another unit or case."""
    if _NUMBER.match(word):
        n = int(word)
        return [str(v) for v in (n + 1, n - 1, 0, -1, 1, 255, 256, 65535, 65536, 2**31, 2**32, n * 1000)] + [
            f"{n}.5",
            f"0x{abs(n):x}",
            f"{n}s",
            f"+{n}",
        ]
    if _DECIMAL.match(word):
        return [
            "0",
            "0.0",
            "-1",
            "1e3",
            "." + word.split(".")[1],
            word.split(".")[0] + ".",
            "0.000001",
            "4295",
        ]
    ipv4 = _IPV4.match(word)
    if ipv4:
        head, last, prefix = ipv4.groups()
        return [
            f"{head}256{prefix or ''}",
            f"{head}{last}/33",
            f"{head}{last}/0",
            f"{head}{last}/32",
            f"{head}0/24",
            f"{head}255/24",
            head.rstrip("."),
            f"{head}{last}:80",
            f"224.0.0.{last}",
            f"{head}{last}/24/24",
            "0.0.0.0",
            "255.255.255.255",
        ]
    if (_IPV6.match(word) and "::" in word) or word.count(":") >= 2:
        return [
            word.replace("::", ":::"),
            f"{word.split('/')[0]}/129",
            f"{word.split('/')[0]}/64",
            "fe80::1",
            "::",
        ]
    out = [word.upper(), word.lower(), word.capitalize(), word[:-1], word + word[-1], "yes", "off", "1", "x"]
    if "/" in word:
        out += [word.rsplit("/", 1)[0] + "/", "relative/" + word.rsplit("/", 1)[-1]]
    return [w for w in out if w and w != word]


def _typo(word: str, rng: random.Random) -> str:
    at = rng.randrange(len(word))
    choice = rng.randrange(4)
    if choice == 0:
        return word[:at] + word[at + 1 :] or word + "x"
    if choice == 1 and len(word) > 1:
        at = min(at, len(word) - 2)
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if choice == 2:
        return word.upper()
    return word.replace("_", "-") if "_" in word else word + "s"


def mutate(path: Path, text: str, rng: random.Random, keywords: list[str]) -> Mutant | None:
    lines = text.split("\n")
    # statement lines: a keyword and maybe values, no braces (block openers and ends keep the balance)
    candidates = [
        i
        for i, line in enumerate(lines)
        if line.strip() and line.strip()[0] not in "#!}{@$~" and "{" not in line and "}" not in line
    ]
    if not candidates:
        return None
    index = rng.choice(candidates)
    before = lines[index]
    words = before.split()
    indent = before[: len(before) - len(before.lstrip())]
    kinds = ["drop", "repeat", "keyword", "keyword", "add", "value", "value", "value", "value"]
    if len(words) > 1:
        kinds.append("cut")
    kind = rng.choice(kinds)
    after: str | None
    if kind == "drop":
        after = None
    elif kind == "repeat":
        after = before + "\n" + before
    elif kind == "keyword":
        new = _typo(words[0], rng) if rng.random() < 0.5 else rng.choice(keywords)
        after = indent + " ".join([new, *words[1:]])
    elif kind == "add":
        after = before + " " + rng.choice(["1", "0", "on", "off", "extra", "198.51.100.9", "-5", "2.5"])
    elif kind == "cut":
        after = indent + " ".join(words[:-1])
    else:
        if len(words) < 2:
            kind, after = "add", before + " " + rng.choice(["1", "off", "no"])
        else:
            at = rng.randrange(1, len(words))
            misses = near_misses(words[at])
            if not misses:
                return None
            words[at] = rng.choice(misses)
            after = indent + " ".join(words)
    changed = lines[:index] + ([] if after is None else [after]) + lines[index + 1 :]
    return Mutant(path.name, index + 1, kind, words[0], before, after, "\n".join(changed))


def sources() -> list[Path]:
    """Corpus configs worth mutating: those keepalived accepts (ok-*, its samples)."""
    return [p for p in differential.corpus() if not p.name.startswith("err-")]


def mutants(count: int, seed: int) -> Iterator[Mutant]:
    rng = random.Random(seed)
    keywords = _keywords()
    paths = sources()
    texts = {path: path.read_text(errors="replace") for path in paths}
    made = 0
    seen: set[str] = set()
    while made < count:
        path = rng.choice(paths)
        mutant = mutate(path, texts[path], rng, keywords)
        if mutant is None or mutant.text in seen:
            continue
        seen.add(mutant.text)
        made += 1
        yield mutant


@dataclass
class Outcome:
    mutant: Mutant
    keepalived: differential.Verdict
    tandemd: differential.Verdict

    @property
    def agree(self) -> bool:
        return self.keepalived.accepts == self.tandemd.accepts

    @property
    def said(self) -> str:
        return "\n".join([self.mutant.description, *self.keepalived.messages, *self.tandemd.messages])

    @property
    def explanation(self) -> str | None:
        return next((why for pattern, why in EXPLAINED if pattern.search(self.said)), None)

    @property
    def known(self) -> str | None:
        return next((why for pattern, why in KNOWN if pattern.search(self.said)), None)

    def __str__(self) -> str:
        ka, td = self.keepalived, self.tandemd
        return (
            f"{self.mutant.description}\n"
            f"    keepalived {'accepts' if ka.accepts else 'rejects'}: {ka.messages[:3]}\n"
            f"    tandemd {'accepts' if td.accepts else 'rejects'}: {td.messages[:3]}"
        )


def run(host: differential.KeepalivedHost, batch: list[Mutant], jobs: int = 2) -> list[Outcome]:
    """Each mutant through both; files go in a scratch directory beside the corpus's include files."""
    with tempfile.TemporaryDirectory(prefix="tandem-parity-mutants-") as scratch:
        root = Path(scratch)
        (root / "inc").symlink_to(differential.CORPUS / "inc")
        paths = []
        for number, mutant in enumerate(batch):
            path = root / f"m{number}.conf"
            path.write_text(mutant.text)
            paths.append(path)
        host.ensure(set().union(*(differential.interfaces(m.text) for m in batch)))
        with ThreadPoolExecutor(jobs) as pool:
            verdicts = list(pool.map(host.verdict_of, paths))
        return [
            Outcome(mutant, ka, differential.tandemd_verdict(path))
            for mutant, ka, path in zip(batch, verdicts, paths, strict=True)
        ]


def classes(outcomes: list[Outcome], known: bool = False) -> dict[str, list[Outcome]]:
    """Unexplained disagreements by (who rejects, keyword changed, kind of change); with ``known``,
    those of the KNOWN gaps too."""
    found: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.agree or outcome.explanation or (outcome.known and not known):
            continue
        side = "only keepalived rejects" if outcome.tandemd.accepts else "only tandemd rejects"
        found[f"{side}: {outcome.mutant.keyword} ({outcome.mutant.kind})"].append(outcome)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--examples", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parents[2] / "lab" / "src"))
    from tandemlab import Lab

    batch = list(mutants(args.count, args.seed))
    with Lab(hosts=1) as lab:
        outcomes = run(differential.KeepalivedHost(lab.hosts[0]), batch, args.jobs)
    found = classes(outcomes)
    for name, members in sorted(found.items(), key=lambda item: -len(item[1])):
        print(f"!! {len(members):4} {name}")
        for outcome in members[: args.examples]:
            print("   " + str(outcome).replace("\n", "\n   "))
    gaps = Counter(o.known for o in outcomes if not o.agree and not o.explanation and o.known)
    for why, number in gaps.items():
        print(f"?? {number:4} known gap: {why[:100]}")
    explained = Counter(o.explanation for o in outcomes if not o.agree and o.explanation)
    for why, number in explained.items():
        print(f"~~ {number:4} explained: {why[:100]}")
    unexplained = sum(len(m) for m in found.values())
    accepted = sum(o.keepalived.accepts for o in outcomes)
    print(
        f"{len(outcomes)} mutants (seed {args.seed}), keepalived accepts {accepted}; "
        f"{unexplained} unexplained disagreements in {len(found)} classes, "
        f"{sum(gaps.values())} known gaps, {sum(explained.values())} explained"
    )


if __name__ == "__main__":
    main()
