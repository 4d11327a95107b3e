"""The documentation site: every guide is in the navigation, the CLI page follows the parser."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from dalcore import _cli
from dalcore._ops.clidoc import cli_reference

ROOT = Path(__file__).resolve().parent.parent


def test_every_page_in_docs_is_in_the_navigation() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    listed = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", config, re.M))
    # Quick and partial benchmark runs write reports that git ignores: not pages of the site.
    rules = (ROOT / "docs" / "benchmarks" / ".gitignore").read_text().splitlines()
    ignored = [rule for rule in rules if rule and not rule.startswith("#")]
    pages = {
        str(p.relative_to(ROOT / "docs"))
        for p in (ROOT / "docs").rglob("*.md")
        if not (p.parent.name == "benchmarks" and any(p.match(glob) for glob in ignored))
    }
    assert pages - listed == set(), "pages missing from mkdocs.yml's nav"
    assert listed - pages == set(), "nav entries without a page"


def test_cli_reference_has_every_command_and_option() -> None:
    page = cli_reference()
    parser = _cli.build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert f"## dalcore {name}\n" in page
        for action in sub._actions:
            for option in action.option_strings:
                assert option in page, f"dalcore {name} {option} is not in the reference"


def test_the_hook_replaces_the_cli_page() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "hook", ROOT / "docs" / "hooks" / "cli_reference.py"
    )
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)

    class File:
        src_uri = "cli.md"

    class Page:
        file = File()

    assert hook.on_page_markdown("placeholder", Page()) == cli_reference()
    File.src_uri = "hybrids.md"
    assert hook.on_page_markdown("unchanged", Page()) == "unchanged"
