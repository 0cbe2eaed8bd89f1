"""Structure-aware fuzzing of the config language (``tandem.config.load_config`` / ``load_config_text``).

Mutants are made from real configs (the suite's, keepalived's samples, the differential corpus) by
mutations that know the language: braces, includes, ``~SEQ``/``~LST``, ``@``conditions, ``$``macros
and multi-line ``\\`` definitions, odd white space and line ends (``\\r``, ``\\f``, ``\\v``, U+0085,
U+2028), huge numbers, bad UTF-8, NUL, lone surrogates, plus byte-level noise. Each mutant is read as a
file tree (with include targets, a loop and an unreadable entry) or as text. Oracles:

* no exception escapes;
* every finding names a file that was read and a line inside it (1..its number of ``\\n``-lines);
* the config is None exactly when a finding is an error; messages are one line;
* CPU per input is bounded: ``CPU_BOUND`` seconds (the lexer's 500,000-step budget costs ~1 s);
* memory is bounded: the process's peak stays within ``MEMORY_BOUND`` of where it was before the run;
* a valid config dumps and reloads to the same dump.

    python runtime/tests/config/config_fuzz.py                # 2,000 mutants
    python runtime/tests/config/config_fuzz.py --long         # 100,000 mutants
    python runtime/tests/config/config_fuzz.py --seed 7 --count 500

``corpus/regressions.jsonl`` holds inputs that once broke an oracle (one JSON object per line:
``why``, ``via`` file|text, ``text`` with lone surrogates for undecodable bytes); the suite replays them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
CORPUS = HERE / "corpus" / "regressions.jsonl"
DIFFERENTIAL = HERE / "corpus" / "differential"
SAMPLES = Path("/usr/share/doc/keepalived/samples")
CPU_BOUND = 3.0  # seconds of CPU per input, the bound the suite asserts
MEMORY_BOUND = 256 << 20  # bytes of peak RSS above the run's start (test_fuzz's bound per load)

NUMBERS = ["0", "-1", "256", "65536", "4294967296", "18446744073709551616", "9" * 40, "-" + "9" * 30,
           "0x7fffffffffffffff", "0x" + "f" * 30, "010", "08", "1e999", "-1e-999", "nan", "inf", "1.5",
           "0.000001", "4294.967296", "+5", "5e", ""]  # fmt: skip
ODD = ["\r", "\r\n", "\f", "\v", "\x85", "\u2028", "\u2029", "\x1c", "\t", "\u00a0", "\ufeff", "\x00",
       "\udcff", "\ud800", "\\", "\\\\", '"', "'", "!", "#", "\\#", "{", "}", "ß", "\\ß", "é", "\U0001f600",
       "$", "${", "@", "~"]  # fmt: skip
DIGITS = "9" * 5000  # over int()'s 4,300-digit limit
STRUCTURE = [
    "{", "}", "{ }", "} {", "{" * 40, "}" * 40, "\\", "# comment \\", "! x \\", '"', "include a.conf",
    "include sub/*.conf", "include loop.conf", "include chain/c0.conf", "include nope.conf",
    "include /proc/self/fd/*",
    "include /proc/self/task/*/fd/*", "include /dev/null", "include unreadable.conf", "include \\",
    "include *", "includer a.conf", "~SEQ(i, 1, 3) ", "~SEQ(i, 99999999999999999999) x$i",
    "~SEQx(h, 0, 0x10) ", "~SEQ(i, $N) ", "~SEQ(i, 1, 0, 5) x", "~SEQ(i,", "~SEQ(i, 700) ~SEQ(j, 700) y",
    "~LST({A,B},{1,2},{3,4}) ", "~LST(A) ", "@node1 ", "@^node1 ", "@", "@node1", "$N=3", "$X=$X$X",
    "$M=a \\", "$M= \\", "$M", "${M}", "${_RANDOM 1 9}", "${_RANDOM 99999999999999999999}", "$_PWD",
    "$_INSTANCE", "${_HASH}", "${_BANG}", "$N", "vrrp_instance", "virtual_server", "real_server",
    "HTTP_GET", "url", "global_defs", "vrrp_script", "vrrp_sync_group", "virtual_ipaddress",
    "static_routes", "track_script", "unicast_peer", "~SEQ(i, 1, " + DIGITS + ") ",
    "${_RANDOM 0 " + DIGITS + "}",
]  # fmt: skip
TREE = {
    "a.conf": "vrrp_script s_inc {\n    script /bin/true\n}\n",
    "sub/b.conf": "! included\n$N=2\n",
    "sub/c.conf": "include ../loop.conf\n",
    "loop.conf": "include sub/c.conf\n",
    # an include chain deeper than MAX_INCLUDE_DEPTH (400 once escaped as RecursionError)
    **{f"chain/c{i}.conf": f"$C{i}=include c{i + 1}.conf\n$C{i}\n" for i in range(100)},
}


def seeds() -> list[str]:
    texts = [path.read_text() for path in sorted(SAMPLES.glob("keepalived.conf.*"))]
    texts += [path.read_text() for path in sorted(DIFFERENTIAL.glob("*.conf"))]
    sys.path.insert(0, str(HERE))
    from test_blocks import FULL_VRRP, LVS

    return [FULL_VRRP, LVS, *texts]


@dataclass
class Mutant:
    text: str
    via: str  # "file" (written with surrogatepass: lone surrogates become bad UTF-8) or "text"
    ops: list[str]


def mutate(rng: random.Random, text: str) -> Mutant:
    ops: list[str] = []
    for _ in range(rng.randint(1, 8)):
        op = rng.choice(COSTLY if rng.random() < 0.004 else MUTATIONS)
        text = op(rng, text)
        ops.append(op.__name__)
    return Mutant(text, rng.choice(("file", "file", "text")), ops)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _at_line(rng: random.Random, text: str, change) -> str:
    lines = _lines(text)
    index = rng.randrange(len(lines))
    lines[index : index + 1] = change(lines[index])
    return "\n".join(lines)


def insert_structure(rng, text):
    return _at_line(rng, text, lambda line: [rng.choice(STRUCTURE) + rng.choice(("", " ", line)), line])


def prefix_line(rng, text):
    prefixes = ("@node1 ", "@^node1 ", "@other ", "~SEQ(i, 1, 2) ", "~LST(i, a, b) ", "$P=", "  \t")
    return _at_line(rng, text, lambda line: [rng.choice(prefixes) + line.strip()])


def to_definition(rng, text):
    """A run of lines becomes a multi-line definition, used where it stood (maybe twice)."""
    lines = _lines(text)
    start = rng.randrange(len(lines))
    stop = min(len(lines), start + rng.randint(1, 12))
    body = [line + " \\" for line in lines[start:stop]]
    if rng.random() < 0.3:
        body.insert(rng.randrange(len(body) + 1), rng.choice(("# gone \\", "", "! c", "\\")))
    uses = ["$D"] * rng.randint(1, 3)
    lines[start:stop] = ["$D= \\", *body, "", *uses]
    return "\n".join(lines)


def continue_line(rng, text):
    return _at_line(rng, text, lambda line: [line + rng.choice((" \\", "\\", " \\ ", " # c \\"))])


def huge_number(rng, text):
    def change(line):
        words = line.split(" ")
        numeric = [i for i, word in enumerate(words) if word[:1].isdigit()]
        index = rng.choice(numeric) if numeric else rng.randrange(len(words))
        words[index] = rng.choice(NUMBERS)
        return [" ".join(words)]

    return _at_line(rng, text, change)


def odd_character(rng, text):
    at = rng.randint(0, len(text))
    return text[:at] + rng.choice(ODD) * rng.choice((1, 1, 2, 50)) + text[at:]


def line_ends(rng, text):
    return text.replace("\n", rng.choice(("\r\n", "\r", "\n\r", "\x85", "\u2028", "\n\f", "\n\n\n")))


def swap_lines(rng, text):
    lines = _lines(text)
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    return "\n".join(lines)


def duplicate(rng, text):
    at = rng.randint(0, len(text))
    return text[:at] + text[at : at + rng.randint(1, 400)] * rng.randint(1, 4) + text[at:]


def delete(rng, text):
    at = rng.randint(0, len(text))
    return text[:at] + text[at + rng.randint(1, 60) :]


def truncate(rng, text):
    return text[: rng.randint(0, len(text))]


def byte_noise(rng, text):
    at = rng.randint(0, len(text))
    ranges = ((32, 127), (0xDC80, 0xDD00), (0, 32))  # printable, undecodable bytes, controls
    noise = "".join(chr(rng.randrange(*rng.choice(ranges))) for _ in range(rng.randint(1, 6)))
    return text[:at] + noise + text[at:]


def deep_nesting(rng, text):
    depth = rng.choice((33, 100, 3000))
    return text + "\n" + "\n".join(f"b{i} {{" for i in range(depth)) + "\n" + "}\n" * rng.randrange(depth)


def bomb(rng, text):
    kind = rng.randrange(4)
    if kind == 0:
        return text + "\n$A0=xxxxxxxx\n" + "".join(f"$A{i + 1}=$A{i} $A{i}\n" for i in range(30)) + "x $A30\n"
    if kind == 1:
        return text + "\n~SEQ(a, 1, 900) ~SEQ(b, 1, 900) ~SEQ(c, 1, 900) router_id $a$b$c\n"
    if kind == 2:
        return text + "\n$M= \\\n" + "x \\\n" * 3000 + "x\n" + "~SEQ(i, 1, 2000) $M\n"
    return text + "\n$R=$R\nrouter_id $R\n$S=~SEQ(i, 1, 3) $S\n$S\n"


def wildcard_walk(rng, text):
    """An include whose wildcard walks much of the file system (each entry looked at costs a step)."""
    pattern = rng.choice(
        ("/*/*/*/*/*/*/*/*", "/proc/*/*/*/*", "/sys/*/*/*/*/*/*", "/proc/self/*/*/*", "/*/*/nope")
    )
    return f"include {pattern}\n" + text


def huge_word(rng, text):
    """A word, quoted word or line of words of megabytes (memory: the tokenizer's and the lines')."""
    size = rng.choice((1 << 20, 4 << 20, 12 << 20))
    word = rng.choice(
        ("x" * size, '"' + "x y " * (size // 4) + '"', "ab " * (size // 3), '"' + '\\" ' * (size // 3) + '"')
    )
    return _at_line(rng, text, lambda line: [f"{line} {word}"])


def many_blocks(rng, text):
    """Thousands of instances (or scripts, sync group members) cross-referencing each other: checks
    that compare or look up pairs would be quadratic."""
    count = rng.choice((2000, 8000))
    blocks = "".join(
        f"vrrp_script s{i} {{\n    script /bin/true\n}}\n"
        f"vrrp_instance VI_{i} {{\n    interface eth{i // 255}\n"
        f"    virtual_router_id {i % 255 + 1}\n    priority 100\n    virtual_ipaddress {{\n"
        f"        10.{i // 65536}.{i // 254 % 256}.{i % 254 + 1}/8\n    }}\n"
        f"    track_script {{\n        s{i}\n    }}\n}}\n"
        for i in range(count)
    )
    members = "".join(f"        VI_{i}\n" for i in range(count))
    return text + "\n" + blocks + "vrrp_sync_group G_many {\n    group {\n" + members + "    }\n}\n"


MUTATIONS = [insert_structure, prefix_line, to_definition, continue_line, huge_number, odd_character,
             line_ends, swap_lines, duplicate, delete, truncate, byte_noise,
             insert_structure, huge_number, odd_character]  # fmt: skip
# adversarial: each costs up to the step budget (~1 s), so 1 mutant in 50
COSTLY = [deep_nesting, bomb, wildcard_walk, huge_word, many_blocks]


class OracleError(AssertionError):
    pass


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def check(mutant: Mutant, root: Path) -> float:
    """Run the oracles on one mutant in the prepared tree ``root``; returns the CPU seconds used. A text
    is read, and its findings' files are looked at, with ``root`` as the working directory (an include
    through /proc/self/cwd names a file there)."""
    if mutant.via == "file":
        return _check(mutant, root)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return _check(mutant, root)
    finally:
        os.chdir(cwd)


def _check(mutant: Mutant, root: Path) -> float:
    from tandem.config import load_config, load_config_text
    from tandem.config.dump import dump_config

    main = root / "keepalived.conf"
    started = time.process_time()
    try:
        if mutant.via == "file":
            main.write_bytes(mutant.text.encode("utf-8", "surrogatepass"))
            result = load_config(main, config_id="node1")
        else:
            result = load_config_text(mutant.text, "<fuzz>", config_id="node1")
    except Exception as error:
        raise OracleError(f"escaped: {error!r}") from error
    spent = time.process_time() - started
    if spent > CPU_BOUND:
        raise OracleError(f"took {spent:.2f} s of CPU (bound {CPU_BOUND} s)")
    for finding in result.findings:
        if finding.severity not in ("error", "warning") or not finding.message or "\n" in finding.message:
            raise OracleError(f"malformed finding {finding!r}")
        if finding.file == "<fuzz>":
            lines = mutant.text.count("\n") + 1
        else:
            try:
                lines = max(1, _line_count(Path(finding.file).read_bytes()))
            except (OSError, ValueError) as error:
                raise OracleError(f"finding names a file that cannot be read: {finding}") from error
        if not 1 <= finding.line <= lines:
            raise OracleError(f"finding outside its file ({lines} lines): {finding}")
    if (result.config is None) != any(f.severity == "error" for f in result.findings):
        raise OracleError("config is None but no error (or the reverse)")
    if result.config is not None:
        try:
            dumped = dump_config(result.config)
            again = load_config_text(dumped, "<dump>")
        except Exception as error:
            raise OracleError(f"dump escaped: {error!r}") from error
        if again.config is None or dump_config(again.config) != dumped:
            raise OracleError(f"dump does not reload to itself: {[str(f) for f in again.errors][:3]}")
    return spent


def prepare(root: Path) -> None:
    for name, text in TREE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    unreadable = root / "unreadable.conf"
    unreadable.write_text("x\n")
    unreadable.chmod(0)  # root reads it anyway; other users get EACCES


def corpus() -> list[Mutant]:
    if not CORPUS.exists():
        return []
    items = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    return [Mutant(item["text"], item["via"], [item["why"]]) for item in items]


def corpus_line(mutant: Mutant, why: str) -> str:
    return json.dumps({"why": why, "via": mutant.via, "text": mutant.text})


def run(count: int, seed: int, report_every: int = 0) -> dict[str, float]:
    """Fuzz ``count`` mutants; raises OracleError (with a corpus line) on the first broken oracle."""
    rng = random.Random(seed)
    texts = seeds()
    slowest = 0.0
    total = 0.0
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB
    with tempfile.TemporaryDirectory(prefix="tandem-fuzz-") as tmp:
        root = Path(tmp)
        prepare(root)
        for index in range(count):
            mutant = mutate(rng, rng.choice(texts))
            try:
                spent = check(mutant, root)
                grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024
                if grown > MEMORY_BOUND:
                    raise OracleError(f"peak memory grew {grown >> 20} MB (bound {MEMORY_BOUND >> 20} MB)")
            except OracleError as error:
                line = corpus_line(mutant, str(error)[:80])
                where = f"mutant {index} of seed {seed}, ops {mutant.ops}"
                raise OracleError(f"{error}\n{where}\ncorpus line: {line}") from error
            slowest = max(slowest, spent)
            total += spent
            if report_every and (index + 1) % report_every == 0:
                mean = total / (index + 1) * 1000
                print(f"{index + 1} mutants, mean {mean:.2f} ms, slowest {slowest:.3f} s", flush=True)
    return {"mutants": count, "mean_cpu_s": total / max(count, 1), "slowest_cpu_s": slowest}


def replay_corpus() -> int:
    with tempfile.TemporaryDirectory(prefix="tandem-fuzz-") as tmp:
        root = Path(tmp)
        prepare(root)
        items = corpus()
        for mutant in items:
            check(mutant, root)
    return len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long", action="store_true", help="100,000 mutants")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    replayed = replay_corpus()
    count = 100_000 if args.long else args.count
    print(f"seed {args.seed}: {count} mutants; corpus: {replayed} inputs replayed", flush=True)
    stats = run(count, args.seed, report_every=max(count // 20, 1))
    print(f"no escape; mean CPU {stats['mean_cpu_s'] * 1000:.2f} ms, slowest {stats['slowest_cpu_s']:.3f} s "
          f"(bound {CPU_BOUND} s)")  # fmt: skip


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
