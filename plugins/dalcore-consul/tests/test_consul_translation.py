"""The plugin's own translation logic, tested without a server (none can be installed here):
dalcore commits to Consul /v1/txn payloads, Consul's answers back to revisions and failed
checks, blocking-query snapshots to watch events, URLs to settings. The request and response
shapes are those of Consul's documented HTTP API (/v1/txn, /v1/kv)."""

from __future__ import annotations

import base64

import pytest
from dalcore_consul import _txn
from dalcore_consul._http import ConsulConfig, kv_path, unavailable
from hypothesis import given
from hypothesis import strategies as st

import dalcore
from dalcore.api import Absent, BackendURL, Delete, Exists, Put, RevisionIs, ValueIs, WatchEvent
from dalcore.errors import InvalidURLError, StoreError, StoreUnavailableError


def test_every_check_and_operation_becomes_a_txn_operation() -> None:
    checks = [RevisionIs("a", 7), Absent("b"), Exists("c"), ValueIs("d", b"x")]
    ops, owners = _txn.payload(
        "app/", [Put("e", b"\x00\xffbytes"), Delete("f")], checks, read={"d": 12}
    )
    assert ops == [
        {"KV": {"Verb": "check-index", "Key": "app/a", "Index": 7}},
        {"KV": {"Verb": "check-not-exists", "Key": "app/b"}},
        {"KV": {"Verb": "get", "Key": "app/c"}},
        {"KV": {"Verb": "check-index", "Key": "app/d", "Index": 12}},
        {
            "KV": {
                "Verb": "set",
                "Key": "app/e",
                "Value": base64.b64encode(b"\x00\xffbytes").decode(),
            }
        },
        {"KV": {"Verb": "delete", "Key": "app/f"}},
        {"KV": {"Verb": "set", "Key": "app/" + _txn.MARKER, "Value": ""}},
    ]
    assert owners == [0, 1, 2, 3, None, None, None]


def test_a_commit_larger_than_one_txn_is_refused() -> None:
    puts = [Put(f"k{i}", b"") for i in range(_txn.MAX_OPS)]  # + the marker: one too many
    with pytest.raises(StoreError, match="exceeds the 64"):
        _txn.payload("", puts, [], {})
    _txn.payload("", puts[:-1], [], {})


@given(st.binary(max_size=300))
def test_values_survive_base64(value: bytes) -> None:
    assert _txn.decode(_txn.encode(value)) == value


def test_a_successful_txn_answers_the_markers_index() -> None:
    body = {
        "Results": [
            {"KV": {"Key": "app/e", "Value": "eA==", "CreateIndex": 90, "ModifyIndex": 100}},
            {"KV": {"Key": "app/" + _txn.MARKER, "Value": None, "ModifyIndex": 100}},
        ],
        "Errors": None,
    }
    assert _txn.outcome(200, body, [None, None], []) == 100


def test_a_rolled_back_txn_names_the_failed_checks() -> None:
    checks = [RevisionIs("a", 7), Absent("b")]
    body = {"Results": None, "Errors": [{"OpIndex": 1, "What": 'key "app/b" exists'}]}
    assert _txn.outcome(409, body, [0, 1, None, None], checks) == [checks[1]]


def test_a_refused_write_or_an_odd_answer_is_not_a_failed_check() -> None:
    body = {"Results": None, "Errors": [{"OpIndex": 2, "What": "value too large"}]}
    assert _txn.outcome(409, body, [0, 1, None], [Absent("a"), Absent("b")]) is None
    assert _txn.outcome(500, "rpc error", [None], []) is None
    assert _txn.outcome(409, {"Errors": []}, [None], []) is None


def test_http_failures_are_typed_and_name_the_acl() -> None:
    config = ConsulConfig.from_url(BackendURL.parse("consul://127.0.0.1:8500/app"))
    error = unavailable(config, 403, "Permission denied")
    assert isinstance(error, StoreUnavailableError)
    assert "ACL token" in str(error) and "consul://127.0.0.1:8500/app" in str(error)


def test_snapshots_diff_into_events_in_revision_order() -> None:
    before = {"app/ns/a": (b"1", 10), "app/ns/b": (b"2", 11), "app/ns/gone": (b"3", 9)}
    after = {"app/ns/a": (b"1", 10), "app/ns/b": (b"22", 14), "app/ns/new": (b"4", 13)}
    assert _txn.changes("app/", before, after, 15) == [
        WatchEvent("ns/new", b"4", 13),
        WatchEvent("ns/b", b"22", 14),
        WatchEvent("ns/gone", None, 15),
    ]


def test_a_snapshot_leaves_the_commit_marker_out() -> None:
    body = [
        {"Key": "app/ns/a", "Value": "MQ==", "ModifyIndex": 3},
        {"Key": "app/" + _txn.MARKER, "Value": None, "ModifyIndex": 3},
    ]
    assert _txn.snapshot("app/", body) == {"app/ns/a": (b"1", 3)}


def test_keys_are_percent_encoded_in_paths() -> None:
    assert kv_path("app/ns/a b%/é") == "/v1/kv/app%2Fns%2Fa%20b%25%2F%C3%A9"


def test_urls() -> None:
    config = ConsulConfig.from_url(BackendURL.parse("consul://tok-3f9a1c@10.0.0.5/app/x?dc=eu1"))
    assert (config.host, config.port, config.prefix, config.dc) == (
        "10.0.0.5",
        8500,
        "app/x/",
        "eu1",
    )
    assert "tok-3f9a1c" not in repr(config)
    assert "tok-3f9a1c" not in dalcore.scrub_secrets("token tok-3f9a1c in a log line")
    with pytest.raises(InvalidURLError, match="ca= needs tls=1"):
        ConsulConfig.from_url(BackendURL.parse("consul://h:8500/app?ca=/etc/hosts"))
    with pytest.raises(InvalidURLError, match="one Consul agent"):
        ConsulConfig.from_url(BackendURL.parse("consul://h1:8500,h2:8500/app"))
    assert ConsulConfig.from_url(BackendURL.parse("consul://h?tls=1")).base == "https://h:8500"
