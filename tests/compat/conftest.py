"""Fixtures for the Valence compatibility tests: a fresh store per test, memory or SQLite."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

import dalcore
from dalcore.compat.valence import singleton, unregister_credential_provider

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


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Drivers are per-process singletons and providers are global: reset both per test."""
    yield
    from valence_models import EtcdDriver

    EtcdDriver.forget_instance()
    for scheme in ("file", "vault"):
        unregister_credential_provider(scheme)
    singleton.Singleton._instances.clear()
