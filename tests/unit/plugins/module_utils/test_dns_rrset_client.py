"""The RFC 2136 client of tandem.ha.dns_rrset, called directly against a real BIND9 on loopback.

What only a direct call can show: a concurrent editor between the read and the update is detected by
the prerequisites and nothing is overwritten; a silent server is given up on within the timeout.
"""

from __future__ import annotations

import socket
import time

import dns.message
import dns.query
import dns.tsig
import dns.update
import pytest
from ansible_collections.tandem.ha.plugins.module_utils.dns_records import address_sets
from ansible_collections.tandem.ha.plugins.module_utils.dns_rrset import (
    DnsUpdateError,
    check_name_in_zone,
    converge,
    make_server,
    read_records,
    replace_records,
)
from tandemlab.bind9 import Bind9, TsigKey
from tandemlab.ports import free_port

ZONE = "client.test"


@pytest.fixture(scope="module")
def bind9():
    with Bind9().start(ZONE, TsigKey.generate("client-key"), free_port()) as server:
        yield server


@pytest.fixture
def server(bind9):
    key = bind9.key
    return make_server(bind9.listen_address, bind9.port, key.name, key.secret, key.algorithm, timeout=2)


def answered(bind9, name):
    """The A addresses the server answers for ``name`` now (plain unsigned query)."""
    query = dns.message.make_query(name, "A")
    response = dns.query.udp(query, bind9.listen_address, port=bind9.port, timeout=2)
    return {rdata.address for rrset in response.answer for rdata in rrset}


def another_editor_sets(bind9, name, address):
    update = dns.update.UpdateMessage(ZONE, keyring=dns.tsig.Key(bind9.key.name, bind9.key.secret))
    update.replace(name + ".", 60, "A", address)
    assert dns.query.tcp(update, bind9.listen_address, port=bind9.port, timeout=2).rcode() == 0


def test_converge_changes_once_then_reports_no_change(bind9, server):
    wanted = address_sets(["198.51.100.1", "198.51.100.2"], 60)
    changed, before, after = converge(server, "once.client.test", ZONE, wanted, check_mode=False)
    assert (changed, before, after) == (True, {}, wanted)
    assert answered(bind9, "once.client.test") == {"198.51.100.1", "198.51.100.2"}
    again = converge(server, "once.client.test.", ZONE + ".", wanted, check_mode=False)
    assert again == (False, wanted, wanted)


def test_check_mode_reports_the_change_and_sends_none(bind9, server):
    wanted = address_sets(["198.51.100.3"], 60)
    assert converge(server, "check.client.test", ZONE, wanted, check_mode=True) == (True, {}, wanted)
    assert answered(bind9, "check.client.test") == set()


@pytest.mark.parametrize("first", [[], ["198.51.100.4"]], ids=["name was empty", "name had records"])
def test_an_editor_between_read_and_update_is_detected_and_kept(bind9, server, first):
    name = f"race{len(first)}.client.test"
    if first:
        another_editor_sets(bind9, name, first[0])
    owner, origin = check_name_in_zone(name, ZONE)
    as_read = read_records(server, owner, origin)
    another_editor_sets(bind9, name, "198.51.100.99")

    with pytest.raises(DnsUpdateError) as error:
        replace_records(server, owner, origin, as_read, address_sets(["198.51.100.5"], 60))
    rcode = "NXRRSET" if first else "YXRRSET"
    assert str(error.value) == (
        f"the records of {name}. changed after they were read (prerequisite failed: {rcode}); "
        "another editor is updating this name, nothing was changed"
    )
    assert answered(bind9, name) == {"198.51.100.99"}


def test_a_server_that_never_answers_is_given_up_on_within_the_timeout(bind9):
    with socket.socket() as silent:  # accepts connections (kernel backlog), never reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        server = make_server("127.0.0.1", port, bind9.key.name, bind9.key.secret, "hmac-sha256", timeout=0.5)
        started = time.monotonic()
        expected = rf"^no answer from DNS server 127.0.0.1 port {port} within 0.5 s$"
        with pytest.raises(DnsUpdateError, match=expected):
            converge(server, "slow.client.test", ZONE, {}, check_mode=False)
        assert time.monotonic() - started < 2


def test_a_closed_port_is_reported_as_unreachable(bind9):
    port = free_port()
    server = make_server("127.0.0.1", port, bind9.key.name, bind9.key.secret, "hmac-sha256", timeout=2)
    expected = rf"^cannot reach DNS server 127.0.0.1 port {port}: Connection refused$"
    with pytest.raises(DnsUpdateError, match=expected):
        converge(server, "closed.client.test", ZONE, {}, check_mode=False)


def test_a_secret_that_is_not_base64_names_the_key():
    with pytest.raises(DnsUpdateError, match=r"^TSIG key 'ops-key': the secret is not valid base64"):
        make_server("127.0.0.1", 53, "ops-key", "not base64!", "hmac-sha256", timeout=1)


def test_a_server_must_be_an_ip_address():
    with pytest.raises(DnsUpdateError, match=r"^server 'ns1.example.com' is not an IP address$"):
        make_server("ns1.example.com", 53, "ops-key", "c2VjcmV0", "hmac-sha256", timeout=1)


def test_a_name_outside_the_zone_is_refused_before_anything_is_sent():
    with pytest.raises(DnsUpdateError, match=r"^name www.example.com. is outside zone client.test.$"):
        check_name_in_zone("www.example.com", ZONE)
    assert [str(name) for name in check_name_in_zone("Client.Test", ZONE)] == ["client.test.", "client.test."]
