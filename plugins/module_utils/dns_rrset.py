# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make the A and AAAA records of one name equal to a wanted set: RFC 2136 dynamic update with TSIG.

Theory of operation:

1. Read the name's A and AAAA RRsets from the zone's primary server with TSIG-signed queries (TCP).
   The answer must be authoritative; a CNAME at the name or a refused query is an error.
2. Compare with the wanted records (order-insensitive, TTL included). Equal: nothing is sent.
3. Otherwise send ONE update message. Its prerequisites (RFC 2136 section 2.4) state both RRsets
   exactly as read — "RRset exists (value dependent)" for a non-empty set, "RRset does not exist" for
   an empty one — and its update section replaces only the RRsets that differ (delete RRset, add RRs).
   The server applies all of it or nothing; if another editor changed the records after step 1,
   the prerequisites fail and the change is reported as a conflict, never silently overwritten.

Every failure (transport, TSIG, response code) becomes a DnsUpdateError whose message says what to fix.
"""

from __future__ import annotations

import binascii
import ipaddress
from dataclasses import dataclass

from ansible_collections.tandem.ha.plugins.module_utils.dns_records import (
    RECORD_TYPES,
    AddressSet,
    absolute_name,
    differing_types,
)

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
    import dns.tsig
    import dns.update
except ImportError:
    HAS_DNSPYTHON = False
else:
    HAS_DNSPYTHON = True

TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")


class DnsUpdateError(Exception):
    """The records could not be read or changed; the message is meant for the operator."""


@dataclass(frozen=True)
class DnsServer:
    """The zone's primary server and the TSIG key every message to it is signed with."""

    address: str
    port: int
    key: object  # dns.tsig.Key
    timeout: float

    def exchange(self, message):
        """Send ``message`` over TCP and return the response; every failure becomes a DnsUpdateError."""
        where = f"DNS server {self.address} port {self.port}"
        key = f"TSIG key '{self.key.name.to_text(omit_final_dot=True)}'"
        try:
            return dns.query.tcp(message, self.address, port=self.port, timeout=self.timeout)
        except dns.exception.Timeout:
            raise DnsUpdateError(f"no answer from {where} within {self.timeout:g} s") from None
        except dns.tsig.PeerBadKey:
            raise DnsUpdateError(
                f"{where} does not know {key} with algorithm {self.key.algorithm.to_text(True)} (BADKEY)"
            ) from None
        except dns.tsig.PeerBadSignature:
            raise DnsUpdateError(f"{where} rejected the signature of {key}: wrong secret (BADSIG)") from None
        except dns.tsig.PeerBadTime:
            raise DnsUpdateError(f"{where} rejected {key}: the clocks differ too much (BADTIME)") from None
        except dns.exception.DNSException as error:
            raise DnsUpdateError(f"bad answer from {where} to a message signed with {key}: {error}") from None
        except OSError as error:
            raise DnsUpdateError(f"cannot reach {where}: {error.strerror or error}") from None


def make_server(address, port, key_name, key_secret, key_algorithm, timeout):
    """A DnsServer from module parameters; a malformed address or secret is reported by name."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise DnsUpdateError(f"server '{address}' is not an IP address") from None
    try:
        key = dns.tsig.Key(key_name, key_secret, key_algorithm)
    except (binascii.Error, ValueError) as error:
        raise DnsUpdateError(f"TSIG key '{key_name}': the secret is not valid base64 ({error})") from None
    except dns.exception.DNSException as error:
        raise DnsUpdateError(f"TSIG key name '{key_name}' is not a valid DNS name: {error}") from None
    return DnsServer(address, port, key, timeout)


def check_name_in_zone(name, zone):
    """The absolute name and zone as dnspython names, or a DnsUpdateError if the name is outside."""
    owner, origin = _dns_name(name), _dns_name(zone)
    if not owner.is_subdomain(origin):
        raise DnsUpdateError(f"name {owner} is outside zone {origin}")
    return owner, origin


def _dns_name(text):
    try:
        return dns.name.from_text(absolute_name(text))
    except dns.exception.DNSException as error:
        raise DnsUpdateError(f"'{text}' is not a valid DNS name: {error}") from None


def read_records(server, owner, origin):
    """The name's current A and AAAA RRsets, read with authoritative answers only."""
    records = {}
    for rdtype in RECORD_TYPES:
        query = dns.message.make_query(owner, rdtype)
        query.use_tsig(server.key)
        response = server.exchange(query)
        rcode = response.rcode()
        if rcode == dns.rcode.REFUSED:
            raise DnsUpdateError(
                f"server {server.address} refused to answer for {owner} (REFUSED): does it serve {origin}?"
            )
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DnsUpdateError(f"query for {owner} {rdtype} failed: {dns.rcode.to_text(rcode)}")
        if not response.flags & dns.flags.AA:
            raise DnsUpdateError(f"server {server.address} is not authoritative for {origin}")
        if response.get_rrset(response.answer, owner, dns.rdataclass.IN, dns.rdatatype.CNAME):
            raise DnsUpdateError(f"{owner} is a CNAME; address records cannot be published under it")
        rrset = response.get_rrset(response.answer, owner, dns.rdataclass.IN, dns.rdatatype.from_text(rdtype))
        if rrset:
            records[rdtype] = AddressSet(rdtype, rrset.ttl, frozenset(rdata.address for rdata in rrset))
    return records


_CONFLICT_RCODES = ("YXDOMAIN", "YXRRSET", "NXRRSET", "NXDOMAIN")


def replace_records(server, owner, origin, current, desired):
    """One atomic update: prerequisites = ``current`` exactly, then replace every RRset that differs."""
    update = dns.update.UpdateMessage(origin, keyring=server.key)
    for rdtype in RECORD_TYPES:
        if rdtype in current:
            update.present(owner, *_rdatas(current[rdtype]))  # sent with TTL 0
        else:
            update.absent(owner, rdtype)
    for rdtype in differing_types(current, desired):
        update.delete(owner, rdtype)
        if rdtype in desired:
            update.add(owner, desired[rdtype].ttl, *_rdatas(desired[rdtype]))
    rcode = dns.rcode.to_text(server.exchange(update).rcode())
    key = server.key.name.to_text(omit_final_dot=True)
    if rcode == "NOERROR":
        return
    if rcode in _CONFLICT_RCODES:
        raise DnsUpdateError(
            f"the records of {owner} changed after they were read (prerequisite failed: {rcode}); "
            "another editor is updating this name, nothing was changed"
        )
    if rcode == "REFUSED":
        raise DnsUpdateError(
            f"server {server.address} refused the update of {owner} in zone {origin} (REFUSED): "
            f"its update-policy/allow-update does not let TSIG key '{key}' change these records"
        )
    if rcode == "NOTAUTH":
        raise DnsUpdateError(f"server {server.address} is not authoritative for zone {origin} (NOTAUTH)")
    if rcode == "NOTZONE":
        raise DnsUpdateError(f"name {owner} is outside zone {origin} (NOTZONE)")
    raise DnsUpdateError(f"server {server.address} rejected the update of {owner}: {rcode}")


def _rdatas(address_set):
    rdtype = dns.rdatatype.from_text(address_set.rdtype)
    return [dns.rdata.from_text(dns.rdataclass.IN, rdtype, address) for address in address_set.addresses]


def converge(server, name, zone, desired, check_mode):
    """Make the name's records equal ``desired``; returns (changed, records before, records after)."""
    owner, origin = check_name_in_zone(name, zone)
    current = read_records(server, owner, origin)
    if not differing_types(current, desired):
        return False, current, current
    if not check_mode:
        replace_records(server, owner, origin, current, desired)
    return True, current, desired
