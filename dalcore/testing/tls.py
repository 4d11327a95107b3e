"""Throwaway certificates for TLS tests: a CA, a server certificate for 127.0.0.1 and a
client certificate, written as PEM files (generated at test time with ``cryptography``)."""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TLSFiles:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    #: A second CA that signed nothing used here: trusting only it must fail verification.
    other_ca: str


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca(common: str, now: datetime.datetime) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    ca_key: Any, ca: x509.Certificate, common: str, usage: x509.ObjectIdentifier, now: Any
) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(common))]), False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def make_tls_files(directory: str) -> TLSFiles:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, ca = _ca("dalcore-memcached test CA", now)
    _, other = _ca("unrelated CA", now)
    server_key, server = _leaf(ca_key, ca, "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, now)
    client_key, client = _leaf(ca_key, ca, "dalcore", ExtendedKeyUsageOID.CLIENT_AUTH, now)
    files = TLSFiles(*(os.path.join(directory, name) for name in (
        "ca.pem", "server.pem", "server.key", "client.pem", "client.key", "other-ca.pem"
    )))  # fmt: skip

    def cert_pem(path: str, cert: x509.Certificate) -> None:
        with open(path, "wb") as handle:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))

    def key_pem(path: str, key: Any) -> None:
        with open(path, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        os.chmod(path, 0o600)

    cert_pem(files.ca, ca)
    cert_pem(files.other_ca, other)
    cert_pem(files.server_cert, server)
    key_pem(files.server_key, server_key)
    cert_pem(files.client_cert, client)
    key_pem(files.client_key, client_key)
    return files
