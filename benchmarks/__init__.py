"""The repository's entry to dalcore's benchmark suite: ``python -m benchmarks [--quick]``.

The cases and the runner live in :mod:`dalcore._bench` (so that ``dalcore bench`` works
wherever dalcore is installed); this package runs them with the results going to
``benchmarks/results/``. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import os

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
