"""Objects: create, load, change, validate, upgrade, and how they are stored."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dalcore import (
    CorruptDataError,
    KeyNotFoundError,
    ObjectNotFoundError,
    UnknownFieldError,
    ValidationError,
)
from dalcore.testing._engine_hybrids import (
    Animal,
    Backend,
    BackendType,
    Gauge,
    Person,
    PodManager,
    Sample,
    Shelf,
)
from dalcore.testing.engine._base import (
    VALID_VALUES,
    WRONG_VALUES,
    Dal,
    EngineBase,
)


class ObjectBehaviour(EngineBase):
    """Objects: create, load, change, validate, upgrade, and how they are stored."""

    # == Objects ==============================================================================

    def test_create_load_and_not_found(self, dal: Dal) -> None:
        gauge: Any = Gauge(name="a", level=3)
        assert uuid.UUID(gauge.guid).version == 4
        assert not gauge.stored
        gauge.save()
        assert gauge.stored
        loaded = Gauge(gauge.guid)
        assert loaded is not gauge
        assert (loaded.name, loaded.level) == ("a", 3)
        missing = str(uuid.uuid4())
        with pytest.raises(ObjectNotFoundError) as caught:
            Gauge(missing)
        assert caught.value.guid == missing
        assert missing in str(caught.value) and "Gauge" in str(caught.value)
        assert isinstance(caught.value, KeyNotFoundError)
        with pytest.raises(ValidationError):
            Gauge(123)  # type: ignore[arg-type]

    def test_dirty_discard_and_no_op_save(self, dal: Dal) -> None:
        gauge: Any = Gauge(name="a")
        assert gauge.dirty
        gauge.save()
        assert not gauge.dirty
        dal.store.reset()
        gauge.save()
        assert dal.store.calls["commit"] == 0  # nothing changed: nothing written
        gauge.level = 5
        assert gauge.dirty
        gauge.discard()
        assert (gauge.level, gauge.dirty) == (0, False)
        animal = Animal(name="cat")
        animal.save()
        animal.tags.append("in-place")  # a mutation inside a list is a change too
        assert animal.dirty
        animal.save()
        assert (dal.stored(animal) or {})["tags"] == ["in-place"]
        animal.tags.append("again")
        assert animal.dirty
        fresh = Gauge(name="new")
        guid = fresh.guid
        fresh.discard()
        assert (fresh.guid, fresh.name, fresh.stored) == (guid, None, False)

    def test_clone_is_another_handle_on_the_same_object(self, dal: Dal) -> None:
        owner = Person(name="ann")
        owner.save()
        cat = Animal(name="cat", tags=["a"], traits={"k": [1]}, owner=owner)
        cat.save()
        cat.name = "unsaved"
        twin = cat.clone()
        assert type(twin) is Animal and twin == cat and twin is not cat
        assert (twin.guid, twin.name, twin.owner_guid) == (cat.guid, "unsaved", owner.guid)
        assert twin.stored and twin.dirty  # the unsaved change came along
        twin.tags.append("b")
        twin.traits["k"].append(2)
        assert (cat.tags, cat.traits) == (["a"], {"k": [1]})  # its own copies
        twin.name = "twin"
        twin.save()
        assert (dal.stored(cat) or {})["name"] == "twin"  # one stored object
        assert cat.name == "unsaved"  # the first handle keeps its own state
        assert cat.clone(reload_object=True).name == "twin"
        assert owner.animals_guids == [cat.guid]
        fresh = Animal(name="new")
        assert fresh.clone().guid == fresh.guid and not fresh.clone().stored

    def test_equality_and_hash_by_class_and_guid(self, dal: Dal) -> None:
        gauge = Gauge(name="a")
        gauge.save()
        same = Gauge(gauge.guid)
        assert gauge == same and hash(gauge) == hash(same)
        assert len({gauge, same, Gauge(gauge.guid)}) == 1
        assert gauge != Gauge(name="a")
        assert gauge != gauge.guid

    def test_unknown_attributes_are_refused(self, dal: Dal) -> None:
        gauge = Gauge(name="a")
        with pytest.raises(UnknownFieldError) as caught:
            gauge.colour = "red"
        assert (caught.value.owner, caught.value.field) == ("Gauge", "colour")
        assert "Gauge.colour" in str(caught.value) and "level" in str(caught.value)
        assert isinstance(caught.value, AttributeError)
        with pytest.raises(UnknownFieldError, match="guid"):
            gauge.guid = "x"
        with pytest.raises(UnknownFieldError, match="cached"):
            gauge.cached = 1
        with pytest.raises(UnknownFieldError):
            Gauge(name="a", nonsense=1)

    # == Validation ===========================================================================

    def test_validation_names_class_field_type_and_value(self) -> None:
        sample = Sample()
        with pytest.raises(ValidationError) as caught:
            sample.number = "12"
        message = str(caught.value)
        assert "Sample.number" in message and "int" in message and "'12'" in message
        assert (caught.value.owner, caught.value.field, caught.value.value) == (
            "Sample",
            "number",
            "12",
        )
        with pytest.raises(ValidationError, match=r"Sample\.number"):
            sample.number = True  # a bool is not an int
        with pytest.raises(ValidationError, match=r"Sample\.flag"):
            sample.flag = 1
        with pytest.raises(ValidationError, match=r"Sample\.colour.*'purple'.*'red'"):
            sample.colour = "purple"
        sample.ratio = 3
        assert sample.ratio == 3.0 and type(sample.ratio) is float
        assert sample.number is None  # failed assignments changed nothing
        with pytest.raises(ValidationError, match=r"Backend\.backend_type.*BackendType"):
            Backend(name="b").backend_type = Gauge(name="not a type")

    def test_nan_and_infinity_inside_lists_and_dicts_are_refused(self, dal: Dal) -> None:
        sample = Sample(items=[1], mapping={"k": 1.5})
        sample.save()
        before = dal.stored(sample)
        for field, bad in (
            ("items", [float("nan")]),
            ("items", [1, {"deep": [float("inf")]}]),
            ("mapping", {"x": float("-inf")}),
            ("mapping", {"x": (1, float("nan"))}),
        ):
            with pytest.raises(ValidationError, match=rf"Sample\.{field}.*NaN or infinity"):
                setattr(sample, field, bad)
        assert (sample.items, sample.mapping) == ([1], {"k": 1.5})  # assignments refused
        # Changed in place after assignment: refused by the save, nothing written.
        sample.items.append(float("nan"))
        with pytest.raises(ValidationError, match=r"Sample\.items.*\[1\]"):
            sample.save()
        sample.mapping["bad"] = {1: "non-str key"}
        sample.items.pop()
        with pytest.raises(ValidationError, match=r"Sample\.mapping.*keys must be str"):
            sample.save()
        assert dal.stored(sample) == before

    def test_a_tuple_inside_a_list_or_dict_is_kept_as_a_list(self, dal: Dal) -> None:
        # JSON has only arrays: the value is a list from assignment on, as it reads back.
        sample = Sample(items=[(1, 2), [3, (4,)]], mapping={"pair": ("a", "b")})
        assert sample.items == [[1, 2], [3, [4]]] and sample.mapping == {"pair": ["a", "b"]}
        sample.save()
        dal.cache.clear()
        loaded = Sample(sample.guid)
        assert (loaded.items, loaded.mapping) == (sample.items, sample.mapping)
        with pytest.raises(ValidationError, match=r"Sample\.items.*expected list"):
            sample.items = (1, 2)  # the property itself must be a list

    def test_non_json_values_are_refused(self, dal: Dal) -> None:
        sample = Sample()
        for bad in (float("nan"), float("inf")):
            with pytest.raises(ValidationError, match=r"Sample\.ratio"):
                sample.ratio = bad
                sample.save()
        sample = Sample(text="lone \ud800 surrogate")
        with pytest.raises(ValidationError, match=r"Sample\.text"):
            sample.save()
        sample = Sample(number=2**64)
        with pytest.raises(ValidationError, match=r"Sample\.number"):
            sample.save()
        with pytest.raises(ValidationError, match=r"Sample\.mapping"):
            Sample(mapping={"ok": {1, 2}}).save()  # refused at assignment already
        assert dal.stored_keys() == []

    def test_none_until_save_then_mandatory_checked(self, dal: Dal) -> None:
        gauge = Gauge()
        assert gauge.name is None
        gauge.name = "x"
        gauge.name = None
        with pytest.raises(ValidationError, match=r"Gauge\.name.*mandatory"):
            gauge.save()
        backend = Backend(name="orphan")
        with pytest.raises(ValidationError, match=r"Backend\.backend_type"):
            backend.save()
        assert dal.stored_keys() == []
        Sample().save()  # nothing mandatory

    def test_mutable_defaults_are_copied(self, dal: Dal) -> None:
        first, second = Animal(name="a"), Animal(name="b")
        first.tags.append("x")
        first.traits["y"] = 1
        assert (second.tags, second.traits) == ([], {})
        assert Animal._meta.properties["tags"].default == []
        first.save()
        loaded = Animal(first.guid)
        loaded.tags.append("local only")
        assert Animal(first.guid).tags == ["x"]  # the cached document was not touched

    # Each backend's subclass runs these (differing executors); the fixture is reused on purpose:
    # every example makes a fresh object with a fresh guid.
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(values=st.fixed_dictionaries(VALID_VALUES))
    def test_any_valid_value_round_trips(self, dal: Dal, values: dict[str, Any]) -> None:
        sample = Sample(**values)
        sample.save()
        expected = {
            name: float(value) if name == "ratio" and value is not None else value
            for name, value in values.items()
        }
        assert sample.export() == expected
        from_store = Sample(sample.guid)
        assert from_store.export() == expected
        assert not from_store.dirty
        assert Sample(sample.guid).export() == expected  # and from the cache

    @settings(
        max_examples=100, deadline=None, suppress_health_check=[HealthCheck.differing_executors]
    )
    @given(data=st.data())
    def test_wrong_types_are_always_refused(self, data: Any) -> None:
        field = data.draw(st.sampled_from(sorted(WRONG_VALUES)))
        value = data.draw(WRONG_VALUES[field])
        sample = Sample()
        before = sample.export()
        with pytest.raises(ValidationError) as caught:
            setattr(sample, field, value)
        assert (caught.value.owner, caught.value.field) == ("Sample", field)
        assert sample.export() == before

    # == Upgrade and corruption ===============================================================

    def test_upgrade_missing_field_gets_default(self, dal: Dal) -> None:
        guid = str(uuid.uuid4())
        dal.write_raw(Animal, guid, b'{"guid": "%s", "name": "old"}' % guid.encode())
        animal = Animal(guid)
        assert (animal.name, animal.legs, animal.tags, animal.traits) == ("old", 4, [], {})
        assert animal.owner is None
        assert animal.dirty  # the stored document is out of date
        animal.save()
        assert dal.stored(animal) == {
            "guid": guid,
            "name": "old",
            "legs": 4,
            "tags": [],
            "traits": {},
            "owner_guid": None,
        }

    def test_upgrade_drops_undeclared_fields_on_next_save(self, dal: Dal) -> None:
        guid = str(uuid.uuid4())
        document = {"guid": guid, "name": "x", "level": 2, "retired": [1, 2]}
        dal.write_raw(Gauge, guid, json.dumps(document).encode())
        gauge = Gauge(guid)
        assert (gauge.name, gauge.level) == ("x", 2)
        assert not hasattr(gauge, "retired")
        gauge.save()
        assert dal.stored(gauge) == {"guid": guid, "name": "x", "level": 2}

    @pytest.mark.parametrize(
        ("raw", "field"),
        [
            (b"{not json", None),
            (b"[1, 2]", None),
            (b'{"name": 5, "level": 1}', "name"),
            (b'{"name": "x", "level": "high"}', "level"),
            (b'{"name": "x", "level": true}', "level"),
        ],
    )
    def test_corrupt_documents_raise_naming_key_and_field(
        self, dal: Dal, raw: bytes, field: str | None
    ) -> None:
        guid = str(uuid.uuid4())
        key = dal.write_raw(Gauge, guid, raw)
        with pytest.raises(CorruptDataError) as caught:
            Gauge(guid)
        assert caught.value.key == key and key in str(caught.value)
        assert caught.value.field == field
        if field is not None:
            assert repr(field) in str(caught.value)
        # Nothing half-built was cached: once repaired, the object loads.
        dal.write_raw(Gauge, guid, b'{"name": "fixed", "level": 1}')
        assert Gauge(guid).name == "fixed"

    def test_corrupt_relation_guid(self, dal: Dal) -> None:
        guid = str(uuid.uuid4())
        dal.write_raw(Backend, guid, b'{"name": "b", "status": "NEW", "backend_type_guid": 7}')
        with pytest.raises(CorruptDataError) as caught:
            Backend(guid)
        assert caught.value.field == "backend_type_guid"

    # == Storage layout =======================================================================

    def test_storage_layout_is_readable_json(self, dal: Dal) -> None:
        kind = BackendType(name="alba", code="alba")
        kind.save()
        backend = Backend(name="b1", backend_type=kind)
        backend.save()
        raw = dal.store.inner.get(f"{dal.ns}/backend/{backend.guid}").value
        assert json.loads(raw.decode("utf-8")) == {
            "guid": backend.guid,
            "name": "b1",
            "status": "NEW",
            "backend_type_guid": kind.guid,
        }
        assert json.loads(dal.store.inner.get(f"{dal.ns}/backendtype/{kind.guid}").value)[
            "code"
        ] == ("alba")
        index = f"{dal.ns}/.rel/backend/backend_type/{kind.guid}/{backend.guid}"
        assert index in dal.stored_keys()
        assert all(key.startswith(f"{dal.ns}/") for key in dal.stored_keys())

    def test_custom_and_absolute_paths(self, dal: Dal) -> None:
        shelf = Shelf(label="top")
        shelf.save()
        assert dal.store.inner.exists(f"{dal.ns}/shelves/{shelf.guid}")
        pod = PodManager(name="podm", url="http://podm")
        pod.save()
        try:
            key = f"/pod_managers/{pod.guid}"
            assert json.loads(dal.store.inner.get(key).value)["url"] == "http://podm"
            assert PodManager(pod.guid).name == "podm"
        finally:
            pod.delete()
        assert not dal.store.inner.exists(key)
