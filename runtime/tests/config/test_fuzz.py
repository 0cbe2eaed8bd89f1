"""Fuzzing, short form (long form: ``python runtime/tests/config/config_fuzz.py --long``, 100,000 mutants).

Oracles (fuzz.check): no exception escapes, every finding names a real file:line inside the file, a
config exactly when no error, CPU per input under fuzz.CPU_BOUND, valid configs dump and reload to the
same dump. corpus/regressions.jsonl replays every input that once broke one of them.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import config_fuzz as fuzz
import pytest
from tandem.config.lexer import MAX_BYTES, MAX_STEPS

TANDEMD = str(Path(sys.executable).with_name("tandemd"))
FINDING_LINE = re.compile(r"^.+:\d+: (error|warning): .+$|^.+: configuration (is valid|has \d+ errors?)$")


@pytest.fixture(scope="module")
def root():
    with tempfile.TemporaryDirectory(prefix="tandem-fuzz-") as tmp:
        fuzz.prepare(Path(tmp))
        yield Path(tmp)


def test_every_once_failing_input_keeps_every_oracle(root):
    items = fuzz.corpus()
    assert len(items) >= 15
    for mutant in items:
        fuzz.check(mutant, root)


def test_structure_aware_mutants_keep_every_oracle():
    stats = fuzz.run(200, seed=20261203)
    assert stats["slowest_cpu_s"] < fuzz.CPU_BOUND


def test_every_mutation_changes_the_text_it_is_given():
    rng = random.Random(1)
    seed = fuzz.seeds()[0]
    for op in (*fuzz.MUTATIONS, *fuzz.COSTLY):
        assert any(op(rng, seed) != seed for _ in range(5)), op.__name__


ADVERSARIAL = {
    "nested ~SEQ": "~SEQ(a, 1, 900) ~SEQ(b, 1, 900) ~SEQ(c, 1, 900) router_id $a$b$c\n",
    "~SEQ to LONG_MAX": "~SEQ(i, 1, 1, 9223372036854775807) x\n",
    "doubling parameters": "$A0=x\n" + "".join(f"$A{i + 1}=$A{i} $A{i}\n" for i in range(40)) + "x $A40\n",
    "multi-line fan-out": "$M= \\\n" + "x \\\n" * 20000 + "x\n~SEQ(i, 1, 100000) $M\n",
    "parameter of itself": "$R=$R$R\n" * 50 + "router_id $R\n",
    "deep braces": "a {\n" * 100000,
    "many lines": "x\n" * 400000,
    "long line": "router_id " + "x" * 20_000_000 + "\n",
    "did-you-mean on long words": ("vrrp_instanc" + "e" * 5000 + " {\n") * 500,
    "wildcard over the file system": "include /*/*/*/*/*/*/*/*/*\n",
    "_RANDOM of 100,000 digits": "router_id ${_RANDOM " + "9" * 100_000 + "}\n",
}


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_inputs_end_within_the_cpu_bound(root, name):
    started = time.process_time()
    fuzz.check(fuzz.Mutant(ADVERSARIAL[name], "file", [name]), root)
    assert time.process_time() - started < fuzz.CPU_BOUND


def test_the_step_budget_is_the_one_the_docs_state():
    assert MAX_STEPS == 500_000


def test_mutants_through_the_real_tandemd(tmp_path):
    rng = random.Random(7)
    texts = fuzz.seeds()
    for _ in range(4):
        mutant = fuzz.mutate(rng, rng.choice(texts))
        path = tmp_path / "keepalived.conf"
        path.write_bytes(mutant.text.encode("utf-8", "surrogatepass"))
        done = subprocess.run(
            [TANDEMD, "-t", "-f", str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert done.returncode in (0, 1), done.stderr
        assert "Traceback" not in done.stderr
        lines = done.stderr.splitlines()
        assert lines and all(FINDING_LINE.match(line) for line in lines if line.startswith(str(path)))


# Memory: a load peaks at most MEMORY_BOUND above the interpreter it runs in, whatever the input within
# the lexer's caps (MAX_BYTES, MAX_STEPS, MAX_WORDS). Each input below once peaked far above it or would:
MEMORY_BOUND = 256 << 20
MEMORY_ADVERSARIAL = {  # name: bytes of the main config
    "a 12 MB quoted word (was 1.7 GB)": b'global_defs {\n router_id "' + b"x y " * (3 << 20) + b'"\n}\n',
    "32 MiB of empty lines (was 290 MB)": b"\n" * (MAX_BYTES - 64),
    "a 15 MB line of two-letter words (was 450 MB)": b"global_defs {\nrouter_id "
    + b"ab " * (5 << 20)
    + b"\n}\n",
    "lines of words up to MAX_WORDS": b"global_defs {\n"
    + (b"router_id" + b" ab" * 40 + b"\n") * 60_000
    + b"}\n",
    "a 30 MB word": b"router_id " + b"x" * (30 << 20) + b"\n",
    "a 12 MB unknown keyword (did you mean: was 520 MB)": b"vrrp_instance V {\n "
    + b"x" * (12 << 20)
    + b"\n}\n",
}
PEAK = """
import resource, sys
from tandem.config import load_config
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = load_config(sys.argv[1])
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(result.findings))
"""


@pytest.mark.parametrize("name", MEMORY_ADVERSARIAL)
def test_adversarial_inputs_stay_within_the_memory_bound(tmp_path, name):
    path = tmp_path / "keepalived.conf"
    path.write_bytes(MEMORY_ADVERSARIAL[name])
    process = subprocess.Popen([sys.executable, "-c", PEAK, str(path)], stdout=subprocess.PIPE, text=True)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, name
    before, peak, _ = map(int, out.split())  # kB
    assert (peak - before) * 1024 < MEMORY_BOUND, f"{name}: {(peak - before) >> 10} MB"


def test_name_lookups_cost_one_index_per_config_not_a_scan_per_reference(monkeypatch):
    """Work counter for super-linear checks: every track_script and sync group member was looked up by
    a scan of all scripts / instances (16,000 instances tracking a script each: 5.2 s of CPU); now each
    kind is indexed once per config, however many references there are."""
    from tandem.config import load_config_text, model

    built = []

    class Counting(dict):
        def __setitem__(self, key, value):
            built.append(key)
            super().__setitem__(key, value)

    monkeypatch.setattr(model, "_INDEXES", Counting())
    count = 3000
    text = "".join(
        f"vrrp_script s{i} {{\n    script /bin/true\n}}\n"
        f"vrrp_instance VI_{i} {{\n    interface eth{i // 255}\n    virtual_router_id {i % 255 + 1}\n"
        f"    priority 100\n    virtual_ipaddress {{\n        10.0.{i // 254}.{i % 254 + 1}/8\n    }}\n"
        f"    track_script {{\n        s{i}\n    }}\n}}\n"
        for i in range(count)
    )
    text += (
        "vrrp_sync_group G {\n    group {\n"
        + "".join(f"        VI_{i}\n" for i in range(count))
        + "    }\n}\n"
    )
    result = load_config_text(text, "<many>")
    assert result.config is not None, [str(f) for f in result.errors][:3]
    assert len(result.config.vrrp_instances) == count
    assert 1 <= len(built) <= 4  # scripts and instances of the config (and of its dump, if any)


@pytest.mark.parametrize("expansions", [0, 30])
def test_include_chains_end_in_a_finding_not_a_recursion_error(tmp_path, expansions):
    """A chain of 400 includes escaped as RecursionError; now MAX_INCLUDE_DEPTH (64) files are open at
    most, and includes reached through 30-deep parameter expansions at every level are an error at the
    line last read."""
    from tandem.config.lexer import MAX_INCLUDE_DEPTH

    for i in range(400):
        use = f"include c{i + 1}.conf"
        if expansions:
            definitions = f"$B{i}_0={use}\n" + "".join(
                f"$B{i}_{k + 1}=$B{i}_{k}\n" for k in range(expansions)
            )
            use = definitions + f"$B{i}_{expansions}"
        (tmp_path / f"c{i}.conf").write_text(use + "\n")
    (tmp_path / "c400.conf").write_text("! end\n")
    mutant = fuzz.Mutant("include c0.conf\n", "file", ["include chain"])
    fuzz.check(mutant, tmp_path)  # no escape, findings at real lines, within the CPU bound
    from tandem.config import load_config

    result = load_config(tmp_path / "keepalived.conf")
    (error,) = result.errors
    deepest = "nested too deeply" if expansions else f"includes nested deeper than {MAX_INCLUDE_DEPTH} files"
    assert deepest in error.message
