"""What the cases run against: real servers on free ports, a cache that holds nothing, counters.

Servers are started the way the tests start them (:mod:`dalcore.testing.servers`) and only when
a case first needs them; a missing binary or plugin makes the cases that need it report a skip
naming what is missing.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import os
import platform
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from dalcore.benchmarks._harness import Settings
from dalcore.testing.servers import ServerProcess, etcd_member, free_port

#: memcached servers started for the memcached cases: two, so that "one round trip per server"
#: is tested with keys actually spread over servers.
MEMCACHED_SERVERS = 2

#: memcached worker threads per server. One, so that every connection is served by the same
#: thread: with memcached's default of four, which thread a connection lands on decided its
#: latency (30 to 59 us per get on the same server, measured on 2 shared cores), and the
#: subject and its baseline use different connections.
MEMCACHED_THREADS = 1

#: etcd is started with this --max-txn-ops (default 128) so that the bulk-save case fits.
ETCD_MAX_TXN_OPS = 10_000


class Missing(Exception):
    """A server binary or plugin the case needs is not installed (the case is skipped)."""


class Environment:
    """Settings, a scratch directory, and the servers started so far (stopped by close())."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workdir = tempfile.mkdtemp(prefix="dalcore-bench-")
        self._servers: list[ServerProcess] = []
        self._stack = contextlib.ExitStack()  # servers started as context managers
        self._redis: str | None = None
        self._memcached: list[tuple[str, int]] | None = None
        self._etcd: str | None = None
        self._counter = 0

    def scratch(self, name: str) -> str:
        self._counter += 1
        return os.path.join(self.workdir, f"{self._counter}-{name}")

    # -- servers ---------------------------------------------------------------------------

    def memcached(self) -> list[tuple[str, int]]:
        """Addresses of the benchmark's memcached servers (started on first use)."""
        if self._memcached is None:
            _need_module("dalcore_memcached", "the dalcore-memcached plugin")
            binary = _need_binary("memcached")
            servers = []
            for index in range(MEMCACHED_SERVERS):
                port = free_port()
                argv = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "256"]
                argv += ["-t", str(MEMCACHED_THREADS)]
                if os.geteuid() == 0:
                    argv += ["-u", "root"]
                server = ServerProcess(f"memcached-{index}", functools.partial(list, argv), port)
                self._servers.append(server)
                server.start()
                servers.append(("127.0.0.1", port))
            self._memcached = servers
        return self._memcached

    def memcached_url(self, prefix: str = "bench") -> str:
        hosts = ",".join(f"{host}:{port}" for host, port in self.memcached())
        return f"memcached://{hosts}?prefix={prefix}"

    def etcd(self) -> str:
        """The ``etcd://`` URL of a single-member etcd started on first use."""
        if self._etcd is None:
            _need_module("dalcore_etcd", "the dalcore-etcd plugin")
            _need_binary("etcd")  # a missing binary skips the case, as for the other servers
            # A 1000-object transaction is ~2000 operations and checks; etcd's default limit of
            # 128 would refuse it (see the saves group).
            address = self._stack.enter_context(etcd_member("bench", ETCD_MAX_TXN_OPS))
            self._etcd = f"etcd://{address}/bench/?max_txn_ops={ETCD_MAX_TXN_OPS}"
            _wait_for_etcd(self._etcd)
        return self._etcd

    def redis(self) -> str:
        """The ``redis://`` URL of a redis-server started on first use (nothing persisted)."""
        if self._redis is None:
            _need_module("dalcore_redis", "the dalcore-redis plugin")
            binary = _need_binary("redis-server")
            port = free_port()
            argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
            argv += ["--appendonly", "no", "--dir", self.scratch("redis-data")]
            os.makedirs(argv[-1], exist_ok=True)
            server = ServerProcess("redis", lambda: argv, port)
            self._servers.append(server)
            server.start()
            self._redis = f"redis://127.0.0.1:{port}/0?prefix=bench:"
        return self._redis

    def close(self) -> None:
        for server in reversed(self._servers):
            server.close()
        self._servers.clear()
        self._stack.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _need_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Missing(
            f"{name} is not installed (Debian package; the README's test command installs it)"
        )
    return path


def _need_module(module: str, what: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise Missing(
            f"{what} is not installed (pip install -e plugins/{module.replace('_', '-')})"
        )


def _wait_for_etcd(url: str, timeout: float = 30.0) -> None:
    from dalcore.testing.servers import wait_until_serving

    wait_until_serving(url, timeout)


# -- counting round trips --------------------------------------------------------------------


@contextlib.contextmanager
def counting(
    target: object, methods: Sequence[str], counts: Counter[str], label: str = ""
) -> Iterator[None]:
    """Count calls to ``methods`` of this one instance (shadowed on the instance, then restored).

    Used in an untimed pass only, so the wrapper costs nothing in the figures.
    """
    originals = {}
    for name in methods:
        original = getattr(target, name)
        originals[name] = original

        def wrapper(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            counts[label if label.startswith("node ") else f"{label}{_name}"] += 1
            return _original(*args, **kwargs)

        setattr(target, name, wrapper)
    try:
        yield
    finally:
        for name in originals:
            with contextlib.suppress(AttributeError):
                delattr(target, name)


# -- the machine ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """CPU model, cores, Python, OS and date: what a reader needs to weigh the figures."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
    }
