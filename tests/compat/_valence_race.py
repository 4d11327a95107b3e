"""Runs in spawned processes: several of them create the same pod manager at the same moment."""

from __future__ import annotations

from typing import Any

import dalcore
from dalcore.compat.valence import AlreadyExistsError


def create_same(url: str, uuid: str, index: int, barrier: Any, results: Any) -> None:
    from valence_models import get_driver

    dalcore.configure(url, "memory://")
    driver = get_driver()
    barrier.wait()
    try:
        driver.create_podmanager({"uuid": uuid, "name": f"process-{index}"})
        results.put((index, "created"))
    except AlreadyExistsError:
        results.put((index, "exists"))
    except Exception as exc:  # reported to the test, which fails on it
        results.put((index, f"{type(exc).__name__}: {exc}"))
