"""What the query suite's parts share: fixtures, a reference evaluator, worker processes."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import strategies as st

import dalcore
from dalcore import (
    PersistentMutex,
    transaction,
)
from dalcore.errors import UniqueConstraintError
from dalcore.testing._instrument import InstrumentedStore
from dalcore.testing._query_hybrids import COLOURS, Counter, Rack, Server, Ticket

OPS = ["EQUALS", "NOT_EQUALS", "LT", "GT", "IN", "CONTAINS"]


# -- a reference evaluator, independent of dalcore's own --------------------------------------


def _holds(obj: dict[str, Any], item: tuple[Any, ...]) -> bool:
    field, op, value = item[0], item[1], item[2]
    ignorecase = len(item) == 4 and item[3] is False  # the original's case_sensitive flag
    actual = obj[field]
    if ignorecase:
        actual = actual.lower() if isinstance(actual, str) else actual
        value = [v.lower() for v in value] if op == "IN" else value.lower()
    if op == "EQUALS":
        return bool(actual == value)
    if op == "NOT_EQUALS":
        return bool(actual != value)
    if op == "IN":
        return actual in value
    if op == "CONTAINS":
        return value in actual if actual is not None else False
    if actual is None:
        return False
    return bool(actual < value) if op == "LT" else bool(actual > value)


def _reference(objects: list[dict[str, Any]], query: dict[str, Any]) -> set[str]:
    def match(obj: dict[str, Any], node: dict[str, Any]) -> bool:
        results = [
            match(obj, item) if isinstance(item, dict) else _holds(obj, item)
            for item in node["items"]
        ]
        return all(results) if node["type"] == "AND" else any(results)

    return {obj["guid"] for obj in objects if match(obj, query)}


_conditions = st.one_of(
    st.tuples(
        st.just("colour"), st.sampled_from(["EQUALS", "NOT_EQUALS"]), st.sampled_from(COLOURS)
    ),
    st.tuples(st.just("colour"), st.just("IN"), st.lists(st.sampled_from(COLOURS), max_size=3)),
    st.tuples(
        st.just("cores"), st.sampled_from(["EQUALS", "NOT_EQUALS", "LT", "GT"]), st.integers(0, 6)
    ),
    st.tuples(st.just("cores"), st.just("IN"), st.lists(st.integers(0, 6), max_size=3)),
    st.tuples(st.just("name"), st.sampled_from(["EQUALS", "LT", "GT"]), st.sampled_from("abcAB")),
    st.tuples(
        st.just("name"),
        st.sampled_from(["EQUALS", "CONTAINS"]),
        st.sampled_from("abAB"),
        st.booleans(),  # case_sensitive
    ),
    st.tuples(st.just("tags"), st.just("CONTAINS"), st.sampled_from(["x", "y"])),
    st.tuples(st.just("load"), st.sampled_from(["LT", "GT"]), st.floats(0, 3)),
    st.tuples(st.just("enabled"), st.just("EQUALS"), st.booleans()),
)
_queries = st.recursive(
    st.builds(
        lambda kind, items: {"type": kind, "items": items},
        st.sampled_from(["AND", "OR"]),
        st.lists(_conditions, min_size=1, max_size=3),
    ),
    lambda inner: st.builds(
        lambda kind, items: {"type": kind, "items": items},
        st.sampled_from(["AND", "OR"]),
        st.lists(st.one_of(_conditions, inner), min_size=1, max_size=3),
    ),
    max_leaves=6,
)


# -- worker processes (module level, so "spawn" can import them) --------------------------------


def _claim(barrier: Any, urls: tuple[str, str], namespace: str, code: str) -> str:
    dalcore.configure(urls[0], urls[1], namespace=namespace)
    barrier.wait(60)
    try:
        Ticket(code=code, owner=str(os.getpid())).save()
    except UniqueConstraintError:
        return "unique"
    return "saved"


def _count_under_mutex(
    barrier: Any, urls: tuple[str, str], namespace: str, guid: str, rounds: int
) -> None:
    dalcore.configure(urls[0], urls[1], namespace=namespace)
    barrier.wait(60)
    for _ in range(rounds):
        with PersistentMutex("counter", ttl=10, wait=60):
            counter = Counter(guid)
            counter.value += 1
            # datastore_wins=None: without the mutex a lost update would raise, not hide.
            counter.save(datastore_wins=None)


def _hold_and_die(urls: tuple[str, str], namespace: str, ready: Any) -> None:
    dalcore.configure(urls[0], urls[1], namespace=namespace)
    PersistentMutex("doomed", ttl=1.5, wait=5).acquire()
    ready.set()
    time.sleep(60)  # killed by the test while holding the mutex


class QueryBase:
    """The fixtures every part of the query suite uses."""

    @pytest.fixture
    def backends(self) -> Any:
        raise NotImplementedError("a backend's test class provides the 'backends' fixture")

    @pytest.fixture
    def backend_urls(self) -> Any:
        pytest.skip("these backends are per-process: no multi-process query tests")

    @pytest.fixture
    def namespace(self) -> str:
        return "q" + uuid.uuid4().hex[:12]

    @pytest.fixture
    def store(self, backends: Any, namespace: str) -> Iterator[InstrumentedStore]:
        store, cache = backends
        instrumented = InstrumentedStore(store)
        dalcore.configure(instrumented, cache, namespace=namespace)
        yield instrumented

    @pytest.fixture
    def fleet(self, store: InstrumentedStore) -> dict[str, Any]:
        """Two racks and 24 servers with varied fields, written in one transaction."""
        racks = [Rack(name="r1", site="ams"), Rack(name="r2", site="bru")]
        servers = []
        with transaction():
            for rack in racks:
                rack.save()
            for i in range(24):
                server = Server(
                    name="abcAB"[i % 5] + str(i),
                    serial=f"S{i:03}",
                    colour=COLOURS[i % 3],
                    cores=i % 7,
                    load=(i % 4) * 0.75,
                    tags=["x"] if i % 2 else ["y", "x"] if i % 5 == 0 else [],
                    enabled=i % 3 != 0,
                    rack=racks[i % 2] if i % 6 else None,
                )
                server.save()
                servers.append(server)
        return {"racks": racks, "servers": servers}
