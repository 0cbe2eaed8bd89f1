"""The filter tandem.ha.vip_dns as plays use it: zone lines, and bad record sets as clear task errors."""

from __future__ import annotations


def render(expression):
    return {"ansible.builtin.debug": {"msg": "{{ " + expression + " }}"}, "ignore_errors": True}


def test_zone_lines_and_errors(play):
    record_sets = (
        "[{'name': 'b.example.test', 'addresses': ['2001:db8::2', '198.51.100.2']},"
        " {'name': 'a.example.test.', 'zone': 'example.test', 'addresses': ['198.51.100.1'], 'ttl': 10}]"
    )
    rendered, one_set, bad_address, no_name, twice = play(
        [
            render(record_sets + " | tandem.ha.vip_dns(30)"),
            render("{'name': 'c.example.test', 'addresses': ['198.51.100.3']} | tandem.ha.vip_dns"),
            render("[{'name': 'd.example.test', 'addresses': ['198.51.100.4', 'web1']}] | tandem.ha.vip_dns"),
            render("[{'addresses': ['198.51.100.5']}] | tandem.ha.vip_dns"),
            render(
                "[{'name': 'e.example.test', 'addresses': []},"
                " {'name': 'E.example.test.', 'addresses': []}]"
                "| tandem.ha.vip_dns"
            ),
        ]
    )
    assert rendered["msg"] == (
        "a.example.test. 10 IN A 198.51.100.1\n"
        "b.example.test. 30 IN A 198.51.100.2\n"
        "b.example.test. 30 IN AAAA 2001:db8::2\n"
    )
    assert one_set["msg"] == "c.example.test. 60 IN A 198.51.100.3\n"
    assert "vip_dns: record set d.example.test: 'web1' is not an IPv4 or IPv6 address" in bad_address["msg"]
    assert "vip_dns: expected {name, addresses: [..], ttl?}, got {'addresses': [" in no_name["msg"]
    assert "vip_dns: e.example.test. is in two record sets; merge their addresses" in twice["msg"]
    assert all(result["failed"] for result in (bad_address, no_name, twice))
