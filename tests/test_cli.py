"""The ``dalcore`` command, run as a real subprocess through its installed console script."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dalcore import _cli, _plugins

# Taken from the command table, so a command added later gets its --help checked too.
COMMAND_NAMES = [command.name for command in _cli.COMMANDS]


def _dalcore() -> str:
    # The script pip installed beside this interpreter, else whatever PATH finds.
    beside = Path(sys.executable).with_name("dalcore")
    found = str(beside) if beside.exists() else shutil.which("dalcore")
    assert found, "the dalcore console script is not installed (pip install -e .)"
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_dalcore(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
    )


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"dalcore {importlib.metadata.version('dalcore')}"


def test_help_lists_every_command() -> None:
    done = run("--help")
    assert done.returncode == 0
    for command in COMMAND_NAMES:
        assert command in done.stdout


def test_command_table_has_the_basic_commands() -> None:
    assert {"plugins", "demo"} <= set(COMMAND_NAMES)


@pytest.mark.parametrize("command", COMMAND_NAMES)
def test_every_command_has_help(command: str) -> None:
    done = run(command, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith(f"usage: dalcore {command}")


def test_no_command_prints_usage_and_fails() -> None:
    done = run()
    assert done.returncode == 2
    assert "usage: dalcore" in done.stderr


def test_unknown_command_is_a_usage_error() -> None:
    done = run("frobnicate")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr


def test_plugins_table_shows_every_provider() -> None:
    done = run("plugins")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["kind", "name", "plugin", "package", "version", "description"]
    rows = {tuple(line.split()[:4]) for line in lines[1:]}
    expected = {
        (i.provided.kind, i.provided.name, i.plugin, i.package) for i in _plugins.provided()
    }
    assert rows == expected
    assert ("persistent", "memory", "memory", "dalcore") in rows
    assert ("volatile", "memory", "local", "dalcore") in rows


def test_plugins_json_matches_the_plugin_manager() -> None:
    done = run("plugins", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["failed"] == {}
    listed = {
        (r["kind"], r["name"], r["plugin"], r["package"], r["version"]) for r in data["provided"]
    }
    expected = {
        (i.provided.kind, i.provided.name, i.plugin, i.package, i.version)
        for i in _plugins.provided()
    }
    assert listed == expected
    assert all(row["description"] for row in data["provided"])


def test_demo_runs_or_says_it_is_missing() -> None:
    done = run("demo")
    if importlib.util.find_spec("dalcore._demo") is None:
        assert done.returncode == 1
        assert "demo is not available" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()
