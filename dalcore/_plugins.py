"""The plugin manager: pluggy for calling hooks, stevedore for finding installed plugins."""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, cast

import pluggy

from dalcore import hookspecs
from dalcore._url import BackendURL
from dalcore.api import PersistentStore, VolatileCache
from dalcore.errors import UnknownSchemeError
from dalcore.hookspecs import Provided

log = logging.getLogger("dalcore.plugins")

ENTRY_POINT_GROUP = "dalcore.plugins"

# Which package to install for a scheme that is not installed.
_PACKAGES = {
    ("persistent", "etcd"): "dalcore-etcd",
    ("volatile", "memcached"): "dalcore-memcached",
}


class PluginInfo(NamedTuple):
    """An installed provider, as ``dalcore plugins`` lists it."""

    provided: Provided
    plugin: str
    package: str
    version: str


_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_distributions: dict[str, tuple[str, str]] = {}  # plugin name -> (package, version)
_failures: dict[str, str] = {}  # plugin name -> why it did not load


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, loading installed plugins on first use.

    The manager is published before the entry points load so that a plugin which defines hybrids
    while being imported (class creation asks the manager for dynamic loaders) finds it.
    """
    global _manager
    manager = _manager
    if manager is not None:
        return manager
    with _lock:
        if _manager is None:
            manager = pluggy.PluginManager("dalcore")
            manager.add_hookspecs(hookspecs)
            _manager = manager
            _load_entry_points(manager)
            manager.check_pending()
        return _manager


def _load_entry_points(manager: pluggy.PluginManager) -> None:
    from stevedore import ExtensionManager

    def failed(_manager: Any, entry_point: Any, exc: BaseException) -> None:
        _failures[entry_point.name] = f"{type(exc).__name__}: {exc}"
        log.warning("dalcore plugin %r failed to load: %s", entry_point.name, exc)

    extensions = ExtensionManager(
        namespace=ENTRY_POINT_GROUP, invoke_on_load=False, on_load_failure_callback=failed
    )
    for extension in extensions:
        if manager.is_registered(extension.plugin) or manager.has_plugin(extension.name):
            continue
        manager.register(extension.plugin, name=extension.name)
        _distributions[extension.name] = _distribution_of(extension.entry_point)


def _distribution_of(entry_point: Any) -> tuple[str, str]:
    dist = getattr(entry_point, "dist", None)
    if dist is not None:
        return dist.metadata["Name"], dist.version
    top = entry_point.value.split(".")[0].split(":")[0]
    for name in importlib.metadata.packages_distributions().get(top, []):
        return name, importlib.metadata.version(name)
    return "?", "?"


def provided() -> Iterator[PluginInfo]:
    """Everything the installed plugins provide, with the package each comes from."""
    manager = plugin_manager()
    for impl in manager.hook.dalcore_provides.get_hookimpls():
        package, version = _distributions.get(impl.plugin_name, ("?", "?"))
        items = cast(Sequence[Provided], impl.function())
        for item in items:
            yield PluginInfo(item, impl.plugin_name, package, version)


def _schemes(kind: str) -> list[str]:
    return [info.provided.name for info in provided() if info.provided.kind == kind]


def _unknown(kind: str, url: BackendURL) -> UnknownSchemeError:
    package = _PACKAGES.get((kind, url.scheme))
    hint = f"pip install {package} provides it" if package else None
    if _failures:
        broken = "; ".join(f"{name}: {why}" for name, why in sorted(_failures.items()))
        hint = (hint + "; " if hint else "") + f"plugins that failed to load: {broken}"
    return UnknownSchemeError(kind, url.scheme, _schemes(kind), hint)


def open_persistent(url: str | BackendURL) -> PersistentStore:
    """Open the persistent store a URL names, through whichever plugin serves its scheme."""
    parsed = url if isinstance(url, BackendURL) else BackendURL.parse(url)
    store: PersistentStore | None = plugin_manager().hook.dalcore_persistent_store(url=parsed)
    if store is None:
        raise _unknown("persistent", parsed)
    return store


def open_volatile(url: str | BackendURL) -> VolatileCache:
    """Open the volatile cache a URL names, through whichever plugin serves its scheme."""
    parsed = url if isinstance(url, BackendURL) else BackendURL.parse(url)
    cache: VolatileCache | None = plugin_manager().hook.dalcore_volatile_cache(url=parsed)
    if cache is None:
        raise _unknown("volatile", parsed)
    return cache
