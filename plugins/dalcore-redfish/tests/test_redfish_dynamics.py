"""Hybrid dynamics read from real BMCs: values, caching, actions, per-dynamic errors, leaks."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator

import pytest
from dalcore_redfish import client, credentials
from dalcore_redfish.errors import (
    ActionError,
    BMCAuthenticationError,
    BMCCertificateError,
    BMCUnreachableError,
    MalformedResponseError,
    RedfishConfigurationError,
    RedfishError,
    ResourceNotFoundError,
)
from dalcore_redfish.examples import ComposedNode, PodManager
from dalcore_redfish.sources import system_attribute, system_nics, system_path
from dalcore_redfish.testing import RedfishServer, TLSFiles, request_count
from redfish_data import NODE1, NODE2, PASSWORD, USER

from dalcore import DataObject, Dynamic, DynamicError, Property, configure, open_volatile


class RackServer(DataObject):
    """A standalone server with its own BMC (default property names, short timeouts)."""

    __properties = [Property("bmc_address", str), Property("system_id", str)]
    __dynamics = [
        Dynamic("power_state", str, 1, source=system_attribute("PowerState")),
        Dynamic("health", str, 30, source=system_attribute("Status.Health")),
        Dynamic("macs", list, 300, source=system_nics()),
        Dynamic("uuid", str, 300, source=system_attribute("UUID", required=True)),
        Dynamic("asset_tag", str, 300, source=system_attribute("AssetTag", required=True)),
    ]


@pytest.fixture(autouse=True)
def runtime(tmp_path: os.PathLike[str]) -> Iterator[None]:
    configure(persistent="memory://", volatile="memory://")
    yield


def pod(server: RedfishServer) -> PodManager:
    podm = PodManager(name="podm", url=server.url)
    podm.save()
    return podm


def node(podm: PodManager, system_id: str) -> ComposedNode:
    made = ComposedNode(name=system_id[:8], system_id=system_id, pod_manager=podm)
    made.save()
    return made


def cause_of(exc: pytest.ExceptionInfo[DynamicError]) -> BaseException:
    cause = exc.value.__cause__
    assert cause is not None
    return cause


def test_redfish_values_read(emulator: RedfishServer) -> None:
    podm = pod(emulator)
    first, second = node(podm, NODE1.uuid), node(podm, NODE2.uuid)
    assert podm.status == "Online"
    assert podm.redfish_version == "1.5.0"
    assert first.health == "OK"
    assert first.macs == sorted(NODE1.macs)
    assert second.macs == list(NODE2.macs)
    # The fake driver reports neither memory size nor processor count: absent reads as None.
    assert first.memory_gib is None
    assert first.processor_count is None
    assert {first.power_state, second.power_state} <= {"On", "Off"}
    server = RackServer(bmc_address=emulator.url, system_id=NODE1.uuid)
    assert server.uuid == NODE1.uuid
    assert server.health == "OK"


def test_redfish_dynamics_cached_for_their_timeout(emulator: RedfishServer) -> None:
    server = RackServer(bmc_address=emulator.url, system_id=NODE1.uuid)
    path = system_path(NODE1.uuid)
    server.power_state  # noqa: B018 - warms the client (service root, session attempt)
    before = request_count(emulator, "GET", path)
    for _ in range(20):
        assert server.health == "OK"  # 30 s timeout
    assert request_count(emulator, "GET", path) - before == 1
    # power_state has a 1 s timeout: after it the next read asks the BMC again.
    server.power_state  # noqa: B018
    counted = request_count(emulator, "GET", path)
    time.sleep(1.3)
    server.power_state  # noqa: B018
    assert request_count(emulator, "GET", path) - counted == 1
    # An invalidation does the same at once.
    server.invalidate_dynamics("health")
    assert server.health == "OK"
    assert request_count(emulator, "GET", path) - counted == 2


def test_redfish_objects_share_one_client_per_bmc(emulator: RedfishServer) -> None:
    podm = pod(emulator)
    first, second = node(podm, NODE1.uuid), node(podm, NODE2.uuid)
    roots = request_count(emulator, "GET", "/redfish/v1/")
    first.health, second.health, first.power_state, second.power_state  # noqa: B018
    bmc = client.client_for(emulator.url)
    assert bmc.responses >= 4
    # One connect (one service root GET) served all four reads of both objects.
    assert request_count(emulator, "GET", "/redfish/v1/") - roots == 1


def _wait_for_power(target: ComposedNode, wanted: str, deadline: float = 40.0) -> str:
    """The emulator applies power changes after a random 1-11 s: poll with a bounded deadline."""
    end = time.monotonic() + deadline
    while True:
        target.invalidate_dynamics("power_state")
        state = target.power_state
        if state == wanted or time.monotonic() > end:
            return state
        time.sleep(0.5)


def test_redfish_reset_then_new_power_state(emulator: RedfishServer) -> None:
    target = node(pod(emulator), NODE2.uuid)
    before = target.power_state
    wanted, action = ("Off", "ForceOff") if before == "On" else ("On", "On")
    posts = request_count(emulator, "POST", path=None)
    dropped = target.reset(action)
    assert "power_state" in dropped and "health" in dropped
    assert request_count(emulator, "POST") - posts == 1
    assert _wait_for_power(target, wanted) == wanted


def test_redfish_reset_refused_types(emulator: RedfishServer) -> None:
    target = node(pod(emulator), NODE1.uuid)
    with pytest.raises(ActionError, match="not offered") as caught:
        target.reset("PowerCycle")  # a Redfish ResetType this BMC does not list
    assert caught.value.guid == target.guid and caught.value.owner == "ComposedNode"
    with pytest.raises(RedfishConfigurationError, match="unknown ResetType"):
        target.reset("Explode")


def test_redfish_errors_are_per_dynamic(emulator: RedfishServer, bad_bmc: RedfishServer) -> None:
    podm = pod(emulator)
    good, missing = node(podm, NODE1.uuid), node(podm, "no-such-system")
    with pytest.raises(DynamicError) as caught:
        missing.health  # noqa: B018
    cause = cause_of(caught)
    assert isinstance(cause, ResourceNotFoundError)
    text = str(caught.value)
    for part in ("ComposedNode", missing.guid, emulator.url, "/redfish/v1/Systems/no-such-system"):
        assert part in text
    assert good.health == "OK"  # same BMC, other object: fine
    assert podm.status == "Online"

    garbled = RackServer(bmc_address=bad_bmc.url, system_id="garbled")
    with pytest.raises(DynamicError) as caught:
        garbled.power_state  # noqa: B018
    assert isinstance(cause_of(caught), MalformedResponseError)
    assert bad_bmc.url in str(caught.value) and garbled.guid in str(caught.value)

    # A required attribute the BMC does not report is a malformed answer for that dynamic only.
    flaky = RackServer(bmc_address=bad_bmc.url, system_id="flaky-0")
    with pytest.raises(DynamicError) as caught:
        flaky.asset_tag  # noqa: B018
    assert isinstance(cause_of(caught), MalformedResponseError)
    assert flaky.power_state == "On"

    listing = missing.serialize()
    assert listing["health"] is None and "health" in listing["_errors"]
    assert good.serialize().get("_errors") is None


def test_redfish_401_is_per_dynamic(auth_emulator: RedfishServer) -> None:
    credentials.add_provider(lambda bmc: credentials.Credentials.of(USER, "wrong-" + PASSWORD))
    podm = pod(auth_emulator)
    target = node(podm, NODE1.uuid)
    with pytest.raises(DynamicError) as caught:
        target.power_state  # noqa: B018
    assert isinstance(cause_of(caught), BMCAuthenticationError)
    assert auth_emulator.url in str(caught.value)
    assert podm.status == "Online"  # the service root needs no credentials


def test_redfish_bmc_stopped_mid_run(emulator: RedfishServer, auth_emulator: RedfishServer) -> None:
    credentials.add_provider(lambda bmc: credentials.Credentials.of(USER, PASSWORD))
    here, there = pod(emulator), pod(auth_emulator)
    local, remote = node(here, NODE1.uuid), node(there, NODE1.uuid)
    assert local.health == "OK" and local.macs == sorted(NODE1.macs)
    assert remote.health == "OK"
    with emulator.stopped():
        local.invalidate_dynamics("health", "power_state")
        here.invalidate_dynamics("status")
        with pytest.raises(DynamicError) as caught:
            local.health  # noqa: B018
        assert isinstance(cause_of(caught), BMCUnreachableError)
        assert emulator.url in str(caught.value) and local.guid in str(caught.value)
        with pytest.raises(DynamicError):
            local.power_state  # noqa: B018
        assert local.macs == sorted(NODE1.macs)  # still cached: no need to ask the BMC
        assert here.status == "Offline"  # reachability is this dynamic's value, not an error
        remote.invalidate_dynamics()
        assert remote.health == "OK"  # the other BMC keeps working
        assert there.status == "Online"
    # Back on the same port: the same client reconnects.
    local.invalidate_dynamics("health")
    here.invalidate_dynamics("status")
    assert local.health == "OK"
    assert here.status == "Online"


def test_redfish_tls_failure_is_an_error_not_offline(
    tls_emulator: RedfishServer, tls_files: TLSFiles
) -> None:
    podm = pod(tls_emulator)
    target = node(podm, NODE1.uuid)
    for read in (lambda: podm.status, lambda: target.health):
        with pytest.raises(DynamicError) as caught:
            read()
        assert isinstance(cause_of(caught), BMCCertificateError)
    client.configure_bmc(tls_emulator.url, verify=tls_files.ca)
    podm.invalidate_dynamics()
    target.invalidate_dynamics()
    assert podm.status == "Online"
    assert target.health == "OK"


def test_redfish_missing_address_property_is_a_dynamic_error(emulator: RedfishServer) -> None:
    orphan = RackServer(bmc_address="", system_id=NODE1.uuid)
    with pytest.raises(DynamicError) as caught:
        orphan.health  # noqa: B018
    assert isinstance(cause_of(caught), RedfishConfigurationError)
    assert "bmc_address" in str(caught.value)


def test_redfish_credentials_never_leak(
    auth_emulator: RedfishServer,
    tmp_path: os.PathLike[str],
    all_logs: pytest.LogCaptureFixture,
) -> None:
    """The password is in no stored byte, no cached value, no log record, no error message."""
    db = os.path.join(tmp_path, "leak.db")
    cache = open_volatile("memory://")
    configure(persistent=f"sqlite://{db}", volatile=cache)
    credentials.add_provider(lambda bmc: credentials.Credentials.of(USER, PASSWORD))
    podm = pod(auth_emulator)
    good = node(podm, NODE1.uuid)
    assert good.serialize()["health"] == "OK"
    messages: list[str] = []
    # Errors of every kind, each with its object: 404, 401 (after a password change), action.
    for failing in (
        lambda: node(podm, "no-such-system").health,
        lambda: good.reset("PowerCycle"),
    ):
        try:
            failing()
        except (DynamicError, RedfishError) as exc:
            messages += [str(exc), repr(exc), str(exc.__cause__), repr(exc.__cause__)]
    snapshot = repr(getattr(cache, "_data", cache))  # the in-process cache's entries
    assert "OK" in snapshot  # the cache really holds the dynamics
    client.close_all()
    credentials.clear_providers()
    credentials.add_provider(lambda bmc: credentials.Credentials.of(USER, "x" + PASSWORD))
    good.invalidate_dynamics()
    try:
        good.health  # noqa: B018
    except DynamicError as exc:
        messages += [str(exc), repr(exc), str(exc.__cause__), repr(exc.__cause__)]
    assert len(messages) == 12

    secret = PASSWORD.encode()
    stored = b""
    for name in os.listdir(tmp_path):
        if name.startswith("leak.db"):
            with open(os.path.join(tmp_path, name), "rb") as handle:
                stored += handle.read()
    assert podm.guid.encode() in stored  # the store was really written
    assert secret not in stored
    assert PASSWORD not in snapshot
    assert PASSWORD not in repr(getattr(cache, "_data", cache))
    logged = [record.getMessage() for record in all_logs.records]
    assert any("sushy" in record.name for record in all_logs.records)  # sushy's DEBUG included
    assert not any(PASSWORD in line for line in logged)
    assert not any(PASSWORD in message for message in messages)


def test_redfish_plugin_is_listed() -> None:
    from dalcore._plugins import provided

    loaders = [info for info in provided() if info.provided.kind == "loader"]
    assert any(info.provided.name == "redfish" for info in loaders)


def test_redfish_loader_hook_ignores_foreign_sources() -> None:
    class PlainThing(DataObject):
        __properties = [Property("name", str)]
        __dynamics = [Dynamic("answer", int, 5)]

        def _answer(self) -> int:
            return 42

    assert PlainThing(name="x").answer == 42
    logging.getLogger("dalcore.redfish").debug("no Redfish source involved")
