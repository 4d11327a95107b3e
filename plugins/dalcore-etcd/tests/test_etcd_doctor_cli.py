"""`dalcore doctor` against real etcd servers: version, measured --max-txn-ops, watch feed."""

from __future__ import annotations

from conftest import EtcdMember

from dalcore.testing.doctor import rows, run_doctor
from dalcore.testing.servers import wait_until_serving


def test_doctor_measures_the_servers_max_txn_ops(etcd_member: EtcdMember, fresh_url: str) -> None:
    status, report = run_doctor(fresh_url, "memory://", "--hybrids", "dalcore._demo")
    checks = rows(report)
    assert status == 0, report
    assert checks["store server version"]["detail"].startswith("etcd 3.")
    # The session's member runs with --max-txn-ops 2048 (conftest): the probe finds exactly it.
    limit = checks["etcd max-txn-ops"]
    assert limit["status"] == "ok"
    assert limit["detail"].startswith("server allows 2048 (measured)")
    assert "a save of Backend" in limit["detail"]
    assert checks["watch feed"]["status"] == "ok"


def test_doctor_fails_when_the_model_needs_more_than_the_server_allows() -> None:
    # Backend's save needs 6 operations (object, relation: 3, indexed status: 2).
    member = EtcdMember("tiny", max_txn_ops=4)
    member.server.start()
    try:
        wait_until_serving(f"etcd://{member.address}?timeout=1")
        url = f"etcd://{member.address}/doctor?timeout=5"
        status, report = run_doctor(url, "memory://", "--hybrids", "dalcore._demo")
        limit = rows(report)["etcd max-txn-ops"]
        assert status == 1 and not report["ok"]
        assert limit["status"] == "FAIL"
        assert limit["detail"].startswith("server allows 4 (measured)")
        assert "needs 6 (a save of Backend)" in limit["detail"]
    finally:
        member.server.close()
