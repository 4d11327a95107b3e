"""Helpers the case modules share: configuring dalcore, raw clients, the object key."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dalcore
from dalcore import _layout
from dalcore._runtime import Runtime
from dalcore.api import PersistentStore, VolatileCache
from dalcore.benchmarks._env import Environment, Missing
from dalcore.benchmarks._model import BenchItem
from dalcore.benchmarks._results import Result, skipped

NAMESPACE = "bench"


@contextlib.contextmanager
def configured(store: str | PersistentStore, cache: str | VolatileCache) -> Iterator[Runtime]:
    """dalcore on these backends for the block; the in-process default again afterwards."""
    rt = dalcore.configure(store, cache, namespace=NAMESPACE, hybrids=())
    try:
        yield rt
    finally:
        dalcore.configure("memory://", "memory://", namespace=NAMESPACE, hybrids=())


def object_key(rt: Runtime, obj: dalcore.DataObject) -> str:
    return _layout.prefix(rt, type(obj)._meta) + obj.guid


def settle(rt: Runtime, cache_keys: Sequence[str], timeout: float = 15.0) -> None:
    """Wait until the HOLD markers that the saves just set have expired.

    A save holds its object's cache key for a few seconds (memcached rounds that up), and a
    load fills the cache only where no marker sits: a cached-read case measured right after
    creating its objects would measure store reads instead.
    """
    deadline = time.monotonic() + timeout
    for key in cache_keys:
        while _layout.is_hold(rt.cache.get(key)) and time.monotonic() < deadline:
            time.sleep(0.1)


def cached_object_key(rt: Runtime, obj: dalcore.DataObject) -> str:
    return "o:" + object_key(rt, obj)


def needs(group: str, case: str, start: Callable[[], Any]) -> tuple[Any, Result | None]:
    """Start what a case needs; a skip result naming what is missing otherwise."""
    try:
        return start(), None
    except Missing as exc:
        return None, skipped(group, case, str(exc))


def raw_memcached(address: tuple[str, int]) -> Any:
    """A bare pymemcache client: bytes in, bytes out, no serde (the baseline's client)."""
    from pymemcache.client.base import Client

    return Client(address, no_delay=True, default_noreply=False)


def memcached_route(rt: Runtime, key: str) -> tuple[bytes, tuple[str, int]]:
    """Where the memcached plugin keeps ``key``: the memcached key and the server address."""
    raw, node = rt.cache._route(key)  # type: ignore[attr-defined]
    host, port = node.name.rsplit(":", 1)
    return raw, (host, int(port))


def stored_item(index: int = 1) -> BenchItem:
    from dalcore.benchmarks._model import make_item

    return make_item(index)


def env_settings(env: Environment) -> Any:
    return env.settings
