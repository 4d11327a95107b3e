"""Valence's four models on a real etcd, where Valence kept them: ``/pod_managers/<uuid>`` etc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import EtcdMember

import dalcore
from dalcore.compat.valence import AlreadyExistsError, resolve_authentication, singleton
from dalcore.testing import require_binary
from dalcore.testing.conformance import run_processes

# examples/ is not installed: the models are imported from the checkout.
EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 3, "examples"))
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)

from valence_models import (  # noqa: E402 - needs the path above
    ComposedNode,
    Device,
    EtcdDriver,
    Flavor,
    PodManager,
)

PASSWORD = "Etcd-BMC-pa55word"
DIRECTORIES = ("/pod_managers/", "/flavors/", "/nodes/", "/devices/")


def etcdctl_documents(member: EtcdMember, prefix: str) -> dict[str, dict[str, Any]]:
    """What an operator sees: ``ETCDCTL_API=3 etcdctl get --prefix <prefix>``, parsed."""
    done = subprocess.run(
        [require_binary("etcdctl"), f"--endpoints={member.address}", "get", "--prefix", prefix],
        env=dict(os.environ, ETCDCTL_API="3"),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = done.stdout.splitlines()
    return {key: json.loads(value) for key, value in zip(lines[::2], lines[1::2], strict=True)}


def clear(member: EtcdMember) -> None:
    store = dalcore.open_persistent(f"etcd://{member.address}")
    try:
        for directory in DIRECTORIES:
            store.delete_prefix(directory)
    finally:
        store.close()


@pytest.fixture
def driver(etcd_member: EtcdMember) -> Iterator[EtcdDriver]:
    """Valence's driver, built the way Valence built it: from the etcd host and port."""
    clear(etcd_member)
    host, port = etcd_member.address.split(":")
    made = EtcdDriver(host=host, port=int(port))
    try:
        yield made
    finally:
        EtcdDriver.forget_instance()
        singleton.Singleton._instances.clear()
        dalcore.configure("memory://", "memory://")
        clear(etcd_member)


def test_four_models_live_where_valence_put_them(
    driver: EtcdDriver, etcd_member: EtcdMember, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODM_ETCD_PASSWORD", PASSWORD)
    auth = [
        {
            "type": "basic",
            "auth_items": {"username": "admin", "password_ref": "env:PODM_ETCD_PASSWORD"},
        }
    ]
    podm = driver.create_podmanager(
        {
            "name": "rack-1",
            "url": "https://10.0.0.1:8443",
            "driver": "redfishv1",
            "status": "online",
            "authentication": auth,
        }
    )
    flavor = driver.create_flavor(
        {"name": "small", "properties": {"processor": {"total_cores": "4", "model": "Xeon"}}}
    )
    node = driver.create_composed_node({"name": "n1", "podm_id": podm.uuid, "index": "1"})
    device = driver.create_device(
        {
            "podm_id": podm.uuid,
            "node_id": node.uuid,
            "type": "NIC",
            "state": "allocated",
            "properties": {"ports": 2},
        }
    )

    pod_managers = etcdctl_documents(etcd_member, "/pod_managers")
    assert list(pod_managers) == [f"/pod_managers/{podm.uuid}"]
    document = pod_managers[f"/pod_managers/{podm.uuid}"]
    assert document["uuid"] == podm.uuid
    assert (document["name"], document["url"], document["status"]) == (
        "rack-1",
        "https://10.0.0.1:8443",
        "online",
    )
    assert document["authentication"] == auth
    assert document["created_at"].endswith(" UTC")
    for path, obj, model in [
        ("/flavors", flavor, Flavor),
        ("/nodes", node, ComposedNode),
        ("/devices", device, Device),
    ]:
        shown = etcdctl_documents(etcd_member, path)
        assert list(shown) == [f"{path}/{obj.uuid}"]
        document = shown[f"{path}/{obj.uuid}"]
        assert document.pop("guid") == obj.uuid
        assert {k: v for k, v in document.items() if v is not None} == model(obj.uuid).as_dict()

    # Every key and value in the member, as raw bytes: other suites sharing this etcd leave
    # binary values behind, and the password must be in none of them either.
    everything = subprocess.run(
        [require_binary("etcdctl"), f"--endpoints={etcd_member.address}", "get", "--prefix", ""],
        env=dict(os.environ, ETCDCTL_API="3"),
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout
    assert f"/pod_managers/{podm.uuid}".encode() in everything
    assert PASSWORD.encode() not in everything
    loaded = driver.get_podmanager_by_uuid(podm.uuid)
    assert resolve_authentication(loaded.authentication)[0]["auth_items"]["password"] == PASSWORD

    assert driver.get_podmanager_by_node_uuid(node.uuid) == podm
    assert [d.uuid for d in driver.list_devices({"podm_id": podm.uuid, "type": "NIC"})] == [
        device.uuid
    ]
    assert driver.list_devices({"type": "SSD"}) == []
    driver.update_podmanager(podm.uuid, {"status": "offline"})
    assert (
        etcdctl_documents(etcd_member, "/pod_managers")[f"/pod_managers/{podm.uuid}"]["status"]
        == "offline"
    )

    with pytest.raises(AlreadyExistsError):
        driver.create_podmanager({"uuid": podm.uuid, "name": "impostor"})
    driver.delete_device(device.uuid)
    driver.delete_composed_node(node.uuid)
    driver.delete_flavor(flavor.uuid)
    driver.delete_podmanager(podm.uuid)
    for directory in DIRECTORIES:
        assert etcdctl_documents(etcd_member, directory) == {}
    for missing in (
        lambda: driver.get_podmanager_by_uuid(podm.uuid),
        lambda: driver.update_flavor(flavor.uuid, {"name": "x"}),
        lambda: driver.delete_device(device.uuid),
    ):
        with pytest.raises(dalcore.ObjectNotFoundError):
            missing()


def test_documents_written_by_valence_are_read(driver: EtcdDriver) -> None:
    """An etcd that Valence filled (no guid, fields missing) is usable as it is."""
    raw = {
        "uuid": "legacy-1",
        "name": "old",
        "url": "https://podm",
        "status": "online",
        "created_at": "2017-03-01 10:00:00 UTC",
        "updated_at": "2017-03-01 10:00:00 UTC",
    }
    dalcore.runtime().store.set("/pod_managers/legacy-1", json.dumps(raw).encode())
    legacy = driver.get_podmanager_by_uuid("legacy-1")
    assert (legacy.name, legacy.description) == ("old", None)
    assert [p.uuid for p in driver.list_podmanager({"status": "online"})] == ["legacy-1"]
    driver.update_podmanager("legacy-1", {"description": "migrated"})
    stored = json.loads(dalcore.runtime().store.get("/pod_managers/legacy-1").value)
    assert stored["created_at"] == raw["created_at"] and stored["description"] == "migrated"


def create_same(barrier: Any, address: str, uuid: str, index: int) -> str:
    """In a spawned process: create the pod manager ``uuid`` at the same moment as the others."""
    host, port = address.split(":")
    driver = EtcdDriver(host=host, port=int(port))
    barrier.wait()
    try:
        driver.create_podmanager({"uuid": uuid, "name": f"process-{index}"})
    except AlreadyExistsError:
        return "exists"
    return "created"


@pytest.mark.slow
def test_duplicate_create_racing_across_processes(
    driver: EtcdDriver, etcd_member: EtcdMember
) -> None:
    processes = 3
    outcomes = run_processes(
        create_same, [(etcd_member.address, "podm-race", index) for index in range(processes)]
    )
    assert sorted(outcomes) == ["created"] + ["exists"] * (processes - 1), outcomes
    winner = outcomes.index("created")
    shown = etcdctl_documents(etcd_member, "/pod_managers")
    assert list(shown) == ["/pod_managers/podm-race"]
    assert shown["/pod_managers/podm-race"]["name"] == f"process-{winner}"
    assert PodManager("podm-race").name == f"process-{winner}"
