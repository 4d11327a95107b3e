"""`dalcore erd` run as a user runs it: a real subprocess, on a model package it imports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dalcore._ops.erd import SOURCE_MARK, source_digest

ROOT = Path(__file__).resolve().parent.parent
DALCORE = str(Path(sys.executable).with_name("dalcore"))

MODEL = """
from dalcore import DataObject, Dynamic, Property, Relation


class Rack(DataObject):
    __properties = [Property("name", str, unique=True), Property("row", int, indexed=True)]
    __relations = [Relation("parent", None, "children", mandatory=False)]
    __dynamics = [Dynamic("power", float, 30), Dynamic("temperature", float, 5, locked=True)]

    def _power(self):
        return 1.0

    def _temperature(self):
        return 20.0


class Server(DataObject):
    __properties = [
        Property("state", ["up", "down"], default="up"),
        Property("notes", str, mandatory=False),
    ]
    __relations = [
        Relation("rack", Rack, "servers"),
        Relation("bmc", "Bmc", "server", onetoone=True),
    ]


class Bmc(DataObject):
    __properties = [Property("address", str)]


class Tag(DataObject):
    __properties = [Property("label", str)]


class ServerTag(DataObject):
    __relations = [Relation("server", Server, "tags"), Relation("tag", Tag, "servers")]
"""


def erd(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    package = tmp_path / "erdmodel"
    if not package.exists():
        package.mkdir()
        (package / "__init__.py").write_text(textwrap.dedent(MODEL))
    base = dict(
        os.environ, PYTHONPATH=str(tmp_path), DALCORE_PERSISTENT=f"sqlite://{tmp_path}/x.db"
    )
    return subprocess.run(
        [DALCORE, "erd", "--hybrids", "erdmodel", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_mermaid_shows_types_flags_cardinalities_and_dynamics(tmp_path: Path) -> None:
    done = erd(tmp_path, "Rack", "Server", "Bmc", "Tag", "ServerTag")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("erDiagram\n")
    assert '        str name "unique"' in text
    assert '        int row "indexed"' in text
    assert "        enum state \"default='up', up/down\"" in text
    assert '        str notes "optional"' in text
    assert '        float temperature "dynamic, 5 s, locked"' in text
    assert '        float power "dynamic, 30 s"' in text
    assert '        guid rack_guid FK "-> Rack"' in text
    # one-to-many, one-to-one, self (optional), and the junction as many-to-many
    assert '    Rack ||--o{ Server : "rack / servers"' in text
    assert '    Bmc ||--o| Server : "bmc / server"' in text
    assert '    Rack |o--o{ Rack : "parent / children"' in text
    assert '    Server }o..o{ Tag : "many-to-many via ServerTag"' in text
    # Nothing but the named classes (and no entity twice).
    assert re.findall(r"^    (\w+) \{$", text, re.M) == [
        "Bmc",
        "Rack",
        "Server",
        "ServerTag",
        "Tag",
    ]


def test_dot_output_is_the_same_on_every_run(tmp_path: Path) -> None:
    first = erd(tmp_path, "--format", "dot")
    second = erd(tmp_path, "--format", "dot")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert '"ServerTag" -> "Server"' in first.stdout
    assert "(junction)" in first.stdout
    assert "arrowtail=teeodot" in first.stdout  # the one-to-one's source side


@pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz 'dot' is not installed (Debian package graphviz)"
)
def test_svg_and_png_are_drawn_by_graphviz(tmp_path: Path) -> None:
    svg = erd(tmp_path, "--format", "svg", "-o", str(tmp_path / "m.svg"))
    assert svg.returncode == 0, svg.stderr
    drawn = (tmp_path / "m.svg").read_text()
    assert "<svg" in drawn and "ServerTag" in drawn
    png = erd(tmp_path, "--format", "png", "-o", str(tmp_path / "m.png"))
    assert png.returncode == 0, png.stderr
    assert (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG")


def test_missing_graphviz_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "nobin"
    empty.mkdir()
    done = erd(tmp_path, "--format", "svg", env={"PATH": str(empty)})
    assert done.returncode == 1
    assert "'dot'" in done.stderr and "graphviz" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_readme_diagram_is_up_to_date(tmp_path: Path) -> None:
    """docs/demo-erd.svg carries the digest of the DOT it was drawn from; a changed demo model
    changes the DOT. Regenerate with the command in the assertion message."""
    command = [DALCORE, "erd", "--hybrids", "dalcore._demo", "BackendType", "Backend",
               "AlbaBackend"]  # fmt: skip
    done = subprocess.run(
        [*command, "--format", "dot"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    committed = (ROOT / "docs" / "demo-erd.svg").read_text()
    found = re.search(SOURCE_MARK + r"([0-9a-f]{64})", committed)
    assert found, "docs/demo-erd.svg has no source digest"
    assert found.group(1) == source_digest(done.stdout), (
        "docs/demo-erd.svg is out of date; regenerate it with: "
        + " ".join(["dalcore", *command[1:], "--format", "svg", "-o", "docs/demo-erd.svg"])
    )
    assert "(docs/demo-erd.svg)" in (ROOT / "README.md").read_text()  # the README shows it
