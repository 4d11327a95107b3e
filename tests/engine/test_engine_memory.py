"""The engine behaviour suite on the in-process store and cache."""

from __future__ import annotations

import pytest

import dalcore
from dalcore.api import PersistentStore, VolatileCache
from dalcore.testing.engine import EngineBehaviour


class TestEngineOnMemory(EngineBehaviour):
    @pytest.fixture
    def backends(self) -> tuple[PersistentStore, VolatileCache]:
        return dalcore.open_persistent("memory://"), dalcore.open_volatile("memory://")
