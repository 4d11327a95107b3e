"""The plugin manager: pluggy for calling hooks, entry points (importlib.metadata) for finding
installed plugins."""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, cast

import pluggy

from dalcore import hookspecs
from dalcore._url import BackendURL
from dalcore.api import PersistentStore, VolatileCache
from dalcore.errors import PluginConflictError, UnknownSchemeError
from dalcore.hookspecs import Provided

log = logging.getLogger("dalcore.plugins")

ENTRY_POINT_GROUP = "dalcore.plugins"

# Which package to install for a scheme that is not installed.
_PACKAGES = {
    ("persistent", "etcd"): "dalcore-etcd",
    ("persistent", "redis"): "dalcore-redis",
    ("volatile", "redis"): "dalcore-redis",
    ("persistent", "consul"): "dalcore-consul",
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
_loading: pluggy.PluginManager | None = None  # while the entry points load (see below)
_distributions: dict[str, tuple[str, str]] = {}  # plugin name -> (package, version)
_failures: dict[str, str] = {}  # plugin name -> why it did not load
_conflicts: dict[tuple[str, str], list[str]] = {}  # (kind, scheme) -> installed plugins serving it
#: Called after a plugin is registered or unregistered once the manager is up (live runtimes
#: refresh the hooks they keep).
_listeners: list[Callable[[], None]] = []


def plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, loading installed plugins on first use.

    Other threads see the manager only once every entry point has loaded (until then they wait
    on the lock). The loading thread itself may need it earlier: a plugin that defines hybrids
    while being imported asks it for dynamic loaders; the lock is reentrant for that.
    """
    global _manager, _loading
    manager = _manager
    if manager is not None:
        return manager
    with _lock:
        if _manager is not None:
            return _manager
        if _loading is not None:
            return _loading  # this thread, loading the entry points
        manager = pluggy.PluginManager("dalcore")
        manager.add_hookspecs(hookspecs)
        _loading = manager
        try:
            _load_entry_points(manager)
            manager.check_pending()
        finally:
            _loading = None
        _manager = manager
        return manager


def _load_entry_points(manager: pluggy.PluginManager) -> None:
    # importlib.metadata is all that finding them takes (stevedore, used before, added an
    # on-disk cache of entry points that a fresh install could find stale).
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if manager.has_plugin(entry_point.name):
            continue
        try:
            plugin = entry_point.load()
        except Exception as exc:
            _failures[entry_point.name] = f"{type(exc).__name__}: {exc}"
            log.warning("dalcore plugin %r failed to load: %s", entry_point.name, exc)
            continue
        if manager.is_registered(plugin):
            continue
        clashes = _clashes(manager, plugin, entry_point.name)
        if clashes:
            # Neither wins silently: opening such a scheme names both (see _conflict).
            for kind, scheme, other in clashes:
                _conflicts.setdefault((kind, scheme), [other]).append(entry_point.name)
            log.warning(
                "dalcore plugin %r serves schemes another plugin serves: %s",
                entry_point.name,
                ", ".join(f"{kind} {scheme!r} ({other})" for kind, scheme, other in clashes),
            )
            continue
        manager.register(plugin, name=entry_point.name)
        _distributions[entry_point.name] = _distribution_of(entry_point)


def _provides(plugin: Any) -> list[Provided]:
    function = getattr(plugin, "dalcore_provides", None)
    return list(function()) if callable(function) else []


def _clashes(manager: pluggy.PluginManager, plugin: Any, name: str) -> list[tuple[str, str, str]]:
    """(kind, scheme, other plugin) for each URL scheme ``plugin`` serves that a registered
    plugin serves too."""
    offered = {(item.kind, item.name) for item in _provides(plugin)}
    found: list[tuple[str, str, str]] = []
    for other_name, other in manager.list_name_plugin():
        if other is None or other_name == name:
            continue
        found += [
            (item.kind, item.name, other_name)
            for item in _provides(other)
            if (item.kind, item.name) in offered
        ]
    return found


def _conflict(kind: str, scheme: str) -> None:
    plugins = _conflicts.get((kind, scheme))
    if plugins and len(plugins) > 1:
        raise PluginConflictError(kind, scheme, plugins)


def register_plugin(plugin: Any, name: str | None = None, replace: Sequence[str] = ()) -> None:
    """Register a plugin module or object (what an entry point names) at run time.

    It takes effect at once, also for a runtime already configured (its save and delete hooks,
    the schemes it serves). A plugin serving a URL scheme that another plugin serves is refused
    (PluginConflictError naming both) unless that plugin is named in ``replace``, which
    unregisters it first; this is also how to choose between two installed plugins that serve
    one scheme (opening it raises PluginConflictError until one is chosen).
    """
    manager = plugin_manager()
    name = name or getattr(plugin, "__name__", None) or repr(plugin)
    with _lock:
        for old in replace:
            if manager.has_plugin(old):
                manager.unregister(name=old)
                _distributions.pop(old, None)
            for plugins in _conflicts.values():
                if old in plugins:
                    plugins.remove(old)
        clashes = _clashes(manager, plugin, name)
        if clashes:
            kind, scheme, _ = clashes[0]
            raise PluginConflictError(kind, scheme, [other for _, _, other in clashes] + [name])
        manager.register(plugin, name=name)
        _distributions.setdefault(name, ("(registered at run time)", "-"))
        for key in [key for key, plugins in _conflicts.items() if len(plugins) < 2]:
            del _conflicts[key]
    _changed()


def unregister_plugin(name: str) -> None:
    """Undo :func:`register_plugin` (or drop an installed plugin) for this process."""
    manager = plugin_manager()
    with _lock:
        if manager.has_plugin(name):
            manager.unregister(name=name)
        _distributions.pop(name, None)
    _changed()


def _changed() -> None:
    for listener in list(_listeners):
        listener()


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
    hook = plugin_manager().hook  # loads the plugins first: that is when conflicts are found
    _conflict("persistent", parsed.scheme)
    store: PersistentStore | None = hook.dalcore_persistent_store(url=parsed)
    if store is None:
        raise _unknown("persistent", parsed)
    return store


def open_volatile(url: str | BackendURL) -> VolatileCache:
    """Open the volatile cache a URL names, through whichever plugin serves its scheme."""
    parsed = url if isinstance(url, BackendURL) else BackendURL.parse(url)
    hook = plugin_manager().hook
    _conflict("volatile", parsed.scheme)
    cache: VolatileCache | None = hook.dalcore_volatile_cache(url=parsed)
    if cache is None:
        raise _unknown("volatile", parsed)
    return cache
