"""The hooks a dalcore plugin implements (pluggy project ``"dalcore"``).

A plugin is any module or object with functions marked ``@dalcore.hookimpl`` and named after the
specs below, announced in its package metadata under the entry point group ``dalcore.plugins``::

    [project.entry-points."dalcore.plugins"]
    etcd = "dalcore_etcd.plugin"

dalcore finds it through importlib.metadata, registers it into its pluggy manager and calls it
by URL scheme.
The built-in backends (``memory://``, ``sqlite://`` and the in-process cache) are plugins of
exactly this kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import pluggy

if TYPE_CHECKING:
    from dalcore._structures import Dynamic
    from dalcore.api import BackendURL, PersistentStore, VolatileCache

hookspec = pluggy.HookspecMarker("dalcore")
hookimpl = pluggy.HookimplMarker("dalcore")


class Provided(NamedTuple):
    """One thing a plugin offers: a store or cache scheme, or a dynamic loader."""

    kind: Literal["persistent", "volatile", "loader"]
    name: str
    description: str


@hookspec
def dalcore_provides() -> Sequence[Provided]:
    """Declare the URL schemes and loaders this plugin provides (for listings and errors)."""
    raise NotImplementedError


@hookspec(firstresult=True)
def dalcore_persistent_store(url: BackendURL) -> PersistentStore | None:
    """Open a persistent store for ``url`` if its scheme is this plugin's, else return None."""
    raise NotImplementedError


@hookspec(firstresult=True)
def dalcore_volatile_cache(url: BackendURL) -> VolatileCache | None:
    """Open a volatile cache for ``url`` if its scheme is this plugin's, else return None."""
    raise NotImplementedError


@hookspec(firstresult=True)
def dalcore_dynamic_loader(hybrid: type, dynamic: Dynamic) -> Callable[[Any], Any] | None:
    """Return the function computing ``dynamic`` for objects of ``hybrid``, or None.

    Asked once, when a hybrid declaring a dynamic without a ``_<name>`` method is created; the
    returned function is called with the object. ``dynamic.source`` carries whatever the hybrid's
    author declared for the loader (e.g. which Redfish attribute to read).
    """
    raise NotImplementedError


@hookspec
def dalcore_hybrids() -> Iterable[type]:
    """Hybrid classes this plugin contributes (a subclass of an existing hybrid replaces it)."""
    raise NotImplementedError


@hookspec
def dalcore_before_save(obj: Any) -> None:
    """Called before an object is written; raising aborts the save."""


@hookspec
def dalcore_after_save(obj: Any) -> None:
    """Called after an object was written."""


@hookspec
def dalcore_after_delete(obj: Any) -> None:
    """Called after an object was deleted."""
