"""Real etcd servers for the etcd store's tests: one shared member, clusters, TLS, auth."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence

import pytest

from dalcore.api import PersistentStore
from dalcore.testing import ServerProcess, emptied_store, free_port, require_binary
from dalcore.testing.servers import wait_until_serving

# Before a test module imports the engine or query suite, so their asserts explain failures.
pytest.register_assert_rewrite("dalcore.testing.engine", "dalcore.testing.queries")


class EtcdMember:
    """One etcd member on free loopback ports, with its own data directory."""

    def __init__(
        self, name: str, tls: dict[str, str] | None = None, max_txn_ops: int | None = None
    ) -> None:
        self.name = name
        self.max_txn_ops = max_txn_ops
        self.client_port = free_port()
        self.peer_port = free_port()
        self.tls = tls
        self.cluster = f"{name}=http://127.0.0.1:{self.peer_port}"
        self.token = f"dalcore-{uuid.uuid4().hex}"  # members of one cluster must share it
        scheme = "https" if tls else "http"
        self.client_url = f"{scheme}://127.0.0.1:{self.client_port}"
        self.server = ServerProcess(f"etcd-{name}", self._argv, self.client_port)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    def _argv(self) -> Sequence[str]:
        argv = [
            require_binary("etcd"),
            "--name", self.name,
            "--data-dir", os.path.join(self.server.workdir, "data"),
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
            "--initial-cluster", self.cluster,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", self.token,
            "--log-level", "warn",
        ]  # fmt: skip
        if self.max_txn_ops is not None:
            argv += ["--max-txn-ops", str(self.max_txn_ops)]
        if self.tls:
            argv += [
                "--cert-file", self.tls["server_cert"],
                "--key-file", self.tls["server_key"],
                "--trusted-ca-file", self.tls["ca"],
                "--client-cert-auth",
            ]  # fmt: skip
        return argv


def start_cluster(members: Sequence[EtcdMember]) -> None:
    cluster = ",".join(member.cluster for member in members)
    for member in members:
        member.cluster = cluster
        member.token = members[0].token
    for member in members:
        member.server.start()


@pytest.fixture(scope="session")
def etcd_member() -> Iterator[EtcdMember]:
    """A single-member etcd shared by the whole session.

    It allows commits of up to 2048 operations: the conformance suite commits 1100 keys at once,
    and etcd's default (128) would refuse that (see docs/etcd.md).
    """
    member = EtcdMember("single", max_txn_ops=2048)
    member.server.start()
    try:
        wait_until_serving(f"etcd://{member.address}?timeout=1")
        yield member
    finally:
        member.server.close()


@pytest.fixture
def fresh_url(etcd_member: EtcdMember) -> str:
    """A fresh key prefix on the shared member: the store looks empty."""
    return f"etcd://{etcd_member.address}/t-{uuid.uuid4().hex}?timeout=5"


@pytest.fixture
def fresh_store(fresh_url: str) -> Iterator[PersistentStore]:
    with emptied_store(fresh_url) as opened:
        yield opened
