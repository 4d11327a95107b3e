"""Fixtures: one real redis-server for the session; each test gets a key prefix of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from redis_helpers import redis_server

from dalcore.api import PersistentStore
from dalcore.testing import ServerProcess, emptied_store

# Before a test module imports the shared suites, so their asserts explain failures.
pytest.register_assert_rewrite(
    "dalcore.testing.engine", "dalcore.testing.queries", "dalcore.testing.coherence"
)


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    started = redis_server().start()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def fresh_store_url(server: ServerProcess) -> str:
    """A prefix no other test uses: the store looks empty."""
    return f"redis://127.0.0.1:{server.port}/0?prefix=t{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def fresh_cache_url(server: ServerProcess) -> str:
    return f"redis://127.0.0.1:{server.port}/1?prefix=c{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def fresh_store(fresh_store_url: str) -> Iterator[PersistentStore]:
    """The store under ``fresh_store_url``; what the test and its workers wrote goes after."""
    with emptied_store(fresh_store_url) as opened:
        yield opened
