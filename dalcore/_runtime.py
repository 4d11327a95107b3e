"""Which stores dalcore uses: chosen in code, by environment variables or by a config file.

Precedence: arguments to :func:`configure` > ``DALCORE_PERSISTENT`` / ``DALCORE_VOLATILE`` /
``DALCORE_NAMESPACE`` / ``DALCORE_HYBRIDS`` > the ``[dalcore]`` table of the file named by
``DALCORE_CONFIG`` (default ``./dalcore.toml`` when it exists) > the embedded default: an SQLite
file ``dalcore.db`` in the working directory and an in-process cache.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import importlib
import os
import pkgutil
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dalcore._plugins import _listeners as _plugin_listeners
from dalcore._plugins import open_persistent, open_volatile, plugin_manager
from dalcore._schema import adopt_plugin_hybrids
from dalcore.api import (
    Check,
    Operation,
    PersistentStore,
    VolatileCache,
    WatchEvent,
    WatchHandle,
)
from dalcore.errors import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_PERSISTENT = "sqlite://dalcore.db"
DEFAULT_VOLATILE = "memory://"
DEFAULT_NAMESPACE = "dalcore"


@dataclasses.dataclass(frozen=True)
class Settings:
    persistent: str = DEFAULT_PERSISTENT
    volatile: str = DEFAULT_VOLATILE
    namespace: str = DEFAULT_NAMESPACE
    hybrids: tuple[str, ...] = ()
    #: Seconds a whole object stays in the volatile cache (invalidation keeps it correct;
    #: the TTL only bounds memory and the reach of a cache that lost an invalidation).
    object_ttl: float = 600.0
    #: How often a save merges and retries after losing to a concurrent writer.
    save_attempts: int = 16


def load_settings(config_file: str | None = None) -> Settings:
    """Settings from the config file and the environment (no arguments given in code)."""
    values: dict[str, Any] = {}
    path = config_file or os.environ.get("DALCORE_CONFIG")
    if path is None and os.path.exists("dalcore.toml"):
        path = "dalcore.toml"
    if path is not None:
        values.update(_read_config(path))
    for field in ("persistent", "volatile", "namespace", "hybrids"):
        env = os.environ.get(f"DALCORE_{field.upper()}")
        if env:
            values[field] = env
    if isinstance(values.get("hybrids"), str):
        values["hybrids"] = tuple(p.strip() for p in values["hybrids"].split(",") if p.strip())
    elif "hybrids" in values:
        values["hybrids"] = tuple(values["hybrids"])
    return Settings(**values)


def _read_config(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigurationError(f"cannot read dalcore config {path!r}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"dalcore config {path!r} is not valid TOML: {exc}") from None
    table = document.get("dalcore", {})
    known = {field.name for field in dataclasses.fields(Settings)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigurationError(
            f"dalcore config {path!r}: unknown settings {unknown}; known: {sorted(known)}"
        )
    return dict(table)


class Runtime:
    """The stores in use and the namespace all keys live under.

    ``sync`` is the read barrier (None when the cache needs none): with a per-process cache
    in front of a store other processes write to, every cached read calls it first, so that a
    load never returns an older version than a save that returned before the load began.
    """

    def __init__(
        self,
        store: PersistentStore,
        cache: VolatileCache,
        namespace: str,
        object_ttl: float,
        *,
        hold_seconds: float = 3.0,
        sync_timeout: float = 10.0,
        save_attempts: int = 16,
    ) -> None:
        if "/" in namespace.strip("/"):
            raise ConfigurationError(f"namespace must be one path segment: {namespace!r}")
        if save_attempts < 1:
            raise ConfigurationError(f"save_attempts must be at least 1: {save_attempts!r}")
        self.store = store
        self.cache = cache
        self.namespace = namespace.strip("/")
        self.object_ttl = object_ttl
        #: How long a hold outlives the save that set it when no reader replaces it.
        self.hold_seconds = hold_seconds
        #: How often a save merges and retries after losing to a concurrent writer.
        self.save_attempts = save_attempts
        #: The per-process part of the cache, which only the store's watch can invalidate.
        self.local_cache: VolatileCache = getattr(cache, "local", cache)
        self.sync: Callable[[], None] | None = None
        self._watch = None
        self.own_revisions: set[int] = set()
        self.feed_lock = threading.Lock()
        self.committing = 0
        self.deferred: list[WatchEvent] = []
        self.apply_change: Callable[[WatchEvent], None] = lambda event: None
        if cache.process_local and "watch" in store.capabilities:
            # Other processes' commits reach this process's cache only through the store.
            if _change_feed is None:
                raise ConfigurationError("the object cache has not registered its change feed")
            scope = self.namespace + "/" if self.namespace else ""
            self.apply_change = _change_feed(self)

            def on_change(event: WatchEvent) -> None:
                with self.feed_lock:
                    if self.committing:
                        self.deferred.append(event)
                        return
                self.apply_change(event)

            self._watch = watch = store.watch(scope, on_change)
            if type(watch).sync is WatchHandle.sync:
                watch.cancel()
                raise ConfigurationError(
                    f"a per-process cache ({cache.endpoint}) in front of {store.endpoint} needs "
                    "a watch that can sync, which this store's watch cannot: configure a shared "
                    "cache (memcached://...) or none://"
                )
            barrier = watch.sync

            def sync() -> None:
                # Not installed for a synchronous watch (see below): this runs on every read.
                barrier(sync_timeout)
                if self.deferred:
                    # Set aside while one of this process's commits was under way: perhaps
                    # its own echo, perhaps another process's commit. Applying an own echo
                    # early only repeats what that commit's save does anyway.
                    with self.feed_lock:
                        replay, self.deferred = self.deferred, []
                    for event in replay:
                        self.apply_change(event)

            if not watch.synchronous:
                self.sync = sync
        self._read_hooks()
        _live.add(self)

    def _read_hooks(self) -> None:
        """Keep the lifecycle hooks that have implementations (read again when a plugin is
        registered at run time); hooks with none are skipped on the hot path."""
        hook = plugin_manager().hook
        self.before_save = (
            hook.dalcore_before_save if hook.dalcore_before_save.get_hookimpls() else None
        )
        self.after_save = (
            hook.dalcore_after_save if hook.dalcore_after_save.get_hookimpls() else None
        )
        self.after_delete = (
            hook.dalcore_after_delete if hook.dalcore_after_delete.get_hookimpls() else None
        )

    def commit(self, operations: Sequence[Operation], checks: Sequence[Check] = ()) -> int:
        """Commit through the store, remembering the revision as this process's own: this
        process invalidates its caches for its commits itself, so the store's watch feed skips
        them instead of invalidating (and renewing query generations) a second time."""
        if self._watch is None:
            return self.store.commit(operations, checks)
        # The store may report the commit to the watch before commit() returns (the memory
        # store does, inside the call; etcd sometimes does): while any commit is under way the
        # feed sets events aside, and they are applied once the revision is known.
        with self.feed_lock:
            self.committing += 1
        revision: int | None = None
        try:
            revision = self.store.commit(operations, checks)
            return revision
        finally:
            with self.feed_lock:
                if revision is not None:
                    if len(self.own_revisions) >= 4096:
                        self.own_revisions.clear()
                    self.own_revisions.add(revision)
                self.committing -= 1
                replay, self.deferred = (self.deferred, []) if not self.committing else ([], [])
            for event in replay:
                self.apply_change(event)

    def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self.store.close()
        self.cache.close()


#: Made by the layer that owns the cache's key layout (_objcache), which registers it: a
#: callback applying another process's commit, seen through the store's watch, to this
#: process's cache.
ChangeFeed = Callable[["Runtime"], Callable[[WatchEvent], None]]
_change_feed: ChangeFeed | None = None


def set_change_feed(feed: ChangeFeed) -> None:
    global _change_feed
    _change_feed = feed


# Runtimes not yet garbage, so that a plugin registered at run time reaches them too.
_live: weakref.WeakSet[Runtime] = weakref.WeakSet()


def _refresh_hooks() -> None:
    for live in list(_live):
        live._read_hooks()


_plugin_listeners.append(_refresh_hooks)

# Reentrant: configuring imports hybrid packages, whose modules may ask for the runtime.
_lock = threading.RLock()
_current: Runtime | None = None
# using() blocks: a runtime per context (thread, asyncio task); counted, so that runtime()
# skips the context variable entirely while none is open (the usual case; a hot path).
_scoped: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar(
    "dalcore_runtime", default=None
)
_scopes = 0


def open_runtime(
    persistent: str | PersistentStore | None = None,
    volatile: str | Sequence[str] | VolatileCache | None = None,
    namespace: str | None = None,
    hybrids: Sequence[str] | None = None,
    config_file: str | None = None,
    object_ttl: float | None = None,
    save_attempts: int | None = None,
) -> Runtime:
    """A runtime of its own, not made current: use it in ``with dalcore.using(rt):`` blocks
    (as a dogpile.cache region is used), and close it when done. Arguments as for
    :func:`configure`."""
    settings = load_settings(config_file)
    store = persistent if persistent is not None else settings.persistent
    cache = volatile if volatile is not None else settings.volatile
    ttl = object_ttl if object_ttl is not None else settings.object_ttl
    opened: list[PersistentStore | VolatileCache] = []  # closed again if this fails
    try:
        if not isinstance(store, PersistentStore):
            store = open_persistent(store)
            opened.append(store)
        if not isinstance(cache, VolatileCache):
            cache = open_cache(cache, ttl)
            opened.append(cache)
        runtime = Runtime(
            store,
            cache,
            namespace if namespace is not None else settings.namespace,
            ttl,
            save_attempts=save_attempts if save_attempts is not None else settings.save_attempts,
        )
    except BaseException:
        for backend in opened:
            backend.close()
        raise
    load_hybrids(hybrids if hybrids is not None else settings.hybrids)
    return runtime


def configure(
    persistent: str | PersistentStore | None = None,
    volatile: str | Sequence[str] | VolatileCache | None = None,
    namespace: str | None = None,
    hybrids: Sequence[str] | None = None,
    config_file: str | None = None,
    object_ttl: float | None = None,
    save_attempts: int | None = None,
) -> Runtime:
    """Choose the stores (URLs or ready instances); anything not given comes from the settings.

    ``volatile`` may name two caches, a per-process one in front of a shared one
    (``"memory:// memcached://h:11211"`` or a list of two URLs); ``none://`` caches nothing.
    ``save_attempts`` bounds how often a save merges and retries after losing a race.

    Replaces (and closes) a previous configuration. ``hybrids`` names packages whose modules
    are imported so that their hybrids exist (one hybrid per module, as the original DAL did).
    Threads configuring at once are served one after the other.
    """
    global _current
    with _lock:
        runtime = open_runtime(
            persistent, volatile, namespace, hybrids, config_file, object_ttl, save_attempts
        )
        previous, _current = _current, runtime
    if previous is not None:
        previous.close()
    return runtime


def unconfigure(runtime: Runtime | None = None, close: bool = True) -> None:
    """Forget the configured runtime (only if it is ``runtime``, when given), closing it unless
    ``close`` is False; the next use configures from the settings again."""
    global _current
    with _lock:
        previous = _current
        if previous is None or (runtime is not None and previous is not runtime):
            return
        _current = None
    if close:
        previous.close()


def current_or_none() -> Runtime | None:
    """The runtime in use if there is one, without configuring one."""
    if _scopes:
        scoped = _scoped.get()
        if scoped is not None:
            return scoped
    return _current


@contextlib.contextmanager
def using(runtime: Runtime) -> Iterator[Runtime]:
    """Within the block, in this thread or task, dalcore works on ``runtime``.

    Blocks nest, and other threads keep the configured runtime. The runtime is not closed at
    the end of the block.
    """
    global _scopes
    with _lock:
        _scopes += 1
    token = _scoped.set(runtime)
    try:
        yield runtime
    finally:
        _scoped.reset(token)
        with _lock:
            _scopes -= 1


def open_cache(spec: str | Sequence[str], local_ttl: float = 600.0) -> VolatileCache:
    """The cache one URL names, or two in front of each other (whitespace or a list)."""
    urls = spec.split() if isinstance(spec, str) else list(spec)
    if len(urls) == 1:
        return open_volatile(urls[0])
    if len(urls) != 2:
        raise ConfigurationError(
            f"volatile: expected one cache URL, or a per-process and a shared one; got {spec!r}"
        )
    from dalcore._backends.tiered import TieredCache

    local, shared = open_volatile(urls[0]), open_volatile(urls[1])
    try:
        return TieredCache(local, shared, local_ttl)
    except ValueError as exc:
        local.close()
        shared.close()
        raise ConfigurationError(f"volatile {spec!r}: {exc}") from None


def runtime() -> Runtime:
    """The runtime in use: the innermost :func:`using` block's, else the configured one (set
    up from the settings on first use, once, however many threads ask at the same time)."""
    if _scopes:
        scoped = _scoped.get()
        if scoped is not None:
            return scoped
    current = _current
    if current is None:
        with _lock:
            current = _current
            if current is None:
                current = configure()
    return current


def import_hybrids(package: str) -> None:
    """Import ``package`` and every module in it, so the hybrids they define are registered."""
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import hybrids package {package!r}: {exc}") from exc
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), package + "."):
        importlib.import_module(info.name)


def load_hybrids(packages: Sequence[str]) -> None:
    """Import the hybrids ``packages`` hold, then register the hybrids plugins contribute
    (which may subclass them)."""
    for package in packages:
        import_hybrids(package)
    adopt_plugin_hybrids()
