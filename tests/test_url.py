"""BackendURL: the one parser every plugin gets its configuration from."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dalcore import BackendURL, InvalidURLError

# -- hosts and ports ------------------------------------------------------------------------


def test_single_host_and_port() -> None:
    url = BackendURL.parse("etcd://10.0.0.1:2379")
    assert url.scheme == "etcd"
    assert url.hosts == (("10.0.0.1", 2379),)
    assert url.path == ""
    assert url.username is None and url.password is None


def test_host_without_port_has_none() -> None:
    assert BackendURL.parse("memcached://cache").hosts == (("cache", None),)


def test_several_hosts_keep_their_order() -> None:
    url = BackendURL.parse("etcd://a:2379,b:2380,c")
    assert url.hosts == (("a", 2379), ("b", 2380), ("c", None))
    assert url.location == "a:2379,b:2380,c"


def test_scheme_is_case_insensitive_and_blanks_are_trimmed() -> None:
    assert BackendURL.parse("  ETCD://h:1 \n").scheme == "etcd"


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("etcd://[::1]:2379", (("::1", 2379),)),
        ("etcd://[::1]", (("::1", None),)),
        ("etcd://[fe80::1:2]:1,[2001:db8::5]:2", (("fe80::1:2", 1), ("2001:db8::5", 2))),
        ("etcd://[::1]:2379,localhost:2380", (("::1", 2379), ("localhost", 2380))),
    ],
)
def test_ipv6_in_brackets(text: str, hosts: tuple[tuple[str, int | None], ...]) -> None:
    url = BackendURL.parse(text)
    assert url.hosts == hosts
    assert str(url) == text  # written back with the brackets


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("etcd://h:0", "bad port"),
        ("etcd://h:65536", "bad port"),
        ("etcd://h:-1", "bad port"),
        ("etcd://h:port", "bad port"),
        ("etcd://h:12a", "bad port"),
        ("etcd://h:\u0661\u0662", "bad port"),  # Arabic-Indic digits: isdigit() but not a port
        ("etcd://a:1,b:99999", "bad port"),
        ("etcd://:2379", "empty host"),
        ("etcd://[]:2379", "empty host"),
        ("etcd://::1", "empty host"),
        ("etcd://fe80::1:2379", "brackets"),
        ("etcd://[::1", "unclosed"),
        ("etcd://[::1]2379", "after ']'"),
        ("etcd://my host:1", "blank"),
        ("etcd:// :1", "blank"),
        ("etcd://h\x00:1", "control"),
        ("etcd://[[]:1", "bracket"),
        ("etcd://a]:1", "bracket"),
    ],
)
def test_bad_hosts_and_ports(text: str, reason: str) -> None:
    with pytest.raises(InvalidURLError) as caught:
        BackendURL.parse(text)
    assert reason in caught.value.reason
    assert caught.value.url == text


def test_highest_and_lowest_ports() -> None:
    assert BackendURL.parse("etcd://h:1,g:65535").hosts == (("h", 1), ("g", 65535))


# -- credentials ----------------------------------------------------------------------------


def test_user_and_password_are_decoded() -> None:
    url = BackendURL.parse("etcd://r%40ot:p%3Aa%40ss%2Fw%25rd@h1:1,h2:2/prefix")
    assert url.username == "r@ot"
    assert url.password == "p:a@ss/w%rd"
    assert url.hosts == (("h1", 1), ("h2", 2))
    assert url.path == "/prefix"


def test_password_is_masked_in_str_and_repr() -> None:
    url = BackendURL.parse("etcd://admin:s3cr%21t@h:2379")
    assert url.password == "s3cr!t"
    assert str(url) == "etcd://admin:***@h:2379"
    assert "s3cr" not in repr(url)
    assert "s3cr" not in str(url)


def test_user_without_password() -> None:
    url = BackendURL.parse("redfish://operator@bmc:8000")
    assert (url.username, url.password) == ("operator", None)
    assert str(url) == "redfish://operator@bmc:8000"


def test_empty_password_is_not_none() -> None:
    url = BackendURL.parse("etcd://u:@h")
    assert url.password == ""
    assert str(url) == "etcd://u:***@h"


def test_unencoded_at_sign_in_password_splits_at_the_last_one() -> None:
    # Lenient on purpose: only the last "@" can end the credentials.
    url = BackendURL.parse("etcd://u:p@ss@h:1")
    assert (url.username, url.password, url.hosts) == ("u", "p@ss", (("h", 1),))


# -- query parameters -----------------------------------------------------------------------


def test_query_parameters() -> None:
    url = BackendURL.parse("memcached://a:1,b:2?timeout=0.5&prefix=dal%2F&empty=")
    assert url.query == {"timeout": "0.5", "prefix": "dal/", "empty": ""}
    assert url.param("prefix") == "dal/"
    assert url.param("missing") is None
    assert url.param("missing", "x") == "x"
    assert url.float_param("timeout", 9.0) == 0.5
    assert url.float_param("other", 9.0) == 9.0
    assert url.int_param("other", 7) == 7


def test_typed_parameters_reject_junk_naming_the_parameter() -> None:
    url = BackendURL.parse("memory://?max_entries=lots&timeout=soon")
    with pytest.raises(InvalidURLError, match="max_entries='lots'"):
        url.int_param("max_entries", 1)
    with pytest.raises(InvalidURLError, match="timeout='soon'"):
        url.float_param("timeout", 1.0)


def test_malformed_query_string() -> None:
    with pytest.raises(InvalidURLError, match="bad query string"):
        BackendURL.parse("memory://?flag")


def test_query_keys_and_values_survive_str() -> None:
    url = BackendURL.parse("memory://?a%26b=1%3D2&c=%20x")
    assert url.query == {"a&b": "1=2", "c": " x"}
    assert BackendURL.parse(str(url)) == url


# -- SQLite forms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("sqlite:///var/lib/dal.db", "/var/lib/dal.db"),
        ("sqlite:relative/dal.db", "relative/dal.db"),
        ("sqlite://dal.db", "dal.db"),
        ("sqlite:///:memory:", "/:memory:"),
        ("sqlite::memory:", ":memory:"),
        ("sqlite:///tmp/with%20space.db?timeout=5", "/tmp/with space.db"),
    ],
)
def test_sqlite_forms(text: str, location: str) -> None:
    url = BackendURL.parse(text)
    assert url.scheme == "sqlite"
    assert url.location == location
    assert BackendURL.parse(str(url)).location == location


def test_sqlite_without_authority_keeps_everything_as_path() -> None:
    url = BackendURL.parse("sqlite:data/x.db?timeout=2")
    assert url.hosts == ()
    assert url.path == "data/x.db"
    assert url.query == {"timeout": "2"}
    assert str(url) == "sqlite:data/x.db?timeout=2"


def test_path_with_reserved_characters_round_trips() -> None:
    url = BackendURL.parse("sqlite:///tmp/a%3Fb%23c%25d.db")
    assert url.path == "/tmp/a?b#c%d.db"
    assert BackendURL.parse(str(url)) == url


# -- no scheme ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "   ", "etcd", "/var/lib/dal.db", "127.0.0.1:2379", "localhost:2379", "h:1/x", "1x://h"],
)
def test_no_scheme(text: str) -> None:
    with pytest.raises(InvalidURLError) as caught:
        BackendURL.parse(text)
    assert caught.value.url == text
    assert text in str(caught.value) or not text.strip()


def test_invalid_url_error_is_a_configuration_value_error() -> None:
    # Callers that only know the standard library can still catch it.
    with pytest.raises(ValueError):
        BackendURL.parse("nonsense")


# -- properties -----------------------------------------------------------------------------

_label = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10)
_hostname = st.lists(_label, min_size=1, max_size=3).map(".".join)
_ipv6 = st.ip_addresses(v=6).map(str)
_port = st.none() | st.integers(1, 65535)
_hosts = st.lists(st.tuples(_hostname | _ipv6, _port), min_size=1, max_size=4).map(tuple)
_free_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_path = st.lists(_free_text.filter(lambda s: "/" not in s), max_size=3).map(
    lambda parts: "".join("/" + part for part in parts)
)
_query = st.dictionaries(_free_text.filter(bool), _free_text, max_size=3)
_scheme = st.from_regex(r"[a-z][a-z0-9+.-]{0,8}", fullmatch=True)


@given(
    scheme=_scheme,
    hosts=_hosts,
    path=_path,
    query=_query,
    username=st.none() | _free_text,
)
def test_str_parses_back_to_the_same_url(
    scheme: str,
    hosts: tuple[tuple[str, int | None], ...],
    path: str,
    query: dict[str, str],
    username: str | None,
) -> None:
    url = BackendURL(scheme, hosts, path, query, username, None)
    assert BackendURL.parse(str(url)) == url


@given(scheme=_scheme, hosts=_hosts, username=_free_text, password=_free_text)
def test_str_never_shows_the_password(
    scheme: str, hosts: tuple[tuple[str, int | None], ...], username: str, password: str
) -> None:
    url = BackendURL(scheme, hosts, username=username, password=password)
    shown = BackendURL.parse(str(url))
    # Everything but the password comes back; the password always reads as the mask.
    assert shown == BackendURL(scheme, hosts, username=username, password="***")


@given(st.text(max_size=40))
def test_parse_raises_only_invalid_url_error(text: str) -> None:
    try:
        url = BackendURL.parse(text)
    except InvalidURLError:
        return
    assert BackendURL.parse(str(url)).scheme == url.scheme


@given(st.text(alphabet="ab1:/[]@,?=&%#+ ", max_size=30))
def test_any_authority_either_parses_stably_or_is_rejected(rest: str) -> None:
    try:
        url = BackendURL.parse("etcd://" + rest)
    except InvalidURLError:
        return
    again = BackendURL.parse(str(url))
    assert (again.hosts, again.path, again.query, again.username) == (
        url.hosts,
        url.path,
        url.query,
        url.username,
    )
