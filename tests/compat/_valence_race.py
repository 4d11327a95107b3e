"""Runs in spawned processes: several of them create the same pod manager at the same moment."""

from __future__ import annotations

from typing import Any

import dalcore
from dalcore.compat.valence import AlreadyExistsError


def create_same(barrier: Any, url: str, uuid: str, index: int) -> str:
    """Run by ``dalcore.testing.conformance.run_processes``: "created" or "exists"."""
    from valence_models import get_driver

    dalcore.configure(url, "memory://")
    driver = get_driver()
    barrier.wait()
    try:
        driver.create_podmanager({"uuid": uuid, "name": f"process-{index}"})
    except AlreadyExistsError:
        return "exists"
    return "created"
