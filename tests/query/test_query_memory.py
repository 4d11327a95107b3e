"""The query suite on the in-process store and cache."""

from __future__ import annotations

from typing import Any

import pytest

from dalcore._backends.local import LocalCache
from dalcore._backends.memory import MemoryStore
from dalcore.testing.queries import QueryBehaviour


class TestQueriesOnMemory(QueryBehaviour):
    @pytest.fixture
    def backends(self) -> Any:
        return MemoryStore(), LocalCache()
