"""dalcore as ``pip install`` leaves it (a wheel, not this checkout): the benchmark suite and
its command are inside the package, so ``dalcore bench`` runs from any directory."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A directory holding dalcore installed from a freshly built wheel."""
    base = tmp_path_factory.mktemp("installed")
    wheels, site = base / "wheels", base / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True)
    (wheel,) = wheels.glob("dalcore-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    return site


def run_installed(site: pathlib.Path, cwd: pathlib.Path, *args: str) -> str:
    # PYTHONPATH puts the wheel's copy ahead of the checkout's editable install; the working
    # directory is outside the checkout, so nothing there can be imported by accident.
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_wheel_is_what_runs(installed: pathlib.Path, tmp_path: pathlib.Path) -> None:
    where = run_installed(installed, tmp_path, "-c", "import dalcore; print(dalcore.__file__)")
    assert pathlib.Path(where.strip()).is_relative_to(installed)


def test_dalcore_bench_runs_from_the_installed_package(
    installed: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "results"
    run_installed(
        installed,
        tmp_path,
        "-m",
        "dalcore",
        "bench",
        "--quick",
        "--only",
        "dynamics",
        "--no-charts",
        "--out",
        str(out),
    )
    (report,) = out.glob("*.json")
    rows = json.loads(report.read_text())["results"]
    assert rows and all(row["group"] == "dynamics" for row in rows)
    assert any(row["status"] == "ok" for row in rows)
