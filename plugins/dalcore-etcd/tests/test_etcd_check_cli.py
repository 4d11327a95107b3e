"""`dalcore check [--repair]` against a real etcd: every kind of damage found, then repaired."""

from __future__ import annotations

from dalcore.testing import damage


def test_check_finds_and_repairs_every_kind_of_damage_on_etcd(fresh_url: str) -> None:
    damage.check_and_repair(fresh_url, "chk")
