"""`dalcore inspect CLASS GUID` with memcached behind the per-process cache: the shared layer
shows the object's entry and its dynamics with the time they have left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from memcached_helpers import url_of

from dalcore.testing import ServerProcess

DALCORE = str(Path(sys.executable).with_name("dalcore"))


def test_inspect_shows_what_memcached_holds(
    tmp_path: Path, server_factory: Callable[[], ServerProcess]
) -> None:
    server = server_factory()
    env = dict(
        os.environ,
        DALCORE_PERSISTENT=f"sqlite://{tmp_path}/demo.db",
        DALCORE_VOLATILE=f"memory:// {url_of([server])}",
        DALCORE_NAMESPACE="demo",
    )

    def run(*args: str) -> str:
        done = subprocess.run(
            [DALCORE, *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("demo")  # reads Backend.available and linked_guid of the RUNNING backend
    listed = json.loads(
        run("inspect", "--hybrids", "dalcore._demo", "Backend", "--where", "status=RUNNING",
            "--json")
    )  # fmt: skip
    guid = listed["objects"][0]["guid"]
    info = json.loads(run("inspect", "--hybrids", "dalcore._demo", "Backend", guid, "--json"))
    local, shared = info["caches"]
    assert local["layer"] == "local" and local["this_process_only"]
    assert shared["layer"] == "shared" and not shared["this_process_only"]
    assert shared["endpoint"].startswith("memcached://")
    assert shared["object"]["state"] in ("object", "hold")
    available = shared["dynamics"]["available"]
    assert available["value"] is True
    assert 0 < available["ttl_left"] <= 60  # Backend.available is cached for 60 s
    assert 60 < shared["dynamics"]["linked_guid"]["ttl_left"] <= 3600
