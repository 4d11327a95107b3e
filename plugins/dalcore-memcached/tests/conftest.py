"""Fixtures: real memcached servers for the plugin's tests, stopped at the end."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from memcached_helpers import memcached_server

from dalcore.testing import ServerProcess


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
