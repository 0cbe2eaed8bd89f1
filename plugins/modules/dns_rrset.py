#!/usr/bin/python
# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dns_rrset
short_description: Make the A and AAAA records of a DNS name equal to a list of addresses (RFC 2136 + TSIG)
version_added: 0.1.0
description:
  - Reads the current A and AAAA RRsets of O(name) from the primary server of O(zone), compares them with
    O(addresses) (split by address family, order-insensitive, TTL included) and, only when they differ,
    sends one RFC 2136 dynamic update signed with a TSIG key.
  - The update carries prerequisites stating the records exactly as they were read, so the server applies
    it atomically or not at all. If another editor changed the name in between, nothing is changed and the
    task fails with a message saying so; re-running converges.
  - Publishing several addresses under one name is DNS round robin, which spreads clients over the nodes
    of an active-active pair of VIPs.
  - Errors are reported without a traceback, for a refused update, an unknown TSIG key or a wrong secret
    (naming the key), an unreachable server (after O(timeout) seconds), a name outside the zone.
requirements:
  - dnspython >= 2.2 on the host that runs the module (usually the controller, with C(delegate_to=localhost))
author:
  - Tandem team (@tandem)
options:
  name:
    description: Absolute name that carries the records, for example V(www.example.com); final dot optional.
    type: str
    required: true
  zone:
    description: The zone the name belongs to, as served by O(server); O(name) must be inside it.
    type: str
    required: true
  addresses:
    description:
      - The IPv4 and IPv6 addresses to publish. IPv4 ones become the A RRset, IPv6 ones the AAAA RRset; a
        family without addresses has its RRset removed.
      - Required when O(state=present); not used when O(state=absent).
    type: list
    elements: str
  ttl:
    description: TTL of the published records, in seconds. Keep it short compared to failover time.
    type: int
    default: 60
  state:
    description: V(present) publishes exactly O(addresses);
      V(absent) removes the A and AAAA RRsets of O(name).
    type: str
    choices: [present, absent]
    default: present
  server:
    description: IP address of the primary (dynamically updatable) server of O(zone).
    type: str
    required: true
  port:
    description: TCP port of O(server).
    type: int
    default: 53
  key_name:
    description: Name of the TSIG key the server's update-policy grants.
    type: str
    required: true
  key_secret:
    description: Base64 secret of the TSIG key; keep it in Ansible Vault.
    type: str
    required: true
  key_algorithm:
    description: TSIG algorithm of the key.
    type: str
    choices: [hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1, hmac-md5]
    default: hmac-sha256
  timeout:
    description: Seconds to wait for each answer of the server before giving up.
    type: float
    default: 5
attributes:
  check_mode:
    support: full
    description: Reads the records and reports what would change; sends no update.
  diff_mode:
    support: full
    description: Shows the records as zone-file lines before and after.
notes:
  - Queries and updates are sent over TCP and signed with the key; the key must be valid even in check mode.
seealso:
  - name: RFC 2136
    description: Dynamic Updates in the Domain Name System (DNS UPDATE).
    link: https://www.rfc-editor.org/rfc/rfc2136
  - name: RFC 8945
    description: Secret Key Transaction Authentication for DNS (TSIG).
    link: https://www.rfc-editor.org/rfc/rfc8945
"""

EXAMPLES = r"""
- name: Publish both VIPs of an active-active pair under one name
  tandem.ha.dns_rrset:
    name: www.example.com
    zone: example.com
    addresses: [198.51.100.10, 198.51.100.11, "2001:db8::10"]
    ttl: 30
    server: 203.0.113.53
    key_name: tandem-update
    key_secret: "{{ vault_dns_key_secret }}"
  delegate_to: localhost
  run_once: true

- name: Remove the records of a retired name
  tandem.ha.dns_rrset:
    name: old.example.com
    zone: example.com
    state: absent
    server: 203.0.113.53
    key_name: tandem-update
    key_secret: "{{ vault_dns_key_secret }}"
    key_algorithm: hmac-sha512
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
before:
  description: The name's A and AAAA records as zone-file lines before the task.
  returned: always
  type: list
  elements: str
  sample: ["www.example.com. 60 IN A 198.51.100.10"]
after:
  description: The name's A and AAAA records as zone-file lines after the task (would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: ["www.example.com. 30 IN A 198.51.100.10", "www.example.com. 30 IN A 198.51.100.11"]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.tandem.ha.plugins.module_utils.dns_records import address_sets, zone_lines
from ansible_collections.tandem.ha.plugins.module_utils.dns_rrset import (
    HAS_DNSPYTHON,
    TSIG_ALGORITHMS,
    DnsUpdateError,
    converge,
    make_server,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            zone=dict(type="str", required=True),
            addresses=dict(type="list", elements="str"),
            ttl=dict(type="int", default=60),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            server=dict(type="str", required=True),
            port=dict(type="int", default=53),
            key_name=dict(type="str", required=True, no_log=False),
            key_secret=dict(type="str", required=True, no_log=True),
            key_algorithm=dict(type="str", choices=list(TSIG_ALGORITHMS), default="hmac-sha256"),
            timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    if not HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython"))
    params = module.params
    name = params["name"]
    if params["state"] == "present" and params["addresses"] is None:
        module.fail_json(msg="state=present needs addresses (an empty list removes the A and AAAA records)")
    try:
        wanted = address_sets(params["addresses"] if params["state"] == "present" else [], params["ttl"])
        server = make_server(
            params["server"],
            params["port"],
            params["key_name"],
            params["key_secret"],
            params["key_algorithm"],
            params["timeout"],
        )
        changed, before, after = converge(server, name, params["zone"], wanted, module.check_mode)
    except (ValueError, DnsUpdateError) as error:
        module.fail_json(msg=str(error))
    before_lines, after_lines = zone_lines(name, before), zone_lines(name, after)
    module.exit_json(
        changed=changed,
        before=before_lines,
        after=after_lines,
        diff=dict(
            before="".join(line + "\n" for line in before_lines),
            after="".join(line + "\n" for line in after_lines),
            before_header=f"{name} (A, AAAA)",
            after_header=f"{name} (A, AAAA)",
        ),
    )


if __name__ == "__main__":
    main()
