"""Quick comparison with raw pymemcache (benchmarks proper live elsewhere).

    python plugins/dalcore-memcached/bench_quick.py

Starts its own memcached on a free loopback port, stops it at the end.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import orjson
from pymemcache.client.base import Client

import dalcore
from dalcore.testing import ServerProcess, free_port

DOC = {
    "guid": "6f1c2a9e-3b1d-4d0e-9a4e-2a5b9c8d7e6f",
    "name": "podmanager-01",
    "url": "https://10.0.0.1:8443",
    "driver": "redfishv1",
    "status": "online",
    "description": "rack 4, row B",
    "location": {"rack": 4, "row": "B"},
    "ports": [8443, 8080],
    "enabled": True,
    "load": 0.42,
}


def compare_us(
    raw: Callable[[], object], ours: Callable[[], object], calls: int, rounds: int = 15
) -> tuple[float, float]:
    """Median per-call time of each, in microseconds, measured in alternating rounds so that
    the noise of a shared machine hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for func, out in ((raw, times[0]), (ours, times[1])):
            start = time.perf_counter()
            for _ in range(calls):
                func()
            out.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    port = free_port()
    argv = ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-u", "root"]
    with ServerProcess("memcached", lambda: argv, port):
        cache = dalcore.open_volatile(f"memcached://127.0.0.1:{port}")
        raw = Client(("127.0.0.1", port), default_noreply=False, no_delay=True)
        keys = [f"bench/{index:03d}" for index in range(100)]
        cache.set("doc", DOC)
        cache.set_many({key: DOC for key in keys})
        raw_keys = [key.encode() for key in keys]

        def raw_get() -> object:
            return orjson.loads(raw.get(b"doc"))

        def raw_get_many() -> object:
            found = raw.get_many(raw_keys)
            return [orjson.loads(found[key]) for key in raw_keys]

        rows = [
            ("get 10-field dict", *compare_us(raw_get, lambda: cache.get("doc"), 1000)),
            ("get_many(100)", *compare_us(raw_get_many, lambda: cache.get_many(keys), 100)),
        ]
        print(
            f"{'operation':<20}{'raw pymemcache+orjson':>24}{'dalcore-memcached':>20}{'ratio':>8}"
        )
        for name, raw_us, ours_us in rows:
            print(f"{name:<20}{raw_us:>21.1f} us{ours_us:>17.1f} us{ours_us / raw_us:>8.2f}")
        cache.close()
        raw.close()


if __name__ == "__main__":
    main()
