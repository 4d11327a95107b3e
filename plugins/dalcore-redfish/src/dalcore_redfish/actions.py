"""Actions: change hardware state, then drop the cached dynamics that the change makes stale."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dalcore_redfish.errors import ActionError, RedfishConfigurationError, RedfishError
from dalcore_redfish.sources import (
    SystemAttribute,
    SystemNICs,
    _property,
    _who,
    bound_sources,
    system_path,
)

__all__ = ["RESET_TYPES", "reset"]

#: The ResetType values of the Redfish schema (a BMC may offer only some of them).
RESET_TYPES = frozenset(
    {
        "On",
        "ForceOff",
        "GracefulShutdown",
        "GracefulRestart",
        "ForceRestart",
        "Nmi",
        "ForceOn",
        "PushPowerButton",
        "PowerCycle",
        "Suspend",
        "Pause",
        "Resume",
    }
)
_ACTION = "#ComputerSystem.Reset"


def reset(
    obj: Any,
    reset_type: str,
    *,
    address: str | None = None,
    system_id: str | None = None,
    invalidate: Iterable[str] | None = None,
) -> list[str]:
    """POST the ComputerSystem.Reset action of ``obj``'s system; returns the dynamics dropped.

    Where the system is comes from ``address``/``system_id`` (property paths) or else from the
    Redfish system dynamics ``obj``'s class declares. Afterwards every such dynamic is
    invalidated (or exactly ``invalidate``), so the next read asks the BMC again. BMCs apply power
    changes asynchronously: the next read may still show the old state for a while.
    """
    if reset_type not in RESET_TYPES:
        raise RedfishConfigurationError(
            f"unknown ResetType {reset_type!r}; one of {', '.join(sorted(RESET_TYPES))}"
        )
    system_sources = {
        name: source
        for name, source in bound_sources(type(obj)).items()
        if isinstance(source, SystemAttribute | SystemNICs)
    }
    if address is None or system_id is None:
        if not system_sources:
            owner, guid = _who(obj)
            raise RedfishConfigurationError(
                f"{owner} {guid!r}: declares no Redfish system dynamic; "
                "pass address= and system_id= to reset()"
            )
        first = next(iter(system_sources.values()))
        assert isinstance(first, SystemAttribute | SystemNICs)
        address = address or first.address
        system_id = system_id or first.system_id

    from dalcore_redfish.client import client_for

    client = client_for(_property(obj, address, "BMC address"))
    path = system_path(_property(obj, system_id, "system id"))
    try:
        action = client.get_json(path).get("Actions", {}).get(_ACTION)
        if not isinstance(action, dict) or not isinstance(action.get("target"), str):
            raise ActionError(client.bmc, path, f"system offers no {_ACTION} action")
        allowed = action.get("ResetType@Redfish.AllowableValues")
        if isinstance(allowed, list) and reset_type not in allowed:
            raise ActionError(
                client.bmc,
                action["target"],
                f"ResetType {reset_type!r} not offered; allowed: {', '.join(map(str, allowed))}",
            )
        client.post(action["target"], {"ResetType": reset_type})
    except RedfishError as exc:
        raise exc.about(*_who(obj)) from None
    names = list(system_sources) if invalidate is None else list(invalidate)
    if names:
        obj.invalidate_dynamics(*names)
    return names
