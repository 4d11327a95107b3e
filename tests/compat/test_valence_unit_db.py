"""The behaviours Valence's own DB unit tests check (``valence/tests/unit/db/``), through
Valence's entry points (``db_api.Connection``, ``etcd_db.init_etcd_db``) on real SQLite and a real
etcd. Valence's tests mocked ``etcd.Client``; here the documents are read back from the store.
docs/compat.md maps each of Valence's tests to the test here that covers it."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from valence_models import api as db_api  # examples/ is on sys.path (conftest)
from valence_models import etcd_db

import dalcore
from dalcore.compat.valence import TIMESTAMP_FORMAT

Connection = db_api.Connection

OLD = "2015-06-30 23:59:59 UTC"


def raw_write(key: str, document: dict[str, Any]) -> None:
    """A document as Valence itself wrote it: plain JSON at the key, no guid field."""
    dalcore.runtime().store.set(key, json.dumps(document).encode())


def raw_read(key: str) -> dict[str, Any] | None:
    entry = dalcore.runtime().store.get_many([key])[0]
    if entry is None:
        return None
    document: dict[str, Any] = json.loads(entry.value)
    return document


def as_written(key: str) -> dict[str, Any]:
    """The stored document without dalcore's extra ``guid`` field (docs/compat.md)."""
    document = raw_read(key)
    assert document is not None, key
    assert document.pop("guid") == key.rsplit("/", 1)[1]
    return {name: value for name, value in document.items() if value is not None}


def stamp(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def pod_manager(uuid: str = "pm-0001", **changes: Any) -> dict[str, Any]:
    document = {
        "uuid": uuid,
        "name": "rack pm",
        "url": "https://192.0.2.10:8443",
        "authentication": [
            {"type": "basic", "auth_items": {"username": "ops", "password_ref": "env:PM_PW"}}
        ],
        "status": "online",
        "description": "first rack",
        "location": "row 4",
        "resource_uri": "/redfish/v1/",
    }
    document.update(changes)
    return document


def flavor(uuid: str = "fl-0001") -> dict[str, Any]:
    return {
        "uuid": uuid,
        "name": "medium",
        "properties": {
            "memory": {"capacity_mib": "8192", "type": "DDR4"},
            "processor": {"total_cores": "8", "model": "Xeon"},
        },
    }


def node(uuid: str = "nd-0001", podm_id: str = "pm-0001") -> dict[str, Any]:
    return {
        "uuid": uuid,
        "podm_id": podm_id,
        "name": "compute-1",
        "index": "3",
        "resource_uri": "/redfish/v1/Nodes/3",
    }


def device(uuid: str = "dv-0001", podm_id: str = "pm-0001") -> dict[str, Any]:
    return {
        "uuid": uuid,
        "podm_id": podm_id,
        "node_id": "nd-0001",
        "type": "NIC",
        "pooled_group_id": "7",
        "state": "allocated",
        "properties": {"ports": "2", "speed": "25Gbps"},
        "extra": {"mac": "02:00:00:00:00:01"},
        "resource_uri": "/redfish/v1/Devices/1",
    }


KINDS = {
    # name: (example document, key directory, create, get, update, delete)
    "podmanager": (
        pod_manager,
        "/pod_managers",
        Connection.create_podmanager,
        Connection.get_podmanager_by_uuid,
        Connection.update_podmanager,
        Connection.delete_podmanager,
    ),
    "flavor": (
        flavor,
        "/flavors",
        Connection.create_flavor,
        Connection.get_flavor_by_uuid,
        Connection.update_flavor,
        Connection.delete_flavor,
    ),
    "composed_node": (
        node,
        "/nodes",
        Connection.create_composed_node,
        Connection.get_composed_node_by_uuid,
        Connection.update_composed_node,
        Connection.delete_composed_node,
    ),
    "device": (
        device,
        "/devices",
        Connection.add_device,
        Connection.get_device_by_uuid,
        Connection.update_device,
        Connection.delete_device,
    ),
}

CHANGES = {
    "podmanager": {"url": "https://192.0.2.11:8443"},
    "flavor": {"properties": {"memory": {"type": "DDR5"}}},
    "composed_node": {"index": "4"},
    "device": {"resource_uri": "/redfish/v1/Devices/9"},
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_create_returns_the_values_with_both_timestamps_and_stores_them(
    real_store: str, kind: str
) -> None:
    example, directory, create, *_ = KINDS[kind]
    given = example()
    before = now()
    created = create(given)
    after = now()
    shown = created.as_dict()
    created_at, updated_at = shown.pop("created_at"), shown.pop("updated_at")
    assert shown == given
    assert created_at == updated_at and before <= stamp(created_at) <= after
    assert as_written(f"{directory}/{given['uuid']}") == created.as_dict()


@pytest.mark.parametrize("kind", list(KINDS))
def test_get_returns_the_document_valence_wrote(real_store: str, kind: str) -> None:
    example, directory, _, get, *_ = KINDS[kind]
    document = {**example(), "created_at": OLD, "updated_at": OLD}
    raw_write(f"{directory}/{document['uuid']}", document)
    assert get(document["uuid"]).as_dict() == document


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_missing_object_is_not_found_for_get_update_and_delete(
    real_store: str, kind: str
) -> None:
    _, directory, _, get, update, delete = KINDS[kind]
    for attempt in (
        lambda: get("no-such-uuid"),
        lambda: update("no-such-uuid", CHANGES[kind]),
        lambda: delete("no-such-uuid"),
    ):
        with pytest.raises(dalcore.ObjectNotFoundError) as caught:
            attempt()
        # The message differs from Valence's ("... not found in database."): docs/compat.md.
        assert caught.value.key.endswith(f"{directory}/no-such-uuid")
        assert "no-such-uuid" in str(caught.value)
    assert raw_read(f"{directory}/no-such-uuid") is None


@pytest.mark.parametrize("kind", list(KINDS))
def test_delete_removes_the_key(real_store: str, kind: str) -> None:
    example, directory, _, get, _, delete = KINDS[kind]
    document = {**example(), "created_at": OLD, "updated_at": OLD}
    key = f"{directory}/{document['uuid']}"
    raw_write(key, document)
    delete(document["uuid"])
    assert raw_read(key) is None
    with pytest.raises(dalcore.ObjectNotFoundError):
        get(document["uuid"])


@pytest.mark.parametrize("kind", list(KINDS))
def test_update_changes_the_field_and_updated_at_only(real_store: str, kind: str) -> None:
    example, directory, _, get, update, _ = KINDS[kind]
    document = {**example(), "created_at": OLD, "updated_at": OLD}
    key = f"{directory}/{document['uuid']}"
    raw_write(key, document)
    before = now()
    result = update(document["uuid"], CHANGES[kind])
    shown = result.as_dict()
    assert before <= stamp(shown.pop("updated_at")) <= now()
    expected = {**document, **CHANGES[kind]}
    expected.pop("updated_at")
    if kind == "flavor":  # Valence replaced the whole dict value, so does dalcore
        assert shown["properties"] == {"memory": {"type": "DDR5"}}
    assert shown == expected
    assert as_written(key) == result.as_dict() == get(document["uuid"]).as_dict()


def test_updating_a_pod_manager_valence_wrote_with_a_plaintext_password(
    real_store: str,
) -> None:
    """Valence stored BMC passwords in the document: such a pod manager stays updatable without
    a credential provider, and keeps what was stored (docs/compat.md, credentials)."""
    auth = [{"type": "basic", "auth_items": {"username": "ops", "password": "legacy-pw"}}]
    document = {**pod_manager(authentication=auth), "created_at": OLD, "updated_at": OLD}
    raw_write("/pod_managers/pm-0001", document)
    assert Connection.get_podmanager_by_uuid("pm-0001").as_dict() == document
    updated = Connection.update_podmanager("pm-0001", {"url": "https://192.0.2.99"})
    assert updated.url == "https://192.0.2.99"
    assert as_written("/pod_managers/pm-0001")["authentication"] == auth


def test_list_composed_nodes_with_and_without_filters(real_store: str) -> None:
    first, second = node("nd-0001", "pm-0001"), node("nd-0002", "pm-0002")
    for document in (second, first):
        raw_write(f"/nodes/{document['uuid']}", {**document, "created_at": OLD})
    everything = [n.as_dict() for n in Connection.list_composed_nodes()]
    assert sorted(everything, key=lambda d: d["uuid"]) == [
        {**first, "created_at": OLD},
        {**second, "created_at": OLD},
    ]
    filtered = Connection.list_composed_nodes({"podm_id": "pm-0002"})
    assert [n.as_dict() for n in filtered] == [{**second, "created_at": OLD}]
    assert Connection.list_composed_nodes({"podm_id": "pm-0003"}) == []


def test_list_devices_with_and_without_filters(real_store: str) -> None:
    first, second = device("dv-0001", "pm-0001"), device("dv-0002", "pm-0002")
    for document in (first, second):
        Connection.add_device(document)
    listed = sorted(Connection.list_devices(), key=lambda d: d.uuid)
    assert [d.uuid for d in listed] == ["dv-0001", "dv-0002"]
    assert [d.as_dict()["podm_id"] for d in listed] == ["pm-0001", "pm-0002"]
    [only] = Connection.list_devices(filters={"podm_id": "pm-0002"})
    assert only.uuid == "dv-0002"
    assert Connection.list_devices({"podm_id": "pm-0002", "type": "SSD"}) == []


def test_connection_follows_the_configured_driver(real_store: str) -> None:
    """Valence bound its Connection to the driver at import; here each call asks get_driver(),
    so a reconfigured process is not left writing to the old store."""
    created = Connection.create_flavor(flavor("fl-0002"))
    from valence_models import get_driver

    assert get_driver().get_flavor_by_uuid("fl-0002") == created


# -- etcd_db.init_etcd_db ---------------------------------------------------------------------


def test_init_on_an_empty_store_creates_nothing_and_leaves_the_models_usable(
    real_store: str,
) -> None:
    assert etcd_db.init_etcd_db() == []
    assert list(dalcore.runtime().store.keys("/")) == []
    Connection.create_flavor(flavor())
    assert [f.uuid for f in Connection.list_flavors()] == ["fl-0001"]


def test_init_removes_a_plain_key_with_a_directorys_name(real_store: str) -> None:
    raw_write("/flavors", {"left": "over"})
    assert etcd_db.init_etcd_db() == ["/flavors"]
    assert raw_read("/flavors") is None
    assert etcd_db.init_etcd_db() == []


def test_init_keeps_an_existing_directory_and_its_objects(real_store: str) -> None:
    Connection.create_flavor(flavor())
    Connection.create_podmanager(pod_manager())
    etcd_db.init_etcd_db()
    assert Connection.get_flavor_by_uuid("fl-0001").name == "medium"
    assert [p.uuid for p in Connection.list_podmanager()] == ["pm-0001"]
    assert sorted(etcd_db.etcd_directories) == ["/devices", "/flavors", "/nodes", "/pod_managers"]
