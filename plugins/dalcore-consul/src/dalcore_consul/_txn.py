"""Translation between dalcore's contract and Consul's HTTP API (pure functions, no I/O).

Consul's ``ModifyIndex`` is the Raft index of the write that last changed a key: it increases
store-wide, so it is the key's revision. A ``/v1/txn`` call applies all of its operations at one
index, and every commit also sets a marker key (``MARKER`` under the prefix) so that the commit's
index is known even when it only deletes.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from dalcore.api import (
    Absent,
    Check,
    Delete,
    Entry,
    Exists,
    Operation,
    Put,
    RevisionIs,
    ValueIs,
    WatchEvent,
)
from dalcore.errors import StoreError

#: Operations one /v1/txn accepts (Consul's default limit).
MAX_OPS = 64
MARKER = ".dalcore-commit"


def encode(value: bytes) -> str:
    return base64.b64encode(value).decode()


def decode(value: str | None) -> bytes:
    return b"" if value is None else base64.b64decode(value)


def entry(prefix: str, kv: Mapping[str, Any]) -> Entry:
    return Entry(kv["Key"][len(prefix) :], decode(kv.get("Value")), int(kv["ModifyIndex"]))


def payload(
    prefix: str,
    operations: Sequence[Operation],
    checks: Sequence[Check],
    read: Mapping[str, int],
) -> tuple[list[dict[str, Any]], list[int | None]]:
    """The txn operations for a commit, and for each the position of the dalcore check it
    enforces (None for a write). ``read``: the ModifyIndex of each ValueIs-checked key, read
    (and compared) just before; the txn then checks that index, so the value cannot have
    changed between that read and the commit."""
    ops: list[dict[str, Any]] = []
    owners: list[int | None] = []
    for position, check in enumerate(checks):
        key = prefix + check.key
        if isinstance(check, RevisionIs):
            kv: dict[str, Any] = {"Verb": "check-index", "Key": key, "Index": check.revision}
        elif isinstance(check, ValueIs):
            kv = {"Verb": "check-index", "Key": key, "Index": read[check.key]}
        elif isinstance(check, Absent):
            kv = {"Verb": "check-not-exists", "Key": key}
        elif isinstance(check, Exists):
            kv = {"Verb": "get", "Key": key}  # fails the transaction when the key is missing
        else:
            raise TypeError(f"not a check: {check!r}")
        ops.append({"KV": kv})
        owners.append(position)
    for op in operations:
        if isinstance(op, Put):
            ops.append({"KV": {"Verb": "set", "Key": prefix + op.key, "Value": encode(op.value)}})
        elif isinstance(op, Delete):
            ops.append({"KV": {"Verb": "delete", "Key": prefix + op.key}})
        else:
            raise TypeError(f"not an operation: {op!r}")
        owners.append(None)
    ops.append({"KV": {"Verb": "set", "Key": prefix + MARKER, "Value": ""}})
    owners.append(None)
    if len(ops) > MAX_OPS:
        raise StoreError(
            f"a commit of {len(ops)} Consul operations (checks, writes and the marker) exceeds "
            f"the {MAX_OPS} one /v1/txn takes"
        )
    return ops, owners


def outcome(
    status: int, body: Any, owners: Sequence[int | None], checks: Sequence[Check]
) -> int | list[Check] | None:
    """The commit's revision (HTTP 200), the dalcore checks that failed (409), or None when
    the answer is neither (the caller raises StoreUnavailableError)."""
    if status == 200 and isinstance(body, dict):
        results = body.get("Results") or []
        return int(results[-1]["KV"]["ModifyIndex"])
    if status == 409 and isinstance(body, dict):
        failed: list[Check] = []
        for error in body.get("Errors") or []:
            owner = (
                owners[error.get("OpIndex", -1)]
                if 0 <= error.get("OpIndex", -1) < len(owners)
                else None
            )
            if owner is None:
                return None  # a write was refused: not a failed check
            failed.append(checks[owner])
        return failed or None
    return None


def changes(
    prefix: str,
    before: Mapping[str, tuple[bytes, int]],
    after: Mapping[str, tuple[bytes, int]],
    index: int,
) -> list[WatchEvent]:
    """The events between two snapshots of a subtree (full key -> (value, ModifyIndex)), in
    revision order; a deletion takes the index the blocking query returned at."""
    events = [
        WatchEvent(key[len(prefix) :], value, revision)
        for key, (value, revision) in after.items()
        if key not in before or before[key][1] != revision
    ]
    events += [WatchEvent(key[len(prefix) :], None, index) for key in before if key not in after]
    return sorted(events, key=lambda event: (event.revision, event.key))


def snapshot(prefix: str, body: Any) -> dict[str, tuple[bytes, int]]:
    """Full key -> (value, ModifyIndex) from a recursive KV read, the marker left out."""
    marker = prefix + MARKER
    return {
        kv["Key"]: (decode(kv.get("Value")), int(kv["ModifyIndex"]))
        for kv in (body or [])
        if kv["Key"] != marker
    }
