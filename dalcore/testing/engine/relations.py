"""Relations, reverse lists and deletes that respect them."""

from __future__ import annotations

from typing import Any

import pytest

from dalcore import (
    LinkedObjectsError,
    ObjectNotFoundError,
    ValidationError,
)
from dalcore.testing._engine_hybrids import (
    AlbaBackend,
    Animal,
    Backend,
    BackendType,
    Disk,
    Host,
    HostDisk,
    Person,
)
from dalcore.testing.engine._base import (
    Dal,
    EngineBase,
)


class RelationBehaviour(EngineBase):
    """Relations, reverse lists and deletes that respect them."""

    # == Relations ============================================================================

    def test_relations_load_lazily(self, dal: Dal) -> None:
        kind = BackendType(name="t", code="t")
        kind.save()
        backend = Backend(name="b", backend_type=kind)
        backend.save()
        dal.forget(kind, backend)
        dal.store.reset()
        loaded = Backend(backend.guid)
        assert dal.store.keys_read == [dal.key(backend)]
        assert loaded.backend_type_guid == kind.guid
        assert dal.store.keys_read == [dal.key(backend)]  # a guid needs no load
        target = loaded.backend_type
        assert target == kind and target.name == "t"
        assert dal.store.keys_read == [dal.key(backend), dal.key(kind)]
        assert loaded.backend_type is target  # kept on the instance
        other = BackendType(name="u", code="u")
        other.save()
        loaded.backend_type_guid = other.guid
        assert loaded.backend_type == other

    def test_reverse_list_is_one_scan_and_one_multi_get(self, dal: Dal) -> None:
        kind = BackendType(name="t", code="t")
        kind.save()
        backends = [Backend(name=f"b{i:02}", backend_type=kind) for i in range(50)]
        for backend in backends:
            backend.save()
        dal.forget(kind, *backends)
        dal.store.reset()
        # At most one round trip for the guids and one for the objects, whatever the engine
        # caches in between (an engine caching guid lists may need fewer).
        found = kind.backends
        assert len(found) == 50
        assert dal.store.calls["scan_page"] <= 1 and dal.store.calls["get_many"] == 0
        assert sorted(b.name for b in found) == [f"b{i:02}" for i in range(50)]
        assert dal.store.calls["scan_page"] <= 1 and dal.store.calls["get_many"] == 1
        assert dal.store.reads <= 2 and dal.store.calls["get"] == 0
        reads = dal.store.reads
        assert set(found) == set(backends)
        assert dal.store.reads == reads  # iterated again: already loaded
        dal.store.reset()
        assert sorted(kind.backends_guids) == sorted(b.guid for b in backends)
        assert dal.store.reads <= 1 and dal.store.calls["get_many"] == 0  # guids only

    def test_one_to_one(self, dal: Dal) -> None:
        kind = BackendType(name="alba", code="alba", has_plugin=True)
        kind.save()
        backend = Backend(name="b", backend_type=kind)
        backend.save()
        assert backend.alba_backend is None and backend.alba_backend_guid is None
        first: Any = AlbaBackend(backend=backend)
        first.save()
        assert backend.alba_backend == first
        assert backend.alba_backend_guid == first.guid
        before = dal.stored_keys()
        second = AlbaBackend(backend=backend)
        with pytest.raises(ValidationError, match=r"AlbaBackend\.backend.*one-to-one"):
            second.save()
        assert dal.stored_keys() == before and not second.stored and second.dirty
        first.backend = None
        with pytest.raises(ValidationError):
            first.save()  # mandatory relation
        first.delete()
        second.save()
        assert Backend(backend.guid).alba_backend == second

    def test_saving_a_relation_to_a_missing_object_fails(self, dal: Dal) -> None:
        unsaved = BackendType(name="ghost", code="g")
        backend = Backend(name="b", backend_type=unsaved)
        with pytest.raises(ObjectNotFoundError) as caught:
            backend.save()
        assert caught.value.guid == unsaved.guid
        assert dal.stored_keys() == [] and not backend.stored
        real = BackendType(name="real", code="r")
        real.save()
        backend.backend_type = real
        backend.save()
        before = dal.stored_keys()
        gone = BackendType(name="gone", code="x")
        gone.save()
        gone.delete()
        backend.backend_type = gone
        with pytest.raises(ObjectNotFoundError):
            backend.save()
        assert dal.stored_keys() == before
        assert (dal.stored(backend) or {})["backend_type_guid"] == real.guid

    def test_many_to_many_through_a_junction(self, dal: Dal) -> None:
        hosts = {name: Host(name=name) for name in ("h1", "h2")}
        disks = {name: Disk(name=name) for name in ("d1", "d2")}
        for obj in [*hosts.values(), *disks.values()]:
            obj.save()
        for lun, (host, disk) in enumerate([("h1", "d1"), ("h1", "d2"), ("h2", "d1")]):
            HostDisk(host=hosts[host], disk=disks[disk], lun=lun).save()
        assert {link.disk.name for link in hosts["h1"].disk_links} == {"d1", "d2"}
        assert {link.host.name for link in disks["d1"].host_links} == {"h1", "h2"}
        assert [link.host.name for link in disks["d2"].host_links] == ["h1"]
        hosts["h1"].delete(cascade=["disk_links"])
        assert [link.host.name for link in disks["d1"].host_links] == ["h2"]
        assert len(disks["d2"].host_links) == 0

    # == Delete ===============================================================================

    def test_delete_refused_naming_the_relations(self, dal: Dal) -> None:
        kind, _ = self._kind_with_backends(2)
        before = dal.stored_keys()
        with pytest.raises(LinkedObjectsError) as caught:
            kind.delete()
        assert caught.value.relations == {"backends": 2}
        assert "backends" in str(caught.value) and kind.guid in str(caught.value)
        assert dal.stored_keys() == before
        with pytest.raises(ValidationError, match="nonsense"):
            kind.delete(abandon=["nonsense"])
        lonely = BackendType(name="l", code="l")
        lonely.save()
        lonely.delete()
        with pytest.raises(ObjectNotFoundError):
            BackendType(lonely.guid)

    def test_delete_abandon_unlinks_in_one_commit(self, dal: Dal) -> None:
        kind, backends = self._kind_with_backends(3)
        cached = [Backend(b.guid) for b in backends]  # cached copies must not outlive the unlink
        assert all(b.backend_type_guid == kind.guid for b in cached)
        dal.store.reset()
        kind.delete(abandon=["backends"])
        assert dal.store.calls["commit"] == 1
        with pytest.raises(ObjectNotFoundError):
            BackendType(kind.guid)
        for backend in backends:
            assert Backend(backend.guid).backend_type_guid is None
            assert (dal.stored(backend) or {})["backend_type_guid"] is None
        assert not [key for key in dal.stored_keys() if kind.guid in key]

    def test_delete_abandon_all(self, dal: Dal) -> None:
        ann = Person(name="ann")
        ann.save()
        linked = [
            Person(name="pupil", mentor=ann),
            Person(name="spouse", partner=ann),
            Animal(name="cat", owner=ann),
        ]
        for obj in linked:
            obj.save()
        with pytest.raises(LinkedObjectsError) as caught:
            ann.delete()
        assert set(caught.value.relations) == {"mentees", "partner_of", "animals"}
        ann.delete(abandon=["_all"])
        pupil, spouse, cat = (type(obj)(obj.guid) for obj in linked)
        assert (pupil.mentor, spouse.partner, cat.owner) == (None, None, None)

    def test_delete_cascade_is_atomic(self, dal: Dal) -> None:
        kind = BackendType(name="alba", code="alba", has_plugin=True)
        kind.save()
        backends = [Backend(name=f"b{i}", backend_type=kind) for i in range(3)]
        for backend in backends:
            backend.save()
        detail = AlbaBackend(backend=backends[1])
        detail.save()
        before = dal.stored_keys()
        # One child is itself linked to: the whole cascade is refused and nothing is deleted.
        with pytest.raises(LinkedObjectsError) as caught:
            kind.delete(cascade=["backends"])
        assert caught.value.relations == {"alba_backend": 1}
        assert dal.stored_keys() == before
        detail.delete()
        dal.store.reset()
        kind.delete(cascade=["backends"])
        assert dal.store.calls["commit"] == 1
        assert dal.stored_keys() == []
        for obj in [kind, *backends]:
            with pytest.raises(ObjectNotFoundError):
                type(obj)(obj.guid)
