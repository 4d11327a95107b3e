"""Valence models on dalcore: declaration, the seed's example, CRUD, listing, timestamps, errors."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

import dalcore
from dalcore.compat.valence import (
    TIMESTAMP_FORMAT,
    ModelBase,
    ModelBaseWithTimeStamp,
    ModelBaseWithTimestamp,
    config,
    etcd,
    singleton,
    types,
)


def stored(key: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(dalcore.runtime().store.get(key).value)
    return document


# -- the seed's example, with only its imports changed --------------------------------------------


def test_seed_example_model_and_driver_run_unchanged(backend: str) -> None:
    import six  # type: ignore[import-untyped]

    class ExampleModel(ModelBase):
        # This is the Etcd dir the new model lives in
        path = "example_model"

        # The fields will be wrapped as a value for one object
        fields = {
            "uuid": {"validate": types.Text.validate},
            "name": {"validate": types.Text.validate},
        }

    @six.add_metaclass(singleton.Singleton)
    class ExampleDriver(object):  # noqa: UP004 - as written in the seed
        def __init__(self, host: Any = config.etcd_host, port: Any = config.etcd_port) -> None:
            self.client = etcd.Client(host=host, port=port)

        def get_example_object(self, object_id: str) -> Any:
            return self.client.get(ExampleModel, object_id)

        def create_example_object(self, values: dict[str, Any]) -> Any:
            return self.client.create(ExampleModel, values)

    driver = ExampleDriver()
    assert ExampleDriver() is driver
    created = driver.create_example_object({"name": "first"})
    assert ExampleModel.path == "/example_model"
    key = f"/example_model/{created.uuid}"
    assert stored(key)["name"] == "first" and stored(key)["uuid"] == created.uuid
    assert driver.get_example_object(created.uuid).as_dict() == {
        "uuid": created.uuid,
        "name": "first",
    }
    assert ExampleModel.etcd_path(created.uuid) == key
    ExampleDriver.forget_instance()  # type: ignore[attr-defined]
    assert ExampleDriver() is not driver


# -- declaration ----------------------------------------------------------------------------------


class Rack(ModelBaseWithTimestamp):
    path = "/racks/"
    fields = {
        "uuid": {"validate": types.Text.validate},
        "name": {"validate": types.String(min_length=1, max_length=16).validate},
        "slots": {"validate": types.Integer(minimum=1).validate},
        "powered": {"validate": types.Bool.validate},
        "tags": {"validate": types.List(types.Text).validate},
        "extra": {"validate": types.Dict.validate},
    }


def test_fields_become_typed_properties_at_an_absolute_path() -> None:
    assert Rack.path == "/racks"
    properties = {p.name: p.type for p in Rack._meta.properties.values()}
    assert properties == {
        "uuid": str,
        "name": str,
        "slots": int,
        "powered": bool,
        "tags": list,
        "extra": dict,
        "created_at": str,
        "updated_at": str,
    }
    assert set(Rack.fields) == set(properties)
    assert ModelBaseWithTimeStamp is ModelBaseWithTimestamp


def test_bad_declarations_are_refused_when_the_class_is_made() -> None:
    with pytest.raises(dalcore.DefinitionError, match="'validate' must be a callable"):

        class NoValidator(ModelBase):
            fields = {"name": {}}

    with pytest.raises(dalcore.DefinitionError, match="'store_as' must be str, int"):

        class OwnValidator(ModelBase):
            fields = {"name": {"validate": str.strip, "store_as": set}}

    with pytest.raises(dalcore.DefinitionError, match="name is used by ModelBase"):

        class Clash(ModelBase):
            fields = {"update": {"validate": types.Text.validate}}

    with pytest.raises(dalcore.DefinitionError, match="unknown option 'validator'"):

        class Typo(ModelBase):
            fields = {"name": {"validate": types.Text.validate, "validator": 1}}


def test_a_projects_own_validator_with_store_as(backend: str) -> None:
    def even(value: Any) -> Any:
        if value % 2:
            raise ValueError("must be even")
        return value

    class Pair(ModelBase):
        path = "/pairs"
        fields = {"size": {"validate": even, "store_as": int}}

    assert Pair(size=4).size == 4
    with pytest.raises(dalcore.ValidationError) as caught:
        Pair(size=3)
    assert str(caught.value) == "Pair.size: must be even (value: int 3)"


# -- validation through the model -----------------------------------------------------------------


def test_assignment_runs_the_valence_validator_and_names_the_field() -> None:
    rack = Rack(name="r1", slots="42", powered="yes")
    assert (rack.slots, rack.powered) == (42, True)  # normalised as Valence did
    with pytest.raises(ValueError) as caught:
        rack.slots = 0
    error = caught.value
    assert isinstance(error, dalcore.ValidationError)
    assert (error.owner, error.field, error.value) == ("Rack", "slots", 0)
    assert str(error) == "Rack.slots: Integer(minimum=1): 0 is smaller than the minimum 1"
    with pytest.raises(dalcore.ValidationError, match=r"Rack\.name: String\(1, 16\)"):
        Rack(name="x" * 17)
    with pytest.raises(dalcore.UnknownFieldError, match=r"Rack\.colour: is not a field"):
        Rack(colour="red")
    assert rack.slots == 42


def test_nested_declarations_validate_each_sub_field(backend: str) -> None:
    from valence_models import Flavor

    good = {"memory": {"capacity_mib": "4096", "type": "DDR4"}, "pci_device": {"type": ["NIC"]}}
    assert Flavor(name="small", properties=good).properties == good
    with pytest.raises(dalcore.ValidationError) as caught:
        Flavor(properties={"memory": {"capacity_mib": 4096}})
    assert caught.value.field == "properties.memory.capacity_mib"
    assert "expected a string, got int 4096" in str(caught.value)
    with pytest.raises(dalcore.ValidationError, match=r"properties\.pci_device\.type: List"):
        Flavor(properties={"pci_device": {"type": "NIC"}})


def test_uuid_is_the_key_and_cannot_change(backend: str) -> None:
    rack = Rack(uuid="rack-7", name="r7")
    assert rack.guid == "rack-7"
    rack.save()
    assert stored("/racks/rack-7")["name"] == "r7"
    with pytest.raises(dalcore.ValidationError, match="cannot change once stored"):
        rack.uuid = "rack-8"
    with pytest.raises(dalcore.ValidationError, match="without '/'"):
        Rack(uuid="a/b")


# -- CRUD through the client ----------------------------------------------------------------------


def test_create_get_update_delete(backend: str) -> None:
    client = etcd.Client()
    rack = client.create(Rack, {"name": "r1", "slots": 8, "tags": ["a"], "extra": {"k": [1]}})
    key = f"/racks/{rack.uuid}"
    assert stored(key)["extra"] == {"k": [1]}
    loaded = client.get(Rack, rack.uuid)
    assert loaded.as_dict() == rack.as_dict()
    assert loaded["tags"] == ["a"]
    with pytest.raises(KeyError):
        loaded["nope"]
    client.update(Rack, rack.uuid, {"slots": "16", "powered": False})
    assert (stored(key)["slots"], stored(key)["powered"]) == (16, False)
    client.delete(Rack, rack.uuid)
    assert not dalcore.runtime().store.exists(key)


def test_update_validates_everything_before_changing_anything(backend: str) -> None:
    client = etcd.Client()
    rack = client.create(Rack, {"name": "r1", "slots": 8})
    with pytest.raises(dalcore.ValidationError, match=r"Rack\.slots"):
        rack.update({"name": "r2", "slots": -1})
    assert rack.name == "r1"
    with pytest.raises(dalcore.UnknownFieldError):
        rack.update({"name": "r2", "colour": "red"})
    assert stored(f"/racks/{rack.uuid}")["name"] == "r1"


def test_missing_objects_give_typed_not_found_errors(backend: str) -> None:
    client = etcd.Client()
    for attempt in (
        lambda: client.get(Rack, "missing"),
        lambda: client.update(Rack, "missing", {"name": "x"}),
        lambda: client.delete(Rack, "missing"),
        lambda: Rack(name="never saved").update({"name": "x"}),
        lambda: Rack(name="never saved").delete(),
    ):
        with pytest.raises(dalcore.ObjectNotFoundError) as caught:
            attempt()
        assert isinstance(caught.value, LookupError)
        assert caught.value.key.startswith("/racks/")


def test_update_or_delete_after_someone_else_deleted_it(backend: str) -> None:
    client = etcd.Client()
    rack = client.create(Rack, {"name": "r1"})
    mine = client.get(Rack, rack.uuid)
    client.delete(Rack, rack.uuid)
    with pytest.raises(dalcore.ObjectNotFoundError):
        mine.update({"name": "r2"})
    with pytest.raises(dalcore.ObjectNotFoundError):
        mine.delete()
    assert client.list(Rack) == []


def test_duplicate_create_fails_and_keeps_the_first(backend: str) -> None:
    client = etcd.Client()
    client.create(Rack, {"uuid": "r", "name": "first"})
    with pytest.raises(dalcore.AlreadyExistsError) as caught:
        client.create(Rack, {"uuid": "r", "name": "second"})
    assert caught.value.key == "/racks/r"
    assert stored("/racks/r")["name"] == "first"


def test_concurrent_updates_of_different_fields_both_survive(backend: str) -> None:
    client = etcd.Client()
    rack = client.create(Rack, {"name": "r1", "slots": 1})
    first, second = client.get(Rack, rack.uuid), client.get(Rack, rack.uuid)
    first.update({"name": "renamed"})
    second.update({"slots": 2})
    document = stored(f"/racks/{rack.uuid}")
    assert (document["name"], document["slots"]) == ("renamed", 2)


# -- listing --------------------------------------------------------------------------------------


def test_list_with_equality_filters(backend: str) -> None:
    client = etcd.Client()
    made = [
        client.create(Rack, {"name": name, "slots": slots, "powered": powered})
        for name, slots, powered in [("a", 1, True), ("b", 2, True), ("c", 2, False)]
    ]
    from valence_models import Device

    client.create(Device, {"type": "SSD"})  # another model's objects never show up
    assert sorted(r.name for r in client.list(Rack)) == ["a", "b", "c"]
    assert [r.name for r in client.list(Rack, {"slots": 2}, powered=True)] == ["b"]
    assert sorted(r.name for r in client.list(Rack, slots="2")) == ["b", "c"]  # validated first
    assert client.list(Rack, name="zzz") == []
    assert [r.uuid for r in client.list(Rack, uuid=made[0].uuid)] == [made[0].uuid]
    assert len(client.list(Rack, extra=None)) == 3  # never assigned: None, as filtered
    with pytest.raises(dalcore.UnknownFieldError, match=r"Rack\.colour"):
        client.list(Rack, colour="red")
    with pytest.raises(dalcore.ValidationError, match=r"Rack\.slots"):
        client.list(Rack, slots="many")


def test_list_skips_keys_that_are_not_direct_children(backend: str) -> None:
    client = etcd.Client()
    rack = client.create(Rack, {"name": "a"})
    dalcore.runtime().store.set("/racks/sub/thing", b"{}")
    assert [r.uuid for r in client.list(Rack)] == [rack.uuid]


# -- timestamps -----------------------------------------------------------------------------------


def parse(stamp: str) -> datetime.datetime:
    return datetime.datetime.strptime(stamp, TIMESTAMP_FORMAT)


def test_timestamps_on_create_and_update(backend: str) -> None:
    client = etcd.Client()
    rack = client.create(Rack, {"name": "r1"})
    assert rack.created_at == rack.updated_at
    assert rack.created_at.endswith(" UTC")
    parse(rack.created_at)
    key = f"/racks/{rack.uuid}"
    # Age the stored object as if written years ago, then update it.
    old = "2016-11-05 14:03:27 UTC"
    document = stored(key)
    document.update(created_at=old, updated_at=old)
    dalcore.runtime().store.set(key, json.dumps(document).encode())
    dalcore.runtime().cache.clear()
    updated = client.update(Rack, rack.uuid, {"name": "r2"})
    assert stored(key)["created_at"] == old
    assert parse(stored(key)["updated_at"]) > parse(old)
    assert updated.updated_at == stored(key)["updated_at"]
    # An update that changes nothing writes nothing, so updated_at stays.
    dalcore.runtime().store.set(key, json.dumps({**stored(key), "updated_at": old}).encode())
    dalcore.runtime().cache.clear()
    revision = dalcore.runtime().store.get(key).revision
    client.update(Rack, rack.uuid, {"name": "r2"})
    assert dalcore.runtime().store.get(key).revision == revision
    assert stored(key)["updated_at"] == old


def test_a_given_created_at_is_kept(backend: str) -> None:
    old = "2017-01-02 03:04:05 UTC"
    rack = etcd.Client().create(Rack, {"name": "imported", "created_at": old})
    assert rack.created_at == old and rack.updated_at != old


# -- the four Valence models ----------------------------------------------------------------------


def test_valence_models_through_valences_driver_api(backend: str) -> None:
    from valence_models import get_driver

    driver = get_driver()
    assert get_driver() is driver
    podm = driver.create_podmanager(
        {"name": "podm", "url": "https://10.0.0.1:8443", "driver": "redfishv1", "status": "online"}
    )
    flavor = driver.create_flavor(
        {"name": "small", "properties": {"memory": {"capacity_mib": "4096", "type": "DDR4"}}}
    )
    node = driver.create_composed_node(
        {"name": "n1", "podm_id": podm.uuid, "index": "1", "managed_by": "nova"}
    )
    device = driver.create_device(
        {
            "podm_id": podm.uuid,
            "node_id": node.uuid,
            "type": "SSD",
            "state": "allocated",
            "properties": {"capacity_gb": 512},
            "extra": {"vendor": "x"},
        }
    )
    for path, obj in [
        ("/pod_managers", podm),
        ("/flavors", flavor),
        ("/nodes", node),
        ("/devices", device),
    ]:
        document = stored(f"{path}/{obj.uuid}")
        assert document["uuid"] == obj.uuid
        assert document["created_at"] == obj.created_at
    assert driver.get_podmanager_by_node_uuid(node.uuid) == podm
    assert [d.uuid for d in driver.list_devices({"node_id": node.uuid})] == [device.uuid]
    assert driver.list_devices({"node_id": "other"}) == []
    assert [n.uuid for n in driver.list_composed_nodes({"podm_id": podm.uuid})] == [node.uuid]
    assert [f.name for f in driver.list_flavors()] == ["small"]
    driver.update_device(device.uuid, {"state": "free", "node_id": None})
    assert driver.list_devices({"state": "free"})[0].node_id is None
    driver.update_flavor(flavor.uuid, {"name": "smaller"})
    driver.update_composed_node(node.uuid, {"name": "n2"})
    assert driver.get_flavor_by_uuid(flavor.uuid).name == "smaller"
    assert driver.get_composed_node_by_uuid(node.uuid).name == "n2"
    assert driver.get_device_by_uuid(device.uuid).properties == {"capacity_gb": 512}
    driver.delete_device(device.uuid)
    driver.delete_composed_node(node.uuid)
    driver.delete_flavor(flavor.uuid)
    driver.delete_podmanager(podm.uuid)
    assert list(dalcore.runtime().store.keys("/")) == []
    with pytest.raises(dalcore.ObjectNotFoundError):
        driver.delete_podmanager(podm.uuid)


def test_add_device_is_valences_name_for_creating_one(backend: str) -> None:
    from valence_models import get_driver

    driver = get_driver()
    device = driver.add_device({"type": "NIC", "state": "free", "podm_id": "p1"})
    assert driver.get_device_by_uuid(device.uuid).type == "NIC"
    assert [d.uuid for d in driver.list_devices({"podm_id": "p1"})] == [device.uuid]


def test_custom_and_own_validators_need_no_store_as(backend: str) -> None:
    class Placement:
        def __init__(self, rack: str, slot: int) -> None:
            self.rack, self.slot = rack, slot

    def even(value: Any) -> Any:  # an application's own validator
        if value is not None and value % 2:
            raise ValueError(f"{value} is odd")
        return value

    class Slotted(ModelBase):
        path = "slotted"
        fields = {
            "uuid": {"validate": types.Text.validate},
            "placed": {"validate": types.Custom(Placement).validate},
            "spares": {"validate": types.List(types.Custom(Placement)).validate},
            "count": {"validate": even},
        }

    obj = Slotted(uuid="s-1", placed={"rack": "r", "slot": 2}, spares=[], count=4)
    obj.save()
    loaded = Slotted("s-1")
    assert (loaded.placed, loaded.spares, loaded.count) == ({"rack": "r", "slot": 2}, [], 4)
    with pytest.raises(dalcore.ValidationError, match="odd"):
        loaded.count = 3
    with pytest.raises(dalcore.ValidationError, match="Placement"):
        loaded.placed = {"shelf": 1}
