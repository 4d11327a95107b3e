"""How the client choices were made (docs/redis.md): ``python bench_parsers.py``.

Starts a throwaway redis-server, then times, alternately in one process:
* a guarded commit (one revision check, two puts) as dalcore's Lua script against the same
  through WATCH/MULTI, which takes a round trip for WATCH and GET before the transaction;
* GET and an MGET of 100 values with whichever reply parser redis-py finds (run it with and
  without ``hiredis`` installed to compare).
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import timeit
from collections.abc import Callable

import redis
from redis.utils import HIREDIS_AVAILABLE

import dalcore
from dalcore.api import Put, RevisionIs
from dalcore.testing import free_port, wait_for_port


def per_call(operation: Callable[[], object], number: int = 300) -> float:
    runs = [min(timeit.repeat(operation, number=number, repeat=3)) / number for _ in range(3)]
    return statistics.median(runs) * 1e6


def main() -> None:
    port = free_port()
    workdir = tempfile.mkdtemp()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 10)
        store = dalcore.open_persistent(f"redis://127.0.0.1:{port}/0?prefix=bench:")
        revision = [store.set("obj", b"x" * 300)]

        def lua() -> None:
            revision[0] = store.commit(
                [Put("obj", b"y" * 300), Put("idx", b"")], [RevisionIs("obj", revision[0])]
            )

        client = redis.Redis(port=port)
        client.set("w:obj", b"x" * 300)

        def watch_multi() -> None:
            with client.pipeline() as pipe:
                pipe.watch("w:obj")
                pipe.get("w:obj")  # the check, read by the client
                pipe.multi()
                pipe.incr("w:rev")
                pipe.set("w:obj", b"y" * 300)
                pipe.set("w:idx", b"")
                pipe.zadd("w:keys", {"obj": 0, "idx": 0})
                pipe.xadd("w:log", {"k": "obj"})
                pipe.xadd("w:log", {"k": "idx"})
                pipe.execute()

        for name, operation in [("commit, Lua script", lua), ("commit, WATCH/MULTI", watch_multi)]:
            print(f"{name}: {per_call(operation):.1f} us")
        keys = [f"k{i}" for i in range(100)]
        for key in keys:
            client.set(key, b"x" * 300)
        parser = "hiredis" if HIREDIS_AVAILABLE else "pure-Python parser"
        print(f"GET ({parser}): {per_call(lambda: client.get('k1')):.1f} us")
        print(f"MGET of 100 ({parser}): {per_call(lambda: client.mget(keys)):.1f} us")
        store.close()
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
