"""Lease-backed locks: waiting, hand-over, keep-alive, and a holder killed with SIGKILL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid

from conftest import EtcdMember

import dalcore

HOLDER = """
import sys, dalcore
store = dalcore.open_persistent(sys.argv[1])
lock = store.lock("locks/killed", ttl=float(sys.argv[2]))
assert lock.acquire(timeout=10)
print("held", flush=True)
sys.stdin.read()  # hold until killed
"""


def test_second_holder_waits_and_takes_over_on_release(fresh_url: str) -> None:
    with dalcore.open_persistent(fresh_url) as store, dalcore.open_persistent(fresh_url) as other:
        first = store.lock("locks/a", ttl=5)
        assert first.acquire(timeout=5)
        assert store.exists("locks/a")  # the lock is a key of the store, bound to a lease
        waiter = other.lock("locks/a", ttl=5)
        assert not waiter.acquire(timeout=0.3)
        got: list[bool] = []
        thread = threading.Thread(target=lambda: got.append(waiter.acquire(timeout=30)))
        thread.start()
        time.sleep(0.2)
        first.release()
        thread.join(60)
        assert got == [True]
        assert not first.acquire(timeout=0.1)
        waiter.release()
        assert not store.exists("locks/a"), "release must delete the lock key"


def test_keep_alive_holds_the_lock_past_its_ttl(fresh_url: str) -> None:
    with dalcore.open_persistent(fresh_url) as store:
        held = store.lock("locks/long", ttl=1)
        assert held.acquire(timeout=5)
        time.sleep(4)  # several TTLs (etcd rounds a 1 s lease up to its minimum, ~2 s)
        assert not store.lock("locks/long", ttl=1).acquire(timeout=0), "lease was not kept alive"
        held.release()
        assert store.lock("locks/long", ttl=1).acquire(timeout=0)


def test_lock_of_a_killed_holder_frees_after_its_ttl(fresh_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, fresh_url, "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with dalcore.open_persistent(fresh_url) as store:
            mine = store.lock("locks/killed", ttl=2)
            assert not mine.acquire(timeout=0)
            holder.kill()
            holder.wait(10)
            assert mine.acquire(timeout=30), "lock not freed after its holder was killed"
            mine.release()
    finally:
        holder.kill()
        holder.wait(10)


def test_locks_with_the_same_name_under_other_prefixes_are_distinct(
    etcd_member: EtcdMember,
) -> None:
    base = f"etcd://{etcd_member.address}/t-{uuid.uuid4().hex}"
    with (
        dalcore.open_persistent(base + "/one") as one,
        dalcore.open_persistent(base + "/two") as two,
    ):
        a, b = one.lock("l", ttl=5), two.lock("l", ttl=5)
        assert a.acquire(timeout=5)
        assert b.acquire(timeout=5)
        a.release()
        b.release()


def test_closing_the_store_under_a_held_lock_lets_it_expire(fresh_url: str) -> None:
    store = dalcore.open_persistent(fresh_url)
    held = store.lock("locks/closed", ttl=1)
    assert held.acquire(timeout=5)
    store.close()
    held.release()  # the store is gone: release must not raise, the lease expires instead
    with dalcore.open_persistent(fresh_url) as other:
        assert other.lock("locks/closed", ttl=1).acquire(timeout=30)
