"""The client layer against real servers: auth, TLS, retries, typed errors, credentials."""

from __future__ import annotations

import json
import logging
import os
import pickle
import threading

import pytest
from dalcore_redfish import client, credentials
from dalcore_redfish.errors import (
    BMCAuthenticationError,
    BMCCertificateError,
    BMCServerError,
    BMCUnreachableError,
    MalformedResponseError,
    RedfishConfigurationError,
    ResourceNotFoundError,
)
from dalcore_redfish.sources import system_path
from dalcore_redfish.testing import RedfishServer, TLSFiles, request_count
from redfish_data import NODE1, NODE2, PASSWORD, USER

from dalcore.testing import free_port

# -- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.0.0.5", "https://10.0.0.5:443"),
        ("http://bmc.example:8000/redfish/v1", "http://bmc.example:8000"),
        ("https://[fd00::5]", "https://[fd00::5]:443"),
        ("HTTP://BMC:80", "http://bmc:80"),
    ],
)
def test_redfish_bmc_url_normalises(address: str, expected: str) -> None:
    assert client.bmc_url(address) == expected


@pytest.mark.parametrize("address", ["ftp://host", "https://", "https://host:notaport"])
def test_redfish_bmc_url_rejects_garbage(address: str) -> None:
    with pytest.raises(RedfishConfigurationError):
        client.bmc_url(address)


def test_redfish_bmc_url_refuses_user_info_without_echoing_it() -> None:
    with pytest.raises(RedfishConfigurationError) as caught:
        client.bmc_url(f"https://{USER}:{PASSWORD}@10.0.0.5")
    assert PASSWORD not in str(caught.value)


# -- reading and auth -----------------------------------------------------------------------


def test_redfish_reads_system_anonymously(emulator: RedfishServer) -> None:
    bmc = client.client_for(emulator.url)
    document = bmc.get_json(system_path(NODE1.uuid))
    assert document["Id"] == NODE1.uuid
    assert document["PowerState"] == "Off"
    assert bmc.get_json(system_path(NODE2.uuid))["PowerState"] == "On"
    assert bmc.auth_mode == "none"


def test_redfish_one_client_per_bmc(emulator: RedfishServer) -> None:
    first = client.client_for(emulator.url)
    clients: list[client.BMCClient] = []
    threads = [
        threading.Thread(target=lambda: clients.append(client.client_for(emulator.url + "/")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(item is first for item in clients)


def test_redfish_session_falls_back_to_basic_auth(
    auth_emulator: RedfishServer, with_credentials: None
) -> None:
    bmc = client.client_for(auth_emulator.url)
    assert bmc.get_json(system_path(NODE1.uuid))["Name"] == "node-1"
    # The emulator has no SessionService: sushy's session attempt is refused, basic auth works.
    assert bmc.auth_mode == "basic"
    assert bmc.username == USER


def test_redfish_basic_auth_option_skips_the_session_attempt(
    auth_emulator: RedfishServer, with_credentials: None
) -> None:
    client.configure_bmc(auth_emulator.url, auth="basic")
    before = request_count(auth_emulator, "POST")
    bmc = client.client_for(auth_emulator.url)
    assert bmc.get_json(system_path(NODE2.uuid))["PowerState"] == "On"
    assert request_count(auth_emulator, "POST") == before


def test_redfish_wrong_password_is_authentication_error(auth_emulator: RedfishServer) -> None:
    credentials.add_provider(lambda bmc: credentials.Credentials.of(USER, "not-" + PASSWORD))
    bmc = client.client_for(auth_emulator.url)
    with pytest.raises(BMCAuthenticationError) as caught:
        bmc.get_json(system_path(NODE1.uuid))
    assert caught.value.status == 401
    assert caught.value.bmc == auth_emulator.url
    assert caught.value.resource == system_path(NODE1.uuid)
    assert PASSWORD not in str(caught.value)


def test_redfish_missing_credentials_is_authentication_error(auth_emulator: RedfishServer) -> None:
    with pytest.raises(BMCAuthenticationError):
        client.client_for(auth_emulator.url).get_json(system_path(NODE1.uuid))


def test_redfish_unknown_system_is_not_found(emulator: RedfishServer) -> None:
    with pytest.raises(ResourceNotFoundError) as caught:
        client.client_for(emulator.url).get_json(system_path("no-such-system"))
    assert caught.value.status == 404
    assert "/redfish/v1/Systems/no-such-system" in str(caught.value)


def test_redfish_unreachable_bmc(emulator: RedfishServer) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BMCUnreachableError) as caught:
        client.client_for(address).get_json("/redfish/v1/")
    assert "connection refused" in str(caught.value)
    assert address in str(caught.value)


# -- a misbehaving BMC ----------------------------------------------------------------------


def test_redfish_malformed_json(bad_bmc: RedfishServer) -> None:
    bmc = client.client_for(bad_bmc.url)
    with pytest.raises(MalformedResponseError, match="not JSON"):
        bmc.get_json(system_path("garbled"))
    with pytest.raises(MalformedResponseError, match="expected a JSON object"):
        bmc.get_json(system_path("list"))


def test_redfish_5xx_retried_with_backoff_then_succeeds(bad_bmc: RedfishServer) -> None:
    client.configure_bmc(bad_bmc.url, retries=3, backoff=0.05)
    path = system_path("flaky-2")
    assert client.client_for(bad_bmc.url).get_json(path)["PowerState"] == "On"
    assert request_count(bad_bmc, "GET", path) == 3  # two 503s, then the answer


def test_redfish_5xx_retries_are_bounded(bad_bmc: RedfishServer) -> None:
    client.configure_bmc(bad_bmc.url, retries=2, backoff=0.05)
    path = system_path("down")
    before = request_count(bad_bmc, "GET", path)
    with pytest.raises(BMCServerError) as caught:
        client.client_for(bad_bmc.url).get_json(path)
    assert caught.value.status == 503
    assert request_count(bad_bmc, "GET", path) - before == 3


def test_redfish_501_is_final(bad_bmc: RedfishServer) -> None:
    path = system_path("unimplemented")
    with pytest.raises(BMCServerError) as caught:
        client.client_for(bad_bmc.url).get_json(path)
    assert caught.value.status == 501
    assert request_count(bad_bmc, "GET", path) == 1


def test_redfish_bmc_echoing_the_password_does_not_leak_it(
    bad_bmc: RedfishServer, with_credentials: None, all_logs: pytest.LogCaptureFixture
) -> None:
    client.configure_bmc(bad_bmc.url, auth="basic")
    with pytest.raises(Exception) as caught:
        client.client_for(bad_bmc.url).get_json(system_path("echo"))
    assert caught.value.__class__.__name__ == "RedfishError"
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(caught.value.args)
    # sushy logs the error body it got (at WARNING/DEBUG): the server's own echo is in there only
    # if the library logs bodies; dalcore_redfish's own records must be clean either way.
    ours = [r.getMessage() for r in all_logs.records if r.name.startswith("dalcore")]
    assert not any(PASSWORD in message for message in ours)


# -- TLS ------------------------------------------------------------------------------------


def test_redfish_tls_verifies_by_default(tls_emulator: RedfishServer) -> None:
    with pytest.raises(BMCCertificateError, match="certificate verification failed"):
        client.client_for(tls_emulator.url).get_json("/redfish/v1/")


def test_redfish_tls_with_the_ca_given(tls_emulator: RedfishServer, tls_files: TLSFiles) -> None:
    client.configure_bmc(tls_emulator.url, verify=tls_files.ca)
    document = client.client_for(tls_emulator.url).get_json(system_path(NODE1.uuid))
    assert document["Name"] == "node-1"


def test_redfish_tls_verify_off_warns(
    tls_emulator: RedfishServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="dalcore.redfish")
    client.configure_bmc(tls_emulator.url, verify=False)
    assert client.client_for(tls_emulator.url).get_json("/redfish/v1/")["RedfishVersion"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "dalcore.redfish"]
    assert any("verification" in w and "OFF" in w and tls_emulator.url in w for w in warnings)
    # Only that BMC: another one still verifies.
    assert client.options_for("https://127.0.0.1:1").verify is True


# -- credentials ----------------------------------------------------------------------------


def test_redfish_secret_never_prints() -> None:
    found = credentials.Credentials.of(USER, PASSWORD)
    assert PASSWORD not in repr(found)
    assert PASSWORD not in str(found)
    assert PASSWORD not in f"{found.password}"
    assert found.password.reveal() == PASSWORD
    with pytest.raises(TypeError):
        pickle.dumps(found)


def test_redfish_environment_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DALCORE_REDFISH_USERNAME", USER)
    monkeypatch.setenv("DALCORE_REDFISH_PASSWORD", PASSWORD)
    found = credentials.lookup("https://10.0.0.5:443")  # the default chain
    assert found == credentials.Credentials.of(USER, PASSWORD)
    monkeypatch.delenv("DALCORE_REDFISH_PASSWORD")
    assert credentials.lookup("https://10.0.0.5:443") is None


def test_redfish_file_provider(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = os.path.join(tmp_path, "bmcs.json")
    with open(path, "w") as handle:
        json.dump(
            {
                "https://10.0.0.5:443": {"username": "root", "password": PASSWORD},
                "*": {"username": "fallback", "password": "other"},
            },
            handle,
        )
    os.chmod(path, 0o600)
    monkeypatch.setenv("DALCORE_REDFISH_CREDENTIALS_FILE", path)
    found = credentials.lookup("https://10.0.0.5:443")
    assert found is not None and found.username == "root"
    fallback = credentials.lookup("https://10.0.0.6:443")
    assert fallback is not None and fallback.username == "fallback"
    os.chmod(path, 0o644)
    with pytest.raises(RedfishConfigurationError, match="chmod 600"):
        credentials.lookup("https://10.0.0.5:443")


def test_redfish_file_provider_bad_json_does_not_quote_it(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "bmcs.json")
    with open(path, "w") as handle:
        handle.write('{"*": {"username": "u", "password": "' + PASSWORD + '"')
    os.chmod(path, 0o600)
    credentials.add_provider(credentials.FileProvider(path))
    with pytest.raises(RedfishConfigurationError) as caught:
        credentials.lookup("https://10.0.0.5:443")
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_redfish_providers_are_asked_in_order(auth_emulator: RedfishServer) -> None:
    asked: list[str] = []

    def nobody(bmc: str) -> credentials.Credentials | None:
        asked.append(bmc)
        return None

    credentials.add_provider(nobody)
    credentials.add_provider(lambda bmc: credentials.Credentials.of(USER, PASSWORD))
    bmc = client.client_for(auth_emulator.url)
    assert bmc.get_json(system_path(NODE2.uuid))["PowerState"] == "On"
    assert asked == [auth_emulator.url]


def test_redfish_close_ends_client(emulator: RedfishServer) -> None:
    bmc = client.client_for(emulator.url)
    bmc.get_json("/redfish/v1/")
    client.close_all()
    with pytest.raises(BMCUnreachableError, match="closed"):
        bmc.get_json("/redfish/v1/")
    assert client.client_for(emulator.url) is not bmc


def test_redfish_forked_child_starts_without_clients(emulator: RedfishServer) -> None:
    bmc = client.client_for(emulator.url)
    bmc.get_json("/redfish/v1/")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: must not reuse (or later close) the parent's client
        try:
            fresh = client.client_for(emulator.url)
            ok = fresh is not bmc and fresh.get_json("/redfish/v1/")["RedfishVersion"]
            os.write(write, b"fresh" if ok else b"shared")
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    assert answer == b"fresh"
    assert client.client_for(emulator.url) is bmc
