"""The engine behaviour suite: what hybrids must do on any store and cache.

A backend's test module subclasses :class:`EngineBehaviour` and provides fixtures::

    from dalcore.testing.engine import EngineBehaviour

    class TestEngineOnMyStore(EngineBehaviour):
        @pytest.fixture
        def backends(self, tmp_path):      # a fresh, EMPTY store and cache (instances or URLs)
            return MyStore(tmp_path / "db"), dalcore.open_volatile("memory://")

        @pytest.fixture
        def backend_urls(self, tmp_path):  # optional: URLs other processes open for the SAME data
            return f"my://{tmp_path}/db", "memory://"

Every test configures dalcore with the two backends under a namespace of its own, wrapped in
pass-through proxies (:mod:`dalcore.testing._instrument`) that count round trips and let a test
run a concurrent save exactly inside a load. The tests rely only on the backend contracts, so
they hold for any store and cache that pass the conformance suite. Multi-process tests run only
when ``backend_urls`` is given; with a per-process cache (``memory://``) each process has its own
cache, which is correct only for objects a process has not cached before (the tests respect that).
"""

from __future__ import annotations

from dalcore.testing.engine._base import Dal, EngineBase
from dalcore.testing.engine.caching import CachingBehaviour
from dalcore.testing.engine.concurrency import ConcurrencyBehaviour
from dalcore.testing.engine.declarations import DeclarationBehaviour
from dalcore.testing.engine.dynamics import DynamicBehaviour
from dalcore.testing.engine.objects import ObjectBehaviour
from dalcore.testing.engine.relations import RelationBehaviour
from dalcore.testing.original_forms import OriginalFormsBehaviour

__all__ = [
    "CachingBehaviour",
    "ConcurrencyBehaviour",
    "Dal",
    "DeclarationBehaviour",
    "DynamicBehaviour",
    "EngineBase",
    "EngineBehaviour",
    "ObjectBehaviour",
    "RelationBehaviour",
]


class EngineBehaviour(
    DeclarationBehaviour,
    ObjectBehaviour,
    RelationBehaviour,
    DynamicBehaviour,
    CachingBehaviour,
    ConcurrencyBehaviour,
    OriginalFormsBehaviour,
):
    """The whole engine suite on the backends the subclass provides (see the module doc).

    Its parts, one module each, can also be run alone: subclass one of them instead.
    """
