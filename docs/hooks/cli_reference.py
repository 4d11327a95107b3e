"""MkDocs hook: the page ``cli.md`` is replaced by the reference generated from the parser."""

from __future__ import annotations

from typing import Any


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != "cli.md":
        return markdown
    from dalcore._ops.clidoc import cli_reference

    return cli_reference()
