"""A :class:`~dalcore.api.StoreLock` on an etcd lease.

The lock is the key ``<prefix><name>``, created only if absent and attached to a lease of ``ttl``
seconds. The holder keeps the lease alive from a daemon thread; when the holder dies the
keep-alives stop, etcd revokes the lease after its TTL and the key disappears with it. Waiters
watch the key for its deletion instead of polling.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from operator import attrgetter
from typing import Any

import grpc  # type: ignore[import-untyped,unused-ignore]
from pyetcd import etcdrpc

from dalcore.api import StoreLock
from dalcore.errors import DalcoreError
from dalcore_etcd._client import Connection, describe
from dalcore_etcd._watch import _requests, wait_for_delete

log = logging.getLogger("dalcore.etcd")

_GRANT = attrgetter("lease.LeaseGrant")
_REVOKE = attrgetter("lease.LeaseRevoke")
_TXN = attrgetter("kv.Txn")
# With no timeout, a waiter still looks again this often (in case a deletion went unseen).
_RECHECK = 10.0


class LeaseLock(StoreLock):
    """A lock held as one etcd key bound to a lease kept alive while held.

    etcd rounds lease TTLs up to whole seconds and to its minimum (about 2 s with the default
    election timeout), so a dead holder may keep the lock slightly longer than ``ttl``.
    """

    def __init__(self, conn: Connection, name: str, key: bytes, ttl: float) -> None:
        if not ttl > 0:
            raise ValueError(f"lock {name!r}: ttl must be positive, got {ttl!r}")
        self.name = name
        self.ttl = ttl
        self.default_timeout: float | None = None
        self._conn = conn
        self._key = key
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}".encode()
        self._lease = 0
        self._held = False
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self, timeout: float | None = None) -> bool:
        if self._held:
            raise DalcoreError(f"lock {self.name!r} is already held by this object")
        deadline = None if timeout is None else time.monotonic() + timeout
        grant = etcdrpc.LeaseGrantRequest(TTL=max(1, math.ceil(self.ttl)))
        self._lease = int(self._conn.unary(_GRANT, grant, self.name).ID)
        # Keep the lease alive while waiting too: a wait may outlast the TTL.
        self._start_keeper()
        try:
            while True:
                holder_revision = self._try()
                if holder_revision is None:
                    self._held = True
                    return True
                left = _RECHECK if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    self._give_up()
                    return False
                wait_for_delete(self._conn, self._key, holder_revision, min(left, _RECHECK))
        except BaseException:
            self._give_up()
            raise

    def _try(self) -> int | None:
        """Create the key if absent: None on success, else the holder's revision."""
        request = etcdrpc.TxnRequest(
            compare=[
                etcdrpc.Compare(
                    key=self._key,
                    target=etcdrpc.Compare.CREATE,
                    result=etcdrpc.Compare.EQUAL,
                    create_revision=0,
                )
            ],
            success=[
                etcdrpc.RequestOp(
                    request_put=etcdrpc.PutRequest(
                        key=self._key, value=self._owner, lease=self._lease
                    )
                )
            ],
            failure=[etcdrpc.RequestOp(request_range=etcdrpc.RangeRequest(key=self._key))],
        )
        response = self._conn.unary(_TXN, request, self.name)
        if response.succeeded:
            return None
        kvs = response.responses[0].response_range.kvs
        # Deleted between the compare and now cannot happen (one Txn), but an empty answer
        # just means "look again from the current revision".
        return int(kvs[0].mod_revision) if kvs else int(response.header.revision)

    def _start_keeper(self) -> None:
        self._stop.clear()
        self._keeper = threading.Thread(
            target=self._keep_alive, name=f"dalcore-etcd-lock:{self.name}", daemon=True
        )
        self._keeper.start()

    def _keep_alive(self) -> None:
        period = max(0.2, min(self.ttl, math.ceil(self.ttl)) / 3)
        while not self._stop.wait(period):
            member = self._conn.member
            done = threading.Event()
            try:
                responses: Any = member.lease.LeaseKeepAlive(
                    _requests(etcdrpc.LeaseKeepAliveRequest(ID=self._lease), done),
                    timeout=self._conn.timeout,
                    metadata=self._conn.stream_metadata(member),
                )
                answer = next(responses)
                responses.cancel()
            except grpc.RpcError as exc:
                log.info("lease keep-alive on %s failed: %s", member.address, describe(exc))
                self._conn.failed(member)
                continue
            except ValueError:
                # The store was closed under a held lock: stop; the lease expires by itself.
                self._held = False
                return
            except (DalcoreError, StopIteration) as exc:
                log.info("lease keep-alive on %s failed: %s", member.address, exc)
                continue
            finally:
                done.set()
            if int(answer.TTL) <= 0:
                # The lease expired (we were cut off for longer than the TTL): the key is gone
                # and someone else may hold the lock now.
                log.warning("lock %r was lost: its lease expired", self.name)
                self._held = False
                return

    def _give_up(self) -> None:
        """Stop the keep-alives and revoke the lease (which deletes the key if we created it)."""
        self._stop.set()
        keeper, self._keeper = self._keeper, None
        if keeper is not None and keeper is not threading.current_thread():
            keeper.join()
        lease, self._lease = self._lease, 0
        self._held = False
        if not lease:
            return
        try:
            self._conn.unary(_REVOKE, etcdrpc.LeaseRevokeRequest(ID=lease), self.name)
        except DalcoreError as exc:
            # Expired already ("lease not found"), or the cluster is unreachable: either way the
            # lease ends by itself within its TTL, so releasing must not fail.
            log.info("could not revoke the lease of lock %r: %s", self.name, exc)

    def release(self) -> None:
        self._give_up()
