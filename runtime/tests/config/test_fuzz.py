"""Fuzzing: mutated configs never raise; every finding has a line. A few run through real tandemd -t."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from config_helpers import SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tandem.config import load_config_text
from tandem.config.dump import dump_config
from test_blocks import FULL_VRRP, LVS

SEEDS = [FULL_VRRP, LVS, *(p.read_text() for p in sorted(SAMPLES.glob("keepalived.conf.*")))]
PIECES = [
    "{",
    "}",
    "{ }",
    '"',
    "'",
    "\\",
    "!",
    "#",
    "$X",
    "${X}",
    "$X=1",
    "$M= \\",
    "@node1 ",
    "@^x ",
    "~SEQ(I, 1, 3) ",
    "~SEQx(I, 0, 2) ",
    "~LST({A,B},{1,2}) ",
    "include *.conf",
    "include nope.conf",
    "vrrp_instance",
    "virtual_server",
    "real_server",
    "HTTP_GET",
    "url",
    "global_defs",
    "priority",
    "advert_int",
    "virtual_ipaddress",
    "weight",
    "-1",
    "0",
    "256",
    "1e9",
    "nan",
    "0x10",
    "::",
    "/33",
    "198.51.100.1",
    "2001:db8::1",
    "eth0",
    "\n",
    "\t",
    " ",
    "\x00",
    "é",
    "\u2028",
    "\r",
]
TANDEMD = str(Path(sys.executable).with_name("tandemd"))
FINDING_LINE = re.compile(r"^.+:\d+: (error|warning): .+$|^.+: configuration (is valid|has \d+ errors?)$")


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate", "truncate"]))
        if action == "insert":
            piece = draw(st.sampled_from(PIECES) | st.text(max_size=8))
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif action == "duplicate":
            text = text[:at] + text[at : at + draw(st.integers(1, 200))] + text[at:]
        else:
            text = text[:at]
    return text


def check_result(text: str) -> None:
    result = load_config_text(text, "<fuzz>", config_id="node1")
    for finding in result.findings:
        assert finding.severity in ("error", "warning")
        assert finding.message and "\n" not in finding.message.strip("'")
        assert finding.line >= 1 or finding.file != "<fuzz>"
    assert (result.config is None) == any(f.severity == "error" for f in result.findings)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_configs_never_raise(text):
    with tempfile.TemporaryDirectory() as tmp:  # "include *.conf" stays among harmless files
        Path(tmp, "a.conf").write_text("vrrp_script s {\n    script /bin/true\n}\n")
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            check_result(text)
        finally:
            os.chdir(cwd)


@settings(max_examples=5, deadline=None)
@given(mutated())
def test_mutated_configs_through_the_real_tandemd(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "keepalived.conf")
        path.write_text(text, errors="surrogateescape")
        done = subprocess.run(
            [TANDEMD, "-t", "-f", str(path)], capture_output=True, text=True, timeout=60, cwd=tmp
        )
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines and all(FINDING_LINE.match(line) for line in lines if line.startswith(str(path))), lines


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_valid_mutants_dump_and_reload_to_the_same_dump(text):
    result = load_config_text(text, "<fuzz>", config_id="node1")
    if result.config is None:
        return
    for show_defaults in (False, True):
        dumped = dump_config(result.config, show_defaults)
        again = load_config_text(dumped, "<dump>")
        assert again.config is not None, [str(f) for f in again.errors]
        assert dump_config(again.config, show_defaults) == dumped
