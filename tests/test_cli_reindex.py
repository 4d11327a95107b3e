"""`dalcore reindex` as a user runs it: a real subprocess, configured by environment, on SQLite.

The objects are written by the first version of a hybrid (no index); the second version, in a
package the command imports, marks the property indexed and unique.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dalcore
from dalcore import DataObject, Property


class InventoryV1(DataObject):
    path = "inventory"
    __properties = [Property("sku", str), Property("shelf", str)]


VERSION_2 = """
from dalcore import DataObject, Property


class Inventory(DataObject):
    path = "inventory"
    __properties = [Property("sku", str, unique=True), Property("shelf", str, indexed=True)]
"""


def test_reindex_command_builds_the_entries(tmp_path: Path) -> None:
    database = f"sqlite://{tmp_path}/inventory.db"
    dalcore.configure(database, "memory://", namespace="shop")
    for i in range(30):
        InventoryV1(sku=f"SKU{i % 25}", shelf=f"S{i % 3}").save()  # five SKUs used twice

    package = tmp_path / "shopmodel"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "inventory.py").write_text(textwrap.dedent(VERSION_2))
    env = dict(
        os.environ,
        DALCORE_PERSISTENT=database,
        DALCORE_NAMESPACE="shop",
        PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    )
    done = subprocess.run(
        [sys.executable, "-m", "dalcore", "reindex", "Inventory", "--hybrids", "shopmodel"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "30 objects checked" in done.stdout
    assert done.stdout.count("duplicate: Inventory.sku") == 5
    assert "30/30 objects" in done.stderr  # progress, as text when not on a terminal

    sys.path.insert(0, str(tmp_path))
    try:
        from shopmodel.inventory import Inventory  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    dalcore.configure(database, "memory://", namespace="shop")
    on_shelf = Inventory.where(shelf="S1")
    assert len(on_shelf) == 10
    assert on_shelf.explain()["use"] == "index"
    assert len(Inventory.where(sku="SKU20")) == 1  # i == 20 only
    assert len(Inventory.where(sku="SKU3")) == 1  # two objects share it; only one claimed it


def test_reindex_of_an_unknown_hybrid_fails_clearly(tmp_path: Path) -> None:
    env = dict(os.environ, DALCORE_PERSISTENT=f"sqlite://{tmp_path}/x.db")
    done = subprocess.run(
        [sys.executable, "-m", "dalcore", "reindex", "NoSuchThing"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "no hybrid named 'NoSuchThing'" in done.stderr
