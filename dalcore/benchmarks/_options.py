"""The options of ``dalcore bench`` (light: no engine imports)."""

from __future__ import annotations

import argparse

#: Group name -> "module:function" yielding its results, in running order.
GROUPS: dict[str, str] = {
    "attributes": "dalcore.benchmarks._objects:attributes",
    "load": "dalcore.benchmarks._objects:load",
    "dynamics": "dalcore.benchmarks._dynamics:dynamics",
    "locked": "dalcore.benchmarks._dynamics:locked",
    "lists": "dalcore.benchmarks._lists:lists",
    "saves": "dalcore.benchmarks._saves:saves",
    "queries": "dalcore.benchmarks._queries:queries",
    "memory": "dalcore.benchmarks._objects:memory",
    "coherence": "dalcore.benchmarks._coherence:coherence",
}


def add_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer repeats and smaller sizes (100k stored objects -> 20k); under two minutes",
    )
    parser.add_argument(
        "--out", default=default_out, help=f"directory for the results (default: {default_out})"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(GROUPS),
        metavar="GROUP",
        help=f"run only this group (repeatable): {', '.join(GROUPS)}",
    )
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
