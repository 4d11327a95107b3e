"""etcd-specific behaviour of the store: key layout, etcdctl view, limits, URLs, errors."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest
from conftest import EtcdMember
from dalcore_etcd import EtcdStore
from dalcore_etcd._commit import LARGE_VALUE

import dalcore
from dalcore._plugins import provided
from dalcore.api import Absent, Delete, Entry, Put, ValueIs
from dalcore.errors import (
    AssertionFailedError,
    InvalidURLError,
    StoreError,
    StoreUnavailableError,
)
from dalcore.testing import free_port, require_binary


def etcdctl(member: EtcdMember, *args: str) -> str:
    done = subprocess.run(
        [require_binary("etcdctl"), f"--endpoints={member.address}", *args],
        env=dict(os.environ, ETCDCTL_API="3"),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def test_plugin_is_found_by_scheme(fresh_url: str) -> None:
    assert any(info.provided.name == "etcd" for info in provided())
    with dalcore.open_persistent(fresh_url) as store:
        assert isinstance(store, EtcdStore)
        assert store.capabilities == {"watch", "lock"}


def test_keys_live_under_the_url_prefix_and_etcdctl_reads_them(etcd_member: EtcdMember) -> None:
    prefix = f"/t-{uuid.uuid4().hex}"
    with dalcore.open_persistent(f"etcd://{etcd_member.address}{prefix}") as store:
        revision = store.set("PodManager/42", b'{"name": "pm"}')
        assert etcdctl(etcd_member, "get", "--prefix", prefix + "/").splitlines() == [
            f"{prefix}/PodManager/42",
            '{"name": "pm"}',
        ]
        # The revision dalcore reports is etcd's mod_revision of the key.
        shown = json.loads(etcdctl(etcd_member, "get", "-w", "json", f"{prefix}/PodManager/42"))
        assert shown["kvs"][0]["mod_revision"] == revision
        # Written by etcdctl, read by dalcore with the prefix stripped.
        etcdctl(etcd_member, "put", f"{prefix}/from-etcdctl", "hello")
        assert store.get("from-etcdctl").value == b"hello"
        assert list(store.keys()) == ["PodManager/42", "from-etcdctl"]
        store.delete_prefix("")


def test_sibling_prefixes_do_not_see_each_other(etcd_member: EtcdMember) -> None:
    base = f"etcd://{etcd_member.address}/t-{uuid.uuid4().hex}"
    with (
        dalcore.open_persistent(base + "/app") as app,
        dalcore.open_persistent(base + "/app2/") as app2,
        dalcore.open_persistent(base + "/app/") as same,
    ):
        app.set("k", b"1")
        app2.set("k", b"2")
        assert same.get("k").value == b"1"  # a trailing slash names the same prefix
        assert [entry.value for entry in app.scan()] == [b"1"]
        assert app.delete_prefix("") == 1
        assert app2.get("k").value == b"2"
        app2.delete_prefix("")


def test_delete_only_commit_gets_a_new_revision_and_leaves_no_trace(fresh_url: str) -> None:
    with dalcore.open_persistent(fresh_url) as store:
        first = store.set("k", b"v")
        second = store.commit([Delete("absent")])  # changes nothing, still a new revision
        third = store.commit([Delete("k")])
        assert first < second < third
        assert list(store.scan()) == []
        assert store.scan_page("", None, 10, keys_only=True) == []
        assert store.delete_prefix("") == 0


def test_large_values_are_checked_by_revision(fresh_url: str) -> None:
    big = os.urandom(LARGE_VALUE * 4)
    other = big[:-1] + bytes([big[-1] ^ 1])
    with dalcore.open_persistent(fresh_url) as store:
        store.set("big", big)
        store.set("big", big)  # same bytes, newer revision: ValueIs must still hold
        revision = store.commit([Put("out", b"1")], [ValueIs("big", big)])
        assert store.get("out") == Entry("out", b"1", revision)
        with pytest.raises(AssertionFailedError) as caught:
            store.commit([Put("out", b"2")], [ValueIs("big", other), Absent("nothing")])
        assert caught.value.failed == [ValueIs("big", other)]
        with pytest.raises(AssertionFailedError):
            store.commit([Put("out", b"3")], [ValueIs("missing", big)])
        assert store.get("out").value == b"1"


def test_commit_beyond_the_server_limit_is_a_typed_error(fresh_url: str) -> None:
    with dalcore.open_persistent(fresh_url) as store:
        # The shared member allows 2048 operations per Txn (conftest).
        with pytest.raises(StoreError, match="max-txn-ops") as caught:
            store.commit([Put(f"k/{i:05d}", b"") for i in range(2100)])
        assert not isinstance(caught.value, StoreUnavailableError)
        # A request above etcd's 1.5 MiB limit.
        with pytest.raises(StoreError, match="max-request-bytes"):
            store.set("huge", b"x" * (2 * 1024 * 1024))
        assert list(store.keys()) == []


def test_get_many_in_chunks_when_keys_exceed_the_txn_limit(etcd_member: EtcdMember) -> None:
    url = f"etcd://{etcd_member.address}/t-{uuid.uuid4().hex}?max_txn_ops=4"
    with dalcore.open_persistent(url) as store:
        store.commit([Put(f"k{i}", b"%d" % i) for i in range(0, 11, 2)])
        got = store.get_many([f"k{i}" for i in range(11)] + ["k0"])
        assert [entry.value if entry else None for entry in got] == [
            b"%d" % i if i % 2 == 0 else None for i in range(11)
        ] + [b"0"]
        store.delete_prefix("")


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("?timeot=2", "unknown parameter"),
        ("?timeout=0", "timeout"),
        ("?timeout=soon", "not a number"),
        ("?cert=/c.pem", "both cert= and key="),
        ("?tls=maybe", "tls="),
        ("?max_txn_ops=1", "max_txn_ops"),
        ("?ca=/nonexistent/ca.pem", "cannot read CA"),
    ],
)
def test_bad_urls_are_refused(query: str, reason: str) -> None:
    with pytest.raises(InvalidURLError, match=reason):
        dalcore.open_persistent(f"etcd://127.0.0.1:2379/p{query}")


def test_password_never_shows_in_the_endpoint() -> None:
    store = dalcore.open_persistent("etcd://root:s3cret@127.0.0.1:2379,127.0.0.2/p?timeout=1")
    try:
        assert "s3cret" not in store.endpoint
        assert "s3cret" not in repr(store)
        assert "127.0.0.2:2379" in str(store._conn.config.members)  # default port
    finally:
        store.close()


def test_nothing_listening_gives_store_unavailable_within_the_timeout() -> None:
    timeout = 0.5
    url = f"etcd://127.0.0.1:{free_port()},127.0.0.1:{free_port()}/p?timeout={timeout}"
    with dalcore.open_persistent(url) as store:
        for call in (
            lambda: store.get("k"),
            lambda: store.set("k", b"v"),
            lambda: store.commit([Put("k", b"v")], [Absent("k")]),
            lambda: store.watch("", lambda event: None),
            lambda: store.lock("l", ttl=5).acquire(timeout=1),
        ):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as caught:
                call()
            # Behavioural bound ("never a hang"), generous for a loaded machine.
            assert time.monotonic() - started < timeout * 3 + 2
            assert caught.value.endpoint.startswith("etcd://")
            assert "UNAVAILABLE" in str(caught.value)


def test_closed_store_raises_typed_errors(fresh_url: str) -> None:
    store = dalcore.open_persistent(fresh_url)
    store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        store.get("k")
