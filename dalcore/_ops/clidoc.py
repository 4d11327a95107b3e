"""The CLI reference page, generated from the argparse parser so that it cannot drift.

Used by the MkDocs hook (``docs/hooks/cli_reference.py``) when the site is built, and by a test
that the page lists every command and option the parser has.
"""

from __future__ import annotations

import argparse
import os


def _help(parser: argparse.ArgumentParser) -> str:
    # A fixed width: the page must not depend on the terminal that built it.
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        return parser.format_help()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def cli_reference() -> str:
    """Markdown: the top-level help, then one section per subcommand with its full help."""
    from dalcore._cli import COMMANDS, build_parser

    parser = build_parser()
    subparsers = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    lines = [
        "# Command line reference",
        "",
        "Generated from the `dalcore` command's own argument parser when this site is built.",
        "",
        "```text",
        _help(parser).rstrip(),
        "```",
    ]
    for command in COMMANDS:
        sub = subparsers.choices[command.name]
        lines += ["", f"## dalcore {command.name}", "", command.help, "", "```text"]
        lines += [_help(sub).rstrip(), "```"]
    return "\n".join(lines) + "\n"
