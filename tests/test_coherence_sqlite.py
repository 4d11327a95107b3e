"""The multi-process coherence suite on SQLite, with each cache that needs no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from dalcore.testing.coherence import CoherenceBehaviour


class TestCoherenceOnSQLite(CoherenceBehaviour):
    @pytest.fixture(params=["memory://", "none://"])
    def coherence_urls(self, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
        return f"sqlite://{tmp_path / 'coherence.db'}", str(request.param)
