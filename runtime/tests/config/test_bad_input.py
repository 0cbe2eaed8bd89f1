"""Hostile input ends quickly with a positioned error, never a traceback (bounds: see tandem.config.lexer)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from config_helpers import MINIMAL_INSTANCE, messages
from tandem.config import load_config_text
from tandem.config.lexer import MAX_BYTES

TANDEMD = str(Path(sys.executable).with_name("tandemd"))


def tandemd_t(path: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([TANDEMD, "-t", "-f", str(path)], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr
    return done


def test_binary_garbage_is_refused_at_the_line_of_the_first_nul(tmp_path):
    path = tmp_path / "garbage.conf"
    path.write_bytes(b"global_defs {\n}\n" + os.urandom(4096) + b"\0")
    done = tandemd_t(path)
    assert done.returncode == 1
    assert f"{path}:" in done.stderr and "error: binary data (NUL byte): not a config file" in done.stderr


def test_invalid_utf8_names_its_line(files):
    path = files.write("keepalived.conf", "")
    path.write_bytes(b"! ok\nglobal_defs {\n  router_id \xff\xfe\n}\n")
    done = tandemd_t(path)
    assert done.returncode == 1
    assert f"{path}:3: error: invalid UTF-8 (byte 0xff)" in done.stderr


def test_100_mb_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.conf"
    block = MINIMAL_INSTANCE.encode() * 1000
    with path.open("wb") as handle:
        while handle.tell() < 100 * 1024 * 1024:
            handle.write(block)
    done = tandemd_t(path)
    assert done.returncode == 1
    size = path.stat().st_size
    assert (
        f"{path}:1: error: {path} is {size} bytes; configs over {MAX_BYTES >> 20} MiB are refused"
        in done.stderr
    )


def test_includes_adding_up_past_the_limit_are_refused_at_the_include(files):
    big = files.write("big.conf", "")
    with big.open("w") as handle:
        handle.truncate(MAX_BYTES // 2 + 1)  # sparse: size counts, content is never read
    result = files.load("include big.conf\ninclude big.conf\n")
    assert messages(result)[-1].startswith("2: error:") and "MiB are refused" in messages(result)[-1]


def test_include_loop_through_the_cli(files):
    files.write("a.conf", "include b.conf\n")
    files.write("b.conf", "\ninclude a.conf\n")
    done = tandemd_t(files.write("keepalived.conf", "include a.conf\n" + MINIMAL_INSTANCE))
    assert done.returncode == 1
    assert f"{files.root}/b.conf:2: error: include loop: {files.root}/a.conf -> {files.root}/b.conf -> " in (
        done.stderr
    )


def test_self_include_glob(files):
    result = files.load("include *.conf\n" + MINIMAL_INSTANCE)
    assert "1: error: include loop" in messages(result)[0]


@pytest.mark.parametrize("layout", ["one line", "one per line"])
def test_10000_deep_nesting_is_cut_at_32_levels(files, layout):
    separator = " " if layout == "one line" else "\n"
    text = separator.join(["vrrp_instance deep {"] + ["x {"] * 10_000 + ["}"] * 10_001) + "\n"
    path = files.write("keepalived.conf", text)
    done = tandemd_t(path)
    assert done.returncode == 1
    line = 1 if layout == "one line" else 33
    assert f"{path}:{line}: error: blocks nested deeper than 32 levels" in done.stderr
    assert done.stderr.count("nested deeper") == 1


def test_unbalanced_braces_are_reported_where_they_are():
    result = load_config_text("vrrp_instance A {\n    interface eth0\n}\n}\n{\nvrrp_script s {\n")
    found = messages(result, "error")
    assert "4: error: '}' without a matching '{'" in found
    assert "5: error: '{' without a keyword before it" in found
    assert "5: error: '{' is never closed" in found


def test_parameter_bombs_are_bounded():
    doubling = "$A0=xxxxxxxxxx\n" + "".join(f"$A{i + 1}=${{A{i}}}${{A{i}}}\n" for i in range(40))
    result = load_config_text(doubling + "router_id ${A40}\n")
    assert messages(result) == ["42: error: parameter expansion makes a line over 1048576 characters"]


def test_sequence_bomb_is_bounded():
    result = load_config_text("~SEQ(A, 1, 100000) ~SEQ(B, 1, 100000) ~SEQ(C, 1, 100000) x\n")
    assert messages(result) == ["1: error: config expands to more than 1000000 lines"]


def test_a_flood_of_mistakes_is_cut_at_1000_findings():
    result = load_config_text("x\n" * 5000)
    assert len(result.findings) == 1001
    assert messages(result)[-1] == "1001: error: more than 1000 findings; the rest are not shown"


def test_a_very_long_line_is_one_clear_error():
    result = load_config_text("x" * 5_000_000 + "\n")
    (finding,) = result.findings
    assert finding.message == f"unknown keyword '{'x' * 60!r}...' in the top level"
