# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: vip_dns
short_description: Render DNS record sets of VIPs as zone-file lines
version_added: 0.1.0
description:
  - Turns record sets (C(plan.dns_records) of M(tandem.ha.vrrp_plan), each C({name, addresses, ttl})) into the
    A and AAAA lines of a zone file, one line per address, for DNS servers that cannot be updated
    dynamically. The lines are exactly the records that M(tandem.ha.dns_rrset) would publish.
author:
  - Tandem team (@tandem)
positional: ttl
options:
  _input:
    description: One record set or a list of them; each has C(name), C(addresses) and optionally C(ttl).
    type: raw
    required: true
  ttl:
    description: TTL for record sets that carry none.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Show the zone lines of the active-active names
  ansible.builtin.debug:
    msg: "{{ dns_round_robin_record_sets | tandem.ha.vip_dns }}"

- name: One record set, TTL 30 unless the set says otherwise
  ansible.builtin.copy:
    dest: /tmp/www.zone-lines
    content: "{{ {'name': 'www.example.com', 'addresses': ['198.51.100.10']} | tandem.ha.vip_dns(30) }}"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: Zone-file lines, each ending in a newline; sorted by name, A before AAAA, then by address.
  type: str
  sample: "www.example.com. 60 IN A 198.51.100.10\nwww.example.com. 60 IN A 198.51.100.11\n"
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

from ansible_collections.tandem.ha.plugins.module_utils.dns_records import (
    absolute_name,
    address_sets,
    zone_lines,
)


def vip_dns(record_sets, ttl=60):
    if isinstance(record_sets, Mapping):
        record_sets = [record_sets]
    lines_of_name = {}
    for record_set in record_sets:
        if not _is_record_set(record_set):
            raise AnsibleFilterError(f"vip_dns: expected {{name, addresses: [..], ttl?}}, got {record_set!r}")
        try:
            records = address_sets(record_set["addresses"], int(record_set.get("ttl") or ttl))
        except (TypeError, ValueError) as error:
            raise AnsibleFilterError(f"vip_dns: record set {record_set['name']}: {error}") from None
        name = absolute_name(record_set["name"])
        if name in lines_of_name:
            raise AnsibleFilterError(f"vip_dns: {name} is in two record sets; merge their addresses")
        lines_of_name[name] = zone_lines(name, records)
    return "".join(line + "\n" for name in sorted(lines_of_name) for line in lines_of_name[name])


def _is_record_set(value):
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("name"), str)
        and isinstance(value.get("addresses"), Sequence)
        and not isinstance(value["addresses"], str)
    )


class FilterModule:
    def filters(self):
        return {"vip_dns": vip_dns}
