"""Preprocessing and tokenizing: comments, quotes, includes, conditionals, parameters, ~SEQ/~LST."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from config_helpers import MINIMAL_INSTANCE, ConfigFiles, messages
from tandem.config import load_config
from tandem.config.lexer import decomment, tokenize

TANDEMD = str(Path(sys.executable).with_name("tandemd"))


def test_comments_anywhere_and_quotes_protect_them(files):
    result = files.load(
        """
    ! full line comment
    # another
    global_defs {   # trailing
        router_id "a!b#c"  ! the quoted ! and # stay
        notification_email_from ops@example.com#not-part
    }
    """
        + MINIMAL_INSTANCE
    )
    assert result.config.global_defs.router_id == "a!b#c"
    assert result.config.global_defs.notification_email_from == "ops@example.com"


def test_words_split_as_keepalived_reads_them(files):
    result = files.load(
        """
    vrrp_script chk {
        script "/usr/bin/check --name 'two words'"
        user nobody
    }
    global_defs {
        router_id "a b"
        smtp_helo_name "tab\\there\\x41\\101"
        notification_email_from it's\u00a0me\u2028here
    }
    """
        + MINIMAL_INSTANCE
    )
    script = result.config.vrrp_scripts[0].script
    assert script.argv == ("/usr/bin/check", "--name", "two words")
    assert script.user == "nobody"
    defs = result.config.global_defs
    assert defs.router_id == "a b"
    assert defs.smtp_helo_name == "tab\\there\\x41\\101"  # no escapes: keepalived has none
    assert defs.notification_email_from == "it's\u00a0me\u2028here"  # white space is ASCII only
    # a quote ends the word before it; single quotes are ordinary characters
    assert tokenize("router_id abc\" d e \"f 'x y'") == ("router_id", "abc", " d e ", "f", "'x", "y'")
    assert tokenize('a"{"b{c}') == ("a", "{", "b", "{", "c", "}")
    assert tokenize('script "say \\"hi\\" \\\\ \\x"') == ("script", 'say "hi" \\ \\x')


def test_decomment_as_keepalived():
    assert decomment("  a b  # c") == ("a b", False)
    assert decomment('a "#x" ! y') == ('a "#x"', False)
    assert decomment("a \\# b") == ("a # b", False)
    assert decomment("a b \\") == ("a b\\", False)
    assert decomment("a # comment \\") == ("a\\", False)  # the continuation survives a comment
    assert decomment("# all comment \\") == ("\\", False)
    assert decomment('a "open # x') == ('a "open # x', True)
    assert decomment("don't # it's") == ("don't", False)


def test_unterminated_quote_is_an_error_at_its_line(files):
    result = files.load('global_defs {\n    router_id "oops\n}\n' + MINIMAL_INSTANCE)
    assert "2: error: unterminated quoted string" in messages(result)[0]
    assert result.config is None


def test_blocks_open_on_the_same_line_the_next_line_or_inline(files):
    result = files.load("""
    vrrp_instance VI_1
    {
        interface eth0
        virtual_router_id 7
        virtual_ipaddress { 198.51.100.1 }
        track_interface {eth1 weight 5}
    }
    """)
    instance = result.config.vrrp_instances[0]
    assert [str(v.address) for v in instance.virtual_ipaddresses] == ["198.51.100.1/32"]
    assert instance.track_interfaces[0].name == "eth1" and instance.track_interfaces[0].weight == 5
    assert instance.pos.line == 2


def test_two_entries_on_one_inline_line_are_one_statement_as_in_keepalived(files):
    result = files.load(MINIMAL_INSTANCE.replace("198.51.100.10/24", "198.51.100.1 198.51.100.2"))
    assert messages(result, "error") == [
        "6: error: virtual_ipaddress: 198.51.100.1: unknown option '198.51.100.2'"
    ]


def test_include_glob_relative_to_the_including_file(files):
    files.write("conf.d/10-a.conf", MINIMAL_INSTANCE)
    files.write(
        "conf.d/20-b.conf",
        MINIMAL_INSTANCE.replace("VI_1", "VI_2").replace("51", "52").replace(".10/", ".11/"),
    )
    files.write("conf.d/sub/more.conf", "include ../20-b.conf\n")
    result = files.load("include conf.d/*.conf\n")
    assert [i.name for i in result.config.vrrp_instances] == ["VI_1", "VI_2"]
    assert result.config.vrrp_instances[1].pos.file.endswith("conf.d/20-b.conf")
    assert result.config.vrrp_instances[1].pos.line == 2


def test_include_missing_file_is_an_error_and_empty_glob_a_warning(files):
    result = files.load("include missing.conf\ninclude none/*.conf\n" + MINIMAL_INSTANCE)
    found = messages(result)
    assert found[0].startswith("1: error: cannot read") and "No such file" in found[0]
    assert found[1] == "2: warning: include none/*.conf: no file matches"


def test_include_loop_is_reported_with_the_chain(files):
    files.write("b.conf", "include keepalived.conf\n")
    result = files.load("include b.conf\n" + MINIMAL_INSTANCE)
    (loop,) = [f for f in result.findings if "include loop" in f.message]
    assert loop.file.endswith("b.conf") and loop.line == 1
    assert "keepalived.conf -> " in loop.message and loop.message.endswith("keepalived.conf")


def test_include_of_a_directory_is_a_positioned_error(files):
    (files.root / "adir").mkdir()
    result = files.load("\ninclude adir\n" + MINIMAL_INSTANCE)
    assert messages(result)[0].startswith("2: error: cannot read") and "a directory" in messages(result)[0]


def test_unreadable_include_as_unprivileged_user():
    """As root every file is readable, so the check runs as nobody in a world-traversable directory."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        os.chmod(tmp, 0o755)
        files = ConfigFiles(Path(tmp))
        secret = files.write("secret.conf", MINIMAL_INSTANCE)
        secret.chmod(0)
        main = files.write("keepalived.conf", "\ninclude secret.conf\n")
        done = subprocess.run(
            [TANDEMD, "-t", "-f", str(main)],
            capture_output=True,
            text=True,
            timeout=60,
            user=65534,
            env={**os.environ, "HOME": "/"},
        )
    assert done.returncode == 1
    assert f"{main}:2: error: cannot read {secret}: Permission denied" in done.stderr
    assert "Traceback" not in done.stderr


def test_conditional_lines_follow_the_config_id(files):
    text = """
    global_defs {
        @main router_id main_router
        @backup router_id backup_router
    }
    vrrp_instance VI_1 {
        interface eth0
        virtual_router_id 1
        @main priority 200
        unicast_peer {
            @^main 198.51.100.1
            @^backup 198.51.100.2
        }
        virtual_ipaddress {
            198.51.100.100
        }
    }
    """
    main = files.load(text, config_id="main").config
    other = files.load(text, config_id="other").config
    assert main.global_defs.router_id == "main_router" and main.vrrp_instances[0].priority == 200
    assert [str(p) for p in main.vrrp_instances[0].unicast_peers] == ["198.51.100.2"]
    assert other.global_defs.router_id is None and other.vrrp_instances[0].priority == 100
    assert len(other.vrrp_instances[0].unicast_peers) == 2


def test_parameters_are_substituted_at_use_time_and_recursively(files):
    result = files.load("""
    $BASE=198.51.${SUB}
    $SUB=100
    $IF_MAIN=@node1
    $PRIO=150
    vrrp_instance VI_1 {
        interface eth0
        virtual_router_id 1
        $IF_MAIN priority $PRIO
        virtual_ipaddress {
            ${BASE}.7/24
            $UNDEFINED_IS_KEPT
        }
    }
    """)
    instance = result.config.vrrp_instances[0] if result.config else None
    assert instance is None  # $UNDEFINED_IS_KEPT is not an address
    assert messages(result) == [
        "12: error: virtual_ipaddress: expected an IP address with optional /prefix, got '$UNDEFINED_IS_KEPT'"
    ]


def test_multiline_parameters_expand_to_blocks_at_the_use_site(files):
    result = files.load("""
    $INSTANCE= \\
    vrrp_instance VI_${NUM} { \\
        interface eth0 \\
        virtual_router_id ${NUM} \\
        virtual_ipaddress { \\
            198.51.100.${NUM}/24 \\
        } \\
    }
    $NUM=1
    $INSTANCE
    $NUM=2
    $INSTANCE
    """)
    assert [(i.name, i.virtual_router_id, i.pos.line) for i in result.config.vrrp_instances] == [
        ("VI_1", 1, 11),
        ("VI_2", 2, 13),
    ]


def test_predefined_parameters(files):
    result = files.load(
        """
    global_defs {
        router_id ${_INSTANCE}${_HASH}x${_BANG}
        notification_email_from ${_PWD}
        smtp_helo_name r${_RANDOM 5 5}
    }
    """
        + MINIMAL_INSTANCE
    )
    defs = result.config.global_defs
    assert defs.router_id == "node1#x!"
    assert defs.notification_email_from == str(files.root)
    assert defs.smtp_helo_name == "r5"


def test_recursive_parameter_is_bounded_and_reported(files):
    result = files.load("$A=${A}x\nglobal_defs {\n    router_id $A\n}\n" + MINIMAL_INSTANCE)
    assert "3: error: parameter expansion deeper than 32 levels" in messages(result)[0]


def test_seq_seqx_and_lst_repeat_lines(files):
    result = files.load("""
    vrrp_instance VI_1 {
        interface eth0
        virtual_router_id 1
        version 3
        virtual_ipaddress {
            ~SEQ(N, 1, 2, 5) 198.51.100.${N}
            ~SEQ(M, 3) 203.0.113.${M}
        }
        virtual_ipaddress_excluded {
            ~SEQx(H, 0x0e, 1, 0x10) 2001:db8::${H}
            ~LST({A, B}, {1, 2}, {3, 4}) 203.0.113.1${A}${B}
            ~LST(C, 7, 8) 203.0.113.20${C}
        }
    }
    """)
    instance = result.config.vrrp_instances[0]
    assert [str(v.address.ip) for v in instance.virtual_ipaddresses] == [
        "198.51.100.1",
        "198.51.100.3",
        "198.51.100.5",
        "203.0.113.1",
        "203.0.113.2",
        "203.0.113.3",
    ]
    assert [str(v.address.ip) for v in instance.virtual_ipaddresses_excluded] == [
        "2001:db8::e",
        "2001:db8::f",
        "2001:db8::10",
        "203.0.113.112",
        "203.0.113.134",
        "203.0.113.207",
        "203.0.113.208",
    ]


def test_bad_seq_is_reported(files):
    result = files.load("~SEQ(N, 1, 0, 5) foo\n~SEQ(N, x) foo\n~LST(A) foo\n" + MINIMAL_INSTANCE)
    assert [m.split(":")[0] for m in messages(result, "error")] == ["1", "2", "3"]
    assert "STEP must not be 0" in messages(result)[0]


def test_missing_top_level_file_is_an_error():
    result = load_config("/nonexistent/keepalived.conf")
    assert result.config is None
    assert str(result.findings[0]) == (
        "/nonexistent/keepalived.conf:1: error: cannot read /nonexistent/keepalived.conf: "
        "No such file or directory"
    )
