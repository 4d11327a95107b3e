"""Test data shared by the Redfish tests (a module of its own: ``conftest`` is not importable
by name when several plugins' test directories are collected together)."""

from __future__ import annotations

from dalcore_redfish.testing import EmulatorSystem

NODE1 = EmulatorSystem(
    "11111111-aaaa-4aaa-8aaa-000000000001",
    "node-1",
    "Off",
    ("00:5c:52:00:00:01", "00:5c:52:00:00:02"),
)
NODE2 = EmulatorSystem(
    "22222222-bbbb-4bbb-8bbb-000000000002", "node-2", "On", ("00:5c:52:00:00:03",)
)
SYSTEMS = (NODE1, NODE2)

USER = "operator"
# Distinctive so that grepping stores, caches, logs and messages for it cannot hit by accident.
PASSWORD = "pw-Zq7xK2vL9mR4"
