"""Progress bars for long commands: tqdm (rate and ETA) on a terminal, silent otherwise.

tqdm is already a dependency (reindex uses it); an update costs well under a microsecond when
no bar is shown, so loops call :meth:`Progress.update` per item without batching.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


class Progress:
    def __init__(self, total: int, description: str, unit: str = "key", out: TextIO | None = None):
        stream = out if out is not None else sys.stderr
        self._bar: Any = None
        if stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=description, unit=unit, file=stream)

    def update(self, count: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
