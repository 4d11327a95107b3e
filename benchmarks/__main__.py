"""``python -m benchmarks [--quick] [--out DIR] [--only GROUP]``: see benchmarks/README.md."""

from __future__ import annotations

import sys

from benchmarks import RESULTS
from dalcore._bench import main

if __name__ == "__main__":
    sys.exit(main(default_out=RESULTS))
