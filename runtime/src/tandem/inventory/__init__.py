"""Inventory model of the tandem.ha collection: VRRP groups and active-active sets, validated across the
whole inventory and planned into the VRRP instances each host runs. Data format: docs/inventory.md."""

from .findings import Finding, Severity
from .plan import InventoryPlan, plan_inventory

__all__ = ["Finding", "InventoryPlan", "Severity", "plan_inventory"]
