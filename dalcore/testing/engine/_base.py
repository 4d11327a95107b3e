"""What every part of the engine suite shares: the ``dal`` fixture, the :class:`Dal` helper,
the Hypothesis strategies and small helpers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import strategies as st

import dalcore
from dalcore import (
    DataObject,
    open_persistent,
    open_volatile,
)
from dalcore.api import PersistentStore, Put, VolatileCache
from dalcore.testing._engine_hybrids import (
    CALLS,
    Backend,
    BackendType,
    Gauge,
)
from dalcore.testing._instrument import InstrumentedCache, InstrumentedStore

#: What a cache may hand back: any JSON value, with shapes close to dalcore's own entries
#: (three-element lists, guid lists, dicts with a guid) over-represented.
_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what JSON encoders take
_JSON = st.recursive(
    st.none() | st.booleans() | _INT64 | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
CACHE_ENTRIES = st.one_of(
    _JSON,
    st.tuples(_JSON, _JSON, _JSON).map(list),
    st.tuples(_INT64, st.dictionaries(st.sampled_from(["guid", "label", "x"]), _JSON), _JSON).map(
        list
    ),
    st.lists(st.text(max_size=40), max_size=3),
    st.tuples(_JSON).map(list),
    st.just("__dalcore_hold__"),
    st.just("__dalcore_hold__:x:1"),
)


class Dal:
    """What a test gets: the instrumented backends, its namespace and helpers to look inside.

    The helpers compute keys from the documented layout (``<ns>/<path>/<guid>``, cache entry
    ``o:<key>``) instead of asking the engine, so the layout itself is under test.
    """

    def __init__(self, store: InstrumentedStore, cache: InstrumentedCache, namespace: str):
        self.store = store
        self.cache = cache
        self.ns = namespace

    def key(self, obj: Any, guid: str | None = None) -> str:
        cls: Any = obj if isinstance(obj, type) else type(obj)
        guid = guid if guid is not None else obj.guid
        path: str = cls.path
        if path.startswith("/"):
            return f"{path.rstrip('/')}/{guid}"
        return f"{self.ns}/{path.strip('/')}/{guid}"

    def stored(self, obj: Any, guid: str | None = None) -> dict[str, Any] | None:
        """The stored document, read straight from the real store (None when absent)."""
        entry = self.store.inner.get_many([self.key(obj, guid)])[0]
        return None if entry is None else dict(json.loads(entry.value.decode("utf-8")))

    def write_raw(self, cls: type, guid: str, raw: bytes) -> str:
        key = self.key(cls, guid)
        self.store.inner.set(key, raw)
        return key

    def stored_keys(self) -> list[str]:
        return list(self.store.inner.keys(self.ns + "/"))

    def forget(self, *objects: Any) -> None:
        """Drop cached copies, so the next load reads the store."""
        self.cache.inner.delete_many(["o:" + self.key(obj) for obj in objects])


def _calls(obj: DataObject, name: str) -> int:
    return CALLS[(obj.guid, name)]


def _object_keys(operations: Any) -> list[str]:
    return [op.key for op in operations if isinstance(op, Put)]


# -- strategies ----------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)
_int64 = st.integers(-(2**63), 2**63 - 1)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_json = st.recursive(
    st.none() | st.booleans() | _int64 | _finite | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
VALID_VALUES: dict[str, Any] = {
    "text": st.none() | _text,
    "number": st.none() | _int64,
    "ratio": st.none() | _finite | _int64,
    "flag": st.none() | st.booleans(),
    "items": st.none() | st.lists(_json, max_size=5),
    "mapping": st.none() | st.dictionaries(_text, _json, max_size=5),
    "colour": st.none() | st.sampled_from(["red", "green", "blue"]),
}
_lists = st.lists(st.integers(), max_size=2)
_dicts = st.dictionaries(_text, st.integers(), max_size=2)
WRONG_VALUES: dict[str, Any] = {
    "text": st.integers() | _finite | st.booleans() | _lists | _dicts | st.binary(),
    "number": _text | _finite | st.booleans() | _lists | _dicts,
    "ratio": _text | st.booleans() | _lists | _dicts,
    "flag": st.integers() | _text | _finite | _lists,
    "items": _text | st.integers() | _dicts | st.tuples(st.integers()),
    "mapping": _text | st.integers() | _lists,
    "colour": _text.filter(lambda v: v not in ("red", "green", "blue")) | st.integers(),
}


class EngineBase:
    """The fixtures every part of the suite uses (a backend's test class provides ``backends``
    and, for multi-process tests, ``backend_urls``)."""

    @pytest.fixture
    def backends(self) -> tuple[PersistentStore | str, VolatileCache | str]:
        raise NotImplementedError(f"{type(self).__name__} must define a `backends` fixture")

    @pytest.fixture
    def backend_urls(self) -> tuple[str, str]:
        pytest.skip(
            "no backend_urls fixture: backends are per-process, multi-process tests skipped"
        )

    @pytest.fixture
    def dal(self, backends: tuple[Any, Any]) -> Iterator[Dal]:
        store, cache = backends
        owned: list[Any] = []
        if isinstance(store, str):
            store = open_persistent(store)
            owned.append(store)
        if isinstance(cache, str):
            cache = open_volatile(cache)
            owned.append(cache)
        namespace = "t" + uuid.uuid4().hex[:12]
        instrumented = InstrumentedStore(store)
        counted = InstrumentedCache(cache)
        dalcore.configure(instrumented, counted, namespace=namespace)
        try:
            yield Dal(instrumented, counted, namespace)
        finally:
            instrumented.after_read = None
            instrumented.before_commit = None
            # Do not leave later code a configuration whose backends are about to be closed.
            if dalcore.runtime().store is instrumented:
                dalcore.unconfigure(close=False)
            for backend in owned:
                backend.close()

    def _gauge(self, level: int = 1) -> Gauge:
        gauge = Gauge(name="g", level=level)
        gauge.save()
        return gauge

    def _kind_with_backends(self, count: int) -> tuple[BackendType, list[Backend]]:
        kind = BackendType(name="t", code="t")
        kind.save()
        backends = [Backend(name=f"b{i}", backend_type=kind) for i in range(count)]
        for backend in backends:
            backend.save()
        return kind, backends
