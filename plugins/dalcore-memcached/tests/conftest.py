"""Fixtures: real memcached servers for the plugin's tests, stopped at the end."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import pytest
from memcached_helpers import memcached_server, url_of

import dalcore
from dalcore.testing import ServerProcess, require_module
from dalcore.testing.servers import etcd_member, wait_until_serving

# Before a test module imports the engine or query suite, so their asserts explain failures.
pytest.register_assert_rewrite("dalcore.testing.engine", "dalcore.testing.queries")


@pytest.fixture(scope="session")
def shared_servers() -> Iterator[list[ServerProcess]]:
    """Three memcached servers for the whole session; tests flush them before use."""
    servers: list[ServerProcess] = []
    try:
        for _ in range(3):
            servers.append(memcached_server().start())
        yield servers
    finally:
        for server in servers:
            server.close()


@pytest.fixture
def server_factory() -> Iterator[Callable[[], ServerProcess]]:
    """Servers of a test's own (for tests that kill or freeze them); all closed afterwards."""
    made: list[ServerProcess] = []

    def make() -> ServerProcess:
        server = memcached_server().start()
        made.append(server)
        return server

    yield make
    for server in made:
        with contextlib.suppress(Exception):
            server.close()


@pytest.fixture
def fresh_cache_url(shared_servers: list[ServerProcess]) -> str:
    """The shared servers under a key prefix no other test uses: the cache looks empty."""
    return url_of(shared_servers, f"prefix=t{uuid.uuid4().hex[:16]}")


@pytest.fixture(scope="session")
def etcd_address() -> Iterator[str]:
    """One etcd member for the suites that run memcached in front of etcd (host:port).

    Commits of up to 2048 operations, as the etcd plugin's own fixture allows (docs/etcd.md).
    """
    require_module("dalcore_etcd", "the etcd combinations need dalcore-etcd")
    with etcd_member("default", max_txn_ops=2048) as address:
        wait_until_serving(f"etcd://{address}?timeout=1")
        yield address


@pytest.fixture
def fresh_etcd_url(etcd_address: str) -> Iterator[str]:
    """A key prefix of its own on the session's etcd member: the store looks empty.

    Whatever the test (or its worker processes) wrote under it is removed afterwards.
    """
    url = f"etcd://{etcd_address}/t-{uuid.uuid4().hex}?timeout=5"
    yield url
    store = dalcore.open_persistent(url)
    try:
        store.delete_prefix("")
    finally:
        store.close()
