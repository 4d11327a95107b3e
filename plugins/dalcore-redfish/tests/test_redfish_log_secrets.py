"""No password in any log line with DEBUG logging, whichever library logs it (sushy, urllib3).

Logging is set up the way applications do it: a real StreamHandler on the root logger at DEBUG
(as ``logging.basicConfig(level=DEBUG)`` does), plus pytest's caplog. Records come from child
loggers (``sushy.connector``, ``sushy.exceptions``, ``urllib3.connectionpool``) that propagate
to the root's handlers, which is where a logger filter would not apply.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator

import pytest
from dalcore_redfish import client
from dalcore_redfish.errors import RedfishError
from dalcore_redfish.sources import system_path
from dalcore_redfish.testing import RedfishServer
from redfish_data import NODE1, PASSWORD, USER

from dalcore.testing.logs import root_log_stream

BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture
def root_stream() -> Iterator[io.StringIO]:
    with root_log_stream() as stream:
        yield stream


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text
        assert BASIC not in text


def test_bmc_echoing_credentials_in_an_error_body(
    bad_bmc: RedfishServer,
    with_credentials: None,
    all_logs: pytest.LogCaptureFixture,
    root_stream: io.StringIO,
) -> None:
    client.configure_bmc(bad_bmc.url, auth="basic")
    with pytest.raises(RedfishError):
        client.client_for(bad_bmc.url).get_json(system_path("echo"))
    text = root_stream.getvalue()
    assert_clean(text, all_logs.text, *(r.getMessage() for r in all_logs.records))
    # sushy did log the error body, only with the password masked; the rest is still there.
    assert f"bad request from {USER}:***" in text
    assert f"bad request from {USER}:***" in all_logs.text
    assert "/redfish/v1/Systems/echo" in text
    assert any(r.name.startswith("urllib3") for r in all_logs.records)


def test_basic_auth_session_with_the_emulator_at_debug(
    auth_emulator: RedfishServer,
    with_credentials: None,
    all_logs: pytest.LogCaptureFixture,
    root_stream: io.StringIO,
) -> None:
    document = client.client_for(auth_emulator.url).get_json(system_path(NODE1.uuid))
    assert document["Id"] == NODE1.uuid
    text = root_stream.getvalue()
    assert_clean(text, all_logs.text)
    # The requests themselves are logged (the check above has something to look at).
    assert "HTTP request" in text and NODE1.uuid in text
    assert USER in text


def test_exception_tracebacks_are_scrubbed(root_stream: io.StringIO) -> None:
    from dalcore_redfish.credentials import Secret

    Secret(PASSWORD)  # a credential entering the process registers itself
    log = logging.getLogger("sushy.connector")
    try:
        raise ValueError(f"server said: {USER}:{PASSWORD}")
    except ValueError:
        log.exception("request failed")
    text = root_stream.getvalue()
    assert_clean(text)
    assert f"server said: {USER}:***" in text
