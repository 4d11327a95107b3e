"""dalcore's benchmark suite: ``dalcore bench``, ``python -m dalcore.benchmarks``, ``tox -e bench``.

The cases, the runner and the report writer live here, inside the installed package, so the
suite runs wherever dalcore is installed. Results go to ``--out``; by default to
``docs/benchmarks/`` when run from a checkout (where the committed full results and
docs/benchmarks.md, the page describing the suite, live), else to the working directory.
Importing this package is cheap: the runner and the cases load when a run starts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def default_out() -> str:
    """Where results go unless ``--out`` says otherwise."""
    checkout = os.path.join("docs", "benchmarks")
    return checkout if os.path.isdir(checkout) else "."


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the chosen groups and write the results; the exit status."""
    from dalcore.benchmarks._runner import main as run_main

    return run_main(argv, default_out())


__all__ = ["default_out", "main"]
