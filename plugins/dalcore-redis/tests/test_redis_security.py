"""TLS and ACL users against real redis-server processes; passwords never in a log or error."""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from redis_helpers import redis_server

import dalcore
from dalcore.api import NO_VALUE, PersistentStore, Put, VolatileCache
from dalcore.errors import InvalidURLError, StoreUnavailableError
from dalcore.testing import PersistentStoreConformance, ServerProcess, free_port
from dalcore.testing.logs import root_log_stream
from dalcore.testing.tls import TLSFiles, make_tls_files

USER, PASSWORD = "alice", "s3cr3t-Pw:with@odd/chars"
_ACL = ["--user", "default", "off", "--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all"]


@pytest.fixture(scope="module")
def tls_files() -> Iterator[TLSFiles]:
    with tempfile.TemporaryDirectory(prefix="dalcore-redis-tls-") as directory:
        yield make_tls_files(directory)


def _serve(server: ServerProcess) -> Iterator[ServerProcess]:
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def acl_server() -> Iterator[ServerProcess]:
    yield from _serve(redis_server(extra=_ACL))


@pytest.fixture(scope="module")
def tls_server(tls_files: TLSFiles) -> Iterator[ServerProcess]:
    port = free_port()
    tls = [
        "--port", "0",
        "--tls-port", str(port),
        "--tls-cert-file", tls_files.server_cert,
        "--tls-key-file", tls_files.server_key,
        "--tls-ca-cert-file", tls_files.ca,
        "--tls-auth-clients", "optional",
    ]  # fmt: skip
    yield from _serve(redis_server(extra=[*tls, *_ACL], port=port))


def _url(
    server: ServerProcess, password: str = PASSWORD, scheme: str = "redis", **query: str
) -> str:
    query.setdefault("prefix", f"s{uuid.uuid4().hex[:10]}:")
    params = "&".join(f"{name}={value}" for name, value in query.items())
    return f"{scheme}://{USER}:{quote(password, safe='')}@127.0.0.1:{server.port}/0?{params}"


def test_an_acl_user_reads_and_writes(acl_server: ServerProcess) -> None:
    store = dalcore.open_persistent(_url(acl_server))
    try:
        revision = store.commit([Put("k", b"v")])
        assert store.get("k").revision == revision
    finally:
        store.close()


def test_a_wrong_password_is_a_typed_error_without_the_password(
    acl_server: ServerProcess,
) -> None:
    wrong = "not-" + PASSWORD
    with root_log_stream() as log:
        store = dalcore.open_persistent(_url(acl_server, password=wrong))
        try:
            with pytest.raises(StoreUnavailableError) as caught:
                store.get_many(["k"])
        finally:
            store.close()
        cache = dalcore.open_volatile(_url(acl_server, password=wrong))
        try:
            # A cache that cannot log in is an empty cache: it never raises.
            assert cache.get("k") is NO_VALUE
            assert cache.add("k", 1) is False
            cache.set("k", 1)
        finally:
            cache.close()
    for text in (str(caught.value), repr(store), repr(cache), log.getvalue()):
        assert wrong not in text and quote(wrong, safe="") not in text


def test_a_user_without_a_password_is_refused_at_parse(acl_server: ServerProcess) -> None:
    with pytest.raises(InvalidURLError, match="needs a password"):
        dalcore.open_persistent(f"redis://{USER}@127.0.0.1:{acl_server.port}/0")


def test_tls_with_a_trusted_ca(tls_server: ServerProcess, tls_files: TLSFiles) -> None:
    for url in (
        _url(tls_server, scheme="rediss", ca=tls_files.ca),
        _url(
            tls_server,
            tls="1",
            ca=tls_files.ca,
            cert=tls_files.client_cert,
            key=tls_files.client_key,
        ),
    ):
        store = dalcore.open_persistent(url)
        cache = dalcore.open_volatile(url)
        try:
            store.commit([Put("k", b"over tls")])
            assert store.get("k").value == b"over tls"
            cache.set("c", {"over": "tls"})
            assert cache.get("c") == {"over": "tls"}
        finally:
            store.close()
            cache.close()


def test_tls_refuses_an_untrusted_server(tls_server: ServerProcess, tls_files: TLSFiles) -> None:
    store = dalcore.open_persistent(_url(tls_server, scheme="rediss", ca=tls_files.other_ca))
    try:
        with pytest.raises(StoreUnavailableError):
            store.get_many(["k"])
    finally:
        store.close()


def test_a_plain_client_cannot_use_the_tls_port(tls_server: ServerProcess) -> None:
    store = dalcore.open_persistent(_url(tls_server, timeout="1"))
    try:
        with pytest.raises(StoreUnavailableError):
            store.get_many(["k"])
    finally:
        store.close()


def test_tls_files_without_tls_are_refused(tls_server: ServerProcess, tls_files: TLSFiles) -> None:
    with pytest.raises(InvalidURLError, match="needs tls=1"):
        dalcore.open_persistent(_url(tls_server, ca=tls_files.ca))


class TestRedisStoreOverTLSWithAUser(PersistentStoreConformance):
    """The whole store contract over TLS, logged in as an ACL user."""

    @pytest.fixture
    def store_url(self, tls_server: ServerProcess, tls_files: TLSFiles) -> str:
        return _url(tls_server, scheme="rediss", ca=tls_files.ca)

    @pytest.fixture
    def store(self, store_url: str) -> Iterator[PersistentStore]:
        opened = dalcore.open_persistent(store_url)
        yield opened
        opened.delete_prefix("")
        opened.close()


def test_no_password_in_debug_logs(acl_server: ServerProcess) -> None:
    with root_log_stream(logging.DEBUG) as log:
        cache: VolatileCache = dalcore.open_volatile(_url(acl_server))
        cache.set("k", "v")
        logging.getLogger("test").debug("configured %s", _url(acl_server))
        cache.close()
    assert PASSWORD not in log.getvalue()
    assert quote(PASSWORD, safe="") not in log.getvalue()
