"""Matching: operators and their combinations, the result list, indexes and unique values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import dalcore
from dalcore import (
    DataList,
    DataObject,
    Property,
    transaction,
)
from dalcore.errors import QueryError, UniqueConstraintError
from dalcore.testing._instrument import InstrumentedStore
from dalcore.testing._query_hybrids import Server, Ticket
from dalcore.testing.conformance import run_processes
from dalcore.testing.queries._base import (
    QueryBase,
    _claim,
    _queries,
    _reference,
)


class MatchingBehaviour(QueryBase):
    """Matching: operators and their combinations, the result list, indexes and unique values."""

    # -- operators and combinations ------------------------------------------------------------

    def test_a_fourth_element_false_matches_ignoring_case(self, fleet: dict[str, Any]) -> None:
        # The original DAL's item is (field, operator, value, case_sensitive).
        def names(value: str, *flag: bool) -> list[str]:
            items = [("name", DataList.operator.EQUALS, value, *flag)]
            query = {"type": DataList.where_operator.AND, "items": items}
            return sorted(s.name for s in DataList(Server, query))

        assert names("A0", False) == ["a0"] and names("a0", False) == ["a0"]
        assert names("A0", True) == [] and names("A0") == [] and names("a0", True) == ["a0"]

    def test_an_empty_query_returns_every_object(self, fleet: dict[str, Any]) -> None:
        every = sorted(s.guid for s in fleet["servers"])
        for query in (None, {}, {"type": DataList.where_operator.AND, "items": []}):
            assert sorted(DataList(Server, query).guids) == every, query
        assert sorted(Server.all().guids) == every

    @settings(
        max_examples=60,
        deadline=None,
        # Each backend subclass runs the same method: that is the point of a shared suite.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(query=_queries)
    def test_any_query_matches_a_brute_force_filter(
        self, fleet: dict[str, Any], query: dict[str, Any]
    ) -> None:
        documents = [s.serialize() for s in fleet["servers"]]
        assert set(DataList(Server, query).guids) == _reference(documents, query)

    @pytest.mark.parametrize(
        ("filters", "query"),
        [
            ({"colour": "red"}, [("colour", "EQUALS", "red")]),
            ({"cores__gt": 3, "cores__lt": 6}, [("cores", "GT", 3), ("cores", "LT", 6)]),
            ({"colour__in": ["red", "blue"]}, [("colour", "IN", ["red", "blue"])]),
            ({"name__icontains": "A"}, [("name", "CONTAINS", "A", False)]),
            ({"name__ieq": "A0"}, [("name", "EQUALS", "A0", False)]),
            ({"tags__contains": "y"}, [("tags", "CONTAINS", "y")]),
            (
                {"colour__ne": "red", "enabled": True},
                [("colour", "NOT_EQUALS", "red"), ("enabled", "EQUALS", True)],
            ),
            ({"rack__name": "r2"}, [("rack.name", "EQUALS", "r2")]),
            ({"rack__site__in": ["bru"]}, [("rack.site", "IN", ["bru"])]),
            ({"capacity__gt": 40}, [("capacity", "GT", 40)]),
        ],
    )
    def test_keyword_filters_compile_to_the_original_form(
        self, fleet: dict[str, Any], filters: dict[str, Any], query: list[Any]
    ) -> None:
        by_keywords = Server.where(**filters)
        by_dict = DataList(Server, {"type": DataList.where_operator.AND, "items": query})
        assert by_keywords._group == by_dict._group
        assert set(by_keywords.guids) == set(by_dict.guids)
        assert len(by_keywords) > 0

    def test_guid_relation_and_path_fields(self, fleet: dict[str, Any]) -> None:
        servers, racks = fleet["servers"], fleet["racks"]
        assert Server.where(guid=servers[3].guid).guids == [servers[3].guid]
        assert Server.where(guid="no-such-guid").guids == []
        in_r1 = {s.guid for s in servers if s.rack_guid == racks[0].guid}
        assert set(Server.where(rack_guid=racks[0].guid).guids) == in_r1
        assert set(Server.where(rack=racks[0]).guids) == in_r1
        assert set(Server.where(rack__name="r1").guids) == in_r1
        unracked = {s.guid for s in servers if s.rack_guid is None}
        assert set(Server.where(rack_guid=None).guids) == unracked
        ams_or_none = DataList(
            Server,
            {
                "type": "OR",
                "items": [("rack.site", "EQUALS", "ams"), ("rack_guid", "EQUALS", None)],
            },
        )
        assert set(ams_or_none.guids) == in_r1 | unracked

    def test_dynamics_can_be_queried(self, fleet: dict[str, Any]) -> None:
        expected = {s.guid for s in fleet["servers"] if s.cores * 10 >= 50}
        result = DataList(Server, {"type": "OR", "items": [("capacity", "GT", 49)]})
        assert set(result.guids) == expected
        assert result.explain()["use"] == "scan"

    # -- the result list -----------------------------------------------------------------------

    def test_result_is_a_lazy_list(self, fleet: dict[str, Any], store: InstrumentedStore) -> None:
        result = Server.where(colour="green")
        expected = sorted(s.guid for s in fleet["servers"] if s.colour == "green")
        store.reset()
        assert sorted(result.guids) == expected
        assert store.calls["get_many"] == 0  # the guid list loads no object
        assert len(result) == len(expected)
        assert result[0].guid in expected and all(isinstance(s, Server) for s in result[1:3])
        ordered = result.order_by("-cores", "name")
        keys = [(-s.cores, s.name) for s in ordered]
        assert keys == sorted(keys)
        assert [s.guid for s in ordered.page(2, 3)] == [s.guid for s in list(ordered)[3:6]]
        with pytest.raises(QueryError, match=r"Server\.nope"):
            result.order_by("nope")

    def test_objects_deleted_meanwhile_are_skipped(self, fleet: dict[str, Any]) -> None:
        result = Server.where(colour="blue")
        guids = result.guids
        Server(guids[0]).delete()
        objects = list(result)
        assert [s.guid for s in objects] == guids[1:]

    @pytest.mark.parametrize(
        ("filters", "problem"),
        [
            ({"nope": 1}, "Server.nope: no such field"),
            ({"cores": "many"}, "expected int"),
            ({"colour": "pink"}, "not one of"),
            ({"cores__in": 3}, "must be a list"),
            ({"tags__gt": 1}, "GT needs"),
            ({"cores__icontains": "1"}, "ignorecase only applies to str"),
            ({"rack__nope": 1}, "Rack.nope: no such field"),
            ({"name__lt": None}, "cannot compare with None"),
        ],
    )
    def test_invalid_queries_fail_before_touching_the_store(
        self, store: InstrumentedStore, filters: dict[str, Any], problem: str
    ) -> None:
        store.reset()
        with pytest.raises(QueryError, match=problem):
            Server.where(**filters)
        assert store.reads == 0

    def test_malformed_original_queries(self, store: InstrumentedStore) -> None:
        cases: list[tuple[Any, str]] = [
            ({"type": "XOR", "items": []}, "AND or OR"),
            ({"type": "AND"}, "a dict with 'type' and 'items'"),
            ({"type": "AND", "items": [("name",)]}, "field, operator, value"),
            ({"type": "AND", "items": [("name", "LIKE", "a")]}, "unknown operator"),
        ]
        for query, problem in cases:
            with pytest.raises(QueryError, match=problem):
                DataList(Server, query)

    # -- indexes -------------------------------------------------------------------------------

    def test_explain_tells_index_use(self, fleet: dict[str, Any]) -> None:
        assert Server.where(colour="red").explain()["use"] == "index"
        assert Server.where(colour__in=["red", "blue"], cores=2).explain()["use"] == "index"
        assert Server.where(serial="S003").explain()["use"] == "index"
        assert Server.where(rack__name="r1").explain()["use"] == "index"
        partial = Server.where(colour="red", load__gt=1.0).explain()
        assert partial["use"] == "partial" and partial["filtered"] == ["load GT 1.0"]
        assert Server.where(name="a0").explain()["use"] == "scan"
        assert Server.where(colour__ieq="RED").explain()["use"] == "scan"
        either = DataList(
            Server, {"type": "OR", "items": [("colour", "EQUALS", "red"), ("load", "GT", 1.0)]}
        )
        assert either.explain()["use"] == "scan"

    def test_indexed_query_reads_only_the_matches(self, store: InstrumentedStore) -> None:
        with transaction():
            for i in range(300):
                Server(name=f"n{i}", cores=7 if i % 100 == 0 else i % 5).save()
        store.reset()
        result = Server.where(cores=7)
        found = list(result)
        assert len(found) == 3
        # Documents read: only the three matches, not the 300 stored objects.
        documents = dalcore.runtime().namespace + "/server/"
        assert len([k for k in store.keys_read if k.startswith(documents)]) == 3
        assert store.calls["scan_page"] == 1  # one page of the index

    def test_unique_values(self, store: InstrumentedStore) -> None:
        first = Ticket(code="T1")
        first.save()
        with pytest.raises(UniqueConstraintError) as caught:
            Ticket(code="T1").save()
        assert (caught.value.owner, caught.value.field, caught.value.value) == (
            "Ticket",
            "code",
            "T1",
        )
        assert "Ticket.code" in str(caught.value) and "'T1'" in str(caught.value)
        assert Ticket.where(code="T1").guids == [first.guid]
        first.code = "T2"
        first.save()
        Ticket(code="T1").save()  # the old value is free again
        first.delete()
        Ticket(code="T2").save()  # and a deleted object's value too
        assert len(Ticket.all()) == 2

    def test_unique_race_across_processes(self, backend_urls: Any, namespace: str) -> None:
        dalcore.configure(backend_urls[0], backend_urls[1], namespace=namespace)
        outcomes = run_processes(_claim, [(backend_urls, namespace, "RACE")] * 4)
        assert sorted(outcomes) == ["saved", "unique", "unique", "unique"]
        assert len(Ticket.where(code="RACE")) == 1

    def test_reindex_builds_missing_entries_and_resumes(self, store: InstrumentedStore) -> None:
        class Plain(DataObject):
            path = "reindexed"
            __properties = [Property("label", str), Property("number", int)]

        with transaction():
            for i in range(45):
                Plain(label=f"L{i % 9}", number=i).save()

        class Indexed(DataObject):
            path = "reindexed"
            __properties = [
                Property("label", str, indexed=True),
                Property("number", int, unique=True),
            ]

        assert len(Indexed.where(label="L3")) == 0  # no entries yet: the index is incomplete
        calls: list[tuple[int, int]] = []

        def interrupt(done: int, total: int) -> None:
            calls.append((done, total))
            if len(calls) == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            dalcore.reindex(Indexed, progress=interrupt, batch=10)
        # A save between the two runs (the service keeps running) writes its own entries.
        moved = next(obj for obj in Indexed.all() if obj.number == 0)
        moved.label = "L3"
        moved.save()
        report = dalcore.reindex(
            Indexed, progress=lambda done, total: calls.append((done, total)), batch=10
        )
        assert report.resumed_after is not None
        assert calls[-1] == (45, 45)
        assert report.duplicates == []
        assert len(Indexed.where(label="L3")) == 6
        assert len(Indexed.where(label="L0")) == 4
        assert Indexed.where(label="L3").explain()["use"] == "index"
        assert [obj.number for obj in Indexed.where(number=44)] == [44]
