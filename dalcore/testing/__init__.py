"""Test support for dalcore and its backend plugins: real servers and the shared suites.

* :class:`PersistentStoreConformance`, :class:`VolatileCacheConformance`: the backend contract;
* :class:`EngineBehaviour`: hybrids on a given store and cache;
* :class:`QueryBehaviour`: queries, indexes, unique values, transactions, mutexes.

The suites load lazily: importing :mod:`dalcore.testing` for its server helpers (e.g. from a
benchmark) does not need pytest or Hypothesis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dalcore.testing.servers import (
    ServerProcess,
    emptied_store,
    free_port,
    require_binary,
    require_module,
    wait_for_port,
)

if TYPE_CHECKING:
    from dalcore.testing.conformance import PersistentStoreConformance, VolatileCacheConformance
    from dalcore.testing.engine import EngineBehaviour
    from dalcore.testing.queries import QueryBehaviour

__all__ = [
    "EngineBehaviour",
    "PersistentStoreConformance",
    "QueryBehaviour",
    "ServerProcess",
    "VolatileCacheConformance",
    "emptied_store",
    "free_port",
    "require_binary",
    "require_module",
    "wait_for_port",
]

_SUITES = {
    "PersistentStoreConformance": "dalcore.testing.conformance",
    "VolatileCacheConformance": "dalcore.testing.conformance",
    "EngineBehaviour": "dalcore.testing.engine",
    "QueryBehaviour": "dalcore.testing.queries",
}


def __getattr__(name: str) -> Any:
    module = _SUITES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    import pytest

    # Plain ``assert`` in the suites then reports values, as in the caller's own tests.
    pytest.register_assert_rewrite(*sorted(set(_SUITES.values())), "dalcore.testing._store_machine")
    return getattr(importlib.import_module(module), name)
