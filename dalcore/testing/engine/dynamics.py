"""Dynamics: computed, type-checked, cached for their timeout, locked across processes."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from dalcore import (
    DynamicError,
    UnknownFieldError,
)
from dalcore.testing._engine_hybrids import (
    Gauge,
)
from dalcore.testing.conformance._shared import _wait_until
from dalcore.testing.engine._base import (
    Dal,
    EngineBase,
    _calls,
)


class DynamicBehaviour(EngineBase):
    """Dynamics: computed, type-checked, cached for their timeout, locked across processes."""

    # == Dynamics =============================================================================

    def test_dynamic_cached_for_its_timeout(self, dal: Dal) -> None:
        gauge = self._gauge(level=1)
        assert gauge.cached == 1
        assert gauge.cached == 1
        assert Gauge(gauge.guid).cached == 1  # another instance reads the cached value
        assert _calls(gauge, "cached") == 1
        gauge.level = 2
        gauge.save()
        # Expiry is the cache's business (memcached rounds to whole seconds): wait for it.
        assert _wait_until(lambda: gauge.cached == 2), "cached dynamic never expired"
        assert _calls(gauge, "cached") == 2

    def test_dynamic_with_timeout_zero_is_never_cached(self, dal: Dal) -> None:
        gauge = self._gauge(level=4)
        assert [gauge.uncached for _ in range(3)] == [4, 4, 4]
        assert _calls(gauge, "uncached") == 3

    def test_none_is_a_cacheable_dynamic_value(self, dal: Dal) -> None:
        gauge = self._gauge()
        assert gauge.nothing is None and gauge.nothing is None
        assert _calls(gauge, "nothing") == 1

    def test_dynamic_value_is_type_checked_and_not_cached(self, dal: Dal) -> None:
        gauge = self._gauge()
        for _ in range(2):
            with pytest.raises(DynamicError) as caught:
                _ = gauge.wrong
            assert (caught.value.owner, caught.value.name) == ("Gauge", "wrong")
            assert gauge.guid in str(caught.value) and "int" in str(caught.value)
        assert _calls(gauge, "wrong") == 2

    def test_raising_loader_breaks_only_its_dynamic(self, dal: Dal) -> None:
        gauge = self._gauge(level=6)
        with pytest.raises(DynamicError) as caught:
            _ = gauge.broken
        assert (caught.value.owner, caught.value.guid, caught.value.name) == (
            "Gauge",
            gauge.guid,
            "broken",
        )
        assert "sensor unplugged" in str(caught.value)
        assert isinstance(caught.value.__cause__, RuntimeError)
        assert (gauge.cached, gauge.uncached, gauge.described) == (6, 6, "described/0")
        data = gauge.serialize()
        assert data["broken"] is None and data["wrong"] is None and data["cached"] == 6
        assert set(data["_errors"]) == {"broken", "wrong"}
        json.dumps(data)

    def test_locked_dynamic_runs_once_for_many_threads(self, dal: Dal) -> None:
        gauge = self._gauge(level=4)
        threads = 16
        barrier = threading.Barrier(threads)
        results: list[Any] = []

        def read() -> None:
            mine = Gauge(gauge.guid)
            barrier.wait(30)
            try:
                results.append(mine.slow)
            except Exception as exc:  # reported through the results
                results.append(exc)

        workers = [threading.Thread(target=read) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert results == [40] * threads
        assert _calls(gauge, "slow") == 1

    def test_invalidate_dynamics(self, dal: Dal) -> None:
        gauge = self._gauge(level=1)
        assert (gauge.cached, gauge.nothing) == (1, None)
        gauge.level = 7
        gauge.save()
        gauge.invalidate_dynamics("cached")
        assert gauge.cached == 7 and gauge.nothing is None
        assert (_calls(gauge, "cached"), _calls(gauge, "nothing")) == (2, 1)
        gauge.invalidate_dynamics()
        assert gauge.nothing is None and _calls(gauge, "nothing") == 2
        with pytest.raises(UnknownFieldError):
            gauge.invalidate_dynamics("level")

    def test_a_dynamic_read_again_follows_invalidation_elsewhere(self, dal: Dal) -> None:
        # A per-process cache lets an object keep the value it read; that copy must still
        # give way to invalidate_dynamics() on another instance and to a cleared cache.
        gauge = self._gauge(level=1)
        reader, other = Gauge(gauge.guid), Gauge(gauge.guid)
        assert [reader.cached for _ in range(5)] == [1] * 5
        assert other.cached == 1 and _calls(gauge, "cached") == 1
        other.invalidate_dynamics("cached")
        assert reader.cached == 1 and _calls(gauge, "cached") == 2  # computed again
        dal.cache.clear()
        assert reader.cached == 1 and _calls(gauge, "cached") == 3
        assert other.cached == 1 and _calls(gauge, "cached") == 3  # the value just filled
