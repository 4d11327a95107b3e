"""Creates racing in several processes on one SQLite file: exactly one wins."""

from __future__ import annotations

from pathlib import Path

import pytest
from _valence_race import create_same

import dalcore
from dalcore.testing.conformance import run_processes

PROCESSES = 4


@pytest.mark.slow
def test_duplicate_create_across_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/race.db"
    dalcore.configure(url, "memory://")
    for round_number in range(3):
        uuid = f"podm-{round_number}"
        outcomes = run_processes(create_same, [(url, uuid, index) for index in range(PROCESSES)])
        assert sorted(outcomes) == ["created"] + ["exists"] * (PROCESSES - 1), outcomes
        winner = outcomes.index("created")
        from valence_models import get_driver

        assert get_driver().get_podmanager_by_uuid(uuid).name == f"process-{winner}"
    dalcore.configure("memory://", "memory://")
