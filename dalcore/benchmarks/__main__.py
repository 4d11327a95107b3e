"""``python -m dalcore.benchmarks``: the same as ``dalcore bench``."""

import sys

from dalcore.benchmarks import main

sys.exit(main())
