"""The plugin: found through its entry point, configured by its URL."""

from __future__ import annotations

import pytest
from dalcore_memcached import MemcachedCache
from dalcore_memcached.plugin import dalcore_volatile_cache

import dalcore
from dalcore._plugins import provided
from dalcore.api import BackendURL
from dalcore.errors import InvalidURLError


def test_registered_through_the_entry_point() -> None:
    infos = [info for info in provided() if info.provided.name == "memcached"]
    assert [(i.provided.kind, i.plugin, i.package) for i in infos] == [
        ("volatile", "memcached", "dalcore-memcached")
    ]


def test_other_schemes_are_not_ours() -> None:
    assert dalcore_volatile_cache(BackendURL.parse("memory://")) is None


def test_defaults() -> None:
    cache = dalcore.open_volatile("memcached://cache1,cache2:11311")
    assert isinstance(cache, MemcachedCache)
    assert [node.name for node in cache.nodes] == ["cache1:11211", "cache2:11311"]
    options = cache.nodes[0].options
    assert (options.timeout, options.connect_timeout, options.retry_interval) == (0.5, 0.5, 1.0)
    assert options.max_pool_size is None and options.max_dirty_keys == 10_000
    assert cache.endpoint == "memcached://cache1,cache2:11311"
    cache.close()


def test_parameters() -> None:
    cache = dalcore.open_volatile(
        "memcached://[::1]:11211?prefix=app&timeout=0.25&connect_timeout=2&max_pool_size=8"
        "&pool_idle_timeout=30&retry_interval=5&max_dirty_keys=100&max_value_size=4096"
    )
    assert isinstance(cache, MemcachedCache)
    options = cache.nodes[0].options
    assert cache.nodes[0].name == "[::1]:11211"
    assert options.timeout == 0.25 and options.connect_timeout == 2
    assert options.max_pool_size == 8 and options.pool_idle_timeout == 30
    assert options.retry_interval == 5 and options.max_dirty_keys == 100
    assert cache.max_value_size == 4096
    cache.close()


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("memcached://", "at least one server"),
        ("memcached://h:1/path", "no path"),
        ("memcached://h?timout=1", "unknown parameter"),
        ("memcached://h?prefix=a:b", "prefix"),
        ("memcached://h?timeout=0", "timeout"),
        ("memcached://h?timeout=x", "not a number"),
        ("memcached://h?max_pool_size=-1", "max_pool_size"),
        ("memcached://h?max_value_size=0", "max_value_size"),
    ],
)
def test_bad_urls(url: str, complaint: str) -> None:
    with pytest.raises(InvalidURLError, match=complaint):
        dalcore.open_volatile(url)
