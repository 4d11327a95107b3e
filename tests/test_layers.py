"""The engine's layers, written once, checked over the package's import graph.

Each module may import modules of its own layer and of the layers before it, never of a layer
after it: not at module level, not inside a function, not under ``if TYPE_CHECKING``. Imports
that run (module level and deferred) must also form no cycle, inside a layer too. A module
that is in no layer fails the test, so a new module gets placed on purpose.
docs/architecture.md describes the layers; its diagram is checked against this list.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dalcore"

#: Bottom first. A name covers the module and, for a package, everything in it.
LAYERS: list[tuple[str, list[str]]] = [
    ("foundation", ["dalcore._secrets", "dalcore.errors"]),
    ("contract", ["dalcore._url", "dalcore.api", "dalcore._structures", "dalcore.hookspecs"]),
    ("backends", ["dalcore._plugins", "dalcore._storelock", "dalcore._backends"]),
    ("schema", ["dalcore._schema", "dalcore._docs"]),
    ("runtime", ["dalcore._runtime"]),
    ("layout and cache", ["dalcore._layout", "dalcore._objcache"]),
    ("transactions and mutexes", ["dalcore._transaction", "dalcore._mutex"]),
    (
        "object model",
        [
            "dalcore._lists",
            "dalcore._attributes",
            "dalcore._writes",
            "dalcore._ovs_forms",
            "dalcore._dataobject",
        ],
    ),
    ("queries", ["dalcore._query", "dalcore._datalist"]),
    ("maintenance", ["dalcore._reindex"]),
    ("public API", ["dalcore"]),
    (
        "applications",
        [
            "dalcore.__main__",
            "dalcore.compat",
            "dalcore._ops",
            "dalcore._cli",
            "dalcore._demo",
            "dalcore.benchmarks",
            "dalcore.testing",
        ],
    ),
]

#: What a plugin package may import from dalcore: the backend contract, the public API and the
#: test kit.
PLUGIN_MAY_IMPORT = {
    "dalcore",
    "dalcore.api",
    "dalcore.errors",
    "dalcore.hookspecs",
    "dalcore.testing",
}


def module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: pathlib.Path, name: str, known: set[str]) -> list[tuple[str, str]]:
    """``(imported module, "run" or "typing")`` for each import of a module in ``known``."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str]] = []

    def visit(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            child_kind = kind
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                child_kind = "typing"
            if isinstance(child, ast.Import):
                found.extend((alias.name, kind) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                for alias in child.names:
                    submodule = f"{base}.{alias.name}"
                    found.append((submodule if submodule in known else base, kind))
            visit(child, child_kind)

    visit(tree, "run")
    return [(target, kind) for target, kind in found if target in known]


def graph(root: pathlib.Path) -> dict[str, list[tuple[str, str]]]:
    files = {module_name(p, root.parent): p for p in root.rglob("*.py")}
    known = set(files)
    return {name: imports(path, name, known) for name, path in sorted(files.items())}


def layer_of(module: str, layers: list[tuple[str, list[str]]]) -> int | None:
    """The index of the layer naming ``module`` or its nearest enclosing package."""
    best: tuple[int, int] | None = None  # (length of the matching name, layer)
    for index, (_, names) in enumerate(layers):
        for name in names:
            # "dalcore" is the package's __init__ only; a dotted name covers its submodules.
            covers = module == name or ("." in name and module.startswith(name + "."))
            if covers and (best is None or len(name) > best[0]):
                best = (len(name), index)
    return None if best is None else best[1]


def violations(
    edges: dict[str, list[tuple[str, str]]], layers: list[tuple[str, list[str]]]
) -> list[str]:
    found: list[str] = []
    for module, targets in edges.items():
        own = layer_of(module, layers)
        if own is None:
            found.append(f"{module} is in no layer")
            continue
        for target, kind in targets:
            theirs = layer_of(target, layers)
            if theirs is not None and theirs > own:
                found.append(
                    f"{module} ({layers[own][0]}) imports {target} ({layers[theirs][0]}), "
                    f"a layer above it{' (under TYPE_CHECKING)' if kind == 'typing' else ''}"
                )
    found += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(edges)]
    return found


def cycles(edges: dict[str, list[tuple[str, str]]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules importing each other at run time
    (a module's own package does not count: importing a submodule imports its package)."""
    running = {
        module: sorted({t for t, kind in targets if kind == "run" and t != module})
        for module, targets in edges.items()
    }
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in running.get(module, []):
            if module.startswith(target + "."):
                continue  # a package's submodule importing the package (its __init__)
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target)
        path.pop()
        state[module] = 2

    for module in running:
        if module not in state:
            walk(module)
    return found


def test_every_import_points_down_and_none_forms_a_cycle() -> None:
    assert violations(graph(PACKAGE), LAYERS) == []


def test_the_checker_finds_an_upward_import_a_cycle_and_an_unplaced_module() -> None:
    edges = {
        "dalcore._runtime": [("dalcore._dataobject", "typing")],
        "dalcore._dataobject": [("dalcore._lists", "run")],
        "dalcore._lists": [("dalcore._dataobject", "run")],
        "dalcore._new": [],
    }
    found = violations(edges, LAYERS)
    assert any("dalcore._runtime (runtime) imports dalcore._dataobject" in v for v in found)
    assert any(v.startswith("import cycle:") and "dalcore._lists" in v for v in found)
    assert "dalcore._new is in no layer" in found
    assert len(found) == 3


def test_the_graph_sees_deferred_relative_and_type_only_imports(tmp_path: pathlib.Path) -> None:
    package = tmp_path / "dalcore"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import _b\n"
        "if TYPE_CHECKING:\n    from dalcore._c import X\n"
        "def f():\n    from dalcore import _d\n"
    )
    for name in ("_b", "_c", "_d"):
        (package / f"{name}.py").write_text("")
    edges = graph(package)
    assert sorted(edges["dalcore._a"]) == [
        ("dalcore._b", "run"),
        ("dalcore._c", "typing"),
        ("dalcore._d", "run"),
    ]


@pytest.mark.parametrize(
    "plugin", sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "src").is_dir())
)
def test_plugins_import_only_the_contract_and_the_public_api(plugin: str) -> None:
    outside: list[str] = []
    for path in (ROOT / "plugins" / plugin / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                module = node.module
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                module, names = "", [alias.name for alias in node.names]
            else:
                continue
            for target in [module] if module else names:
                if target == "dalcore" or target.startswith("dalcore."):
                    private = [n for n in names if n.startswith("_")] if module else []
                    allowed = target in PLUGIN_MAY_IMPORT or target.startswith("dalcore.testing.")
                    if not allowed or private:
                        outside.append(f"{path.name}: {target} {private or ''}")
    assert outside == []


def test_the_architecture_page_shows_every_layer_in_order() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    diagram = re.search(r"```mermaid\n(.*?)```", page, re.S)
    assert diagram is not None
    shown = [title for title, _ in LAYERS if f'"{title}' in diagram.group(1)]
    assert shown == [title for title, _ in LAYERS]
    positions = [diagram.group(1).index(f'"{title}') for title, _ in LAYERS]
    assert positions == sorted(positions, reverse=True)  # drawn top down: the last layer first
    for _, names in LAYERS:
        for name in names:
            assert f"`{name}`" in page, f"docs/architecture.md does not mention {name}"


#: Above this, a module's docstring says why it is not split ("... lines because ...").
LONGEST = 500


def test_long_modules_say_why() -> None:
    sources = [*PACKAGE.rglob("*.py"), *(ROOT / "plugins").glob("*/src/**/*.py")]
    unexplained = []
    for path in sources:
        text = path.read_text()
        length = len(text.splitlines())
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if length > LONGEST and not re.search(r"\d+ lines because", docstring):
            unexplained.append(f"{path.relative_to(ROOT)}: {length} lines")
    assert unexplained == []


def test_a_missing_hand_down_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    """What an upper layer hands down is checked where it is used, not assumed."""
    import dalcore
    from dalcore import _dataobject, _runtime, _schema
    from dalcore.errors import ConfigurationError

    class HandDownTarget(dalcore.DataObject):
        pass

    class HandDownSource(dalcore.DataObject):
        pass

    monkeypatch.setattr(_runtime, "_change_feed", None)
    with pytest.raises(ConfigurationError, match="change feed"):
        dalcore.open_runtime(f"sqlite://{tmp_path}/db", "memory://")
    monkeypatch.setattr(_dataobject, "_query_list", _dataobject._no_query_layer)
    with pytest.raises(ConfigurationError, match="DataList"):
        HandDownTarget.where()
    monkeypatch.setattr(_schema, "_install_reverse", None)
    relation = dalcore.Relation("target", HandDownTarget, "sources")
    with pytest.raises(ConfigurationError, match="reverse installer"):
        _schema._link(HandDownSource, relation, HandDownTarget)
