"""The query suite on SQLite (shared by processes) with an in-process cache per process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import dalcore
from dalcore._backends.local import LocalCache
from dalcore.testing.queries import QueryBehaviour


class TestQueriesOnSQLite(QueryBehaviour):
    @pytest.fixture
    def database(self, tmp_path: Path) -> str:
        return f"sqlite://{tmp_path}/queries.db"

    @pytest.fixture
    def backends(self, database: str) -> Any:
        return dalcore.open_persistent(database), LocalCache()

    @pytest.fixture
    def backend_urls(self, database: str) -> tuple[str, str]:
        # Each process has its own in-process cache; the SQLite file is what they share.
        return database, "memory://"
