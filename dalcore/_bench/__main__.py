"""``python -m dalcore._bench``: the same as ``dalcore bench``."""

import sys

from dalcore._bench import main

sys.exit(main())
