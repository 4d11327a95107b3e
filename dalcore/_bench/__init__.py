"""dalcore's benchmark suite (``dalcore bench``, ``python -m benchmarks``, ``tox -e bench``).

It lives inside the package so that ``dalcore bench`` works wherever dalcore is installed; the
repository's ``benchmarks/`` directory holds the entry point, the README and the committed
results. Importing this package is cheap: the runner and the cases load when a run starts.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None, default_out: str = ".") -> int:
    """Parse ``argv``, run the chosen groups and write the results; the exit status."""
    from dalcore._bench._runner import main as run_main

    return run_main(argv, default_out)


__all__ = ["main"]
