#!/usr/bin/python
# Copyright: Tandem team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vrrp_plan
short_description: Validate the VRRP design of the whole inventory and plan each host's VRRP instances
version_added: 0.1.0
description:
  - Reads the VRRP groups (V(tandem_vrrp_groups)) and active-active sets (V(tandem_active_active)) and the
    per-host vars C(tandem_interface), C(tandem_addresses) and C(tandem_vrrp_defaults) of every member host,
    and checks the design across the whole inventory before any host is touched.
  - Errors fail the task and name the group, host and field with what was expected; warnings are shown
    but do not fail.
  - Rules include VRID collisions on one L2 segment, VIPs used twice or outside the interface subnet, priority
    ties, no or several preferred masters, members disagreeing on advert interval, version, auth or unicast,
    missing or asymmetric unicast peers, unbalanced active-active masters, weights of track scripts, tracked
    interfaces or processes too small to ever cause a failover, DNS names shared by two VIP sets and DNS
    TTLs long compared to the failover time.
  - The model covers the runtime's features (preemption, tracking of interfaces, files, processes and
    scripts, sync groups, virtual routes and rules, excluded VIPs, VMAC interfaces, notify scripts (with
    their user) and FIFOs with their scripts, SMTP alerts, unicast (with its TTL), GARP settings, virtual
    servers with every checker kind) and per-host values from host_vars
    (C(tandem_vrrp_overrides)). Every host's tandemd.conf is rendered by the runtime's writer and checked
    by the runtime's own config checks (those of C(tandemd -t)), so nothing accepted here fails them.
  - Returns the plan the C(tandem.ha.tandemd) role renders C(/etc/tandem/tandemd.conf) from and the DNS
    record sets the C(tandem.ha.dns_round_robin) role publishes. The data format is described in
    C(docs/inventory.md).
  - Runs on the controller only, with the runtime shipped in the collection (C(runtime/src)); the controller's
    Python needs the collection's C(requirements.txt) (voluptuous). Run it once per play (C(run_once=true));
    without it the task warns.
  - Shows a summary (per instance its VIPs, master and backups with priorities, DNS names, warnings); with
    C(-v) the whole plan with passwords masked. The task result itself is never displayed, because the
    plan carries the VRRP passwords the C(tandem.ha.tandemd) role writes into the configuration.
options:
  vrrp_groups:
    description:
      - The VRRP groups. Defaults to the variable V(tandem_vrrp_groups).
    type: raw
  active_active:
    description:
      - The active-active sets. Defaults to the variable V(tandem_active_active).
    type: raw
  virtual_servers:
    description:
      - The virtual servers (load balancing) and the hosts running them. Defaults to the variable
        V(tandem_virtual_servers).
    type: raw
  global_settings:
    description:
      - Design-wide settings (mail for smtp_alert, notify FIFOs and their scripts, script user and security).
        Defaults to the variable V(tandem_global).
    type: raw
author:
  - Tandem team (@tandem)
attributes:
  check_mode:
    support: full
    description: Changes nothing in any mode; check mode gives the same result.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
  platform:
    support: full
    platforms: all
    description: Runs on the controller.
notes:
  - Members are inventory host names; a Jinja expression such as C("{{ groups['lb_web'] }}") lists an
    inventory group.
  - The complete inventory model (every field, rule and the plan format) is C(docs/inventory.md) in the
    installed collection (C(ansible_collections/tandem/ha/docs/inventory.md)).
seealso:
  - module: tandem.ha.vrrp_status
  - name: RFC 9568
    description: Virtual Router Redundancy Protocol (VRRP) Version 3 for IPv4 and IPv6.
    link: https://www.rfc-editor.org/rfc/rfc9568
  - name: keepalived.conf(5)
    description: The configuration language tandemd reads and the role writes.
    link: https://www.keepalived.org/manpage.html
"""

EXAMPLES = r"""
# In a play over the load balancers: plan once for the whole inventory, every host sees the result.
- name: Plan all VRRP groups and active-active sets of the inventory
  tandem.ha.vrrp_plan:
  run_once: true
  register: tandem_plan

- name: Show the instances this host runs
  ansible.builtin.debug:
    var: tandem_plan.plan.hosts[inventory_hostname].instances

- name: Validate a design given explicitly instead of the inventory variables
  tandem.ha.vrrp_plan:
    vrrp_groups:
      - name: web
        vrid: 51
        interface: eth0
        vips: [198.51.100.10/24]
        members: [lb1, lb2]
    active_active: []
"""

RETURN = r"""
msg:
  description: A summary, or on failure every error, one per line.
  returned: always
  type: str
plan:
  description: The plan; empty lists and mappings when there is any error. See docs/inventory.md.
  returned: always
  type: dict
  contains:
    hosts:
      description:
        - Per inventory host that runs something, its part of the plan (the C(tandem.ha.tandemd) role
          renders it into C(/etc/tandem/tandemd.conf) with the runtime's own writer). C(docs/inventory.md)
          has every key.
        - C(instances), one C(vrrp_instance) each, with name, source, interface, vrid, priority, state (MASTER
          or BACKUP), advert_int, version, vips (address/prefix), unicast_src, unicast_peers, auth (a secret),
          track_scripts, track_files and track_processes (references by name, with weights),
          track_interfaces, notify, sync_group, vip_options, excluded_vips, preempt, preempt_delay, accept,
          garp, virtual_routes, virtual_rules, smtp_alert, use_vmac, vmac_xmit_base and unicast_ttl.
        - C(scripts) (vrrp_script blocks), C(track_files) (track_file blocks) and C(track_processes)
          (vrrp_track_process blocks), each defined once per host.
        - C(sync_groups) (name and the instance names of its group), C(virtual_servers) (as written in
          V(tandem_virtual_servers), plus source), C(files) (scripts the role ships from the controller,
          with src, dest and mode), C(sysctls) (kernel settings the role writes when the design needs them),
          C(global_defs) (from V(tandem_global), in keepalived keywords) and C(smtp_auth_password) (a
          secret, written by the role to the file C(smtp_auth_password_file) names, or null).
      type: dict
      sample:
        lb1:
          instances:
            - name: web
              source: web
              interface: eth0
              vrid: 51
              priority: 150
              state: MASTER
              advert_int: 1
              version: 2
              vips: [198.51.100.10/24]
              unicast_src: null
              unicast_peers: []
              auth: null
              track_scripts: [{name: chk_nginx, weight: -20}]
              track_files: []
              track_processes: []
              track_interfaces: [{name: eth1, weight: 0}]
              notify: {master: /etc/tandem/scripts/became-master}
              sync_group: null
              vip_options: [{}]
              excluded_vips: []
              preempt: true
              preempt_delay: null
              accept: null
              garp: {}
              virtual_routes: []
              virtual_rules: []
              smtp_alert: null
              use_vmac: null
              vmac_xmit_base: null
              unicast_ttl: null
          scripts:
            - {name: chk_nginx, source: web, script: "pidof nginx", interval: 2, timeout: null, fall: 2,
               rise: 1, user: null}
          track_files: []
          track_processes: []
          sync_groups: []
          virtual_servers: []
          files:
            - {src: files/became-master, dest: /etc/tandem/scripts/became-master, mode: "0700"}
          sysctls: {}
          global_defs: {}
          smtp_auth_password: null
    instances:
      description: Every instance once, with its planned master and members by priority (for drills).
      type: list
      elements: dict
      sample:
        - name: web
          source: web
          vrid: 51
          vips: [198.51.100.10/24]
          master: lb1
          members:
            - {host: lb1, priority: 150, interface: eth0}
            - {host: lb2, priority: 140, interface: eth0}
    real_server_sysctls:
      description: The sysctls DR real servers that run no tandemd need (arp_ignore, arp_announce), per host.
      type: dict
      sample: {web1: {net.ipv4.conf.all.arp_ignore: 1, net.ipv4.conf.all.arp_announce: 2}}
    dns_records:
      description: The DNS record sets to publish, one per name; C(server) only when configured.
      type: list
      elements: dict
      sample:
        - name: www.example.com.
          zone: example.com.
          addresses: [198.51.100.20, 198.51.100.21]
          ttl: 30
          source: www
findings:
  description: Every error and warning, structured.
  returned: always
  type: list
  elements: dict
  sample:
    - severity: error
      group: web
      host: lb1
      field: track_scripts[0].weight
      message: "track script chk_nginx weight -5 can never cause a failover: ..."
"""
