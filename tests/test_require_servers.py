"""A server the README promises that is missing fails the run under the test command's switch.

Without ``DALCORE_REQUIRE_SERVERS=1`` (a developer running one file) such tests skip; with it
(the test command, hence CI) they fail, so CI cannot go green by skipping a whole backend.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_SUITE = """
from dalcore.testing import require_binary, require_module

def test_needs_a_server():
    require_binary("etcd")

def test_needs_a_plugin():
    require_module("dalcore_no_such_plugin", "a plugin the README promises")
"""


def _run(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_needs.py").write_text(_SUITE)
    env = {k: v for k, v in os.environ.items() if k not in ("DALCORE_REQUIRE_SERVERS", "PATH")}
    env["PATH"] = str(tmp_path)  # no server binary is found here
    env["PYTEST_ADDOPTS"] = ""
    if require is not None:
        env["DALCORE_REQUIRE_SERVERS"] = require
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("require", [None, "0"])
def test_a_missing_server_is_a_skip_for_a_developer(tmp_path: Path, require: str | None) -> None:
    result = _run(tmp_path, require)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout


def test_a_missing_server_fails_the_test_command(tmp_path: Path) -> None:
    result = _run(tmp_path, "1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 failed" in result.stdout
    assert "etcd is not installed" in result.stdout
    assert "the README promises it" in result.stdout
