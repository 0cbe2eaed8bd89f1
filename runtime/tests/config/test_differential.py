"""Differential harness: every config of the corpus through ``keepalived -t`` (Debian's 2.2.7, in a lab
namespace with the interfaces the config names) and through tandemd; accept/reject must agree, except
the deliberate differences listed in differential.DEVIATIONS (each with its reason). See differential.py
for how keepalived's messages are sorted into warnings and errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import differential
import pytest
from tandemlab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.interop]
TANDEMD = str(Path(sys.executable).with_name("tandemd"))


@pytest.fixture(scope="module")
def keepalived():
    if os.geteuid() != 0:
        pytest.skip("the differential harness needs root (keepalived -t runs in a lab namespace)")
    if shutil.which("keepalived") is None:
        pytest.skip("keepalived is not installed (scripts/setup.sh installs Debian's 2.2.7)")
    with Lab(hosts=1) as lab:
        yield differential.KeepalivedHost(lab.hosts[0])


def test_the_corpus_is_big_and_keepalived_is_2_2_7(keepalived):
    assert len(differential.corpus()) >= 90
    version = subprocess.run(["keepalived", "--version"], capture_output=True, text=True)
    assert "Keepalived v2.2.7" in version.stderr + version.stdout


def test_keepalived_and_tandemd_agree_on_every_config(keepalived):
    rows = differential.compare(keepalived)
    disagreements = [
        f"{name}: keepalived {'accepts' if ka.accepts else 'rejects'} {ka.messages[:2]}, "
        f"tandemd {'accepts' if td.accepts else 'rejects'} {td.messages[:2]}"
        for name, ka, td in rows
        if ka.accepts != td.accepts and name not in differential.DEVIATIONS
    ]
    assert not disagreements, "\n".join(disagreements)
    silent = [name for name, _ka, td in rows if name in differential.DEVIATIONS and not td.messages]
    assert not silent, f"a deliberate difference must be said by tandemd: {silent}"
    assert set(differential.DEVIATIONS) <= {name for name, _ka, _td in rows}
    misnamed = [
        name
        for name, ka, _td in rows
        if name.startswith(("ok-", "err-")) and ka.accepts != (name[:3] == "ok-")
    ]
    assert not misnamed, f"ok-/err- names must say what keepalived does: {misnamed}"
    accepted = sum(ka.accepts for _name, ka, _td in rows)
    assert 0 < accepted < len(rows)  # both kinds are in the corpus
    print(f"{len(rows)} configs, {accepted} accepted by both, 0 unexplained disagreements")


def test_tandemd_t_itself_gives_the_verdict(tmp_path):
    for name, status in (("ok-haproxy-pair.conf", 0), ("err-lb-kind-lower.conf", 1)):
        done = subprocess.run(
            [TANDEMD, "-t", "-f", str(differential.CORPUS / name)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == status, done.stderr


def test_keepalived_messages_are_sorted_into_warnings_and_errors():
    verdict = differential.keepalived_verdict(
        "(Line 3) Virtual server [198.51.100.50]:tcp:80: no scheduler set, setting default 'wlc'\n"
        '(/etc/k.conf: Line 4) "gw" for routes is deprecated. Please use "via"\n'
    )
    assert verdict.accepts
    verdict = differential.keepalived_verdict(
        "(Line 2) Unknown keyword 'bogus'\n(Line 2) Unknown keyword 'bogus'\n"
    )
    assert not verdict.accepts and verdict.messages == ["Unknown keyword 'bogus'"]


def test_interfaces_named_by_a_config_are_found():
    text = "vrrp_instance V {\n interface bond0\n track_interface {\n  eth3 weight 2\n }\n}\n"
    text += "virtual_ipaddress {\n 198.51.100.1 dev eth0.1 label eth0.1:vip\n}\n"
    assert differential.interfaces(text) == {"bond0", "eth3", "eth0.1"}


def _meaning_disagreements(rows: dict[str, list[str] | None]) -> list[str]:
    return [
        f"{name}: {found if found is not None else 'keepalived gave no dump'}"
        for name, found in sorted(rows.items())
        if found != [] and name not in differential.MEANING_DEVIATIONS
    ]


@pytest.mark.slow
def test_keepalived_and_tandemd_mean_the_same_for_the_whole_corpus(keepalived):
    """keepalived's dump of each config it runs (keepalived_dumps.py) against what tandemd runs
    (vrrp_meaning.py): every instance, key by key; every difference explained in MEANING_DEVIATIONS."""
    rows = differential.meaning(differential.corpus())
    assert len(rows) >= 90
    assert not _meaning_disagreements(rows), "\n".join(_meaning_disagreements(rows))
    stale = [name for name in differential.MEANING_DEVIATIONS if name in rows and rows[name] == []]
    assert not stale, f"MEANING_DEVIATIONS lists configs that agree now: {stale}"
    agree = sum(found == [] for found in rows.values())
    print(f"meaning: {len(rows)} configs, {agree} agree, {len(rows) - agree} explained, 0 unexplained")


def test_keepalived_and_tandemd_mean_the_same_for_a_spread_of_the_corpus(keepalived):
    names = set(differential.MEANING_FAST)
    paths = [path for path in differential.corpus() if path.name in names]
    assert len(paths) == len(names)
    rows = differential.meaning(paths)
    assert set(rows) == names
    assert not _meaning_disagreements(rows), "\n".join(_meaning_disagreements(rows))
    assert rows["ok-p255-backup.conf"] == ["VI_1.starts_as: keepalived 'BACKUP', tandemd 'MASTER'"]


def test_mutants_of_the_corpus_agree(keepalived):
    """A short seeded run of mutants.py: corpus configs changed one statement at a time (dropped,
    repeated, a near-miss value, a misspelt or moved keyword); keepalived and tandemd agree on each,
    or the disagreement is one mutants.EXPLAINED lists (with its reason)."""
    import mutants

    outcomes = mutants.run(keepalived, list(mutants.mutants(mutants.SHORT, seed=17)))
    assert len(outcomes) == mutants.SHORT
    assert any(o.keepalived.accepts for o in outcomes) and any(not o.keepalived.accepts for o in outcomes)
    found = mutants.classes(outcomes)
    assert not found, "\n".join(str(o) for members in found.values() for o in members)
    for outcome in outcomes:
        if not outcome.agree and not outcome.explanation:
            print(f"known gap: {outcome.known}\n{outcome}")
