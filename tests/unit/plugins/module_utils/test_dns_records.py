"""The pure record-set logic shared by tandem.ha.dns_rrset and tandem.ha.vip_dns."""

from __future__ import annotations

import pytest
from ansible_collections.tandem.ha.plugins.module_utils.dns_records import (
    AddressSet,
    absolute_name,
    address_sets,
    differing_types,
    zone_lines,
)


def test_addresses_split_by_family_in_canonical_form_without_duplicates():
    records = address_sets(["198.51.100.2", "2001:DB8:0::0001", " 198.51.100.1", "198.51.100.2"], 30)
    assert records == {
        "A": AddressSet("A", 30, frozenset({"198.51.100.1", "198.51.100.2"})),
        "AAAA": AddressSet("AAAA", 30, frozenset({"2001:db8::1"})),
    }


def test_no_addresses_means_no_records_and_a_family_without_addresses_has_no_entry():
    assert address_sets([], 60) == {}
    assert set(address_sets(["2001:db8::1"], 60)) == {"AAAA"}


def test_a_bad_address_is_named():
    with pytest.raises(ValueError, match=r"^'www.example.com' is not an IPv4 or IPv6 address$"):
        address_sets(["198.51.100.1", "www.example.com"], 60)


@pytest.mark.parametrize("ttl", [-1, 2**31])
def test_a_ttl_out_of_range_is_refused(ttl):
    with pytest.raises(ValueError, match=rf"^ttl {ttl} is not between 0 and 2147483647 seconds$"):
        address_sets(["198.51.100.1"], ttl)


def test_order_and_spelling_do_not_count_as_differences():
    current = address_sets(["198.51.100.1", "198.51.100.2", "2001:db8::1"], 60)
    assert (
        differing_types(current, address_sets(["2001:db8:0:0::1", "198.51.100.2", "198.51.100.1"], 60)) == []
    )


def test_address_and_ttl_changes_are_found_per_type():
    current = address_sets(["198.51.100.1", "2001:db8::1"], 60)
    assert differing_types(current, address_sets(["198.51.100.1", "2001:db8::2"], 60)) == ["AAAA"]
    assert differing_types(current, address_sets(["198.51.100.1", "2001:db8::1"], 30)) == ["A", "AAAA"]
    assert differing_types(current, address_sets(["198.51.100.1"], 60)) == ["AAAA"]
    assert differing_types({}, current) == ["A", "AAAA"]


def test_zone_lines_sort_a_before_aaaa_and_addresses_numerically():
    records = address_sets(["2001:db8::10", "198.51.100.10", "198.51.100.9", "2001:db8::9"], 30)
    assert zone_lines("WWW.Example.com", records) == [
        "www.example.com. 30 IN A 198.51.100.9",
        "www.example.com. 30 IN A 198.51.100.10",
        "www.example.com. 30 IN AAAA 2001:db8::9",
        "www.example.com. 30 IN AAAA 2001:db8::10",
    ]
    assert zone_lines("www.example.com", {}) == []


@pytest.mark.parametrize("name", ["www.example.com", "www.example.com.", " WWW.example.com. "])
def test_names_are_absolute_and_lower_case(name):
    assert absolute_name(name) == "www.example.com."
