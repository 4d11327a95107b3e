"""The list and query behaviours the original DAL's ``test_basic.py`` checks, on SQLite and etcd:
query forms, case, IN a string, queries within given guids, set_query / set_guids, result
caching, list operations, relation sets, indexes. docs/compat.md maps each original test."""

from __future__ import annotations

from typing import Any

import pytest
from _ovs_hybrids import Machine, Volume

from dalcore import DataList
from dalcore.errors import QueryError, ValidationError

pytestmark = pytest.mark.usefixtures("real_store")

AND, OR = DataList.where_operator.AND, DataList.where_operator.OR
EQUALS, NOT_EQUALS = DataList.operator.EQUALS, DataList.operator.NOT_EQUALS
LT, GT, IN, CONTAINS = (
    DataList.operator.LT,
    DataList.operator.GT,
    DataList.operator.IN,
    DataList.operator.CONTAINS,
)


def where(kind: Any, *items: Any) -> dict[str, Any]:
    return {"type": kind, "items": list(items)}


def names(found: Any) -> list[str]:
    return sorted(volume.name for volume in found)


@pytest.fixture
def twenty() -> list[Volume]:
    """Volumes vol_00 .. vol_19 of sizes 0 .. 19: the first ten on a machine, the rest stored on
    it (another relation to the same machine)."""
    machine = Machine(name="machine")
    machine.save()
    made = []
    for index in range(20):
        volume = Volume(name=f"vol_{index:02}", size=index)
        if index < 10:
            volume.machine = machine
        else:
            volume.storage = machine
        volume.save()
        made.append(volume)
    return made


def by_size(volumes: list[Volume], sizes: Any) -> list[str]:
    return sorted(volumes[size].name for size in sizes)


def test_and_or_nesting_and_relation_paths(twenty: list[Volume]) -> None:
    machine_guid = twenty[0].machine_guid
    assert len(Machine(machine_guid).volumes) == 10
    cases = [
        (where(AND, ("size", EQUALS, 1)), [1]),
        (where(AND, ("size", GT, 3), ("size", LT, 6)), [4, 5]),
        (where(OR, ("size", LT, 3), ("size", GT, 6)), [0, 1, 2, *range(7, 20)]),
        (
            where(
                AND,
                ("machine.guid", EQUALS, machine_guid),
                where(OR, ("size", LT, 3), ("size", GT, 6)),
            ),
            [0, 1, 2, 7, 8, 9],
        ),
        (where(AND, ("size", LT, 3), ("size", GT, 6)), []),
        (
            where(
                OR,
                ("machine.guid", EQUALS, "123"),
                ("used", EQUALS, -1),
                where(AND, ("size", GT, 3), ("size", LT, 6)),
            ),
            [4, 5],
        ),
        (where(AND, ("machine.name", EQUALS, "machine"), ("name", EQUALS, "vol_03")), [3]),
        (where(AND, ("size", GT, 3), where(AND, ("size", LT, 6))), [4, 5]),
        (where(OR, ("size", LT, 3), where(OR, ("size", GT, 6))), [0, 1, 2, *range(7, 20)]),
        (where(AND, ("storage.name", EQUALS, "machine")), range(10, 20)),
        (where(AND, ("machine_guid", EQUALS, machine_guid)), range(10)),
        (where(AND, ("size", NOT_EQUALS, 0), ("size", LT, 3)), [1, 2]),
    ]
    for query, sizes in cases:
        assert names(DataList(Volume, query)) == by_size(twenty, sizes), query


def test_case_contains_and_in_a_string(twenty: list[Volume]) -> None:
    cases = [
        (("name", EQUALS, "vol_01"), [1]),
        (("name", EQUALS, "VOL_01", False), [1]),  # a 4th element False: ignore case
        (("name", EQUALS, "VOL_01"), []),
        (("name", EQUALS, "Vol_01", True), []),
        (("name", CONTAINS, "vol_1"), range(10, 20)),
        (("name", IN, ["vol_01", "vol_02"]), [1, 2]),
        (("name", IN, ["vol_01", "VOL_02"]), [1]),
        (("name", IN, ["vol_01", "VOL_02"], False), [1, 2]),
        (("name", IN, "pre_vol_01_post"), [1]),  # IN a string: the name is part of it
        (("name", IN, "pre_VOL_01_post"), []),
        (("name", IN, "pre_VOL_01_post", False), [1]),
    ]
    for item, sizes in cases:
        assert names(DataList(Volume, where(AND, item))) == by_size(twenty, sizes), item
    with pytest.raises(QueryError, match="IN"):
        DataList(Volume, where(AND, ("size", IN, "12")))  # only str fields take a string


def test_queries_within_given_guids_and_set_query_set_guids(twenty: list[Volume]) -> None:
    given = [v.guid for v in twenty[:5] + twenty[10:15]]
    assert [v.guid for v in DataList(Volume, guids=given)] == given
    within = DataList(Volume, where(AND, ("size", EQUALS, 1)), guids=given)
    assert [v.guid for v in within] == [twenty[1].guid]
    outside = DataList(Volume, where(AND, ("size", EQUALS, 6)), guids=given)
    assert list(outside) == []
    outside.set_query(where(AND, ("size", LT, 10)))
    assert [v.guid for v in outside] == given[:5]  # the given guids stay the base, in order
    outside.set_query(None)
    assert [v.guid for v in outside] == given
    outside.set_guids(given[:3])
    assert [v.guid for v in outside] == given[:3]
    outside.set_guids(None)
    assert names(outside) == names(twenty)
    assert [v.guid for v in DataList(Volume, guids=given[::-1])] == given[::-1]


def test_bad_list_arguments_are_refused() -> None:
    for guids in ([1], {}, 1, ""):
        with pytest.raises(QueryError):  # a ValueError, as the original's
            DataList(Machine, guids=guids)
    for query in ([], [1], 1, ""):
        with pytest.raises(QueryError):
            DataList(Machine, query=query)
    Machine(name="m").save()
    # An empty dict is "no query" here (the original refused it): every object.
    assert len(DataList(Machine, query={})) == 1
    DataList(Machine, where(AND, ("name", EQUALS, "machine")))
    assert len(DataList(Machine, guids=["123"]).guids) == 1
    assert len(DataList(Machine, key="my_key")) == 1  # the original's cache name: accepted


def test_invalid_operators_are_refused_naming_them() -> None:
    with pytest.raises(QueryError, match="SOMETHING"):
        DataList(Volume, {"type": "SOMETHING", "items": [("name", EQUALS, "x")]})
    nested = where(AND, {"type": "SOMETHING", "items": [("name", EQUALS, "x")]})
    with pytest.raises(QueryError, match="SOMETHING"):
        DataList(Volume, nested)
    with pytest.raises(QueryError, match="SOMETHING"):
        DataList(Volume, where(AND, ("name", "SOMETHING", "x")))


@pytest.mark.parametrize("key", [None, "named"])
def test_results_follow_changes_and_repeat_from_the_cache(key: str | None) -> None:
    def on_machine() -> DataList:
        return DataList(Volume, where(AND, ("machine.name", EQUALS, "machine")), key=key)

    Volume(name="loose").save()
    assert len(on_machine()) == 0
    machine = Machine(name="machine")
    machine.save()
    Volume(name="first", machine=machine).save()
    first = on_machine()
    assert len(first) == 1 and not first.explain()["cached"]
    again = on_machine()
    assert len(again) == 1 and again.explain()["cached"]
    Volume(name="second", machine=machine).save()
    grown = on_machine()
    assert len(grown) == 2 and not grown.explain()["cached"]
    machine.name = "renamed"
    machine.save()
    assert len(on_machine()) == 0
    everything = DataList(Volume, where(AND), key=key)
    assert len(everything) == 3
    Volume(name="third").save()
    assert len(DataList(Volume, where(AND), key=key)) == 4


def test_a_query_on_a_dynamic_is_never_cached() -> None:
    for index in range(2):
        Volume(name=f"dyn-{index}", size=100).save()
    for _ in range(2):
        found = DataList(Volume, where(AND, ("used", NOT_EQUALS, -1)))
        assert len(found) == 2 and not found.explain()["cached"]


def test_list_operations() -> None:
    machine = Machine(name="machine")
    machine.save()
    sizes = [7, 2, 0, 4, 6, 1, 5, 0, 3, 8]
    made = []
    for index, size in enumerate(sizes):
        volume = Volume(name=f"vol_{index}", size=size, machine=machine)
        volume.save()
        made.append(volume)
    listed = machine.volumes
    assert listed.count(made[-1]) == 1 and listed.index(made[-1]) >= 0
    listed.sort()
    first = min(v.guid for v in made)
    assert listed[0].guid == first
    listed.reverse()
    assert listed[-1].guid == first
    everything = DataList(Volume, where(AND))
    everything.sort(key=lambda v: v.size)
    assert (everything[0].size, everything[4].size) == (0, 3)
    everything.sort(key=lambda v: v.name)
    assert [v.name for v in everything[1:4]] == ["vol_1", "vol_2", "vol_3"]
    # Sorts are stable: sorting by name, then by size keeps name order among equal sizes.
    everything.sort(key=lambda v: v.name, reverse=True)
    everything.sort(key=lambda v: v.size)
    assert [v.name for v in everything[:2]] == ["vol_7", "vol_2"]
    everything.sort(key=lambda v: v.name)
    everything.sort(key=lambda v: v.predictable)  # a dynamic as the key
    assert [v.name for v in everything[:3]] == ["vol_2", "vol_7", "vol_5"]


def test_pop_and_remove() -> None:
    first, second = Volume(name="p1"), Volume(name="p2")
    first.save()
    second.save()
    listed = DataList(Volume, where(AND))
    assert len(listed) == 2
    listed.remove(first)
    assert len(listed) == 1
    with pytest.raises(ValueError):
        listed.remove(first)
    listed.remove(second.guid)  # by guid too
    assert len(listed) == 0
    other = Machine(name="m")
    other.save()
    with pytest.raises(TypeError):  # another class, as the original raised
        listed.remove(other)
    again = DataList(Volume, where(AND))
    with pytest.raises(IndexError):
        again.pop(3)
    with pytest.raises(IndexError):
        again.pop(-3)
    for error in (ValueError, TypeError):  # the original's error, and Python's lists'
        with pytest.raises(error):
            again.pop("first")  # type: ignore[arg-type]
    again.pop(0)
    again.pop(-1)
    assert len(again) == 0
    with pytest.raises(IndexError):
        again.pop(0)


def test_shuffle_and_adding_lists() -> None:
    for index in range(10):
        Volume(name=f"s{index}").save()
    listed = DataList(Volume, where(AND))
    before = [v.name for v in listed]
    orders = set()
    for _ in range(5):  # ten items stay in order by chance once in 3.6 million; five tries
        listed.shuffle()
        orders.add(tuple(v.name for v in listed))
    assert len(orders | {tuple(before)}) > 1 and all(sorted(o) == sorted(before) for o in orders)
    one = DataList(Volume, where(AND, ("name", EQUALS, "s1")))
    two = DataList(Volume, where(AND, ("name", EQUALS, "s2")))
    both = one + two
    assert (len(one), len(two), names(both)) == (1, 1, ["s1", "s2"])
    with pytest.raises(ValidationError):
        one.append(Machine(name="not a volume"))


def test_relation_set_and_a_query_on_it() -> None:
    machine = Machine(name="machine")
    machine.save()
    linked = [Volume(name=f"r{i}", description=f"d{i}", machine=machine) for i in range(2)]
    for volume in linked:
        volume.save()
    Volume(name="apart", description="d0").save()
    found = DataList.get_relation_set(Volume, "machine", Machine, "volumes", machine.guid)
    assert names(found) == ["r0", "r1"]
    found.set_query(where(AND, ("description", EQUALS, "d0")))
    assert names(found) == ["r0"]  # only within the relation set
    again = DataList.get_relation_set(Volume, "machine", Machine, "volumes", machine.guid)
    assert names(again) == ["r0", "r1"]  # the narrowed list did not change the relation
    assert names(machine.volumes) == ["r0", "r1"]


def test_indexed_fields_answer_queries_with_and_without_given_guids() -> None:
    values = {"i1": ("one", "one"), "i2": ("two", "one"), "i3": ("two", "two"), "i4": ("two", None)}
    made = {}
    for name, (tag, tag2) in values.items():
        made[name] = Volume(name=name, tag=tag, tag2=tag2)
        made[name].save()
    assert names(DataList(Volume, where(AND, ("tag2", EQUALS, None)))) == ["i4"]
    made.pop("i4").delete()
    assert names(DataList(Volume, where(AND, ("tag2", EQUALS, None)))) == []
    for given in (None, [made["i1"].guid, made["i2"].guid]):
        allowed = {"i1", "i2", "i3"} if given is None else {"i1", "i2"}

        def check(
            query: dict[str, Any],
            expected: set[str],
            use: str | None = None,
            given: list[str] | None = given,
            allowed: set[str] = allowed,
        ) -> None:
            found = DataList(Volume, query, guids=given)
            assert names(found) == sorted(expected & allowed), (query, given)
            if use is not None and given is None:
                assert found.explain()["use"] == use, query

        check(where(AND, ("tag", EQUALS, "two")), {"i2", "i3"}, "index")
        check(where(AND, ("tag", EQUALS, "one")), {"i1"}, "index")
        check(where(AND, ("tag", EQUALS, "one"), ("tag", EQUALS, "two")), set(), "index")
        check(where(OR, ("tag", EQUALS, "one"), ("tag", EQUALS, "two")), {"i1", "i2", "i3"})
        check(where(OR, ("tag", EQUALS, "one"), ("tag", EQUALS, "three")), {"i1"})
        check(where(AND, ("tag", IN, ["zero"])), set(), "index")
        check(where(AND, ("tag", IN, ["zero", "one", "two"])), {"i1", "i2", "i3"}, "index")
        check(where(AND, ("tag", CONTAINS, "o")), {"i1", "i2", "i3"}, "scan")
        check(where(AND, ("tag", EQUALS, "one"), ("size", EQUALS, 0)), {"i1"}, "partial")
        check(
            where(
                AND,
                ("tag", EQUALS, "one"),
                where(OR, ("tag", EQUALS, "two"), ("name", EQUALS, "i1")),
            ),
            {"i1"},
        )
        check(
            where(
                AND,
                where(AND, ("tag", IN, ["one", "two"]), ("tag2", EQUALS, "one")),
                ("tag", EQUALS, "one"),
            ),
            {"i1"},
            "index",
        )
    guid = made["i1"].guid
    for query in (where(AND, ("guid", IN, [guid])), where(AND, ("guid", EQUALS, guid))):
        found = DataList(Volume, query)
        assert [v.guid for v in found] == [guid] and found.explain()["use"] == "index"
