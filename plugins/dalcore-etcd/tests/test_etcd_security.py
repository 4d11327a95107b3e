"""TLS with client certificates, and user/password authentication, on real etcd members."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EtcdMember

import dalcore
from dalcore.errors import StoreUnavailableError
from dalcore.testing import require_binary
from dalcore.testing.servers import wait_until_serving

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

TIMEOUT = 2.0


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> str:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(path)


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    usage: list[x509.ObjectIdentifier] | None,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if usage is None:  # the CA
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), False).add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path, name: str) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(f"{name} CA", ca_key, None, ca_key, None)
    files = {"ca": str(directory / f"{name}-ca.pem")}
    Path(files["ca"]).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for role, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(f"{name} {role}", key, ca.subject, ca_key, [usage])
        files[f"{role}_key"] = _write_key(key, directory / f"{name}-{role}-key.pem")
        files[f"{role}_cert"] = str(directory / f"{name}-{role}.pem")
        Path(files[f"{role}_cert"]).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_pki(tmp_path_factory.mktemp("pki"), "dalcore")


@pytest.fixture(scope="module")
def tls_member(pki: dict[str, str]) -> Iterator[EtcdMember]:
    member = EtcdMember("tls", tls=pki)
    member.server.start()
    try:
        yield member
    finally:
        member.server.close()


def tls_url(member: EtcdMember, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"etcd://{member.address}/t-{uuid.uuid4().hex}?timeout={TIMEOUT}&{query}"


def test_tls_with_client_certificate(tls_member: EtcdMember, pki: dict[str, str]) -> None:
    url = tls_url(tls_member, ca=pki["ca"], cert=pki["client_cert"], key=pki["client_key"])
    wait_until_serving(url)
    with dalcore.open_persistent(url) as store:
        revision = store.set("secret", b"over TLS")
        assert store.get("secret").revision == revision
        events: list[object] = []
        handle = store.watch("", events.append)  # streams use the same credentials
        handle.cancel()
        lock = store.lock("l", ttl=5)
        assert lock.acquire(timeout=5)
        lock.release()
        store.delete_prefix("")


@pytest.mark.parametrize("case", ["no client certificate", "unknown CA", "plain text"])
def test_tls_refusals_are_typed_and_bounded(
    tls_member: EtcdMember, pki: dict[str, str], tmp_path: Path, case: str
) -> None:
    wait_until_serving(
        tls_url(tls_member, ca=pki["ca"], cert=pki["client_cert"], key=pki["client_key"])
    )
    if case == "no client certificate":
        url = tls_url(tls_member, ca=pki["ca"])
    elif case == "unknown CA":
        other = make_pki(tmp_path, "other")
        url = tls_url(
            tls_member, ca=other["ca"], cert=other["client_cert"], key=other["client_key"]
        )
    else:
        url = f"etcd://{tls_member.address}/p?timeout={TIMEOUT}"
    with dalcore.open_persistent(url) as store:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            store.get("k")
        assert time.monotonic() - started < TIMEOUT * 3, "a refused handshake hung"


# -- user / password ----------------------------------------------------------------------


def etcdctl(member: EtcdMember, *args: str, user: str | None = None) -> str:
    command = [require_binary("etcdctl"), f"--endpoints={member.address}"]
    if user:
        command.append(f"--user={user}")
    done = subprocess.run(
        [*command, *args],
        env=dict(os.environ, ETCDCTL_API="3"),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


class AuthMember(EtcdMember):
    def _argv(self) -> list[str]:
        # Tokens expire after 2 idle seconds here, so a test can see the store log in again.
        return [*super()._argv(), "--auth-token-ttl", "2"]


@pytest.fixture(scope="module")
def auth_member() -> Iterator[EtcdMember]:
    member = AuthMember("auth")
    member.server.start()
    try:
        wait_until_serving(f"etcd://{member.address}?timeout=1")
        etcdctl(member, "user", "add", "root:rootpw")
        etcdctl(member, "user", "add", "app:apppw")
        etcdctl(member, "role", "add", "app")
        etcdctl(member, "role", "grant-permission", "app", "--prefix=true", "readwrite", "/app/")
        etcdctl(member, "user", "grant-role", "app", "app")
        etcdctl(member, "auth", "enable")
        yield member
    finally:
        member.server.close()


def test_user_and_password(auth_member: EtcdMember) -> None:
    url = f"etcd://root:rootpw@{auth_member.address}/t-{uuid.uuid4().hex}?timeout={TIMEOUT}"
    with dalcore.open_persistent(url) as store:
        store.set("k", b"v")
        events: list[object] = []
        store.watch("", events.append).cancel()
        time.sleep(3)  # the token expires (--auth-token-ttl 2): the store logs in again
        assert store.get("k").value == b"v"
        store.delete_prefix("")


def test_a_user_confined_to_a_prefix(auth_member: EtcdMember) -> None:
    with dalcore.open_persistent(f"etcd://app:apppw@{auth_member.address}/app") as store:
        store.set("mine", b"1")
        assert list(store.keys()) == ["mine"]
        store.delete_prefix("")
    elsewhere = f"etcd://app:apppw@{auth_member.address}/elsewhere"
    with (
        dalcore.open_persistent(elsewhere) as store,
        pytest.raises(StoreUnavailableError, match="permission denied"),
    ):
        store.set("k", b"v")


@pytest.mark.parametrize("credentials", ["root:wrong@", "nobody:pw@", ""])
def test_bad_or_missing_credentials_are_typed(auth_member: EtcdMember, credentials: str) -> None:
    url = f"etcd://{credentials}{auth_member.address}/t-x?timeout={TIMEOUT}"
    with dalcore.open_persistent(url) as store:
        with pytest.raises(StoreUnavailableError) as caught:
            store.get("k")
        assert "pw" not in str(caught.value)
        assert ("credentials" if not credentials else "cannot log in") in str(caught.value)
