"""dalcore on Redis: a persistent store (Lua commits, a stream for watches) and a volatile cache."""

from dalcore_redis.cache import RedisCache
from dalcore_redis.store import RedisStore

__all__ = ["RedisCache", "RedisStore"]
