"""The dalcore plugin: ``memcached://[user:pw@]h1:11211,h2:11211?prefix=app&tls=1&ca=...``.

Parameters are described in docs/memcached.md.
"""

from __future__ import annotations

import ssl

from dalcore.api import BackendURL, VolatileCache
from dalcore.errors import InvalidURLError
from dalcore.hookspecs import Provided, hookimpl
from dalcore_memcached._conn import Credentials, tls_context
from dalcore_memcached._keys import namespace
from dalcore_memcached._node import Options
from dalcore_memcached.cache import DEFAULT_MAX_VALUE_SIZE, DEFAULT_PORT, MemcachedCache

SCHEME = "memcached"

#: Every query parameter the URL may carry; anything else is a typo and refused.
PARAMETERS = frozenset(
    {
        "prefix",
        "timeout",
        "connect_timeout",
        "max_pool_size",
        "pool_idle_timeout",
        "retry_interval",
        "max_dirty_keys",
        "max_value_size",
        "tls",
        "ca",
        "cert",
        "key",
    }
)


def _positive(url: BackendURL, name: str, value: float, zero_ok: bool = False) -> None:
    if value < 0 or (value == 0 and not zero_ok):
        raise InvalidURLError(str(url), f"{name} must be {'>= 0' if zero_ok else '> 0'}")


def _credentials(url: BackendURL) -> Credentials | None:
    if url.username is None and url.password is None:
        return None
    if not url.password:
        raise InvalidURLError(str(url), "a memcached user needs a password (user:password@)")
    try:
        return Credentials(url.username or "", url.password)
    except ValueError as exc:
        raise InvalidURLError(str(url), str(exc)) from None


def _tls(url: BackendURL) -> ssl.SSLContext | None:
    flag = url.param("tls", "0")
    if flag not in ("0", "1"):
        raise InvalidURLError(str(url), f"tls must be 0 or 1 (got {flag!r})")
    files = {name: url.param(name) for name in ("ca", "cert", "key")}
    if flag == "0":
        given = sorted(name for name, path in files.items() if path)
        if given:
            raise InvalidURLError(str(url), f"{', '.join(given)} given without tls=1")
        return None
    if files["key"] and not files["cert"]:
        raise InvalidURLError(str(url), "key given without cert (the client certificate)")
    try:
        return tls_context(files["ca"], files["cert"], files["key"])
    except (OSError, ssl.SSLError) as exc:
        # The file names are the user's own input; the error's text is the reason.
        raise InvalidURLError(
            str(url), f"cannot load the TLS files: {getattr(exc, 'strerror', None) or exc}"
        ) from None


def cache_from_url(url: BackendURL) -> MemcachedCache:
    """A :class:`MemcachedCache` configured by ``url``; InvalidURLError when it is wrong."""
    if not url.hosts:
        raise InvalidURLError(str(url), "name at least one server: memcached://host:port")
    if url.path not in ("", "/"):
        raise InvalidURLError(str(url), f"memcached URLs take no path (got {url.path!r})")
    unknown = sorted(set(url.query) - PARAMETERS)
    if unknown:
        raise InvalidURLError(
            str(url), f"unknown parameter(s) {', '.join(unknown)}; known: {sorted(PARAMETERS)}"
        )
    prefix = url.param("prefix")
    try:
        namespace(prefix)
    except ValueError as exc:
        raise InvalidURLError(str(url), str(exc)) from None
    pool = url.int_param("max_pool_size", 0)
    defaults = Options()
    options = Options(
        timeout=url.float_param("timeout", defaults.timeout),
        connect_timeout=url.float_param("connect_timeout", defaults.connect_timeout),
        max_pool_size=pool or None,
        pool_idle_timeout=url.int_param("pool_idle_timeout", defaults.pool_idle_timeout),
        retry_interval=url.float_param("retry_interval", defaults.retry_interval),
        max_dirty_keys=url.int_param("max_dirty_keys", defaults.max_dirty_keys),
        tls=_tls(url),
        credentials=_credentials(url),
    )
    for name in ("timeout", "connect_timeout", "retry_interval"):
        _positive(url, name, getattr(options, name))
    _positive(url, "max_pool_size", pool, zero_ok=True)
    _positive(url, "pool_idle_timeout", options.pool_idle_timeout, zero_ok=True)
    _positive(url, "max_dirty_keys", options.max_dirty_keys, zero_ok=True)
    max_value_size = url.int_param("max_value_size", DEFAULT_MAX_VALUE_SIZE)
    _positive(url, "max_value_size", max_value_size)
    servers = [(host, DEFAULT_PORT if port is None else port) for host, port in url.hosts]
    return MemcachedCache(
        servers,
        prefix=prefix,
        options=options,
        max_value_size=max_value_size,
        endpoint=str(url),
    )


@hookimpl
def dalcore_provides() -> list[Provided]:
    return [
        Provided(
            "volatile",
            SCHEME,
            "memcached servers (pymemcache, rendezvous hashing, JSON values, degrades to misses)",
        )
    ]


@hookimpl
def dalcore_volatile_cache(url: BackendURL) -> VolatileCache | None:
    if url.scheme != SCHEME:
        return None
    return cache_from_url(url)
