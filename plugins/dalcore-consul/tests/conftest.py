"""A real Consul agent for the shared suites, when one can be had.

No Consul server can be installed on the machines dalcore is built and tested on: it is not
packaged in Debian and no binary is published on a registry they can reach (PyPI, npm, Debian).
The suites therefore run only where ``consul`` is on PATH (this fixture starts
``consul agent -dev`` on free ports) or ``DALCORE_TEST_CONSUL`` names an agent
(``host:port``); everywhere else they skip, saying so. The translation logic is tested
without a server in test_consul_translation.py.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from dalcore.api import PersistentStore
from dalcore.testing import ServerProcess, emptied_store, free_port

pytest.register_assert_rewrite(
    "dalcore.testing.engine", "dalcore.testing.queries", "dalcore.testing.coherence"
)

NO_CONSUL = (
    "no Consul agent: Consul cannot be installed on these machines (not in Debian, not on PyPI "
    "or npm); put consul on PATH or set DALCORE_TEST_CONSUL=host:port to run this suite"
)


@pytest.fixture(scope="session")
def agent() -> Iterator[str]:
    named = os.environ.get("DALCORE_TEST_CONSUL")
    if named:
        yield named
        return
    binary = shutil.which("consul")
    if binary is None:
        pytest.skip(NO_CONSUL)
    http, dns, server_port, serf = free_port(), free_port(), free_port(), free_port()

    def argv() -> list[str]:
        return [
            binary, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
            "-http-port", str(http), "-dns-port", str(dns), "-server-port", str(server_port),
            "-serf-lan-port", str(serf), "-serf-wan-port", "-1",
        ]  # fmt: skip

    server = ServerProcess("consul", argv, http)
    server.start()
    try:
        yield f"127.0.0.1:{http}"
    finally:
        server.close()


@pytest.fixture
def fresh_store_url(agent: str) -> str:
    return f"consul://{agent}/t-{uuid.uuid4().hex}"


@pytest.fixture
def fresh_store(fresh_store_url: str) -> Iterator[PersistentStore]:
    with emptied_store(fresh_store_url) as opened:
        yield opened
