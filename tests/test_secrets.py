"""Secret scrubbing in log records (dalcore/_secrets.py), with real logging setups.

The plugins' suites check it against real servers (a BMC echoing credentials, memcached with an
auth file); these tests check the masking rules and where the scrubbing sits in logging.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest

import dalcore
from dalcore import _secrets
from dalcore.errors import InvalidURLError
from dalcore.testing.logs import root_log_stream

SECRET = "s3cr3t-Pw:with@odd/chars\"'"


@pytest.fixture
def root_stream() -> Iterator[io.StringIO]:
    """A real StreamHandler on the root logger at DEBUG, as logging.basicConfig sets up."""
    with root_log_stream() as stream:
        yield stream


def test_registered_secret_and_its_encodings_are_masked() -> None:
    dalcore.register_secret(SECRET)
    for form in (SECRET, quote(SECRET, safe=""), json.dumps(SECRET)[1:-1], repr(SECRET)[1:-1]):
        assert dalcore.scrub_secrets(f"before {form} after") == "before *** after"


def test_patterns_mask_unregistered_values() -> None:
    cases = {
        'body {"UserName": "root", "Password": "unregistered1"}': (
            'body {"UserName": "root", "Password": "***"}'
        ),
        "headers {'Authorization': 'Basic dXNlcjpwdw==', 'Accept': 'json'}": (
            "headers {'Authorization': '***', 'Accept': 'json'}"
        ),
        "Authorization: Bearer abc.def.ghi": "Authorization: Bearer ***",
        "X-Auth-Token: 0123456789abcdef": "X-Auth-Token: ***",
        "GET /login?user=a&password=zz9&x=1": "GET /login?user=a&password=***&x=1",
        "connect etcd://root:hunter2@10.0.0.1:2379": "connect etcd://root:***@10.0.0.1:2379",
        '{\'client_secret\': "x\\"y"}': "{'client_secret': \"***\"}",
    }
    for text, expected in cases.items():
        assert dalcore.scrub_secrets(text) == expected


def test_ordinary_text_is_left_alone() -> None:
    text = "saved Backend(1505fa38) name='cold-storage' status=RUNNING in 3 ms"
    assert dalcore.scrub_secrets(text) == text


def test_short_secrets_are_not_masked_by_value() -> None:
    dalcore.register_secret("ab")
    assert dalcore.scrub_secrets("tab stab") == "tab stab"
    assert dalcore.scrub_secrets('{"password": "ab"}') == '{"password": "***"}'


def test_child_logger_records_reach_root_handlers_scrubbed(root_stream: io.StringIO) -> None:
    dalcore.register_secret(SECRET)
    # A filter on "sushy" would not see this record: it is logged on a child logger and handed
    # to the root's handlers by propagation.
    logging.getLogger("sushy.connector.deep").debug("error body: %s", {"message": SECRET})
    logging.getLogger("urllib3.connectionpool").debug('"GET /x?password=%s HTTP/1.1" 400', "qq7")
    text = root_stream.getvalue()
    assert SECRET not in text and repr(SECRET)[1:-1] not in text and "qq7" not in text
    assert "error body: {'message': '***'}" in text
    assert '"GET /x?password=*** HTTP/1.1" 400' in text


def test_caplog_sees_scrubbed_records(caplog: pytest.LogCaptureFixture) -> None:
    dalcore.register_secret(SECRET)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("grpc._channel").debug("metadata %s", (("token", SECRET),))
    assert SECRET not in caplog.text
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    assert "metadata" in caplog.text


def test_exception_text_and_stack_are_scrubbed(root_stream: io.StringIO) -> None:
    dalcore.register_secret(SECRET)
    try:
        raise RuntimeError(f"login failed for {SECRET}")
    except RuntimeError:
        logging.getLogger("some.lib").exception("call failed", stack_info=True)
    text = root_stream.getvalue()
    assert SECRET not in text
    assert "RuntimeError: login failed for ***" in text


def test_records_without_secrets_keep_their_arguments(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("dalcore.test").info("loaded %d objects", 3)
    record = caplog.records[-1]
    assert record.args == (3,) and record.getMessage() == "loaded 3 objects"


def test_chains_to_the_factory_installed_before() -> None:
    seen: list[str] = []
    current = logging.getLogRecordFactory()

    def counting(*args: object, **kwargs: object) -> logging.LogRecord:
        record = current(*args, **kwargs)
        seen.append(record.name)
        return record

    # An application that installs its own factory, chaining as the logging docs advise.
    logging.setLogRecordFactory(counting)
    try:
        stream = io.StringIO()
        log = logging.getLogger("app.chain")
        log.addHandler(logging.StreamHandler(stream))
        log.setLevel(logging.DEBUG)
        log.propagate = False
        dalcore.register_secret(SECRET)
        log.debug("pw=%s", SECRET)
        log.handlers.clear()
    finally:
        logging.setLogRecordFactory(current)
    assert seen == ["app.chain"]
    assert SECRET not in stream.getvalue()


def test_secret_filter_for_handlers_behind_a_foreign_factory() -> None:
    dalcore.register_secret(SECRET)
    current = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)  # replaced without chaining
    try:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.addFilter(_secrets.SecretFilter())
        log = logging.getLogger("app.foreign")
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        log.propagate = False
        log.debug("pw=%s", SECRET)
        log.handlers.clear()
    finally:
        logging.setLogRecordFactory(current)
    assert SECRET not in stream.getvalue() and "pw=***" in stream.getvalue()


def test_url_passwords_register_and_errors_mask_them(root_stream: io.StringIO) -> None:
    password = "url-Pw-77qq"
    url = dalcore.BackendURL.parse(f"etcd://root:{password}@127.0.0.1:2379/app")
    assert password not in str(url) and password not in repr(url)
    logging.getLogger("grpc").debug("auth failed for %s", password)
    assert password not in root_stream.getvalue()
    with pytest.raises(InvalidURLError) as caught:
        dalcore.BackendURL.parse("etcd://root:never-parsed-1@127.0.0.1:notaport")
    assert "never-parsed-1" not in str(caught.value)
    assert "root:***@" in str(caught.value)


def test_registry_is_bounded() -> None:
    for number in range(_secrets.MAX_SECRETS + 10):
        dalcore.register_secret(f"token-{number:06d}")
    assert len(_secrets._secrets) <= _secrets.MAX_SECRETS
    assert dalcore.scrub_secrets(f"token-{_secrets.MAX_SECRETS + 9:06d}") == "***"
