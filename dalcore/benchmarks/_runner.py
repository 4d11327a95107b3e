"""Running the groups and writing the results (``dalcore bench``)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dalcore.benchmarks._env import Environment, machine
from dalcore.benchmarks._harness import Settings
from dalcore.benchmarks._options import GROUPS, add_arguments
from dalcore.benchmarks._report import charts, markdown, write_json
from dalcore.benchmarks._results import ERROR, Result


def run_groups(
    settings: Settings,
    groups: Sequence[str] | None = None,
    progress: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Every case of the chosen groups; a case that fails is an ``error`` result, not a crash."""
    env = Environment(settings)
    results: list[Result] = []
    try:
        for name in groups or GROUPS:
            for result in _run_group(name, env):
                results.append(result)
                if progress is not None:
                    progress(result)
    finally:
        env.close()
    return results


def _run_group(name: str, env: Environment) -> Iterator[Result]:
    module, function = GROUPS[name].split(":")
    try:
        yield from getattr(importlib.import_module(module), function)(env)
    except Exception as exc:
        yield Result(
            name,
            "(group failed)",
            status=ERROR,
            note=f"{type(exc).__name__}: {exc}",
            extra={"traceback": traceback.format_exc()},
        )


def run(args: argparse.Namespace, command: str) -> int:
    """Run, print a progress line per case, write JSON, Markdown and charts into ``args.out``."""
    settings = Settings.make(quick=args.quick)
    mode = "quick" if args.quick else "full"
    os.makedirs(args.out, exist_ok=True)
    started = time.monotonic()
    meta: dict[str, Any] = {"mode": mode, "machine": machine(), "command": command}
    print(f"dalcore bench ({mode}): results go to {args.out}", file=sys.stderr)
    results = run_groups(settings, args.only, _progress)
    meta["duration"] = time.monotonic() - started
    meta["settings"] = {
        "repeats": settings.repeats,
        "batch_seconds": settings.batch_seconds,
        "sizes": settings.sizes,
    }
    # Quick runs get their own file names so they never replace the committed full results.
    prefix = "latest" if mode == "full" else "quick"
    if args.only:
        prefix += "-" + "-".join(args.only)
    write_json(os.path.join(args.out, f"{prefix}.json"), meta, results)
    table = markdown(meta, results)
    with open(os.path.join(args.out, f"{prefix}.md"), "w") as handle:
        handle.write(table)
    if not args.no_charts:
        try:
            written = charts(args.out, f"{prefix}-", results)
        except ImportError:
            print("charts skipped: matplotlib is not installed", file=sys.stderr)
        else:
            print(f"charts: {', '.join(written)}", file=sys.stderr)
    sys.stdout.write(table)
    failed = [r for r in results if r.status == ERROR]
    for r in failed:
        print(
            f"ERROR {r.group} / {r.case}: {r.note}\n{r.extra.get('traceback', '')}", file=sys.stderr
        )
    return 1 if failed else 0


def _progress(result: Result) -> None:
    from dalcore.benchmarks._report import show

    figure = "" if result.subject is None else show(result.subject.median, result.unit)
    ratio = "" if result.ratio is None else f" ({result.ratio.median:.2f}x {result.baseline})"
    print(f"  {result.group} / {result.case}: {result.status} {figure}{ratio}", file=sys.stderr)


def main(argv: Sequence[str] | None = None, default_out: str = "benchmark-results") -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dalcore.benchmarks",
        description="dalcore's hot paths against raw clients, measured alternately in one process",
    )
    add_arguments(parser, default_out)
    args = parser.parse_args(argv)
    return run(
        args, "python -m dalcore.benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    )
