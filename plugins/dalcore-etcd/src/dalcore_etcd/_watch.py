"""etcd watch streams: prefix watches for :meth:`EtcdStore.watch`, and waiting for a deletion.

A watch stream is a bidirectional gRPC call. The request side must stay open for as long as the
watch should live (etcd ends the watch when the client closes its side), so each stream is fed by
a generator that blocks until the stream is done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Any

import grpc  # type: ignore[import-untyped,unused-ignore]
from pyetcd import etcdrpc
from pyetcd.etcdrpc import kv_pb2

from dalcore.api import WatchEvent, WatchHandle
from dalcore.errors import DalcoreError, StoreUnavailableError
from dalcore_etcd._client import Connection, Member, describe

log = logging.getLogger("dalcore.etcd")

_RANGE = attrgetter("kv.Range")
_PUT = attrgetter("kv.Put")

_DELETE = kv_pb2.Event.DELETE


class _Reopen(Exception):
    """etcd cancelled the watch itself (e.g. its start revision was compacted): reopen it."""


def _requests(first: Any, done: threading.Event) -> Iterator[Any]:
    yield first
    done.wait()


class PrefixWatch(WatchHandle):
    """Delivers every change in ``[low, high)`` to ``callback`` from its own thread.

    When the member serving the stream goes away the watch reopens on the next member from the
    revision after the last event delivered, so no change is skipped or repeated (unless etcd has
    compacted that history meanwhile: then the watch resumes at the compaction point and logs the
    gap).
    """

    def __init__(
        self,
        conn: Connection,
        low: bytes,
        high: bytes,
        key: Callable[[bytes], str],
        callback: Callable[[WatchEvent], None],
        forget: Callable[[PrefixWatch], None],
        sentinel: bytes,
    ) -> None:
        self._conn = conn
        self._low, self._high = low, high
        self._sentinel = sentinel  # a key inside [low, high) that only sync() writes to
        # The revision up to which every change in range has reached the callback.
        self._reached = 0
        self._progress = threading.Condition()
        self._key = key
        self._callback = callback
        self._forget = forget
        self._next_revision = 0  # 0: "from now" until the first stream is created
        self._cancelled = threading.Event()
        self._created = threading.Event()
        self._failure: str | None = None  # an error that reopening will not cure
        self._last_cause = "no member answered"
        self._call: Any = None
        self._done: threading.Event | None = None
        self._thread = threading.Thread(target=self._run, name="dalcore-etcd-watch", daemon=True)

    def start(self) -> None:
        """Open the stream; returns once etcd confirmed it, so later writes are all seen."""
        self._thread.start()
        if not self._created.wait(self._conn.timeout) or self._failure is not None:
            self.cancel()
            raise StoreUnavailableError(
                self._conn.config.shown,
                f"could not start a watch within {self._conn.timeout:g}s: "
                f"{self._failure or self._last_cause}",
            )

    def _run(self) -> None:
        pause = 0.05
        while not self._cancelled.is_set():
            member = self._conn.member
            try:
                self._stream(member)
                pause = 0.05
            except grpc.RpcError as exc:
                if self._cancelled.is_set():
                    return
                log.info("watch stream on %s ended (%s); reopening", member.address, describe(exc))
                self._last_cause = f"{member.address}: {describe(exc)}"
                if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN):
                    self._failure = describe(exc)
                self._conn.failed(member)
            except _Reopen as exc:
                log.info("etcd cancelled the watch on %r (%s); reopening", self._low, exc)
            except DalcoreError as exc:  # could not log in on this member
                self._failure = str(exc)
                self._conn.failed(member)
            except ValueError:  # channel closed: the store is being closed
                return
            if self._cancelled.wait(pause):
                return
            pause = min(pause * 2, 1.0)

    def _stream(self, member: Member) -> None:
        create = etcdrpc.WatchCreateRequest(
            key=self._low, range_end=self._high, start_revision=self._next_revision
        )
        done = threading.Event()
        self._done = done
        try:
            call = member.watch.Watch(
                _requests(etcdrpc.WatchRequest(create_request=create), done),
                metadata=self._conn.stream_metadata(member),
            )
            self._call = call
            if self._cancelled.is_set():
                call.cancel()
            for response in call:
                self._handle(response)
        finally:
            done.set()

    def _handle(self, response: Any) -> None:
        if response.created:
            if self._next_revision == 0:
                self._next_revision = int(response.header.revision) + 1
                self._advance(int(response.header.revision))
            self._failure = None
            self._created.set()
        if response.canceled:
            if response.compact_revision:
                log.warning(
                    "watch on %r lost the changes before revision %d (compacted)",
                    self._low,
                    response.compact_revision,
                )
                self._next_revision = int(response.compact_revision)
            raise _Reopen(response.cancel_reason or "cancelled by etcd")
        for event in response.events:
            kv = event.kv
            value = None if event.type == _DELETE else kv.value
            self._next_revision = int(kv.mod_revision) + 1
            if kv.key == self._sentinel:
                continue  # sync()'s own write (any process's): not a change of the caller's
            try:
                self._callback(WatchEvent(self._key(kv.key), value, int(kv.mod_revision)))
            except Exception:
                # One failing subscriber must not silence the watch for good.
                log.exception("watch callback failed on %r", kv.key)
        if response.events:
            self._advance(int(response.events[-1].kv.mod_revision))

    def _advance(self, revision: int) -> None:
        with self._progress:
            if revision > self._reached:
                self._reached = revision
                self._progress.notify_all()

    def _wait(self, revision: int, timeout: float) -> bool:
        with self._progress:
            return self._progress.wait_for(lambda: self._reached >= revision, max(0.0, timeout))

    def sync(self, timeout: float) -> None:
        """Return once every change committed before the call has reached the callback.

        etcd's current revision comes from a linearizable read (one round trip). Usually the
        watch has already delivered it. If not, either its events are still on their way, or
        the revision belongs to a key outside the watched range, which the watch never reports.
        A write to a key of our own inside the range tells the two apart: etcd delivers a
        watch's events in revision order, so once that write arrives, so has everything before.
        (etcd 3.4's progress requests cannot serve here: they may overtake pending events.)
        """
        deadline = time.monotonic() + timeout
        head = self._conn.unary(
            _RANGE, etcdrpc.RangeRequest(key=self._low, count_only=True)
        ).header.revision
        if self._wait(int(head), 0.005):
            return
        put = self._conn.unary(_PUT, etcdrpc.PutRequest(key=self._sentinel, value=b""))
        if not self._wait(int(put.header.revision), deadline - time.monotonic()):
            raise StoreUnavailableError(
                self._conn.config.shown,
                f"the watch did not catch up with revision {put.header.revision} "
                f"within {timeout:g}s",
            )

    def cancel(self) -> None:
        self._cancelled.set()
        call, done = self._call, self._done
        if call is not None:
            call.cancel()
        if done is not None:
            done.set()
        if threading.current_thread() is not self._thread and self._thread.is_alive():
            self._thread.join(5.0)
        self._forget(self)


def wait_for_delete(conn: Connection, key: bytes, after: int, timeout: float) -> None:
    """Return when ``key`` was deleted after revision ``after``, or after ``timeout`` seconds.

    Returning early is harmless (the caller checks again), so errors just end the wait.
    """
    member = conn.member
    create = etcdrpc.WatchCreateRequest(
        key=key,
        start_revision=after + 1,
        filters=[etcdrpc.WatchCreateRequest.NOPUT],
    )
    done = threading.Event()
    started = time.monotonic()
    try:
        call = member.watch.Watch(
            _requests(etcdrpc.WatchRequest(create_request=create), done),
            timeout=timeout,
            metadata=conn.stream_metadata(member),
        )
        for response in call:
            if response.events or response.canceled:
                call.cancel()
                return
    except grpc.RpcError as exc:
        if exc.code() is not grpc.StatusCode.DEADLINE_EXCEEDED:
            conn.failed(member)
            # Do not spin on a dead member: the caller's next attempt goes to the next one.
            time.sleep(min(0.05, max(0.0, timeout - (time.monotonic() - started))))
    except (DalcoreError, ValueError):
        time.sleep(min(0.05, timeout))
    finally:
        done.set()
