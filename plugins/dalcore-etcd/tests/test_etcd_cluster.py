"""A real 3-member etcd cluster: failover, loss of quorum, recovery.

The cluster runs with etcd's default limits. Bounds on elapsed time here are behavioural ("a
request never hangs past its timeout"), with generous slack for a loaded machine.
"""

from __future__ import annotations

import contextlib
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import EtcdMember, start_cluster

import dalcore
from dalcore.api import Absent, Put, WatchEvent
from dalcore.errors import StoreError, StoreUnavailableError
from dalcore.testing.servers import wait_until_serving

TIMEOUT = 2.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[EtcdMember]]:
    members = [EtcdMember(f"m{i}") for i in range(3)]
    try:
        start_cluster(members)
        addresses = ",".join(member.address for member in members)
        wait_until_serving(f"etcd://{addresses}?timeout=1", timeout=60)
        yield members
    finally:
        for member in members:
            member.server.close()


def url_of(members: list[EtcdMember], prefix: str) -> str:
    addresses = ",".join(member.address for member in members)
    return f"etcd://{addresses}/{prefix}?timeout={TIMEOUT}"


def unavailable_within_timeout(call: Callable[[], Any]) -> StoreUnavailableError:
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as caught:
        call()
    assert time.monotonic() - started < TIMEOUT * 3, "the request hung past its timeout"
    return caught.value


def test_failover_quorum_loss_and_recovery(cluster: list[EtcdMember]) -> None:
    first, second, third = cluster
    prefix = f"t-{uuid.uuid4().hex}"
    events: queue.Queue[WatchEvent] = queue.Queue()
    with dalcore.open_persistent(url_of(cluster, prefix)) as store:
        watch = store.watch("w/", events.put)
        before = store.set("w/before", b"1")
        assert events.get(timeout=10) == WatchEvent("w/before", b"1", before)

        # The store starts on the first member: stopping it forces a failover.
        first.server.stop()
        assert store.get("w/before").value == b"1"
        during = store.commit([Put("w/during", b"2"), Put("plain", b"3")], [Absent("plain")])
        assert store.get_many(["w/during", "plain"])[1] is not None
        assert [entry.key for entry in store.scan()] == ["plain", "w/before", "w/during"]
        # The watch reopened on a live member and resumed where it stopped.
        assert events.get(timeout=15) == WatchEvent("w/during", b"2", during)

        # Two of three members down: no quorum. Typed errors within the timeout, no hang.
        second.server.stop()
        error = unavailable_within_timeout(lambda: store.set("lost", b"x"))
        assert third.address in str(error)
        unavailable_within_timeout(lambda: store.get("plain"))
        unavailable_within_timeout(lambda: list(store.scan()))
        with contextlib.suppress(StoreUnavailableError):  # whether it landed: see below
            store.commit([Put(f"multi/{i}", b"%d" % i) for i in range(5)])

        # Everyone down: still a typed error within the timeout.
        third.server.stop()
        unavailable_within_timeout(lambda: store.exists("plain"))

        for member in cluster:
            member.server.start()
        wait_until_serving(url_of(cluster, prefix), timeout=60)
        # A commit is all or nothing, whatever the outage did to it.
        landed = [entry.key for entry in store.scan("multi/")]
        assert landed in ([], [f"multi/{i}" for i in range(5)])
        # A write that timed out has an unknown outcome: etcd may still commit it once the
        # quorum is back (it was in the remaining member's log). It is whole either way.
        lost = store.get_many(["lost"])[0]
        assert lost is None or lost.value == b"x"
        assert store.get("plain").value == b"3"
        after = store.set("w/after", b"4")
        # Nothing else happened under w/ meanwhile, so this is the next event.
        assert events.get(timeout=30) == WatchEvent("w/after", b"4", after)
        watch.cancel()
        store.delete_prefix("")


def test_commit_above_the_default_txn_limit_is_refused_whole(cluster: list[EtcdMember]) -> None:
    with dalcore.open_persistent(url_of(cluster, f"t-{uuid.uuid4().hex}")) as store:
        with pytest.raises(StoreError, match="max-txn-ops"):
            store.commit([Put(f"k/{i:03d}", b"") for i in range(129)])
        assert list(store.keys()) == []
        store.commit([Put(f"k/{i:03d}", b"") for i in range(127)])  # + the marker-free path
        assert len(list(store.keys())) == 127
        store.delete_prefix("")
