"""TLS and ASCII authentication against real memcached processes (``-Z``, ``-Y``).

Certificates are generated for each test session; the servers are Debian's memcached 1.6 with
its TLS and auth-file options.
"""

from __future__ import annotations

import io
import logging
import os
import ssl
import tempfile
from collections.abc import Iterator

import pytest
from dalcore_memcached import MemcachedCache
from memcached_helpers import memcached_server
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheUnexpectedCloseError

import dalcore
from dalcore.api import NO_VALUE
from dalcore.errors import InvalidURLError
from dalcore.testing import ServerProcess, VolatileCacheConformance
from dalcore.testing.logs import root_log_stream
from dalcore.testing.tls import TLSFiles, make_tls_files

USER = "alice"
PASSWORD = "pw-Xy7-sekret"  # what must never show up in a log line, a repr or an error
FAST = "timeout=1&connect_timeout=1&retry_interval=0.2"


@pytest.fixture(scope="module")
def tls_files() -> Iterator[TLSFiles]:
    with tempfile.TemporaryDirectory(prefix="dalcore-mc-tls-") as directory:
        yield make_tls_files(directory)


@pytest.fixture(scope="module")
def auth_file() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="dalcore-mc-auth-") as directory:
        path = os.path.join(directory, "auth")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"bob:other-password\n{USER}:{PASSWORD}\n")
        os.chmod(path, 0o600)
        yield path


def _serve(server: ServerProcess) -> Iterator[ServerProcess]:
    server.start()
    try:
        yield server
    finally:
        server.close()


def _tls_options(files: TLSFiles, client_certs: bool = False) -> list[str]:
    options = f"ssl_chain_cert={files.server_cert},ssl_key={files.server_key}"
    if client_certs:
        options += f",ssl_verify_mode=2,ssl_ca_cert={files.ca}"
    return ["-Z", "-o", options]


@pytest.fixture(scope="module")
def tls_server(tls_files: TLSFiles) -> Iterator[ServerProcess]:
    yield from _serve(memcached_server(extra=_tls_options(tls_files)))


@pytest.fixture(scope="module")
def mtls_server(tls_files: TLSFiles) -> Iterator[ServerProcess]:
    """TLS that requires a client certificate signed by the test CA."""
    yield from _serve(memcached_server(extra=_tls_options(tls_files, client_certs=True)))


@pytest.fixture(scope="module")
def auth_server(auth_file: str) -> Iterator[ServerProcess]:
    yield from _serve(memcached_server(extra=["-Y", auth_file]))


@pytest.fixture(scope="module")
def tls_auth_server(tls_files: TLSFiles, auth_file: str) -> Iterator[ServerProcess]:
    yield from _serve(memcached_server(extra=[*_tls_options(tls_files), "-Y", auth_file]))


def url(server: ServerProcess, query: str = "", user: str | None = None) -> str:
    userinfo = f"{user}@" if user else ""
    return f"memcached://{userinfo}127.0.0.1:{server.port}?{FAST}" + (f"&{query}" if query else "")


def open_cache(address: str) -> MemcachedCache:
    cache = dalcore.open_volatile(address)
    assert isinstance(cache, MemcachedCache)
    return cache


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """Everything logged while the test runs, through a real StreamHandler on the root logger."""
    with root_log_stream() as stream:
        yield stream


# -- TLS ------------------------------------------------------------------------------------


class TestTLSConformance(VolatileCacheConformance):
    """The whole volatile-cache suite over TLS with authentication."""

    @pytest.fixture
    def cache_url(self, tls_auth_server: ServerProcess, tls_files: TLSFiles) -> str:
        return url(tls_auth_server, f"tls=1&ca={tls_files.ca}", f"{USER}:{PASSWORD}")

    @pytest.fixture
    def cache(self, cache_url: str) -> Iterator[MemcachedCache]:
        cache = open_cache(cache_url)
        cache.clear()
        yield cache
        cache.close()


def test_tls_round_trip_and_the_port_speaks_only_tls(
    tls_server: ServerProcess, tls_files: TLSFiles
) -> None:
    cache = open_cache(url(tls_server, f"tls=1&ca={tls_files.ca}"))
    cache.set("k", {"v": 1})
    assert cache.get("k") == {"v": 1}
    _, token = cache.gets("k")
    assert cache.cas("k", {"v": 2}, token) is True
    assert cache.get_many(["k", "missing"]) == [{"v": 2}, NO_VALUE]
    assert cache.nodes[0].up
    cache.close()
    # A plain-text client gets nothing from it: it is TLS on the wire.
    plain = Client(("127.0.0.1", tls_server.port), connect_timeout=2, timeout=2)
    with pytest.raises((MemcacheUnexpectedCloseError, OSError)):
        plain.get(b"k")
    plain.close()


def test_tls_server_not_trusted_is_a_miss_and_logged(
    tls_server: ServerProcess, tls_files: TLSFiles, caplog: pytest.LogCaptureFixture
) -> None:
    cache = open_cache(url(tls_server, f"tls=1&ca={tls_files.other_ca}"))
    with caplog.at_level(logging.WARNING, logger="dalcore.memcached"):
        cache.set("k", 1)
        assert cache.get("k") is NO_VALUE
        assert cache.add("lock", 1) is False
    assert not cache.nodes[0].up
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text or "certificate verify" in caplog.text
    cache.close()


def test_mutual_tls(mtls_server: ServerProcess, tls_files: TLSFiles) -> None:
    with_cert = open_cache(
        url(
            mtls_server,
            f"tls=1&ca={tls_files.ca}&cert={tls_files.client_cert}&key={tls_files.client_key}",
        )
    )
    with_cert.set("k", "v")
    assert with_cert.get("k") == "v"
    without = open_cache(url(mtls_server, f"tls=1&ca={tls_files.ca}"))
    assert without.get("k") is NO_VALUE
    assert not without.nodes[0].up
    with_cert.close()
    without.close()


def test_tls_url_errors(tls_files: TLSFiles) -> None:
    for query, reason in [
        (f"ca={tls_files.ca}", "ca given without tls=1"),
        ("tls=yes", "tls must be 0 or 1"),
        (f"tls=1&key={tls_files.client_key}", "key given without cert"),
        ("tls=1&ca=/nonexistent/ca.pem", "cannot load the TLS files"),
        (f"tls=1&cert={tls_files.ca}&key={tls_files.client_key}", "cannot load the TLS files"),
    ]:
        with pytest.raises(InvalidURLError, match=reason):
            dalcore.open_volatile(f"memcached://127.0.0.1:1?{query}")


# -- authentication -------------------------------------------------------------------------


def test_auth_round_trip(auth_server: ServerProcess) -> None:
    cache = open_cache(url(auth_server, user=f"{USER}:{PASSWORD}"))
    cache.set("k", [1, 2])
    assert cache.get("k") == [1, 2]
    assert cache.add("k", 3) is False
    assert cache.incr("n") == 1
    value, token = cache.gets("k")
    assert value == [1, 2] and cache.cas("k", "x", token) is True
    cache.delete("k")
    assert cache.get("k") is NO_VALUE
    assert cache.nodes[0].up
    cache.close()
    # The server really checks: an unauthenticated connection is refused.
    plain = Client(("127.0.0.1", auth_server.port), connect_timeout=2, timeout=2)
    with pytest.raises(Exception, match="unauthenticated"):
        plain.get(b"n")
    plain.close()


def test_wrong_password_degrades_to_misses_and_never_shows_it(
    auth_server: ServerProcess, log_text: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-Xy7-password"
    address = url(auth_server, user=f"{USER}:{wrong}")
    cache = open_cache(address)
    with caplog.at_level(logging.DEBUG):
        cache.set("k", 1)
        assert cache.get("k") is NO_VALUE
        assert cache.gets("k") == (NO_VALUE, None)
        assert cache.add("k", 1) is False
    assert not cache.nodes[0].up
    assert f"refused user '{USER}': authentication failure" in caplog.text
    for text in (caplog.text, log_text.getvalue(), repr(cache), cache.endpoint):
        assert wrong not in text
    assert wrong not in repr(cache.nodes[0].options)
    cache.close()


def test_missing_credentials_say_so(
    auth_server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    cache = open_cache(url(auth_server))
    with caplog.at_level(logging.WARNING, logger="dalcore.memcached"):
        assert cache.get("k") is NO_VALUE
    assert "requires authentication" in caplog.text
    assert not cache.nodes[0].up
    cache.close()


def test_password_masked_in_url_repr_and_errors() -> None:
    address = f"memcached://{USER}:{PASSWORD}@127.0.0.1:1"
    cache = open_cache(address)
    for text in (repr(cache), str(cache.endpoint), repr(cache.nodes[0].options)):
        assert PASSWORD not in text
    cache.close()
    with pytest.raises(InvalidURLError) as caught:
        dalcore.open_volatile(f"{address}?tls=maybe")
    assert PASSWORD not in str(caught.value)
    with pytest.raises(InvalidURLError, match="needs a password"):
        dalcore.open_volatile(f"memcached://{USER}@127.0.0.1:1")
    with pytest.raises(InvalidURLError, match="without spaces"):
        dalcore.open_volatile("memcached://a%20b:pw@127.0.0.1:1")


def test_tls_with_auth_logs_no_password_at_debug(
    tls_auth_server: ServerProcess, tls_files: TLSFiles, log_text: io.StringIO
) -> None:
    cache = open_cache(url(tls_auth_server, f"tls=1&ca={tls_files.ca}", f"{USER}:{PASSWORD}"))
    cache.set("k", "v")
    assert cache.get("k") == "v"
    # A library logging what it sent, as careless clients do at DEBUG.
    logging.getLogger("pymemcache.client").debug(
        "sent: set dalcore-auth 0 0 %d | %s %s", len(PASSWORD) + 6, USER, PASSWORD
    )
    text = log_text.getvalue()
    assert "sent: set dalcore-auth" in text and USER in text
    assert PASSWORD not in text
    cache.close()


def test_ssl_module_has_what_the_tests_use() -> None:
    # Guards the skip-free assumption above: Python's ssl with TLS 1.2+ (Debian's OpenSSL).
    assert ssl.HAS_TLSv1_2
