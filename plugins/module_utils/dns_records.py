# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The address records (A and AAAA) of one DNS name, as plain values: no dnspython, no network.

A name's records are a mapping ``{"A": AddressSet, "AAAA": AddressSet}`` holding only the non-empty sets.
Addresses are kept in canonical text form (``ipaddress``), so comparing two mappings is order-insensitive
and ignores spellings such as ``2001:db8::0001``. Used by the module ``tandem.ha.dns_rrset`` (what to
change, the --diff) and by the filter ``tandem.ha.vip_dns`` (zone-file lines).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

RECORD_TYPES = ("A", "AAAA")
MAX_TTL = 2**31 - 1  # RFC 2181 section 8
_TYPE_OF_VERSION = {4: "A", 6: "AAAA"}


@dataclass(frozen=True)
class AddressSet:
    """One RRset: every address of one record type of a name, with its TTL."""

    rdtype: str
    ttl: int
    addresses: frozenset


def absolute_name(name):
    """``www.example.com`` and ``www.example.com.`` alike, as the absolute, lower-case form."""
    return name.strip().rstrip(".").lower() + "."


def address_sets(addresses, ttl):
    """The records that publish exactly ``addresses`` (split by family); ValueError names a bad value."""
    if not 0 <= ttl <= MAX_TTL:
        raise ValueError(f"ttl {ttl} is not between 0 and {MAX_TTL} seconds")
    by_type = {rdtype: set() for rdtype in RECORD_TYPES}
    for address in addresses:
        try:
            parsed = ipaddress.ip_address(str(address).strip())
        except ValueError:
            raise ValueError(f"'{address}' is not an IPv4 or IPv6 address") from None
        by_type[_TYPE_OF_VERSION[parsed.version]].add(str(parsed))
    return {rdtype: AddressSet(rdtype, ttl, frozenset(found)) for rdtype, found in by_type.items() if found}


def differing_types(current, desired):
    """Record types whose addresses or TTL differ between two record mappings, in RECORD_TYPES order."""
    return [rdtype for rdtype in RECORD_TYPES if current.get(rdtype) != desired.get(rdtype)]


def zone_lines(name, records):
    """Zone-file lines (``www.example.com. 60 IN A 198.51.100.10``), A before AAAA, addresses sorted."""
    owner = absolute_name(name)
    return [
        f"{owner} {records[rdtype].ttl} IN {rdtype} {address}"
        for rdtype in RECORD_TYPES
        if rdtype in records
        for address in sorted(records[rdtype].addresses, key=ipaddress.ip_address)
    ]
