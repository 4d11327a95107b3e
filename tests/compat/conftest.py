"""Fixtures for the compatibility tests: a fresh store per test (memory, SQLite, or a real etcd
started here for the session), the Valence layer's process state reset after each test."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator

import pytest

import dalcore
from dalcore.compat.valence import singleton, unregister_credential_provider
from dalcore.testing import emptied_store
from dalcore.testing.servers import etcd_member, wait_until_serving

# examples/ is not installed: its packages are imported from the checkout.
EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "examples")
if os.path.abspath(EXAMPLES) not in sys.path:
    sys.path.insert(0, os.path.abspath(EXAMPLES))


def store_url(kind: str, tmp_path: object) -> str:
    return "memory://" if kind == "memory" else f"sqlite:///{tmp_path}/valence.db"


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """dalcore configured on an empty store; yields the store URL."""
    url = store_url(request.param, tmp_path)
    dalcore.configure(url, "memory://")
    try:
        yield url
    finally:
        dalcore.configure("memory://", "memory://")  # closes the SQLite store


@pytest.fixture(scope="session")
def etcd_address() -> Iterator[str]:
    """``host:port`` of a single-member etcd on free loopback ports, for the whole session."""
    if importlib.util.find_spec("dalcore_etcd") is None:
        # The core suites also run on other Pythons without any plugin installed; the main run
        # (./scripts/test) installs dalcore-etcd and runs these tests on etcd.
        pytest.skip("the dalcore-etcd plugin is not installed in this environment")
    with etcd_member("compat") as address:
        wait_until_serving(f"etcd://{address}?timeout=1")
        yield address


@pytest.fixture(params=["sqlite", "etcd"])
def real_store(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """dalcore configured on an empty real store, SQLite or etcd (a key prefix of its own on
    the session's member); yields the store URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/compat.db"
    else:
        address = request.getfixturevalue("etcd_address")
        url = f"etcd://{address}/t-{uuid.uuid4().hex}?timeout=5"
    dalcore.configure(url, "memory://")
    try:
        yield url
    finally:
        dalcore.configure("memory://", "memory://")  # closes the store
        if request.param == "etcd":
            with emptied_store(url):
                pass


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Drivers are per-process singletons and providers are global: reset both per test."""
    yield
    from valence_models import EtcdDriver

    EtcdDriver.forget_instance()
    for scheme in ("file", "vault"):
        unregister_credential_provider(scheme)
    singleton.Singleton._instances.clear()
