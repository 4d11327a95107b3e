"""Declaring hybrids, plugins that contribute or replace them, lifecycle hooks, serialisation."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

import dalcore
from dalcore import (
    ConfigurationError,
    DataObject,
    DefinitionError,
    Dynamic,
    LinkedObjectsError,
    ObjectNotFoundError,
    Property,
    Relation,
    UnknownFieldError,
    ValidationError,
    hookimpl,
)
from dalcore.testing._engine_hybrids import (
    AlbaBackend,
    Animal,
    Backend,
    BackendType,
    Dog,
    Gadget,
    Gauge,
    Leaf,
    Node,
    Person,
    Sample,
    SmartGadget,
    Tree,
    Widget,
)
from dalcore.testing.engine._base import (
    Dal,
    EngineBase,
)


class DeclarationBehaviour(EngineBase):
    """Declaring hybrids, plugin hybrids, lifecycle hooks and serialisation."""

    # == Declaration ==========================================================================

    def test_seed_backend_example_runs(self, dal: Dal) -> None:
        plain = BackendType(name="local", code="local")
        plain.save()
        backend = Backend(name="b1", backend_type=plain)
        backend.save()
        loaded = Backend(backend.guid)
        assert (loaded.name, loaded.status, loaded.backend_type.name) == ("b1", "NEW", "local")
        assert loaded.linked_guid is None
        assert loaded.available is False
        # A type with a plugin: the seed's dynamics follow the one-to-one <code>_backend link.
        alba = BackendType(name="alba", code="alba", has_plugin=True)
        alba.save()
        linked = Backend(name="b2", backend_type=alba)
        linked.save()
        detail = AlbaBackend(backend=linked, healthy=True)
        detail.save()
        fresh = Backend(linked.guid)
        assert fresh.linked_guid == detail.guid
        assert fresh.available is True
        assert fresh.alba_backend == detail
        assert plain.backends_guids == [backend.guid]
        assert [b.name for b in alba.backends] == ["b2"]

    def test_subclass_inherits_and_extends_lists(self, dal: Dal) -> None:
        assert set(Dog._meta.properties) == {"name", "legs", "tags", "traits", "breed"}
        assert set(Dog._meta.relations) == {"owner"}
        assert set(Dog._meta.dynamics) == {"sound", "fetches"}
        assert set(Animal._meta.properties) == {"name", "legs", "tags", "traits"}
        dog = Dog(name="rex", breed="basset")
        assert dog.legs == 3  # redeclared by the subclass
        assert Animal(name="cat").legs == 4
        assert (dog.sound, dog.fetches) == ("woof", False)
        with pytest.raises(UnknownFieldError):
            Animal().breed = "none"
        owner = Person(name="ann")
        owner.save()
        dog.owner = owner
        dog.save()
        again = Dog(dog.guid)
        assert (again.breed, again.legs, again.owner) == ("basset", 3, owner)
        assert dal.stored(dog) is not None

    def test_inherited_relation_shows_on_the_reverse_side(self, dal: Dal) -> None:
        owner = Person(name="bob")
        owner.save()
        cat = Animal(name="tom", owner=owner)
        cat.save()
        dog = Dog(name="rex", owner=owner)
        dog.save()
        assert set(owner.animals_guids) == {cat.guid, dog.guid}
        animals = {type(a): a.guid for a in Person(owner.guid).animals}
        assert animals == {Animal: cat.guid, Dog: dog.guid}  # each loaded as its own class
        with pytest.raises(LinkedObjectsError, match=r"animals \(2\)"):
            owner.delete()
        owner.delete(cascade=["animals"])
        with pytest.raises(ObjectNotFoundError):
            Dog(dog.guid)

    def test_dynamic_without_method_or_loader_is_a_definition_error(self) -> None:
        with pytest.raises(DefinitionError) as caught:

            class Orphan(DataObject):
                __properties = [Property("name", str)]
                __dynamics = [Dynamic("missing_value", int, 10)]

        assert "Orphan" in str(caught.value)
        assert "missing_value" in str(caught.value)

    def test_definition_errors_name_the_class(self) -> None:
        with pytest.raises(DefinitionError, match=r"BadType\.blob"):

            class BadType(DataObject):
                __properties = [Property("blob", bytes)]

        with pytest.raises(DefinitionError, match="Twice"):

            class Twice(DataObject):
                __properties = [Property("name", str), Property("name", int)]

        with pytest.raises(DefinitionError, match="save"):

            class Reserved(DataObject):
                __properties = [Property("save", str)]

        with pytest.raises(DefinitionError):
            Property("values", (1, 2))
        with pytest.raises(DefinitionError):
            Dynamic("late", int, -1)

    def test_relation_to_a_non_hybrid_is_refused_and_forgotten(self) -> None:
        with pytest.raises(DefinitionError, match="BadLink"):

            class BadLink(DataObject):
                __relations = [Relation("thing", int, "links")]

        # The refused relation must not poison the next class created.
        class FineTarget(DataObject):
            __properties = [Property("name", str)]

        class Fine(DataObject):
            __properties = [Property("name", str)]
            __relations = [Relation("target", FineTarget, "fines", mandatory=False)]

        assert Fine(name="ok").name == "ok"
        # Nor must a reverse name declared twice.
        with pytest.raises(DefinitionError, match="declared twice"):

            class Again(DataObject):
                __relations = [Relation("target", FineTarget, "fines")]

        assert FineTarget(name="still fine").name == "still fine"

    def test_loader_plugin_provides_a_dynamic(self, dal: Dal) -> None:
        asked: list[tuple[str, str]] = []

        class Loader:
            @hookimpl
            def dalcore_dynamic_loader(self, hybrid: type, dynamic: Dynamic) -> Any:
                asked.append((hybrid.__name__, dynamic.name))
                if dynamic.source != "engine-suite":
                    return None

                def load(obj: Any, dyn: Dynamic) -> str:
                    return f"{obj.name}:{dyn.name}"

                return load

        loader = Loader()
        dalcore.register_plugin(loader, name="engine-suite-loader")
        try:

            class Probe(DataObject):
                __properties = [Property("name", str)]
                __dynamics = [Dynamic("label", str, 0, source="engine-suite")]

        finally:
            dalcore.unregister_plugin("engine-suite-loader")
        assert asked == [("Probe", "label")]
        probe = Probe(name="p1")
        probe.save()
        assert Probe(probe.guid).label == "p1:label"

    def test_lazy_string_target(self, dal: Dal) -> None:
        tree = Tree(species="oak")
        tree.save()
        leaf = Leaf(tree=tree)
        leaf.save()
        assert tree.leaves_guids == [leaf.guid]
        assert Leaf(leaf.guid).tree.species == "oak"
        assert dalcore.hybrid("Tree") is Tree

    def test_self_relations(self, dal: Dal) -> None:
        root = Node(label="root")
        root.save()
        kids = [Node(label=f"kid{i}", parent=root) for i in range(3)]
        for kid in kids:
            kid.save()
        assert sorted(root.children_guids) == sorted(kid.guid for kid in kids)
        assert Node(kids[0].guid).parent == root
        assert root.parent is None
        ann, bob = Person(name="ann"), Person(name="bob")
        ann.save()
        bob.partner = ann
        bob.save()
        assert ann.partner_of == bob
        assert ann.partner_of_guid == bob.guid
        assert bob.partner_of is None

    def test_generated_docstrings_list_both_sides(self) -> None:
        doc = Backend.__doc__ or ""
        assert "A Backend represents an instance" in doc
        for text in ("name", "Name of the Backend.", "status", "State of the backend", "'NEW'"):
            assert text in doc
        assert "backend_type" in doc and "BackendType" in doc and "Type of the backend." in doc
        assert "linked_guid" in doc and "available" in doc and "3600" in doc
        assert "alba_backend" in doc  # the reverse side a plugin hybrid added
        target_doc = BackendType.__doc__ or ""
        assert "backends" in target_doc and "Backend.backend_type" in target_doc
        assert "leaves" in (Tree.__doc__ or "")  # added when the lazy target appeared
        assert "Node" in (Node.__doc__ or "") and "children" in (Node.__doc__ or "")
        dog_doc = Dog.__doc__ or ""
        assert all(name in dog_doc for name in ("breed", "tags", "owner", "fetches", "sound"))
        assert "Leg count." not in dog_doc and "This kennel's dogs lost one." in dog_doc
        gauge_doc = Gauge.__doc__ or ""
        assert "never cached" in gauge_doc and "locked" in gauge_doc

    # == Serialisation ========================================================================

    def test_serialize_and_export(self, dal: Dal) -> None:
        kind = BackendType(name="t", code="t")
        kind.save()
        backend = Backend(name="b", backend_type=kind)
        backend.save()
        flat = backend.serialize()
        assert flat == {
            "guid": backend.guid,
            "name": "b",
            "status": "NEW",
            "backend_type_guid": kind.guid,
            "linked_guid": None,
            "available": False,
        }
        nested = backend.serialize(depth=1)
        assert nested["backend_type"] == kind.serialize()
        assert nested["backend_type"]["name"] == "t"
        assert backend.export() == {"name": "b", "status": "NEW"}
        json.dumps(nested)
        json.dumps(Sample(mapping={"a": [1.5, None]}).serialize())

    # == Plugins ==============================================================================

    def test_registered_subclass_replaces_its_base(self, dal: Dal) -> None:
        try:
            dalcore.register_hybrid(SmartGadget)
            gadget = Gadget(name="g")
            assert type(gadget) is SmartGadget
            assert (gadget.firmware, gadget.smart) == ("1.0", True)
            gadget.save()
            assert dal.store.inner.exists(f"{dal.ns}/gadget/{gadget.guid}")
            assert type(Gadget(gadget.guid)) is SmartGadget
            assert dalcore.hybrid("Gadget") is SmartGadget
            widget = Widget(name="w", gadget=gadget)
            widget.save()
            assert type(Widget(widget.guid).gadget) is SmartGadget
            assert [w.name for w in gadget.widgets] == ["w"]
        finally:
            dalcore.unregister_hybrid(SmartGadget)
        assert type(Gadget(name="plain")) is Gadget

    def test_plugin_contributed_subclass_replaces_its_base_at_configure(self, dal: Dal) -> None:
        class Contributor:
            @hookimpl
            def dalcore_hybrids(self) -> list[type]:
                return [SmartGadget]

        contributor = Contributor()
        dalcore.register_plugin(contributor, name="engine-suite-contributor")
        try:
            dalcore.configure(dal.store, dal.cache, namespace=dal.ns)
            gadget = Gadget(name="from a plugin")
            assert type(gadget) is SmartGadget
            gadget.save()
            assert type(Widget(name="w", gadget=gadget).gadget) is SmartGadget
        finally:
            dalcore.unregister_plugin("engine-suite-contributor")
            dalcore.unregister_hybrid(SmartGadget)
            dalcore.configure(dal.store, dal.cache, namespace=dal.ns)
        assert type(Gadget(name="plain")) is Gadget

    def test_configure_imports_a_hybrids_package(
        self, dal: Dal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        package = tmp_path / f"engine_hybrids_{tag}"
        (package / "sub").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "sub" / "__init__.py").write_text("")
        for module, name in (("thing", f"Thing{tag}"), ("sub/other", f"Other{tag}")):
            (package / f"{module}.py").write_text(
                "from dalcore import DataObject, Property\n\n\n"
                f"class {name}(DataObject):\n"
                "    __properties = [Property('name', str)]\n"
            )
        monkeypatch.syspath_prepend(str(tmp_path))
        with pytest.raises(DefinitionError):
            dalcore.hybrid(f"Thing{tag}")
        dalcore.configure(dal.store, dal.cache, namespace=dal.ns, hybrids=[package.name])
        for name in (f"Thing{tag}", f"Other{tag}"):
            cls = dalcore.hybrid(name)
            obj = cls(name="x")
            obj.save()
            assert cls(obj.guid).name == "x"
        with pytest.raises(ConfigurationError, match="no_such_package"):
            dalcore.configure(dal.store, dal.cache, namespace=dal.ns, hybrids=["no_such_package"])

    def test_lifecycle_hooks(self, dal: Dal) -> None:
        events: list[tuple[str, str, bool]] = []

        class Recorder:
            @hookimpl
            def dalcore_before_save(self, obj: Any) -> None:
                if getattr(obj, "name", None) == "veto":
                    raise ValidationError(type(obj).__name__, "name", "vetoed by a plugin")
                events.append(("before_save", obj.guid, obj.stored))

            @hookimpl
            def dalcore_after_save(self, obj: Any) -> None:
                events.append(("after_save", obj.guid, obj.stored))

            @hookimpl
            def dalcore_after_delete(self, obj: Any) -> None:
                events.append(("after_delete", obj.guid, obj.stored))

        recorder = Recorder()
        dalcore.register_plugin(recorder, name="engine-suite-recorder")
        try:
            dalcore.configure(dal.store, dal.cache, namespace=dal.ns)
            gauge = Gauge(name="g")
            gauge.save()
            gauge.delete()
            vetoed = Gauge(name="veto")
            with pytest.raises(ValidationError, match="vetoed"):
                vetoed.save()
        finally:
            dalcore.unregister_plugin("engine-suite-recorder")
            dalcore.configure(dal.store, dal.cache, namespace=dal.ns)
        assert events == [
            ("before_save", gauge.guid, False),
            ("after_save", gauge.guid, True),
            ("after_delete", gauge.guid, False),
        ]
        assert dal.stored_keys() == []
