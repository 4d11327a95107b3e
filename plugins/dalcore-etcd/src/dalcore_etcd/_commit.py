"""``commit``: dalcore operations and checks as one etcd Txn.

* Checks become Txn compares: ``ValueIs`` a VALUE compare, ``RevisionIs`` a MOD compare,
  ``Exists`` / ``Absent`` a VERSION compare (> 0 / == 0).
* The failure branch reads every checked key, so a failed Txn tells which checks failed,
  evaluated on exactly the state etcd compared against, without a second round trip.
* etcd refuses a Txn naming a key twice; the contract says the last operation on a key wins, so
  only that one is sent.
* A commit of deletes only may change nothing, and etcd then keeps its revision; the contract
  wants a new one for every commit, so such a commit also writes a marker key (``<prefix>\\0...``,
  never visible to dalcore since its keys contain no NUL).
* A compare carries its value, and a request is limited to 1.5 MiB by default: ``ValueIs`` with a
  large value is sent as "unchanged since the revision at which the value was read", which is
  the same condition (rechecked on the failure branch's read when the key was rewritten).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from pyetcd import etcdrpc

from dalcore.api import Absent, Check, Delete, Exists, Operation, Put, RevisionIs, ValueIs
from dalcore.errors import AssertionFailedError
from dalcore_etcd._client import Connection

_TXN = attrgetter("kv.Txn")
_RANGE = attrgetter("kv.Range")
_Compare = etcdrpc.Compare
_RequestOp = etcdrpc.RequestOp

#: ``ValueIs`` values longer than this are compared by revision instead (see the module doc).
LARGE_VALUE = 64 * 1024
# A large ValueIs whose value keeps being rewritten with the same bytes: give up after this many
# rounds and report the check as failed (the caller retries as after any conflict).
_ROUNDS = 5
# A compare that never holds (a version is never negative).
_NEVER = {"target": _Compare.VERSION, "result": _Compare.LESS, "version": 0}


def compare(check: Check, key: bytes) -> Any:
    if isinstance(check, ValueIs):
        # etcd fails a value compare on a missing key, as ValueIs requires.
        return _Compare(key=key, target=_Compare.VALUE, result=_Compare.EQUAL, value=check.value)
    if isinstance(check, RevisionIs):
        return _Compare(
            key=key, target=_Compare.MOD, result=_Compare.EQUAL, mod_revision=check.revision
        )
    if isinstance(check, Exists):
        return _Compare(key=key, target=_Compare.VERSION, result=_Compare.GREATER, version=0)
    if isinstance(check, Absent):
        return _Compare(key=key, target=_Compare.VERSION, result=_Compare.EQUAL, version=0)
    raise TypeError(f"not a check: {check!r}")


def holds(check: Check, kv: Any) -> bool:
    """Whether ``check`` holds for ``kv`` (an etcd KeyValue, None when the key is absent)."""
    if isinstance(check, ValueIs):
        return kv is not None and kv.value == check.value
    if isinstance(check, RevisionIs):
        return kv is not None and kv.mod_revision == check.revision
    if isinstance(check, Exists):
        return kv is not None
    return kv is None


def _large(check: Check) -> bool:
    return isinstance(check, ValueIs) and len(check.value) > LARGE_VALUE


def commit(
    conn: Connection,
    raw: Callable[[str], bytes],
    marker: bytes,
    operations: Sequence[Operation],
    checks: Sequence[Check],
) -> int:
    last: dict[str, Operation] = {}
    for op in operations:
        last.pop(op.key, None)
        last[op.key] = op
    success = []
    puts = False
    for op in last.values():
        if isinstance(op, Put):
            value = op.value if type(op.value) is bytes else bytes(op.value)
            request = etcdrpc.PutRequest(key=raw(op.key), value=value)
            success.append(_RequestOp(request_put=request))
            puts = True
        elif isinstance(op, Delete):
            request = etcdrpc.DeleteRangeRequest(key=raw(op.key))
            success.append(_RequestOp(request_delete_range=request))
        else:
            raise TypeError(f"not an operation: {op!r}")
    if success and not puts:
        success.append(_RequestOp(request_put=etcdrpc.PutRequest(key=marker)))
    checked = list(dict.fromkeys(check.key for check in checks))
    failure = [_RequestOp(request_range=etcdrpc.RangeRequest(key=raw(key))) for key in checked]
    name = next(iter(last), checked[0] if checked else None)
    seen = _read_large(conn, raw, checks)  # key -> KeyValue (None: absent), large ValueIs only
    for _ in range(_ROUNDS):
        compares = []
        for check in checks:
            key = raw(check.key)
            if isinstance(check, ValueIs) and len(check.value) > LARGE_VALUE:
                kv = seen.get(check.key)
                if kv is not None and kv.value == check.value:
                    compares.append(
                        _Compare(
                            key=key,
                            target=_Compare.MOD,
                            result=_Compare.EQUAL,
                            mod_revision=kv.mod_revision,
                        )
                    )
                else:
                    compares.append(_Compare(key=key, **_NEVER))
            else:
                compares.append(compare(check, key))
        request = etcdrpc.TxnRequest(compare=compares, success=success, failure=failure)
        response = conn.unary(_TXN, request, name)
        if response.succeeded:
            return int(response.header.revision)
        found: dict[str, Any] = {}
        for key_name, op in zip(checked, response.responses, strict=True):
            kvs = op.response_range.kvs
            found[key_name] = kvs[0] if kvs else None
        failed = [check for check in checks if not holds(check, found[check.key])]
        if failed:
            raise AssertionFailedError(failed)
        # Every check holds on the state etcd saw: only a large value was rewritten with the
        # same bytes (new revision). Compare against that revision and try again.
        seen = found
    raise AssertionFailedError([check for check in checks if _large(check)])


def _read_large(
    conn: Connection, raw: Callable[[str], bytes], checks: Sequence[Check]
) -> dict[str, Any]:
    keys = list(dict.fromkeys(check.key for check in checks if _large(check)))
    if not keys:
        return {}
    ops = [_RequestOp(request_range=etcdrpc.RangeRequest(key=raw(key))) for key in keys]
    response = conn.unary(_TXN, etcdrpc.TxnRequest(success=ops), keys[0])
    seen: dict[str, Any] = {}
    for key, op in zip(keys, response.responses, strict=True):
        kvs = op.response_range.kvs
        seen[key] = kvs[0] if kvs else None
    return seen
