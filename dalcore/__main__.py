"""``python -m dalcore``: the same as the ``dalcore`` command."""

from dalcore._cli import main

raise SystemExit(main())
