"""`dalcore inspect` as a user runs it: real subprocesses on a SQLite store the demo filled."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DALCORE = str(Path(sys.executable).with_name("dalcore"))


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DALCORE, *args], env=env, capture_output=True, text=True, timeout=120)


def inspect_json(env: dict[str, str], *args: str) -> Any:
    done = run(env, "inspect", "--hybrids", "dalcore._demo", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture()
def demo(tmp_path: Path) -> dict[str, str]:
    env = dict(
        os.environ,
        DALCORE_PERSISTENT=f"sqlite://{tmp_path}/demo.db",
        DALCORE_VOLATILE="memory://",
        DALCORE_NAMESPACE="demo",
    )
    done = run(env, "demo")
    assert done.returncode == 0, done.stderr
    return env


def _files(tmp_path: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(tmp_path.iterdir())
        # The database and its write-ahead log hold the data; "-shm" is SQLite's shared-memory
        # index of the log, which every reader updates (read marks), so it is not compared.
        if path.name in ("demo.db", "demo.db-wal")
    }


def test_overview_counts_the_objects_of_every_hybrid(demo: dict[str, str]) -> None:
    rows = {row["hybrid"]: row for row in inspect_json(demo)}
    assert rows["Backend"]["objects"] == 2
    assert rows["BackendType"]["objects"] == 2
    assert rows["AlbaBackend"]["objects"] == 1
    assert rows["Backend"]["prefix"] == "demo/backend/"
    text = run(demo, "inspect", "--hybrids", "dalcore._demo")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0].split() == ["hybrid", "objects", "prefix", "module"]


def test_listing_filters_through_the_index_and_pages(demo: dict[str, str]) -> None:
    page = inspect_json(demo, "Backend", "--where", "status=RUNNING", "--fields", "name")
    assert page["total"] == 1 and page["use"] == "index"
    assert page["fields"] == ["guid", "name"]
    assert [row["name"] for row in page["objects"]] == ["cold-storage"]
    everything = inspect_json(demo, "Backend")
    assert everything["total"] == 2 and set(everything["objects"][0]) == {"guid", "name", "status"}
    first = inspect_json(demo, "Backend", "--limit", "1")
    second = inspect_json(demo, "Backend", "--limit", "1", "--offset", "1")
    assert len(first["objects"]) == len(second["objects"]) == 1
    assert first["objects"][0]["guid"] != second["objects"][0]["guid"]
    text = run(demo, "inspect", "--hybrids", "dalcore._demo", "Backend", "--limit", "1")
    assert "-- Backend: 1-1 of 2 (answered by scan)" in text.stdout


def test_bad_where_and_unknown_field_are_clear_errors(demo: dict[str, str]) -> None:
    done = run(demo, "inspect", "--hybrids", "dalcore._demo", "Backend", "--where", "status")
    assert done.returncode == 1 and "field=value" in done.stderr
    done = run(demo, "inspect", "--hybrids", "dalcore._demo", "Backend", "--fields", "colour")
    assert done.returncode == 1 and "'colour'" in done.stderr and "Backend" in done.stderr
    done = run(demo, "inspect", "--hybrids", "dalcore._demo", "Backend", "no-such-guid")
    assert done.returncode == 1 and "not found" in done.stderr


def test_detail_shows_relations_both_ways_and_index_entries(demo: dict[str, str]) -> None:
    types = inspect_json(demo, "BackendType", "--where", "code=alba")
    alba_guid = types["objects"][0]["guid"]
    alba = inspect_json(demo, "BackendType", alba_guid)
    assert alba["revision"] > 0 and alba["document"]["code"] == "alba"
    assert alba["problem"] is None and alba["unknown_fields"] == []
    (backends,) = alba["reverse"]
    assert backends["reverse"] == "backends" and backends["count"] == 1
    (code,) = alba["indexes"]
    assert code["index_present"] and code["unique_owner"] == alba_guid
    # The Backend linked to it: its relation points back, its reverse entry is there.
    backend = inspect_json(demo, "Backend", backends["guids"][0])
    (relation,) = backend["relations"]
    assert relation["guid"] == alba_guid and relation["target_exists"]
    assert relation["reverse_entry_present"] is True
    assert {r["reverse"]: r["count"] for r in backend["reverse"]} == {"alba_backend": 1}
    layers = backend["caches"]
    assert [layer["layer"] for layer in layers] == ["local"] and layers[0]["this_process_only"]
    text = run(demo, "inspect", "--hybrids", "dalcore._demo", "Backend", backends["guids"][0])
    assert text.returncode == 0, text.stderr
    assert "status = 'RUNNING': index present" in text.stdout
    assert "alba_backend  AlbaBackend.backend  1" in text.stdout


def test_inspect_never_writes_to_the_store(demo: dict[str, str], tmp_path: Path) -> None:
    before = _files(tmp_path)
    assert "demo.db" in before
    overview = inspect_json(demo)
    assert overview
    for hybrid in ("Backend", "BackendType", "AlbaBackend"):
        page = inspect_json(demo, hybrid)
        for row in page["objects"]:
            inspect_json(demo, hybrid, row["guid"])
            run(demo, "inspect", "--hybrids", "dalcore._demo", hybrid, row["guid"])
    inspect_json(demo, "Backend", "--where", "status=NEW")
    assert _files(tmp_path) == before
