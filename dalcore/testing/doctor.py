"""Run ``dalcore doctor`` as a user does (a subprocess, configured by environment) and read its
JSON; shared by dalcore's tests and the store and cache plugins' tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_doctor(persistent: str, volatile: str = "memory://", *args: str) -> tuple[int, Any]:
    env = dict(
        os.environ,
        DALCORE_PERSISTENT=persistent,
        DALCORE_VOLATILE=volatile,
        DALCORE_NAMESPACE="doctor",
    )
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dalcore")), "doctor", *args, "--json"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    return done.returncode, report


def rows(report: Any) -> dict[str, dict[str, str]]:
    """The checks by name: {"watch feed": {"status": "ok", "detail": ...}, ...}."""
    return {row["check"]: row for row in report["checks"]}
