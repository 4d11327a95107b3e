"""`dalcore doctor` on SQLite, run as a real subprocess."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from dalcore.testing.doctor import rows, run_doctor


def test_doctor_on_sqlite_reports_durability_and_a_live_watch(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/d.db"
    status, report = run_doctor(url)
    checks = rows(report)
    assert status == 0 and report["ok"], report
    assert checks["store reachable"]["status"] == "ok"
    assert checks["sqlite journal mode"] == {
        "check": "sqlite journal mode", "status": "ok", "detail": "WAL"
    }  # fmt: skip
    assert checks["sqlite synchronous"]["detail"].startswith("FULL")
    assert checks["store server version"]["detail"].startswith("SQLite 3.")
    assert checks["watch feed"]["status"] == "ok"
    plugins = {name: row for name, row in checks.items() if name.startswith("plugin ")}
    assert all(row["status"] == "ok" for row in plugins.values()), plugins
    if importlib.util.find_spec("dalcore_etcd") is not None:  # the core suites also run bare
        assert "plugin dalcore-etcd" in plugins
    # The watch probe cleans up after itself.
    import dalcore

    rt = dalcore.configure(url, "none://", namespace="doctor")
    assert list(rt.store.keys("")) == []


def test_doctor_reports_the_synchronous_setting_of_the_url(tmp_path: Path) -> None:
    status, report = run_doctor(f"sqlite://{tmp_path}/d.db?synchronous=normal")
    assert status == 0, report
    assert rows(report)["sqlite synchronous"]["detail"].startswith("NORMAL: a power loss")


def test_doctor_fails_when_the_store_cannot_be_opened(tmp_path: Path) -> None:
    status, report = run_doctor(f"sqlite://{tmp_path}/no/such/dir/d.db")
    assert status == 1 and not report["ok"]
    assert rows(report)["configuration"]["status"] == "FAIL"


def test_doctor_table(tmp_path: Path) -> None:
    env = dict(os.environ, DALCORE_PERSISTENT=f"sqlite://{tmp_path}/d.db")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dalcore")), "doctor"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["check", "status", "detail"]
    assert done.stdout.rstrip().endswith("all checks passed")
