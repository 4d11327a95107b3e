"""Two caches as one: ``none://`` (no cache at all) and a per-process cache in front of a shared
one (``volatile="memory:// memcached://h:11211"``).

In the two-level form, objects (``o:``) and reverse lists (``r:``) are read from this process's
memory first, then from the shared cache, then from the store; everything else (dynamics,
locks, query results and their generations) lives in the shared cache only, where every
process sees the same. The engine treats the pair as per-process (``process_local``): the
store's watch invalidates the local level and its read barrier keeps it current, while saves
hold both levels. A value found only in the shared level is copied to the local one with
``add``, so it never replaces a hold the watch put there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dalcore.api import NO_VALUE, BackendURL, VolatileCache
from dalcore.hookspecs import Provided, hookimpl

_HOLD = "__dalcore_hold__"  # dalcore._layout.HOLD; a backend does not import the engine
_LOCAL_PREFIXES = ("o:", "r:")


def _is_hold(value: Any) -> bool:
    return type(value) is str and value.startswith(_HOLD)


class TieredCache(VolatileCache):
    """``local`` (per process) in front of ``shared`` for objects and reverse lists."""

    process_local = True

    def __init__(self, local: VolatileCache, shared: VolatileCache, local_ttl: float = 600.0):
        if not local.process_local or shared.process_local:
            raise ValueError(
                f"a two-level cache needs a per-process cache in front of a shared one, "
                f"not {local.endpoint} in front of {shared.endpoint}"
            )
        self.local = local
        self.shared = shared
        self.local_ttl = local_ttl
        self.endpoint = f"{local.endpoint} {shared.endpoint}"

    def diagnose(self) -> dict[str, Any]:
        return self.shared.diagnose()  # the per-process level has no server

    def get(self, key: str) -> Any:
        if not key.startswith(_LOCAL_PREFIXES):
            return self.shared.get(key)
        value = self.local.get(key)
        if value is NO_VALUE:
            value = self.shared.get(key)
            if value is not NO_VALUE and not _is_hold(value):
                self.local.add(key, value, self.local_ttl)
        return value

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        local = [k.startswith(_LOCAL_PREFIXES) for k in keys]
        values = self.local.get_many([k for k, mine in zip(keys, local, strict=True) if mine])
        found = iter(values)
        result = [next(found) if mine else NO_VALUE for mine in local]
        wanted = [index for index, value in enumerate(result) if value is NO_VALUE]
        if wanted:
            shared = self.shared.get_many([keys[index] for index in wanted])
            for index, value in zip(wanted, shared, strict=True):
                result[index] = value
                if local[index] and value is not NO_VALUE and not _is_hold(value):
                    self.local.add(keys[index], value, self.local_ttl)
        return result

    def gets(self, key: str) -> tuple[Any, Any]:
        if not key.startswith(_LOCAL_PREFIXES):
            return self.shared.gets(key)
        value, local_token = self.local.gets(key)
        shared_value, shared_token = self.shared.gets(key)
        return (shared_value if value is NO_VALUE else value), (local_token, shared_token)

    def cas(self, key: str, value: Any, token: Any, ttl: float | None = None) -> bool:
        if not key.startswith(_LOCAL_PREFIXES):
            return self.shared.cas(key, value, token, ttl)
        local_token, shared_token = (None, None) if token is None else token
        stored = self.shared.cas(key, value, shared_token, ttl)
        return self.local.cas(key, value, local_token, ttl) or stored

    def set_many(self, items: Mapping[str, Any], ttl: float | None = None) -> None:
        self.shared.set_many(items, ttl)
        mine = {key: value for key, value in items.items() if key.startswith(_LOCAL_PREFIXES)}
        if mine:
            self.local.set_many(mine, ttl)

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        added = self.shared.add(key, value, ttl)
        if key.startswith(_LOCAL_PREFIXES):
            added = self.local.add(key, value, ttl) or added
        return added

    def delete_many(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self.shared.delete_many(keys)
        self.local.delete_many([key for key in keys if key.startswith(_LOCAL_PREFIXES)])

    def incr(self, key: str, delta: int = 1, ttl: float | None = None) -> int:
        return self.shared.incr(key, delta, ttl)

    def clear(self) -> None:
        self.shared.clear()
        self.local.clear()

    def close(self) -> None:
        self.local.close()
        self.shared.close()


class NullCache(VolatileCache):
    """``none://``: caches nothing; every read goes to the store.

    ``add`` and ``cas`` answer False (nothing was stored), so a volatile mutex can never be
    taken, and locked dynamics are computed by each caller (see docs/consistency.md).
    """

    endpoint = "none://"

    def get_many(self, keys: Sequence[str]) -> list[Any]:
        return [NO_VALUE] * len(keys)

    def set_many(self, items: Mapping[str, Any], ttl: float | None = None) -> None:
        pass

    def add(self, key: str, value: Any, ttl: float | None = None) -> bool:
        return False

    def cas(self, key: str, value: Any, token: Any, ttl: float | None = None) -> bool:
        return False

    def delete_many(self, keys: Iterable[str]) -> None:
        pass

    def incr(self, key: str, delta: int = 1, ttl: float | None = None) -> int:
        return delta

    def clear(self) -> None:
        pass


@hookimpl
def dalcore_provides() -> list[Provided]:
    return [Provided("volatile", "none", "no cache: every read goes to the store")]


@hookimpl
def dalcore_volatile_cache(url: BackendURL) -> NullCache | None:
    return NullCache() if url.scheme == "none" else None
