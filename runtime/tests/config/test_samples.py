"""The samples shipped with keepalived parse; where keepalived's own -t flags a mistake, so do we."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from config_helpers import SAMPLES
from tandem.config import load_config

SAMPLE_FILES = sorted(SAMPLES.glob("keepalived.conf.*"))
# Samples with real mistakes (keepalived -t reports them too): instances listed outside group { },
# and a rule address "192.168.100./24".
INVALID_SAMPLES = {"keepalived.conf.vrrp.lvs_syncd", "keepalived.conf.vrrp.rules"}
# keepalived messages that point at a real mistake (not at this host's missing interfaces).
MISTAKE = re.compile(r"Unknown keyword|[Ii]nvalid|deprecated|protocol will be ignored")
KEEPALIVED_LINE = re.compile(r"\((?P<file>[^:]+): Line (?P<line>\d+)\) (?P<message>.*)")


@pytest.fixture(scope="module")
def keepalived_reports() -> dict[str, list[tuple[int, str]]]:
    """What ``keepalived -t`` says about each sample: (line, message) of the mistakes it reports."""
    if shutil.which("keepalived") is None:
        pytest.skip("keepalived is not installed")
    reports = {}
    for sample in SAMPLE_FILES:
        done = subprocess.run(
            ["keepalived", "-t", "-l", "-D", "-i", "high", "-f", str(sample)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        output = done.stdout + done.stderr
        reports[sample.name] = [
            (int(m["line"]), m["message"])
            for m in KEEPALIVED_LINE.finditer(output)
            if MISTAKE.search(m["message"])
        ]
    return reports


def test_samples_are_there():
    assert len(SAMPLE_FILES) >= 20


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_sample_parses(sample):
    result = load_config(sample, config_id="high")
    assert all(f.file == str(sample) and f.line >= 1 for f in result.findings)
    if sample.name in INVALID_SAMPLES:
        assert result.config is None
    else:
        assert result.config is not None, [str(f) for f in result.errors]
        assert result.config.vrrp_instances or result.config.virtual_servers


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.name)
def test_we_flag_every_mistake_keepalived_flags(sample, keepalived_reports):
    ours = {f.line for f in load_config(sample, config_id="high").findings}
    missed = [(line, message) for line, message in keepalived_reports[sample.name] if line not in ours]
    assert missed == []


def test_keepalived_really_flags_mistakes_in_the_invalid_samples(keepalived_reports):
    for name in INVALID_SAMPLES:
        assert keepalived_reports[name], name
    assert (4, "Unknown keyword 'VI_2'") in keepalived_reports["keepalived.conf.vrrp.lvs_syncd"]


def test_ssl_sample_ah_with_master_is_flagged_like_keepalived():
    result = load_config(SAMPLES / "keepalived.conf.SSL_GET")
    vrrp_findings = [f.message for f in result.findings if not f.message.startswith("virtual_server ")]
    assert vrrp_findings == [
        "vrrp_instance VI_1: auth_type AH (IPsec AH) is not supported: adverts are sent and accepted "
        "without authentication, and a peer that uses AH is not heard (use PASS, or none)",
        "vrrp_instance VI_1: initial state MASTER is incompatible with AH authentication",
    ]
