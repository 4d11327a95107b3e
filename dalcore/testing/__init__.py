"""Test support for dalcore and its backend plugins: real servers and the conformance suite.

The conformance classes load lazily: importing :mod:`dalcore.testing` for its server helpers
(e.g. from a benchmark) does not need pytest or Hypothesis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dalcore.testing.servers import ServerProcess, free_port, require_binary, wait_for_port

if TYPE_CHECKING:
    from dalcore.testing.conformance import PersistentStoreConformance, VolatileCacheConformance

__all__ = [
    "PersistentStoreConformance",
    "ServerProcess",
    "VolatileCacheConformance",
    "free_port",
    "require_binary",
    "wait_for_port",
]

_CONFORMANCE = {"PersistentStoreConformance", "VolatileCacheConformance"}


def __getattr__(name: str) -> Any:
    if name in _CONFORMANCE:
        import pytest

        # Plain ``assert`` in the suite then reports values, as in the caller's own tests.
        pytest.register_assert_rewrite(
            "dalcore.testing.conformance", "dalcore.testing._store_machine"
        )
        from dalcore.testing import conformance

        return getattr(conformance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
