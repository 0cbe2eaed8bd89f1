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
    assert messages(result) == ["1: error: ~SEQ(...) repeats 100000 times; over the limit of 500000 steps"]
    assert result.config is None


def test_a_flood_of_mistakes_is_cut_at_1000_findings():
    result = load_config_text("x\n" * 5000)
    assert len(result.findings) == 1001
    assert messages(result)[-1] == "1001: error: more than 1000 findings; the rest are not shown"


def test_a_very_long_line_is_one_clear_error():
    result = load_config_text("x" * 5_000_000 + "\n")
    (finding,) = result.findings
    assert finding.message == f"unknown keyword '{'x' * 60!r}...' in the top level"


# The classes an independent run of 24,000 mutated configs found escaping or running long (issue 16);
# each has a once-failing input in corpus/regressions.txt, replayed by test_fuzz.py too.


@pytest.mark.parametrize("end", ["\r\r", "\r", "\f", "\v", "\x85", "\u2028", "\u2029", "\x1c"])
def test_only_newline_starts_a_line(end):
    text = f"global_defs {{\n    bogus_a 1{end}x\n}}\nbogus_b 2{end}\n"
    found = messages(load_config_text(text), "error")
    assert [line.split(":")[0] for line in found] == ["2", "4"], found


def test_unicode_white_space_is_part_of_a_word_as_in_keepalived():
    result = load_config_text("global_defs {\n    router_id a\u2028b\u00a0c\n}\n" + MINIMAL_INSTANCE)
    assert result.config.global_defs.router_id == "a\u2028b\u00a0c"


@pytest.mark.parametrize(
    "line",
    ["router_id \\ß", 'router_id "\\ß\\x110000\\c\u00df\\777"', "router_id \\", 'router_id "\\'],
)
def test_backslashes_before_anything_never_escape(line):
    result = load_config_text(f"global_defs {{\n    {line}\n}}\n" + MINIMAL_INSTANCE)
    assert all(f.line in (1, 2, 3) for f in result.findings)


@pytest.mark.parametrize(
    "seq",
    ["~SEQ(i, 99999999999999999999999) x $i", "~SEQ(i, -99999999999999999999, 1, 99999999999999999999) x",
     "~SEQx(i, 0, 0x7fffffffffffffffffff) x", "~SEQ(i, 1, 1, 9223372036854775807) x"],
)  # fmt: skip
def test_huge_seq_numbers_are_clamped_and_bounded(seq):
    result = load_config_text(f"\n{seq}\n")
    (found,) = messages(result)
    assert found.startswith(f"2: error: ~{seq[1:5].rstrip('(')}(...) repeats ")
    assert found.endswith("times; over the limit of 500000 steps")


def test_nested_seq_and_expansion_are_bounded_by_one_budget_naming_the_line():
    nested = "~SEQ(a, 1, 700) ~SEQ(b, 1, 700) ~SEQ(c, 1, 700) x\n"
    result = load_config_text("! first\n" + nested)
    (finding,) = result.errors
    assert finding.line == 2 and "500000 steps" in finding.message
    fan = "$A=a \\\n" + "a \\\n" * 200 + "a\n" + "$B=$A\n" * 0 + "~SEQ(i, 1, 5000) $A\n"
    result = load_config_text(fan)
    assert result.errors and result.errors[0].line == 203 and "500000 steps" in result.errors[0].message


def test_seq_numbers_may_be_parameters():
    result = load_config_text(
        "$LAST=3\n$STEP=2\nvrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n"
        "    virtual_ipaddress {\n        ~SEQ(n, 1, $STEP, ${LAST}) 198.51.100.$n\n    }\n}\n"
    )
    assert [str(v.address.ip) for v in result.config.vrrp_instances[0].virtual_ipaddresses] == [
        "198.51.100.1",
        "198.51.100.3",
    ]


def test_seq_defaults_and_bases_are_keepalived_s():
    def values(spec):
        result = load_config_text(f"~SEQ({spec}) bogus_$v\n")
        return [f.message.split("'")[1].removeprefix("bogus_") for f in result.errors]

    assert values("v, 0") == ["1", "0"]
    assert values("v, -2") == ["-1", "-2"]
    assert values("v, 3, 1") == ["3", "2", "1"]
    assert values("v, 010, 0x9") == ["8", "9"]
    assert values("v, , 2") == ["0", "1", "2"]


def test_a_comment_line_ending_in_a_backslash_continues_a_definition():
    result = load_config_text(
        "$VIPS=198.51.100.1 \\\n#    198.51.100.9 \\\n    198.51.100.2 ! note \\\n    198.51.100.3\n"
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n"
        "    virtual_ipaddress {\n        $VIPS\n    }\n}\n"
    )
    assert [str(v.address.ip) for v in result.config.vrrp_instances[0].virtual_ipaddresses] == [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
    ]


def test_an_empty_or_comment_line_ends_a_definition_as_in_keepalived():
    for gap in ("", "   ", "# comment"):
        result = load_config_text(f"$VIPS=198.51.100.1 \\\n{gap}\n198.51.100.2\n")
        assert messages(result, "error") == ["3: error: unknown keyword '198.51.100.2' in the top level"]


def test_a_backslash_continues_only_definitions():
    result = load_config_text("global_defs {\n    \\\n    router_id a \\\n}\n")
    (error,) = messages(result, "error")
    assert error.startswith("2: error: unknown keyword ") and error.endswith(" in global_defs")
    assert result.config is None


@pytest.mark.parametrize(
    "target",
    ["a\0b.conf", "\udcff.conf", "\ud800*.conf", "/proc/self/fd/*", "/proc/self/task/*/fd/*",
     "/proc/self/root/proc/self/cwd/../*.nothing", "/proc/1/map_files/*", "/dev/null"],
)  # fmt: skip
def test_include_of_odd_paths_is_a_finding_never_an_escape(target):
    result = load_config_text(f"include {target}\n")
    # what an included path blames is its own file (an fd under /proc/self/fd may be any readable file
    # of the test run), the include line itself is line 1
    assert all(f.message and f.line >= 1 for f in result.findings)
    assert all(f.line == 1 for f in result.findings if f.file == "<string>")
