"""``with dalcore.transaction():`` — saves and deletes of many objects in one atomic commit."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from dalcore import _objcache
from dalcore._runtime import Runtime, runtime
from dalcore.api import (
    Absent,
    AssertionFailedError,
    Check,
    Exists,
    Operation,
    Put,
    RevisionIs,
    check_holds,
)
from dalcore.errors import TransactionConflictError

if TYPE_CHECKING:
    from dalcore._schema import HybridMeta

#: An object whose writes a transaction collects: a DataObject, from the layer above, which
#: this layer only reads the guid, ``_meta`` and ``__dict__`` of.
DataObject = Any


class SavePlan(NamedTuple):
    """What one ``save()`` commits, and what the object keeps as its stored state after it."""

    operations: list[Operation]
    checks: list[Check]
    key: str  # the object's own key
    lists: list[str]  # reverse lists the save changes (their cached copies are held)
    snapshot: dict[str, Any]  # the document as saved, sharing nothing with the object


_current: contextvars.ContextVar[Transaction | None] = contextvars.ContextVar(
    "dalcore_transaction", default=None
)


def current() -> Transaction | None:
    return _current.get()


class Transaction:
    """Collects the writes of ``save()`` and ``delete()`` calls until the block ends.

    Reads inside the block see the store as it is, not the pending writes. Nothing is written
    until the block exits without an exception; then everything is written in one commit or,
    if any object changed meanwhile, nothing is and :class:`TransactionConflictError` names it.
    Unlike a lone ``save()`` there is no merge-and-retry: the caller decides what to do.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        # One entry per object key, in order; saving an object twice keeps the later plan.
        self._steps: dict[str, _Step] = {}

    def add_save(self, obj: DataObject, plan: SavePlan) -> None:
        """Queue a save; ``plan`` is the engine's save plan for it."""
        self._steps.pop(plan.key, None)
        step = _Step(
            obj, "save", plan.operations, plan.checks, [plan.key], {obj._meta}, plan.snapshot
        )
        step.lists = plan.lists
        self._steps[plan.key] = step

    def add_delete(self, obj: DataObject, plan: Any) -> None:
        """Queue a delete; ``plan`` is the engine's delete plan (operations, checks, ...)."""
        key = plan.touched[-1] if plan.touched else obj.guid
        self._steps.pop(key, None)
        step = _Step(obj, "delete", plan.operations, plan.checks, plan.touched, plan.hybrids, None)
        step.lists = plan.lists
        self._steps[key] = step

    def commit(self) -> None:
        steps = list(self._steps.values())
        self._steps.clear()
        if not steps:
            return
        operations: list[Operation] = []
        checks: list[Check] = []
        owner: dict[Check, _Step] = {}
        for step in steps:
            operations += step.operations
            for check in step.checks:
                checks.append(check)
                owner.setdefault(check, step)
        # A link to an object created in this same transaction: its Exists check would be
        # evaluated before the creating Put, so the Put itself is the guarantee.
        created = {op.key for op in operations if isinstance(op, Put)}
        checks = [c for c in checks if not (isinstance(c, Exists) and c.key in created)]
        rt = self.rt
        try:
            revision = rt.commit(operations, checks)
        except AssertionFailedError as exc:
            raise self._conflict(checks, owner, exc) from None
        hybrids: set[HybridMeta] = set()
        held: list[str] = []
        lists: list[str] = []
        for step in steps:
            hybrids |= step.hybrids
            lists += step.lists
            state = step.obj.__dict__
            if step.kind == "save":
                if state["_rev"] is not None:
                    held += step.touched
                state["_rev"] = revision
                state["_orig"] = step.document
                state["_stale"] = False
            else:
                held += step.touched
                state["_rev"] = None
                state["_orig"] = None
        _objcache.changed(rt, held, hybrids, lists)
        for step in steps:
            hook = rt.after_save if step.kind == "save" else rt.after_delete
            if hook is not None:
                hook(obj=step.obj)

    def _conflict(
        self, checks: list[Check], owner: dict[Check, _Step], exc: AssertionFailedError
    ) -> TransactionConflictError:
        # Backends may report every check as failed (etcd only knows the Txn failed), so find
        # the first one that really does not hold now, to name the right object.
        suspects = [c for c in exc.failed if c in owner] or checks
        entries = self.rt.store.get_many([c.key for c in suspects])
        for check, entry in zip(suspects, entries, strict=True):
            if not _holds(check, entry):
                step = owner[check]
                meta = step.obj._meta
                return TransactionConflictError(meta.name, step.obj.guid, _reason(check, entry))
        step = owner[suspects[0]] if suspects[0] in owner else next(iter(owner.values()))
        return TransactionConflictError(
            step.obj._meta.name, step.obj.guid, "a concurrent change made a check fail"
        )


class _Step:
    __slots__ = ("checks", "document", "hybrids", "kind", "lists", "obj", "operations", "touched")

    def __init__(
        self,
        obj: DataObject,
        kind: str,
        operations: list[Operation],
        checks: list[Check],
        touched: list[str],
        hybrids: set[HybridMeta],
        document: dict[str, Any] | None,
    ) -> None:
        self.obj = obj
        self.kind = kind
        self.operations = operations
        self.checks = checks
        self.touched = touched
        self.hybrids = hybrids
        self.document = document
        self.lists: list[str] = []


def _holds(check: Check, entry: Any) -> bool:
    return check_holds(check, None if entry is None else (entry.value, entry.revision))


def _reason(check: Check, entry: Any) -> str:
    if isinstance(check, RevisionIs):
        return "deleted from the store" if entry is None else "changed in the store since loaded"
    if isinstance(check, Absent):
        if "/.uniq/" in check.key or check.key.startswith(".uniq/"):
            return f"unique value already taken ({check.key})"
        return f"{check.key} already exists"
    if isinstance(check, Exists):
        return f"linked object {check.key} does not exist"
    return f"check on {check.key} failed"


@contextlib.contextmanager
def transaction() -> Iterator[Transaction]:
    """Group saves and deletes into one all-or-nothing commit (nested blocks join the outer)."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    tx = Transaction(runtime())
    token = _current.set(tx)
    try:
        yield tx
    finally:
        _current.reset(token)
    # Only reached when the block did not raise: an exception discards every pending write.
    tx.commit()
