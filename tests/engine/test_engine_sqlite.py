"""The engine behaviour suite on SQLite, including several processes sharing the file.

Each process has its own in-process cache: correct for the multi-process tests, which only load
in a process objects that process has not cached before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dalcore.testing.engine import EngineBehaviour


class TestEngineOnSQLite(EngineBehaviour):
    @pytest.fixture
    def backend_urls(self, tmp_path: Path) -> tuple[str, str]:
        return f"sqlite://{tmp_path / 'engine.db'}", "memory://"

    @pytest.fixture
    def backends(self, backend_urls: tuple[str, str]) -> tuple[str, str]:
        return backend_urls
