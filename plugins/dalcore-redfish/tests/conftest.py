"""Fixtures: real sushy-emulator instances (plain, auth, TLS) and a misbehaving BMC.

Each server is module-scoped (one start per test module keeps the suite short) and has its own
temp dir, so emulator power state is never shared between instances or runs.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator

import pytest
from redfish_data import PASSWORD, SYSTEMS, USER

from dalcore.testing import require_binary, require_module

require_module("sushy_tools", "sushy-tools is in dalcore-redfish[test]")

from dalcore_redfish import client, credentials  # noqa: E402 - after the check above
from dalcore_redfish.testing import (  # noqa: E402
    RedfishServer,
    TLSFiles,
    make_tls_files,
    misbehaving_bmc,
    sushy_emulator,
    write_htpasswd,
)


def _serve(server: RedfishServer) -> Iterator[RedfishServer]:
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def workdir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="dalcore-redfish-") as path:
        yield path


@pytest.fixture(scope="module")
def emulator(workdir: str) -> Iterator[RedfishServer]:
    """sushy-emulator --fake without auth, serving NODE1 (Off) and NODE2 (On)."""
    require_binary("sushy-emulator")
    path = os.path.join(workdir, "plain")
    os.makedirs(path)
    yield from _serve(sushy_emulator(SYSTEMS, path))


@pytest.fixture(scope="module")
def auth_emulator(workdir: str) -> Iterator[RedfishServer]:
    """sushy-emulator with an htpasswd file: basic auth as USER/PASSWORD is required."""
    require_binary("sushy-emulator")
    path = os.path.join(workdir, "auth")
    os.makedirs(path)
    htpasswd = os.path.join(path, "htpasswd")
    write_htpasswd(htpasswd, {USER: PASSWORD})
    yield from _serve(sushy_emulator(SYSTEMS, path, auth_file=htpasswd))


@pytest.fixture(scope="module")
def tls_files(workdir: str) -> TLSFiles:
    path = os.path.join(workdir, "tls-files")
    os.makedirs(path)
    return make_tls_files(path)


@pytest.fixture(scope="module")
def tls_emulator(workdir: str, tls_files: TLSFiles) -> Iterator[RedfishServer]:
    """sushy-emulator over HTTPS with a certificate signed by a throwaway CA."""
    require_binary("sushy-emulator")
    path = os.path.join(workdir, "tls")
    os.makedirs(path)
    yield from _serve(sushy_emulator(SYSTEMS, path, tls=tls_files))


@pytest.fixture(scope="module")
def bad_bmc(workdir: str) -> Iterator[RedfishServer]:
    path = os.path.join(workdir, "bad")
    os.makedirs(path)
    yield from _serve(misbehaving_bmc(path))


@pytest.fixture(autouse=True)
def clean_redfish_state() -> Iterator[None]:
    """Each test starts with no clients, no providers and default BMC options."""
    credentials.clear_providers()
    yield
    client.close_all()
    credentials.clear_providers()
    with client._pool_lock:
        client._options.clear()
        client._default_options = client.BMCOptions()


@pytest.fixture
def with_credentials() -> None:
    credentials.add_provider(lambda bmc: credentials.Credentials.of(USER, PASSWORD))


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every log record at DEBUG, sushy's and urllib3's included."""
    caplog.set_level(logging.DEBUG)
    return caplog
