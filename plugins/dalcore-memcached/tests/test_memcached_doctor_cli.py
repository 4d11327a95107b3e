"""`dalcore doctor` with real memcached servers: each server up, its version and evictions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from memcached_helpers import url_of

from dalcore.testing import ServerProcess
from dalcore.testing.doctor import rows, run_doctor


def test_doctor_lists_every_memcached_server(
    tmp_path: Path, server_factory: Callable[[], ServerProcess]
) -> None:
    servers = [server_factory(), server_factory()]
    status, report = run_doctor(f"sqlite://{tmp_path}/d.db", url_of(servers))
    checks = rows(report)
    assert status == 0, report
    for server in servers:
        row = checks[f"cache server 127.0.0.1:{server.port}"]
        assert row["status"] == "ok"
        assert row["detail"].startswith("up, version 1.") and "0 evictions" in row["detail"]


def test_doctor_fails_when_a_memcached_server_is_down(
    tmp_path: Path, server_factory: Callable[[], ServerProcess]
) -> None:
    up, down = server_factory(), server_factory()
    down.stop()
    status, report = run_doctor(f"sqlite://{tmp_path}/d.db", url_of([up, down]))
    checks = rows(report)
    assert status == 1 and not report["ok"]
    assert checks[f"cache server 127.0.0.1:{up.port}"]["status"] == "ok"
    assert checks[f"cache server 127.0.0.1:{down.port}"]["status"] == "FAIL"
