"""Real Redfish services for tests: sushy-emulator instances and a misbehaving BMC.

Both run as subprocesses through :class:`dalcore.testing.ServerProcess` on free loopback ports,
each with its own working directory (the emulator keeps power state in sqlite there). Requests are
counted from the servers' own access logs, so a count includes every process and every retry.

Needs the test extra (``pip install dalcore-redfish[test]``): sushy-tools, bcrypt, cryptography.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dalcore.testing import ServerProcess, free_port

__all__ = [
    "EmulatorSystem",
    "RedfishServer",
    "TLSFiles",
    "make_tls_files",
    "misbehaving_bmc",
    "request_count",
    "sushy_emulator",
    "write_htpasswd",
]


@dataclass(frozen=True)
class EmulatorSystem:
    """One fake ComputerSystem of the emulator (its Id is the uuid)."""

    uuid: str
    name: str
    power_state: str = "Off"
    macs: tuple[str, ...] = ()

    def config(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": self.name,
            "power_state": self.power_state,
            "external_notifier": False,
            "nics": [{"mac": mac, "ip": f"10.0.0.{i + 1}"} for i, mac in enumerate(self.macs)],
        }


class RedfishServer(ServerProcess):
    """A server process that knows its base URL."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: str, url: str) -> None:
        super().__init__(name, lambda: argv, port, workdir=workdir, env={"PYTHONUNBUFFERED": "1"})
        self.url = url


@dataclass(frozen=True)
class TLSFiles:
    ca: str
    cert: str
    key: str


def write_htpasswd(path: str, users: dict[str, str]) -> None:
    """An htpasswd file with bcrypt hashes, the only kind sushy-emulator accepts."""
    import bcrypt

    with open(path, "w", encoding="utf-8") as handle:
        for user, password in users.items():
            # rounds=4: the emulator checks the hash on every request; cost 12 would make each
            # request take ~0.25 s on a small machine.
            digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
            handle.write(f"{user}:{digest}\n")


def make_tls_files(directory: str, host: str = "127.0.0.1") -> TLSFiles:
    """A throwaway CA and a server certificate it signed for ``host`` (an IP SAN)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    validity = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2))

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("dalcore-redfish test CA"))
        .issuer_name(name("dalcore-redfish test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(host))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TLSFiles(
        os.path.join(directory, "ca.pem"),
        os.path.join(directory, "server.pem"),
        os.path.join(directory, "server.key"),
    )
    with open(files.ca, "wb") as handle:
        handle.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(files.cert, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(files.key, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return files


def sushy_emulator(
    systems: Sequence[EmulatorSystem],
    workdir: str,
    auth_file: str | None = None,
    tls: TLSFiles | None = None,
) -> RedfishServer:
    """A (not yet started) ``sushy-emulator --fake`` serving ``systems``.

    Its state directory is inside ``workdir``, so power state survives a restart of this
    instance but is never shared with another.
    """
    port = free_port()
    config = {
        "SUSHY_EMULATOR_STATE_DIR": os.path.join(workdir, "state"),
        "SUSHY_EMULATOR_FAKE_SYSTEMS": [system.config() for system in systems],
    }
    if auth_file is not None:
        config["SUSHY_EMULATOR_AUTH_FILE"] = auth_file
    if tls is not None:
        config["SUSHY_EMULATOR_SSL_CERT"] = tls.cert
        config["SUSHY_EMULATOR_SSL_KEY"] = tls.key
    os.makedirs(str(config["SUSHY_EMULATOR_STATE_DIR"]), exist_ok=True)
    config_path = os.path.join(workdir, "emulator.conf")
    with open(config_path, "w", encoding="utf-8") as handle:
        for key, value in config.items():
            handle.write(f"{key} = {value!r}\n")
    argv = ["sushy-emulator", "--fake", "-i", "127.0.0.1", "-p", str(port), "--config", config_path]
    scheme = "https" if tls is not None else "http"
    return RedfishServer("sushy-emulator", argv, port, workdir, f"{scheme}://127.0.0.1:{port}")


def misbehaving_bmc(workdir: str) -> RedfishServer:
    """A (not yet started) HTTP server that answers like a broken BMC; see ``misbehaving.py``."""
    port = free_port()
    argv = [sys.executable, "-m", "dalcore_redfish.testing.misbehaving", str(port)]
    return RedfishServer("misbehaving-bmc", argv, port, workdir, f"http://127.0.0.1:{port}")


def request_count(server: ServerProcess, method: str, path: str | None = None) -> int:
    """How many ``method`` requests (for ``path``, if given) the server's access log shows."""
    target = re.escape(path) if path is not None else r"\S+"
    pattern = re.compile(rf'"{method} {target} HTTP/1\.[01]"')
    try:
        with open(server.log_path, encoding="utf-8", errors="replace") as log:
            return sum(1 for line in log if pattern.search(line))
    except FileNotFoundError:
        return 0
