"""Creates racing in several processes on one SQLite file: exactly one wins."""

from __future__ import annotations

import multiprocessing
import queue
from pathlib import Path

import pytest
from _valence_race import create_same

import dalcore

PROCESSES = 4


@pytest.mark.slow
def test_duplicate_create_across_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/race.db"
    dalcore.configure(url, "memory://")
    context = multiprocessing.get_context("spawn")
    for round_number in range(3):
        uuid = f"podm-{round_number}"
        barrier = context.Barrier(PROCESSES)
        results = context.Queue()
        workers = [
            context.Process(target=create_same, args=(url, uuid, index, barrier, results))
            for index in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        outcomes = {}
        try:
            for _ in workers:
                index, outcome = results.get(timeout=120)
                outcomes[index] = outcome
        except queue.Empty:
            pytest.fail(f"workers did not report: {outcomes}")
        finally:
            for worker in workers:
                worker.join(timeout=30)
        assert sorted(outcomes.values()) == ["created"] + ["exists"] * (PROCESSES - 1), outcomes
        winner = next(index for index, outcome in outcomes.items() if outcome == "created")
        from valence_models import get_driver

        assert get_driver().get_podmanager_by_uuid(uuid).name == f"process-{winner}"
    dalcore.configure("memory://", "memory://")
