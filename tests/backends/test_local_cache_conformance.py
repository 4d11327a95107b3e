"""The in-process ``memory://`` cache against the generic conformance suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import dalcore
from dalcore.api import VolatileCache
from dalcore.testing import VolatileCacheConformance


class TestLocalCache(VolatileCacheConformance):
    @pytest.fixture
    def cache(self) -> Iterator[VolatileCache]:
        cache = dalcore.open_volatile("memory://")
        yield cache
        cache.close()
