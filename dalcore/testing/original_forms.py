"""Behaviour of the original DAL's forms (docs/compat.md), run by every backend: the engine
suite (:class:`~dalcore.testing.engine.EngineBehaviour`) includes these tests."""

from __future__ import annotations

from typing import Any

import pytest

import dalcore
from dalcore import DataList, DataObject
from dalcore.errors import ObjectNotFoundError, ValidationError
from dalcore.testing._engine_hybrids import Gauge, Leaf, Tree


class OriginalFormsBehaviour:
    """Mixed into EngineBehaviour, whose ``dal`` fixture these tests use."""

    def test_data_builds_a_new_object_or_changes_a_loaded_one(self, dal: Any) -> None:
        gauge = Gauge(data={"name": "from data", "level": 4})
        assert (gauge.name, gauge.level, gauge.stored) == ("from data", 4, False)
        gauge.save()
        loaded = Gauge(gauge.guid, data={"level": 9})
        assert loaded.level == 9 and loaded.dirty  # a local change, not yet stored
        assert dal.stored(gauge)["level"] == 4
        loaded.save()
        assert Gauge(gauge.guid).level == 9
        with pytest.raises(ValidationError, match=r"Gauge\.level"):
            Gauge(data={"level": "nine"})

    def test_datastore_wins_given_at_construction_is_the_saves_default(self, dal: Any) -> None:
        gauge = Gauge(name="g", level=1)
        gauge.save()
        mine = Gauge(gauge.guid, datastore_wins=True)
        theirs = Gauge(gauge.guid)
        theirs.level = 2
        theirs.save()
        mine.level = 3
        mine.save()  # both changed level: the stored value wins, as the constructor said
        assert Gauge(gauge.guid).level == 2
        strict = Gauge(gauge.guid, datastore_wins=None)
        theirs = Gauge(gauge.guid)
        theirs.level = 5
        theirs.save()
        strict.level = 6
        with pytest.raises(dalcore.ConcurrencyError):
            strict.save()
        strict.level = 7
        strict.save(datastore_wins=False)  # an argument still overrides it
        assert Gauge(gauge.guid).level == 7

    def test_a_volatile_object_lives_in_the_cache_only(self, dal: Any) -> None:
        gauge = Gauge(name="fleeting", volatile=True)
        gauge.save()
        assert dal.stored(gauge) is None  # never persisted
        again = Gauge(gauge.guid, volatile=True)
        assert again.name == "fleeting"
        again.level = 3
        again.save()
        assert Gauge(gauge.guid, volatile=True).level == 3
        with pytest.raises(ObjectNotFoundError):
            Gauge(gauge.guid)  # not in the store
        again.delete()
        with pytest.raises(ObjectNotFoundError):
            Gauge(gauge.guid, volatile=True)

    def test_recursive_save_writes_changed_related_objects_in_one_commit(self, dal: Any) -> None:
        tree = Tree(species="oak")
        tree.save()
        leaf = Leaf(tree=tree)
        leaf.save()
        leaf = Leaf(leaf.guid)
        leaf.tree.species = "elm"
        leaf.colour = "brown"
        commits = dal.store.calls["commit"]
        leaf.save(recursive=True)
        assert dal.store.calls["commit"] == commits + 1  # one transaction for both
        assert Tree(tree.guid).species == "elm" and Leaf(leaf.guid).colour == "brown"
        leaf = Leaf(leaf.guid)
        leaf.tree.species = "ash"
        leaf.colour = "green"
        leaf.save(recursive=True, skip="tree")
        assert Tree(tree.guid).species == "elm" and Leaf(leaf.guid).colour == "green"

    def test_copy_clone_and_updated_on_datastore(self, dal: Any) -> None:
        source = Gauge(name="source", level=5)
        source.save()
        target = Gauge(name="target")
        target.copy(source, exclude=["name"])
        assert (target.name, target.level) == ("target", 5)
        target.copy(source, include=["name"])
        assert target.name == "source"
        with pytest.raises(ValidationError, match="not a field"):
            target.copy(source, include=["nonsense"])
        loaded = Gauge(source.guid)
        assert not loaded.updated_on_datastore()
        other = Gauge(source.guid)
        other.level = 6
        other.save()
        assert loaded.updated_on_datastore()
        assert loaded.clone().level == 5
        assert loaded.clone(reload_object=True).level == 6

    def test_enumerator(self) -> None:
        status = DataObject.enumerator("Status", ["RUNNING", "HALTED"])
        assert status.RUNNING == "RUNNING" and status.keys() == ["RUNNING", "HALTED"]
        assert "HALTED" in status and len(status) == 2
        codes = DataObject.enumerator("Codes", {"OK": 0, "FAILED": 1})
        assert codes.FAILED == 1 and codes.values() == [0, 1]
        with pytest.raises(AttributeError, match="Status has no value 'GONE'"):
            status.GONE  # noqa: B018

    def test_lists_behave_as_the_originals(self, dal: Any) -> None:
        tree = Tree(species="oak")
        tree.save()
        leaves = [Leaf(tree=tree, colour=c) for c in ("green", "brown", "green")]
        for leaf in leaves:
            leaf.save()
        found = Tree(tree.guid).leaves
        assert len(found[:2]) == 2 and found[:2].guids == found.guids[:2]  # lazy slice
        found.sort(key=lambda leaf: (leaf.colour, leaf.guid))
        assert [leaf.colour for leaf in found] == ["brown", "green", "green"]
        found.reverse()
        assert found[0].colour == "green"
        assert found.index(leaves[1]) == 2 and found.count(leaves[1]) == 1
        popped = found.pop(0)
        assert popped.colour == "green" and len(found) == 2
        found.remove(leaves[1])
        assert leaves[1] not in found.guids
        found.append(leaves[1])
        found.update(Tree(tree.guid).leaves)  # nothing new to add
        assert sorted(found.guids) == sorted(leaf.guid for leaf in leaves)
        found.shuffle()
        assert sorted(found.guids) == sorted(leaf.guid for leaf in leaves)
        both = found[:1] + found[1:]
        assert sorted(both.guids) == sorted(found.guids)
        with pytest.raises(ValidationError, match="holds Leaf objects"):
            found.append(tree)
        chosen = DataList(Leaf, guids=[leaves[2].guid, leaves[0].guid])
        assert [leaf.guid for leaf in chosen] == [leaves[2].guid, leaves[0].guid]
        assert list(chosen.iterloaded()) == list(chosen)
        stale = DataList(Leaf, guids=[leaves[0].guid, leaves[1].guid])
        leaves[1].delete()
        assert [leaf.guid for leaf in stale.itersafe()] == [leaves[0].guid]
        with pytest.raises(ObjectNotFoundError):
            DataList(Leaf, guids=[leaves[0].guid, leaves[1].guid]).loadunsafe()
        merged = DataList(Leaf, guids=[leaves[0].guid])
        merged.merge([leaves[2].guid, leaves[0].guid])
        assert merged.guids == [leaves[2].guid, leaves[0].guid]

    def test_get_relation_set_reads_a_reverse_list(self, dal: Any) -> None:
        tree = Tree(species="oak")
        tree.save()
        leaves = [Leaf(tree=tree) for _ in range(2)]
        for leaf in leaves:
            leaf.save()
        found = DataList.get_relation_set(Leaf, "tree", Tree, "leaves", tree.guid)
        assert sorted(found.guids) == sorted(leaf.guid for leaf in leaves)
        from dalcore.errors import QueryError

        with pytest.raises(QueryError, match="not a relation whose reverse"):
            DataList.get_relation_set(Leaf, "tree", Tree, "branches", tree.guid)
