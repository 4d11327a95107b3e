"""Nothing overwrites anything silently: hybrid names, URL schemes, runtimes started by threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
import uuid
from pathlib import Path

import pytest

import dalcore
from dalcore import DataObject, Property, Relation
from dalcore.errors import DefinitionError, PluginConflictError
from dalcore.hookspecs import Provided


def _twin(module: str, name: str) -> type[DataObject]:
    namespace = {"__module__": module, "__qualname__": name}
    namespace[f"_{name}__properties"] = [Property("label", str)]
    return type(name, (DataObject,), namespace)


def test_two_hybrids_with_one_class_name_are_ambiguous_by_that_name() -> None:
    name = "Twin" + uuid.uuid4().hex[:8]
    first, second = _twin("app.one", name), _twin("app.two", name)
    with pytest.raises(DefinitionError, match=rf"app\.one\.{name}.*app\.two\.{name}"):
        dalcore.hybrid(name)
    assert dalcore.hybrid(f"app.one.{name}") is first
    assert dalcore.hybrid(f"app.two.{name}") is second
    with pytest.raises(DefinitionError, match=rf"Pointer\w*\.twin: '{name}' names several"):
        type(
            "Pointer" + name,
            (DataObject,),
            {
                "__module__": "app.three",
                f"_Pointer{name}__relations": [Relation("twin", name, "x")],
            },
        )
    # A third definition is listed too; a definition again under the same qualified name
    # (a module reloaded) replaces itself and stays unambiguous by its qualified name.
    _twin("app.four", name)
    with pytest.raises(DefinitionError, match=rf"app\.four\.{name}"):
        dalcore.hybrid(name)
    again = _twin("app.one", name)
    assert dalcore.hybrid(f"app.one.{name}") is again


def test_a_class_name_used_once_is_found_by_it() -> None:
    name = "Single" + uuid.uuid4().hex[:8]
    cls = _twin("app.only", name)
    assert dalcore.hybrid(name) is cls
    again = _twin("app.only", name)  # defined again under the same qualified name: no clash
    assert dalcore.hybrid(name) is again


def test_the_demo_and_the_test_hybrids_do_not_shadow_each_other() -> None:
    import dalcore._demo
    import dalcore.testing._engine_hybrids

    with pytest.raises(DefinitionError, match=r"AlbaBackend.*names several hybrids"):
        dalcore.hybrid("AlbaBackend")
    demo = dalcore.hybrid("dalcore._demo.AlbaBackend")
    test = dalcore.hybrid("dalcore.testing._engine_hybrids.AlbaBackend")
    assert demo is not test


def _serving(scheme: str, label: str) -> types.ModuleType:
    module = types.ModuleType(f"plugin_{label}")

    @dalcore.hookimpl
    def dalcore_provides() -> list[Provided]:
        return [Provided("persistent", scheme, label)]

    @dalcore.hookimpl
    def dalcore_persistent_store(url: dalcore.BackendURL) -> object:
        return None

    module.dalcore_provides = dalcore_provides  # type: ignore[attr-defined]
    module.dalcore_persistent_store = dalcore_persistent_store  # type: ignore[attr-defined]
    return module


def test_a_second_plugin_for_a_scheme_is_refused_unless_it_replaces_the_first() -> None:
    scheme = "twin" + uuid.uuid4().hex[:6]
    first, second = _serving(scheme, "first"), _serving(scheme, "second")
    dalcore.register_plugin(first, name=f"{scheme}-first")
    try:
        with pytest.raises(
            PluginConflictError, match=rf"{scheme}.*{scheme}-first.*{scheme}-second"
        ):
            dalcore.register_plugin(second, name=f"{scheme}-second")
        dalcore.register_plugin(second, name=f"{scheme}-second", replace=[f"{scheme}-first"])
        served = {
            info.plugin for info in dalcore._plugins.provided() if info.provided.name == scheme
        }
        assert served == {f"{scheme}-second"}
    finally:
        dalcore.unregister_plugin(f"{scheme}-first")
        dalcore.unregister_plugin(f"{scheme}-second")


def test_a_hook_registered_after_configure_takes_effect() -> None:
    seen: list[str] = []
    module = types.ModuleType("late_plugin")

    @dalcore.hookimpl
    def dalcore_before_save(obj: DataObject) -> None:
        seen.append(obj.guid)

    module.dalcore_before_save = dalcore_before_save  # type: ignore[attr-defined]
    name = "Late" + uuid.uuid4().hex[:8]
    hybrid = _twin("app.late", name)
    rt = dalcore.open_runtime("memory://", "memory://", namespace="late", hybrids=())
    try:
        with dalcore.using(rt):
            dalcore.register_plugin(module, name="late-plugin")
            try:
                obj = hybrid(label="x")
                obj.save()
            finally:
                dalcore.unregister_plugin("late-plugin")
            hybrid(label="y").save()
    finally:
        rt.close()
    assert seen == [obj.guid]


_INSTALLED_TWINS = """
import sys
import dalcore
try:
    dalcore.open_persistent("twinscheme://x")
except dalcore.PluginConflictError as exc:
    print("conflict:", exc)
    sys.exit(0)
print("no conflict")
sys.exit(1)
"""


def test_two_installed_plugins_for_one_scheme_name_both(tmp_path: Path) -> None:
    # Two real distributions on sys.path, each announcing an entry point for the same scheme.
    for label in ("alpha", "beta"):
        (tmp_path / f"twin_{label}.py").write_text(
            textwrap.dedent(f"""
                import dalcore
                from dalcore.hookspecs import Provided

                @dalcore.hookimpl
                def dalcore_provides():
                    return [Provided("persistent", "twinscheme", "{label}")]

                @dalcore.hookimpl
                def dalcore_persistent_store(url):
                    return None
            """)
        )
        dist = tmp_path / f"twin_{label}-1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: twin-{label}\nVersion: 1.0\n")
        (dist / "entry_points.txt").write_text(f"[dalcore.plugins]\ntwin_{label} = twin_{label}\n")
    result = subprocess.run(
        [sys.executable, "-c", _INSTALLED_TWINS],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "twin_alpha" in result.stdout and "twin_beta" in result.stdout


_THREAD_START = """
import sys, threading
import dalcore
threads, barrier, seen, errors = 16, threading.Barrier(16), [], []
def first_use():
    barrier.wait(30)
    try:
        seen.append(dalcore.runtime())
        dalcore.open_persistent("memory://").close()
    except BaseException as exc:
        errors.append(repr(exc))
workers = [threading.Thread(target=first_use) for _ in range(threads)]
for w in workers: w.start()
for w in workers: w.join(60)
print(len(seen), len({id(rt) for rt in seen}), errors)
sys.exit(0 if len(seen) == threads and len({id(rt) for rt in seen}) == 1 and not errors else 1)
"""


@pytest.mark.parametrize("round_", range(3))
def test_threads_starting_together_share_one_runtime(tmp_path: Path, round_: int) -> None:
    # A fresh interpreter each time: nothing configured, no plugin manager yet.
    env = {
        "PATH": "/usr/bin:/bin",
        "DALCORE_PERSISTENT": f"sqlite://{tmp_path / 'start.db'}",
        "DALCORE_VOLATILE": "memory://",
    }
    result = subprocess.run(
        [sys.executable, "-c", _THREAD_START],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
