"""The checker blocks of keepalived.conf: every bad key or value is an error at its line; keepalived keys
Tandem cannot honour are said plainly; what parses is what the runners use."""

from __future__ import annotations

import textwrap

from tandem.config import load_config


def load(tmp_path, checkers: str, before: str = ""):
    body = textwrap.indent(textwrap.dedent(checkers), " " * 8)
    text = (
        before + f"virtual_server 203.0.113.1 80 {{\n    real_server 198.51.100.11 80 {{\n{body}    }}\n}}\n"
    )
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    result = load_config(path, config_id="n1")
    found = [f"{f.line}: {f.severity}: {f.message}" for f in result.findings]
    checkers = result.config.virtual_servers[0].real_servers[0].checkers if result.config else ()
    return found, checkers


def errors(found):
    return [f for f in found if ": error: " in f]


def test_url_regex_keys_parse(tmp_path):
    found, (http,) = load(
        tmp_path,
        """
        HTTP_GET {
            http_protocol 1.0c
            url {
                path /health
                status_code 200-204 301
                regex "ok|fine"
                regex_no_match
                regex_options caseless dotall
                regex_min_offset 4
                regex_max_offset 100
            }
        }
        """,
    )
    assert not errors(found), found
    (url,) = http.urls
    assert url.status_code == (200, 201, 202, 203, 204, 301)
    assert (url.regex, url.regex_no_match, url.regex_options) == ("ok|fine", True, ("caseless", "dotall"))
    assert (url.regex_min_offset, url.regex_max_offset, http.http_protocol) == (4, 100, "1.0C")


def test_bad_checker_values_are_errors_at_their_line(tmp_path):
    found, _ = load(
        tmp_path,
        """
        HTTP_GET {
            url {
                path /
                status_code 200 700
                regex "(unclosed"
                regex_options caseless nonsense
                digest 1234
            }
            http_protocol 2.0
            connect_timeout soon
        }
        UDP_CHECK {
            payload zz
            max_reply_length 70000
        }
        DNS_CHECK {
            type PTR
        }
        BFD_CHECK {
            name x
        }
        """,
    )
    found = errors(found)
    expected = {
        7: "status_code",
        8: "regex: not a valid regular expression",
        9: "unknown regex option 'nonsense'",
        10: "digest",
        12: "http_protocol",
        13: "connect_timeout",
        16: "payload: expected hex digits",
        17: "max_reply_length",
        20: "type",
        22: "BFD_CHECK is not supported by Tandem",
    }
    for line, text in expected.items():
        assert any(f.startswith(f"{line}: error:") and text in f for f in found), (line, text, found)


def test_unsupported_keepalived_keys_are_warned(tmp_path):
    found, (http, udp) = load(
        tmp_path,
        """
        HTTP_GET {
            log_all_failures
            url {
                path /
                regex_options ungreedy
                regex_stack 100 200
            }
        }
        UDP_CHECK {
            require_reply
            min_reply_length 10
            max_reply_length 5
        }
        """,
    )
    assert not errors(found), found
    warnings = "\n".join(found)
    assert "'log_all_failures' in HTTP_GET is not supported yet" in warnings
    assert "regex_options ungreedy: Python's re has no equivalent" in warnings
    assert "'regex_stack' in url is not supported yet" in warnings
    assert "regex parameters without a regex" in warnings
    assert "min_reply_length > max_reply_length" in warnings
    assert udp.require_reply == b""  # any reply will do
    assert http.urls[0].regex_options == ()


def test_file_check_keeps_weight_reverse(tmp_path):
    track = f"track_file tf {{\n    file {tmp_path / 'w'}\n}}\n"
    found, (file_check,) = load(
        tmp_path, "FILE_CHECK {\n    track_file tf\n    weight -3 reverse\n}\n", track
    )
    assert not errors(found), found
    assert (file_check.weight, file_check.weight_reverse) == (-3, True)


def test_every_checker_module_imports_first_in_a_fresh_interpreter():
    """The config uses tandem.check.regex and the checkers use the config: no import order may break."""
    import subprocess
    import sys

    from tandem.check.registry import RUNNERS

    modules = sorted({runner.__name__ for runner in RUNNERS.values()} | {"tandem.check.registry"})
    for module in modules:
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    assert set(RUNNERS) == {
        "HTTP_GET", "SSL_GET", "TCP_CHECK", "MISC_CHECK", "SMTP_CHECK", "DNS_CHECK", "PING_CHECK",
        "UDP_CHECK", "FILE_CHECK",
    }  # fmt: skip


def test_ssl_block_parses_warns_and_dumps(tmp_path):
    from tandem.config.dump import dump_config

    ssl_block = (
        "SSL {\n    password s3cret\n    ca /etc/ssl/ca.pem\n    certificate /c.pem\n    key /k.pem\n}\n"
    )
    found, _ = load(tmp_path, "SSL_GET {\n    url {\n        path /\n    }\n}\n", ssl_block)
    assert not errors(found), found
    assert any("1: warning: SSL ca: server certificates are not verified" in f for f in found)
    config = load_config(tmp_path / "keepalived.conf", config_id="n1").config
    (settings,) = config.ssl
    assert (settings.certificate, settings.key, settings.password) == ("/c.pem", "/k.pem", "s3cret")
    (tmp_path / "again.conf").write_text(dump_config(config))
    again = load_config(tmp_path / "again.conf", config_id="n1").config
    assert again.ssl[0].certificate == "/c.pem" and again.ssl[0].key == "/k.pem"
