"""memcached as dalcore's volatile cache: ``pip install dalcore-memcached``, then
``memcached://host:11211,host2:11211?prefix=myapp``. See docs/memcached.md."""

from dalcore_memcached.cache import MemcachedCache
from dalcore_memcached.plugin import cache_from_url

__all__ = ["MemcachedCache", "cache_from_url"]
