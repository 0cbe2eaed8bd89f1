"""keepalived.conf text for lab hosts running many VRRP instances (tests and benchmarks)."""

from __future__ import annotations

VIP_NET = "203.0.113.0/24"  # every VIP is 203.0.113.<vrid>/32; flushing this prefix cleans up


def vip(vrid: int) -> str:
    return f"203.0.113.{vrid}"


def vrrp_config(
    host, *, version: int, advert: float, priority: int, instances: int = 1, state: str = "BACKUP"
) -> str:
    """keepalived.conf text with ``instances`` instances on ``host`` (VRID n holds VIP 203.0.113.n/32)."""
    blocks = [f"global_defs {{\n  vrrp_version {version}\n}}\n"]
    for vrid in range(1, instances + 1):
        blocks.append(
            f"vrrp_instance VI_{vrid} {{\n  state {state}\n  interface {host.ifname}\n"
            f"  virtual_router_id {vrid}\n  priority {priority}\n  advert_int {advert:g}\n"
            f"  virtual_ipaddress {{\n    {vip(vrid)}/32\n  }}\n}}\n"
        )
    return "".join(blocks)
