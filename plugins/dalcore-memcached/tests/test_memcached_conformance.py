"""The generic volatile-cache suite against real memcached: one server, and three (hashing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from memcached_helpers import flush, url_of

import dalcore
from dalcore.api import VolatileCache
from dalcore.testing import ServerProcess, VolatileCacheConformance


class TestOneServer(VolatileCacheConformance):
    servers = 1

    @pytest.fixture
    def cache_url(self, shared_servers: list[ServerProcess]) -> str:
        return url_of(shared_servers[: self.servers])

    @pytest.fixture
    def cache(self, shared_servers: list[ServerProcess]) -> Iterator[VolatileCache]:
        flush(shared_servers)  # "fresh and empty", as the suite requires
        cache = dalcore.open_volatile(url_of(shared_servers[: self.servers]))
        yield cache
        cache.close()


class TestThreeServers(TestOneServer):
    servers = 3


class TestThreeServersWithPrefix(TestOneServer):
    servers = 3

    @pytest.fixture
    def cache_url(self, shared_servers: list[ServerProcess]) -> str:
        return url_of(shared_servers, "prefix=conformance")

    @pytest.fixture
    def cache(self, shared_servers: list[ServerProcess]) -> Iterator[VolatileCache]:
        flush(shared_servers)
        cache = dalcore.open_volatile(url_of(shared_servers, "prefix=conformance"))
        yield cache
        cache.close()
