"""What the original DAL's ``ovs/dal/tests/test_hybrids.py`` checks of every hybrid, on SQLite and
etcd: declarations of allowed types, unique and indexed fields only where they can work,
defaults on a new object, every dynamic implemented, nothing undeclared reachable. dalcore
checks most of this when the class is made (DefinitionError); the test covers both halves."""

from __future__ import annotations

import inspect
from typing import Any

import _ovs_hybrids
import pytest

import dalcore
from dalcore import DataObject, Dynamic, Property, Relation
from dalcore.errors import DefinitionError, UnknownFieldError

HYBRIDS = [
    value
    for value in vars(_ovs_hybrids).values()
    if isinstance(value, type) and issubclass(value, DataObject) and value is not DataObject
]
ALLOWED = (str, int, float, bool, list, dict, object)


@pytest.mark.usefixtures("real_store")
@pytest.mark.parametrize("hybrid", HYBRIDS, ids=lambda h: h.__name__)
def test_every_hybrid_is_declared_consistently(hybrid: type[DataObject]) -> None:
    meta = hybrid._meta
    for prop in meta.properties.values():
        assert prop.type in ALLOWED or isinstance(prop.type, list), prop
        if prop.unique or prop.indexed:
            assert prop.type in (str, int, float, bool) or isinstance(prop.type, list), prop
    for dynamic in meta.dynamics.values():
        assert dynamic.type in ALLOWED or isinstance(dynamic.type, list), dynamic
    instance: Any = hybrid()
    assert isinstance(instance.guid, str) and instance.guid
    for name, prop in meta.properties.items():
        assert getattr(instance, name) == prop.default, name
    for name in meta.relations:
        assert getattr(instance, name) is None and getattr(instance, name + "_guid") is None
    for name in meta.reverse:
        getattr(instance, name)  # every reverse side is reachable on a new object
    if hybrid is _ovs_hybrids.Volume:
        instance.size = 3  # the dynamics read it
    for name in meta.dynamics:
        getattr(instance, name)  # implemented: no dynamic is left without its method
    declared = {
        "guid",
        *meta.properties,
        *meta.relations,
        *(name + "_guid" for name in meta.relations),
        *meta.dynamics,
        *meta.reverse,
        *(
            name + ("_guid" if relation.onetoone else "_guids")
            for name, (_, relation) in meta.reverse.items()
        ),
    }
    # Besides DataObject's own (dirty, stored: the original's fixed properties) and the
    # class's storage path.
    reachable = {
        name
        for name in dir(hybrid)
        if not name.startswith("_")
        and name != "path"
        and not hasattr(DataObject, name)
        and _is_field(hybrid, name)
    }
    assert reachable <= declared, reachable - declared
    assert set(meta.dynamics) | set(meta.relations) <= reachable  # the check sees them
    with pytest.raises(UnknownFieldError):
        instance.undeclared = 1


def _is_field(hybrid: type, name: str) -> bool:
    """A descriptor giving a per-object value (what the original's test collected)."""
    attribute = inspect.getattr_static(hybrid, name)
    return isinstance(attribute, property) or type(attribute).__name__.endswith("Attribute")


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (Property("tags", set), "type must be one of"),
        (Property("tags", list, unique=True), "cannot be indexed"),
        (Property("info", dict, indexed=True), "cannot be indexed"),
        (Property("info", object, indexed=True), "cannot be indexed"),
    ],
)
def test_declarations_that_cannot_work_are_refused(declared: Property, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        type("Refused", (DataObject,), {"_Refused__properties": [declared]})


def test_a_dynamic_without_its_method_is_refused() -> None:
    with pytest.raises(DefinitionError, match="nothing"):
        type("NoMethod", (DataObject,), {"_NoMethod__dynamics": [Dynamic("nothing", int, 5)]})
    with pytest.raises(DefinitionError):
        type("BadTarget", (DataObject,), {"_BadTarget__relations": [Relation("x", dict, "y")]})
    assert dalcore.hybrid("Volume") is _ovs_hybrids.Volume
