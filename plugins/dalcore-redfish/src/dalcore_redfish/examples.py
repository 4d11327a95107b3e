"""Example hybrids modelled on OpenStack Valence: a pod manager and the systems behind it.

Valence computed a pod manager's status once and never refreshed it, and read node state live
on every request. Here both are dynamics: read from the BMC, cached for a few seconds, and
invalidated by the actions that change them.

Importing this module defines the hybrids (and so asks dalcore's plugin manager for their
loaders); the plugin's entry-point module never imports it.
"""

from __future__ import annotations

from dalcore import DataObject, Dynamic, Property, Relation
from dalcore_redfish.actions import reset
from dalcore_redfish.sources import (
    service_root_attribute,
    service_root_status,
    system_attribute,
    system_nics,
)

__all__ = ["ComposedNode", "PodManager"]


class PodManager(DataObject):
    """A Redfish service (Valence's pod manager); ``url`` is its base URL."""

    __properties = [
        Property("name", str, doc="Display name"),
        Property("url", str, doc="Base URL of the Redfish service, e.g. https://10.0.0.5"),
        Property("description", str, default="", mandatory=False),
        Property("location", str, default="", mandatory=False),
    ]
    __dynamics = [
        # Reachability changes rarely and matters for every listing: 10 s is fresh enough.
        Dynamic("status", str, 10, doc="Online / Offline", source=service_root_status()),
        Dynamic("redfish_version", str, 300, source=service_root_attribute("RedfishVersion")),
    ]


_BMC = "pod_manager.url"  # the systems are reached through their pod manager's service


class ComposedNode(DataObject):
    """A ComputerSystem behind a pod manager (Valence's composed node)."""

    __properties = [
        Property("name", str),
        Property("system_id", str, doc="Redfish ComputerSystem Id (or its full path)"),
    ]
    __relations = [Relation("pod_manager", PodManager, "nodes")]
    __dynamics = [
        # Power flips when someone presses a button or runs an action: keep it short.
        Dynamic("power_state", str, 5, source=system_attribute("PowerState", address=_BMC)),
        # Health is read by every dashboard at once: locked, so a cold cache costs one request.
        Dynamic(
            "health",
            str,
            10,
            locked=True,
            source=system_attribute("Status.Health", address=_BMC),
        ),
        # Inventory only changes with a recomposition or a service visit.
        Dynamic(
            "memory_gib",
            float,
            300,
            source=system_attribute("MemorySummary.TotalSystemMemoryGiB", address=_BMC),
        ),
        Dynamic(
            "processor_count",
            int,
            300,
            source=system_attribute("ProcessorSummary.Count", address=_BMC),
        ),
        Dynamic("macs", list, 300, source=system_nics(address=_BMC)),
    ]

    def reset(self, reset_type: str) -> list[str]:
        """Run the Reset action (``On``, ``ForceOff``, ``GracefulRestart``, ...)."""
        return reset(self, reset_type)
