"""Behaviour suite for queries, indexes, unique values, the query cache, transactions and mutexes.

Like the store conformance suite, a backend's tests subclass :class:`QueryBehaviour` and provide
the fixture ``backends`` returning a fresh ``(PersistentStore, VolatileCache)``; the optional
``backend_urls`` fixture returns ``(persistent_url, volatile_url)`` that other processes can
open to reach the same data, enabling the multi-process tests. The suite configures dalcore with
a unique namespace per test.
"""

from __future__ import annotations

from dalcore.testing.queries._base import QueryBase
from dalcore.testing.queries.cached import QueryCacheBehaviour
from dalcore.testing.queries.matching import MatchingBehaviour

__all__ = ["MatchingBehaviour", "QueryBase", "QueryBehaviour", "QueryCacheBehaviour"]


class QueryBehaviour(MatchingBehaviour, QueryCacheBehaviour):
    """Queries, indexes, unique values, query cache, transactions and mutexes (both parts)."""
