"""``etcd://``: dalcore's persistent store on an etcd v3 cluster.

Every dalcore key is stored as ``<prefix><key>`` (the prefix comes from the URL path), its value
as the bytes given, and its revision is etcd's ``mod_revision`` (cluster-wide, increasing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from pyetcd import etcdrpc

from dalcore.api import (
    Check,
    CorruptDataError,
    Entry,
    KeyNotFoundError,
    Operation,
    PersistentStore,
    StoreLock,
    WatchEvent,
    WatchHandle,
)
from dalcore.errors import StoreError
from dalcore_etcd._client import Connection
from dalcore_etcd._commit import commit
from dalcore_etcd._config import EtcdConfig
from dalcore_etcd._lock import LeaseLock
from dalcore_etcd._watch import PrefixWatch

_RANGE = attrgetter("kv.Range")
_PUT = attrgetter("kv.Put")
_DELETE = attrgetter("kv.DeleteRange")
_TXN = attrgetter("kv.Txn")
_STATUS = attrgetter("maintenance.Status")

_EQUAL = etcdrpc.Compare.EQUAL
_GREATER = etcdrpc.Compare.GREATER
_VERSION = etcdrpc.Compare.VERSION
_MOD = etcdrpc.Compare.MOD
_VALUE = etcdrpc.Compare.VALUE
_RangeRequest = etcdrpc.RangeRequest
_RequestOp = etcdrpc.RequestOp
_TxnRequest = etcdrpc.TxnRequest
# etcd reads "range_end = \0" as "every key from `key` on".
_TO_THE_END = b"\0"


def range_end(prefix: bytes) -> bytes:
    """The smallest byte string above every key starting with ``prefix``.

    UTF-8 never contains the byte 0xFF, so incrementing the last byte always works (computing it
    on ``str`` could step into a surrogate, which has no UTF-8 form).
    """
    if not prefix:
        return _TO_THE_END
    return prefix[:-1] + bytes((prefix[-1] + 1,))


class EtcdStore(PersistentStore):
    """A :class:`~dalcore.api.PersistentStore` on etcd v3 (gRPC), with watch and lease locks."""

    capabilities = frozenset({"watch", "lock"})

    def __init__(self, config: EtcdConfig) -> None:
        self.config = config
        self.endpoint = config.shown
        self._conn = Connection(config)
        self._prefix = config.prefix
        raw_prefix = config.prefix.encode()
        self._cut = len(raw_prefix)
        # Dalcore keys are non-empty and contain no NUL, so nothing of theirs sorts below
        # <prefix>\x01: the whole-store range starts there and the commit marker lives below.
        self._all = raw_prefix + b"\x01"
        self._marker = raw_prefix + b"\x00dalcore-commit-marker"
        self._max_ops = config.max_txn_ops
        self._watches: set[PrefixWatch] = set()
        self._watches_lock = threading.Lock()

    # -- key translation ----------------------------------------------------------------------

    def _raw(self, key: str) -> bytes:
        return (self._prefix + key).encode()

    def _low(self, prefix: str) -> bytes:
        """Where the keys under ``prefix`` start."""
        return self._raw(prefix) if prefix else self._all

    def _key(self, raw: bytes) -> str:
        try:
            return raw[self._cut :].decode()
        except UnicodeDecodeError as exc:
            raise CorruptDataError(repr(raw), f"etcd key is not UTF-8: {exc}") from None

    # -- reads --------------------------------------------------------------------------------

    def get(self, key: str) -> Entry:
        kvs = self._conn.unary(_RANGE, _RangeRequest(key=(self._prefix + key).encode()), key).kvs
        if not kvs:
            raise KeyNotFoundError(key)
        kv = kvs[0]
        return Entry(key, kv.value, kv.mod_revision)

    def get_many(self, keys: Sequence[str]) -> list[Entry | None]:
        if len(keys) <= 1:
            if not keys:
                return []
            return [self._get_or_none(keys[0])]
        result: list[Entry | None] = []
        revision = 0  # later chunks read at the first chunk's revision: one consistent view
        for start in range(0, len(keys), self._max_ops):
            chunk = keys[start : start + self._max_ops]
            ops = [
                _RequestOp(request_range=_RangeRequest(key=self._raw(key), revision=revision))
                for key in chunk
            ]
            response = self._conn.unary(_TXN, _TxnRequest(success=ops), chunk[0])
            revision = revision or response.header.revision
            for key, op in zip(chunk, response.responses, strict=True):
                kvs = op.response_range.kvs
                result.append(Entry(key, kvs[0].value, kvs[0].mod_revision) if kvs else None)
        return result

    def _get_or_none(self, key: str) -> Entry | None:
        kvs = self._conn.unary(_RANGE, _RangeRequest(key=self._raw(key)), key).kvs
        return Entry(key, kvs[0].value, kvs[0].mod_revision) if kvs else None

    def exists(self, key: str) -> bool:
        response = self._conn.unary(_RANGE, _RangeRequest(key=self._raw(key), count_only=True), key)
        return int(response.count) > 0

    def scan_page(
        self, prefix: str, start_after: str | None, limit: int, keys_only: bool = False
    ) -> list[Entry]:
        if limit <= 0:
            return []  # etcd reads limit=0 as "no limit"
        low = self._low(prefix)
        high = range_end(self._raw(prefix))
        if start_after is not None and start_after >= prefix:
            low = self._raw(start_after) + b"\0"  # the smallest key after start_after
        request = _RangeRequest(key=low, range_end=high, limit=limit, keys_only=keys_only)
        kvs = self._conn.unary(_RANGE, request, prefix).kvs
        key = self._key
        if keys_only:
            return [Entry(key(kv.key), b"", kv.mod_revision) for kv in kvs]
        return [Entry(key(kv.key), kv.value, kv.mod_revision) for kv in kvs]

    # -- writes -------------------------------------------------------------------------------

    def set(self, key: str, value: bytes) -> int:
        request = etcdrpc.PutRequest(key=self._raw(key), value=bytes(value))
        return int(self._conn.unary(_PUT, request, key).header.revision)

    def delete(self, key: str) -> bool:
        request = etcdrpc.DeleteRangeRequest(key=self._raw(key))
        return int(self._conn.unary(_DELETE, request, key).deleted) > 0

    def delete_prefix(self, prefix: str) -> int:
        # One DeleteRange: atomic, and watchers see every key go in one revision.
        request = etcdrpc.DeleteRangeRequest(
            key=self._low(prefix), range_end=range_end(self._raw(prefix))
        )
        return int(self._conn.unary(_DELETE, request, prefix).deleted)

    def commit(self, operations: Sequence[Operation], checks: Sequence[Check] = ()) -> int:
        return commit(self._conn, self._raw, self._marker, operations, checks)

    # -- capabilities -------------------------------------------------------------------------

    def watch(self, prefix: str, callback: Callable[[WatchEvent], None]) -> WatchHandle:
        handle = PrefixWatch(
            self._conn,
            self._low(prefix),
            range_end(self._raw(prefix)),
            self._key,
            callback,
            self._forget,
            # One key for every process: any write inside the range serves as the sentinel.
            self._raw(f"{prefix}.sync"),
        )
        with self._watches_lock:
            self._watches.add(handle)
        try:
            handle.start()
        except BaseException:
            self._forget(handle)
            raise
        return handle

    def _forget(self, handle: PrefixWatch) -> None:
        with self._watches_lock:
            self._watches.discard(handle)

    def lock(self, name: str, ttl: float) -> StoreLock:
        return LeaseLock(self._conn, name, self._raw(name), ttl)

    def diagnose(self) -> dict[str, Any]:
        status = self._conn.unary(_STATUS, etcdrpc.StatusRequest())
        return {
            "server_version": f"etcd {status.version}",
            "db_size": int(status.dbSize),
            "max_txn_ops": self._server_max_txn_ops(),
            "client_max_txn_ops": self._max_ops,
        }

    def _server_max_txn_ops(self) -> int:
        """The server's ``--max-txn-ops``, measured: etcd does not report its settings, but it
        refuses a Txn with more compares than that. The probes are compare-only Txns on a key
        dalcore never writes (nothing is written); a doubling then a bisection, about 20."""
        probe = self._marker + b"-doctor"
        never = etcdrpc.Compare(key=probe, target=_VERSION, result=_GREATER, version=-1)

        def accepted(count: int) -> bool:
            try:
                self._conn.unary(_TXN, _TxnRequest(compare=[never] * count))
            except StoreError as exc:
                if "too many operations" in str(exc):
                    return False
                raise
            return True

        low, high = 1, 128  # low is accepted; high is tried next
        while accepted(high):
            low, high = high, high * 2
            if high > 1 << 20:
                return low  # no limit worth reporting
        while high - low > 1:
            middle = (low + high) // 2
            if accepted(middle):
                low = middle
            else:
                high = middle
        return low

    def close(self) -> None:
        with self._watches_lock:
            watches = list(self._watches)
        for handle in watches:
            handle.cancel()
        self._conn.close()
