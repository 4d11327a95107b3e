"""The entry point dalcore loads (group ``dalcore.plugins``, name ``redfish``).

It must stay importable without defining hybrids: dalcore imports it while its plugin manager
is being set up, and hybrid classes ask that manager for loaders when they are created.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dalcore.hookspecs import Provided, hookimpl
from dalcore_redfish.sources import RedfishSource


@hookimpl
def dalcore_provides() -> Sequence[Provided]:
    return [Provided("loader", "redfish", "dynamics read from Redfish BMCs (sushy)")]


@hookimpl
def dalcore_dynamic_loader(hybrid: type, dynamic: Any) -> Callable[[Any], Any] | None:
    source = getattr(dynamic, "source", None)
    if not isinstance(source, RedfishSource):
        return None
    return source.bind(hybrid, dynamic.name)
