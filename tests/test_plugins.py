"""Finding backends: entry points, the plugin manager, and the errors for what is not there."""

from __future__ import annotations

import importlib.metadata

import pytest

from dalcore import (
    BackendURL,
    InvalidURLError,
    UnknownSchemeError,
    _plugins,
    open_persistent,
    open_volatile,
)
from dalcore.api import NO_VALUE, Put


def _own_entry_points() -> dict[str, str]:
    dist = importlib.metadata.distribution("dalcore")
    return {ep.name: ep.value for ep in dist.entry_points if ep.group == _plugins.ENTRY_POINT_GROUP}


def test_builtin_backends_are_declared_as_entry_points() -> None:
    assert _own_entry_points() == {
        "memory": "dalcore._backends.memory",
        "sqlite": "dalcore._backends.sqlite",
        "local": "dalcore._backends.local",
        "tiered": "dalcore._backends.tiered",
    }


def test_every_builtin_entry_point_loads_and_is_registered() -> None:
    manager = _plugins.plugin_manager()
    for name in _own_entry_points():
        assert name not in _plugins._failures, _plugins._failures[name]
        assert manager.has_plugin(name)


def test_provided_lists_builtins_with_their_package() -> None:
    version = importlib.metadata.version("dalcore")
    listed: dict[tuple[str, str], _plugins.PluginInfo] = {
        (i.provided.kind, i.provided.name): i for i in _plugins.provided()
    }
    for key, plugin in [
        (("persistent", "memory"), "memory"),
        (("persistent", "sqlite"), "sqlite"),
        (("volatile", "memory"), "local"),
    ]:
        info = listed[key]
        assert (info.plugin, info.package, info.version) == (plugin, "dalcore", version)
        assert info.provided.description


def test_plugin_manager_is_one_per_process() -> None:
    assert _plugins.plugin_manager() is _plugins.plugin_manager()


def test_open_persistent_memory_is_a_working_store() -> None:
    store = open_persistent("memory://")
    revision = store.commit([Put("k", b"v")])
    entry = store.get("k")
    assert (entry.value, entry.revision) == (b"v", revision)
    # Each URL opens its own store: nothing is shared between two opens.
    assert not open_persistent(BackendURL.parse("memory://")).exists("k")


def test_open_volatile_memory_honours_its_url_parameters() -> None:
    cache = open_volatile("memory://?max_entries=2")
    for key in "abc":
        cache.set(key, key.upper())
    assert cache.get_many(["a", "b", "c"]) == [NO_VALUE, "B", "C"]


def test_unknown_persistent_scheme_lists_what_is_installed() -> None:
    with pytest.raises(UnknownSchemeError) as caught:
        open_persistent("nosuch://h:1")
    error = caught.value
    assert (error.kind, error.scheme) == ("persistent", "nosuch")
    installed = sorted(
        i.provided.name for i in _plugins.provided() if i.provided.kind == "persistent"
    )
    assert error.installed == installed
    assert {"memory", "sqlite"} <= set(error.installed)
    assert "nosuch" in str(error) and "memory" in str(error)


def test_unknown_volatile_scheme_lists_what_is_installed() -> None:
    with pytest.raises(UnknownSchemeError) as caught:
        open_volatile("nosuch://")
    assert caught.value.kind == "volatile"
    assert "memory" in caught.value.installed


@pytest.mark.parametrize(
    ("kind", "url", "package"),
    [
        ("persistent", "etcd://h:2379", "dalcore-etcd"),
        ("volatile", "memcached://h", "dalcore-memcached"),
    ],
)
def test_missing_known_plugin_says_which_package_to_install(
    kind: str, url: str, package: str
) -> None:
    # Built directly: in this test environment the plugin may well be installed, and then
    # open_persistent() would not fail at all.
    error = _plugins._unknown(kind, BackendURL.parse(url))
    assert error.hint is not None and f"pip install {package}" in error.hint
    assert f"pip install {package}" in str(error)


def test_unknown_scheme_without_a_known_package_has_no_pip_hint() -> None:
    error = _plugins._unknown("volatile", BackendURL.parse("etcd://h"))
    assert "pip install" not in str(error)


@pytest.mark.parametrize("url", ["localhost:2379", "etcd://h:99999", "memory://?flag"])
def test_bad_url_is_invalid_url_error_before_any_plugin_is_asked(url: str) -> None:
    with pytest.raises(InvalidURLError):
        open_persistent(url)
    with pytest.raises(InvalidURLError):
        open_volatile(url)
