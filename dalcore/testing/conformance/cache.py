"""The volatile cache suite."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dalcore.api import (
    NO_VALUE,
    VolatileCache,
)
from dalcore.testing.conformance._shared import (
    ODD_KEYS,
    _cache_add_worker,
    run_processes,
)

# -- the volatile cache suite -------------------------------------------------------------

_JSON_VALUES: dict[str, Any] = {
    "none": None,
    "true": True,
    "false": False,
    "zero": 0,
    "int": -(2**53),
    "float": 0.1,
    "big-float": 1.5e300,
    "empty-str": "",
    "str": "h\u00e9llo \u65e5\u672c \U0001f600",
    "list": [1, "two", 3.0, None, [], {}],
    "dict": {"a": {"b": [True, False, None]}, "\u00fc": 1.25, "": "empty key"},
    "big": {"blob": "x" * 100_000},
}


class VolatileCacheConformance:
    """Tests every :class:`~dalcore.api.VolatileCache` must pass (subclass it, see above)."""

    @pytest.fixture
    def cache(self) -> Iterator[VolatileCache]:
        raise NotImplementedError(f"{type(self).__name__} must define a `cache` fixture")

    @pytest.fixture
    def cache_url(self) -> str:
        pytest.skip("backend is per-process: no cache_url fixture, multi-process tests skipped")

    def test_miss_is_no_value(self, cache: VolatileCache) -> None:
        assert cache.get("missing") is NO_VALUE
        assert cache.get_many(["missing", "other"]) == [NO_VALUE, NO_VALUE]
        assert cache.get_many([]) == []

    def test_none_is_a_real_value(self, cache: VolatileCache) -> None:
        cache.set("k", None)
        assert cache.get("k") is None
        assert cache.get_many(["k"]) == [None]
        assert cache.add("k", 1) is False

    def test_json_values_round_trip(self, cache: VolatileCache) -> None:
        for key, value in _JSON_VALUES.items():
            cache.set(key, value)
        for key, value in _JSON_VALUES.items():
            got = cache.get(key)
            assert got == value and type(got) is type(value), key
        assert cache.get_many(list(_JSON_VALUES)) == list(_JSON_VALUES.values())

    def test_set_overwrites(self, cache: VolatileCache) -> None:
        cache.set("k", "one")
        cache.set("k", {"two": 2})
        assert cache.get("k") == {"two": 2}

    def test_get_many_keeps_order_and_duplicates(self, cache: VolatileCache) -> None:
        cache.set_many({"a": 1, "b": [2], "c": "3"})
        assert cache.get_many(["c", "missing", "a", "c", "b"]) == ["3", NO_VALUE, 1, "3", [2]]

    def test_unusual_keys(self, cache: VolatileCache) -> None:
        keys = [*ODD_KEYS[:16], "x" * 300, "guid/6f1c2a9e-3b1d-4d0e-9a4e-2a5b9c8d7e6f:field"]
        cache.set_many({key: index for index, key in enumerate(keys)})
        assert cache.get_many(keys) == list(range(len(keys)))
        cache.delete_many(keys[::2])
        assert cache.get_many(keys) == [
            NO_VALUE if index % 2 == 0 else index for index in range(len(keys))
        ]

    def test_delete(self, cache: VolatileCache) -> None:
        cache.set_many({"a": 1, "b": 2, "c": 3})
        cache.delete("a")
        cache.delete("never")
        assert cache.get_many(["a", "b"]) == [NO_VALUE, 2]
        cache.delete_many(["b", "c", "never"])
        cache.delete_many([])
        assert cache.get_many(["a", "b", "c"]) == [NO_VALUE] * 3

    def test_add(self, cache: VolatileCache) -> None:
        assert cache.add("k", "first") is True
        assert cache.add("k", "second") is False
        assert cache.get("k") == "first"
        cache.delete("k")
        assert cache.add("k", {"third": 3}) is True
        assert cache.get("k") == {"third": 3}

    def test_gets_then_cas(self, cache: VolatileCache) -> None:
        assert cache.gets("k") == (NO_VALUE, None)
        assert cache.cas("k", "first", None) is True  # token None: only while absent
        assert cache.cas("k", "again", None) is False
        value, token = cache.gets("k")
        assert value == "first" and token is not None
        assert cache.cas("k", ["second"], token) is True
        assert cache.get("k") == ["second"]

    def test_cas_loses_to_any_write_in_between(self, cache: VolatileCache) -> None:
        # A cache may refuse every cas on an existing key (the default): then nothing below
        # is stored, which is also correct. What must never happen is an overwrite.
        writes: list[Callable[[], None]] = [
            lambda: cache.set("k", "other"),
            lambda: cache.set_many({"k": "other"}),
            lambda: cache.delete("k"),
        ]
        for write in writes:
            cache.set("k", "seen")
            _, token = cache.gets("k")
            write()
            before = cache.get("k")
            assert cache.cas("k", "late", token) is False
            assert cache.get("k") == before
        cache.set("k", "seen")
        _, token = cache.gets("k")
        cache.delete("k")
        assert cache.add("k", "re-added") is True
        assert cache.cas("k", "late", token) is False
        assert cache.get("k") == "re-added"

    def test_cas_race_between_threads(self, cache: VolatileCache) -> None:
        threads = 8
        cache.set("k", "start")
        tokens = [cache.gets("k")[1] for _ in range(threads)]
        barrier = threading.Barrier(threads)
        wins: list[int] = []

        def work(me: int) -> None:
            barrier.wait(30)
            if cache.cas("k", me, tokens[me]):
                wins.append(me)

        workers = [threading.Thread(target=work, args=(me,)) for me in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert len(wins) <= 1, f"{len(wins)} threads replaced the same entry: {wins}"
        assert cache.get("k") == (wins[0] if wins else "start")

    def test_incr(self, cache: VolatileCache) -> None:
        assert cache.incr("n") == 1
        assert cache.incr("n") == 2
        assert cache.incr("n", 10) == 12
        assert cache.get("n") == 12
        assert cache.incr("m", 5) == 5
        cache.set("s", 40)
        assert cache.incr("s", 2) == 42
        assert cache.get("s") == 42

    def test_incr_from_threads_is_atomic(self, cache: VolatileCache) -> None:
        threads, times = 8, 50
        barrier = threading.Barrier(threads)
        seen: list[int] = []

        def work() -> None:
            barrier.wait(30)
            seen.extend(cache.incr("n") for _ in range(times))

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert sorted(seen) == list(range(1, threads * times + 1))
        assert cache.get("n") == threads * times

    def test_clear(self, cache: VolatileCache) -> None:
        cache.set_many({"a": 1, "b": None, "c": [3]})
        cache.clear()
        assert cache.get_many(["a", "b", "c"]) == [NO_VALUE] * 3
        cache.set("a", 2)
        assert cache.get("a") == 2

    @pytest.mark.slow
    def test_ttl_expiry(self, cache: VolatileCache) -> None:
        cache.set("set", 1, ttl=1)
        cache.set_many({"many/1": 1, "many/2": None}, ttl=1)
        assert cache.add("added", 1, ttl=1)
        assert cache.incr("counted", 1, ttl=1) == 1
        cache.set("forever", "f", ttl=None)
        cache.set("long", "l", ttl=120)
        short = ["set", "many/1", "many/2", "added", "counted"]
        assert cache.get_many(short) == [1, 1, None, 1, 1]
        time.sleep(2.5)  # memcached counts whole seconds: ttl=1 ends within 2s
        assert cache.get_many([*short, "forever", "long"]) == [NO_VALUE] * 5 + ["f", "l"]
        assert cache.add("added", 2) is True

    def test_add_race_between_threads(self, cache: VolatileCache) -> None:
        threads, rounds = 12, 10
        barrier = threading.Barrier(threads)
        wins: dict[str, list[int]] = {f"race/{r}": [] for r in range(rounds)}
        errors: list[BaseException] = []

        def work(me: int) -> None:
            try:
                for key in wins:
                    barrier.wait(30)
                    if cache.add(key, me, ttl=60):
                        wins[key].append(me)
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(me,)) for me in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert not errors, errors
        for key, winners in wins.items():
            assert len(winners) == 1, f"{key}: {len(winners)} threads won add()"
            assert cache.get(key) == winners[0]

    @pytest.mark.slow
    def test_add_race_between_processes(self, cache: VolatileCache, cache_url: str) -> None:
        results = run_processes(_cache_add_worker, [(cache_url, "race")] * 4)
        winners = [pid for won, pid in results if won]
        assert len(winners) == 1, f"{len(winners)} processes won add(): {results}"
        assert cache.get("race") == winners[0]
