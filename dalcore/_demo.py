"""``dalcore demo``: the seed document's Backend example, end to end, on the configured stores.

It runs in its own namespace (``demo``), which it empties first, so it can be run again and
never touches other data in the same store.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any, TextIO

import dalcore
from dalcore import DataObject, Dynamic, Property, Relation, hookimpl
from dalcore.errors import LinkedObjectsError


class BackendType(DataObject):
    """A kind of backend the system can set up."""

    __properties = [
        Property("name", str, doc="Name of the backend type."),
        Property("code", str, unique=True, doc="Short code, used to find the plugin hybrid."),
        Property("has_plugin", bool, default=False, doc="True when a plugin adds a detail hybrid."),
    ]
    __relations: list[Relation] = []
    __dynamics: list[Dynamic] = []


class Backend(DataObject):
    """
    A Backend represents an instance of the supported backend types that has been setup with the OVS GUI
    """

    __properties = [Property('name', str, doc='Name of the Backend.'),
                    Property('status', ['NEW', 'INSTALLING', 'RUNNING', 'STOPPED', 'FAILURE', 'UNKNOWN'], default='NEW', doc='State of the backend', indexed=True)]  # fmt: skip
    __relations = [Relation('backend_type', BackendType, 'backends', doc='Type of the backend.')]  # fmt: skip
    __dynamics = [Dynamic('linked_guid', str, 3600),
                  Dynamic('available', bool, 60)]  # fmt: skip

    def _linked_guid(self) -> Any:
        """The guid of the plugin's detail object linked one-to-one to this backend."""
        if self.backend_type.has_plugin is False:
            return None
        return getattr(self, "{0}_backend_guid".format(self.backend_type.code))

    def _available(self) -> Any:
        """True if the backend can be used."""
        if self.backend_type.has_plugin is False:
            return False
        linked_backend = getattr(self, "{0}_backend".format(self.backend_type.code))
        if linked_backend is not None:
            return linked_backend.available
        return False


class AlbaBackend(DataObject):
    """The detail of a backend of type 'alba', contributed by the demo's plugin."""

    __properties = [Property("nodes", int, default=3, doc="Storage nodes in the cluster.")]
    __relations = [
        Relation("backend", Backend, "alba_backend", onetoone=True, doc="The generic backend.")
    ]
    __dynamics = [Dynamic("available", bool, 5, doc="At least three nodes are up.")]

    def _available(self) -> bool:
        LOADER_CALLS["AlbaBackend.available"] += 1
        return bool(self.nodes >= 3)


LOADER_CALLS: Counter[str] = Counter()  # how often a dynamic's loader really ran


class DemoPlugin:
    """A dalcore plugin like any installed one: it contributes the AlbaBackend hybrid."""

    @staticmethod
    @hookimpl
    def dalcore_hybrids() -> list[type]:
        return [AlbaBackend]


def run(out: TextIO = sys.stdout) -> int:
    from dalcore._plugins import plugin_manager

    manager = plugin_manager()
    if not manager.is_registered(DemoPlugin):
        manager.register(DemoPlugin, name="dalcore-demo")
    rt = dalcore.configure(namespace="demo")
    rt.store.delete_prefix("demo/")

    def say(text: str = "") -> None:
        out.write(text + "\n")

    say(f"dalcore demo: persistent {rt.store.endpoint}, volatile {rt.cache.endpoint}")
    say()
    alba = BackendType(name="ALBA", code="alba", has_plugin=True)
    local = BackendType(name="Local disks", code="local")
    with dalcore.transaction():
        alba.save()
        local.save()
        first = Backend(name="cold-storage", backend_type=alba, status="RUNNING")
        second = Backend(name="scratch", backend_type=local)
        first.save()
        second.save()
        AlbaBackend(backend=first, nodes=4).save()
    say("Saved 2 BackendTypes, 2 Backends and one AlbaBackend in one transaction.")

    loaded = Backend(first.guid)
    say(f"Backend({first.guid[:8]}...).name           -> {loaded.name!r}")
    say(f"  .backend_type.name (lazy relation)  -> {loaded.backend_type.name!r}")
    say(
        f"  .alba_backend (one-to-one, plugin)  -> AlbaBackend with {loaded.alba_backend.nodes} nodes"
    )
    say(f"  .linked_guid (dynamic)              -> {loaded.linked_guid[:8]}...")
    started = time.perf_counter()
    available = [loaded.available for _ in range(1000)]
    per_read = (time.perf_counter() - started) / 1000 * 1e6
    say(
        f"  .available x1000 (cached 60 s)      -> {available[0]}, loader ran "
        f"{LOADER_CALLS['AlbaBackend.available']} time, {per_read:.1f} us per read"
    )
    say(f"  Backend({second.guid[:8]}...).available -> {Backend(second.guid).available}")
    say()
    say(
        f"alba.backends (reverse list)          -> {[b.name for b in BackendType(alba.guid).backends]}"
    )
    running = Backend.where(status="RUNNING", backend_type__code="alba")
    say(
        f"Backend.where(status='RUNNING', backend_type__code='alba') -> {[b.name for b in running]}"
    )
    say(f"  explain: {running.explain()}")
    say()
    try:
        BackendType(name="Copy", code="alba").save()
    except dalcore.UniqueConstraintError as exc:
        say(f"Unique code refused: {exc}")
    try:
        loaded.status = "BROKEN"
    except dalcore.ValidationError as exc:
        say(f"Validation:          {exc}")
    try:
        BackendType(alba.guid).delete()
    except LinkedObjectsError as exc:
        say(f"Delete refused:      {exc}")
    say()
    key = f"demo/backend/{first.guid}"
    say(f"Stored document {key}:")
    say("  " + rt.store.get(key).value.decode())
    say("Keys in the store:")
    for stored in rt.store.keys("demo/"):
        say(f"  {stored}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run())
