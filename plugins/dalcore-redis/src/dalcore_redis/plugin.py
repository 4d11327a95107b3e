"""The dalcore plugin (entry point ``redis`` in the group ``dalcore.plugins``): the store and
the cache, both for ``redis://`` and ``rediss://`` URLs."""

from __future__ import annotations

from dalcore.api import BackendURL, PersistentStore, VolatileCache
from dalcore.hookspecs import Provided, hookimpl

_SCHEMES = ("redis", "rediss")
_URL = "redis://[user:pw@]host:6379/db?prefix=&timeout=5&tls=1&ca=&cert=&key="


@hookimpl
def dalcore_provides() -> list[Provided]:
    return [
        *(Provided("persistent", scheme, f"one Redis server: {_URL}") for scheme in _SCHEMES),
        *(
            Provided("volatile", scheme, f"one Redis server, JSON values: {_URL}")
            for scheme in _SCHEMES
        ),
    ]


@hookimpl
def dalcore_persistent_store(url: BackendURL) -> PersistentStore | None:
    if url.scheme not in _SCHEMES:
        return None
    from dalcore_redis._config import RedisConfig
    from dalcore_redis.store import RedisStore

    return RedisStore(RedisConfig.from_url(url, default_prefix="dalcore:"))


@hookimpl
def dalcore_volatile_cache(url: BackendURL) -> VolatileCache | None:
    if url.scheme not in _SCHEMES:
        return None
    from dalcore_redis._config import RedisConfig
    from dalcore_redis.cache import RedisCache

    return RedisCache(RedisConfig.from_url(url, default_prefix="dalcore-cache:"))
