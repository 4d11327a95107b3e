"""What a real logging setup prints, for tests that must prove a secret never reaches a log."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def root_log_stream(level: int = logging.DEBUG) -> Iterator[io.StringIO]:
    """A StreamHandler on the root logger at ``level``, as ``logging.basicConfig`` sets one up;
    yields the stream it writes to (records of every logger that propagates reach it)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
