"""The module tandem.ha.dns_rrset as AnsibleModule: arguments in, one JSON result out, never a traceback.

Its DNS work (read, compare, update) is proven against a real BIND9 in tests/system/dns/; here the
failures that happen before or instead of an answer: bad arguments, bad key input, no server.
"""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.tandem.ha.plugins.modules import dns_rrset
from tandemlab.ports import free_port

VALID = {
    "name": "www.example.test",
    "zone": "example.test",
    "addresses": ["198.51.100.10"],
    "server": "127.0.0.1",
    "key_name": "ops-key",
    "key_secret": "c2VjcmV0IGZvciB0ZXN0cw==",
    "timeout": 1,
}


def run_module(capsys, **args):
    with patch_module_args({**VALID, **args}), pytest.raises(SystemExit):
        dns_rrset.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"name": "www.example.com"}, "name www.example.com. is outside zone example.test."),
        ({"addresses": ["198.51.100.10", "web1"]}, "'web1' is not an IPv4 or IPv6 address"),
        ({"name": "www..example.test"}, "'www..example.test' is not a valid DNS name: A DNS label is empty."),
        ({"key_name": "ops..key"}, "TSIG key name 'ops..key' is not a valid DNS name"),
        ({"ttl": -5}, "ttl -5 is not between 0 and 2147483647 seconds"),
        ({"key_secret": "not base64!"}, "TSIG key 'ops-key': the secret is not valid base64"),
        ({"server": "ns1.example.test"}, "server 'ns1.example.test' is not an IP address"),
        ({"addresses": None}, "state=present needs addresses"),
        ({"key_algorithm": "hmac-sha3"}, "value of key_algorithm must be one of: hmac-sha256, hmac-sha384"),
    ],
)
def test_bad_input_fails_with_a_message_and_no_traceback(capsys, args, message):
    result = run_module(capsys, port=free_port(), **args)
    assert result["failed"] is True
    assert result["msg"].startswith(message)
    assert "exception" not in result


def test_a_server_that_is_not_listening_is_reported(capsys):
    port = free_port()
    result = run_module(capsys, port=port)
    assert result["failed"] is True
    assert result["msg"] == f"cannot reach DNS server 127.0.0.1 port {port}: Connection refused"


def test_absent_needs_no_addresses_and_still_checks_the_name(capsys):
    result = run_module(capsys, state="absent", addresses=None, name="www.example.com", port=free_port())
    assert result["msg"] == "name www.example.com. is outside zone example.test."


def test_without_dnspython_the_module_says_which_library_is_missing(capsys, monkeypatch):
    monkeypatch.setattr(dns_rrset, "HAS_DNSPYTHON", False)
    result = run_module(capsys)
    assert result["failed"] is True
    assert "Failed to import the required Python library (dnspython)" in result["msg"]


def test_the_key_secret_is_never_echoed(capsys):
    result = run_module(capsys, port=free_port())
    assert VALID["key_secret"] not in json.dumps(result)
