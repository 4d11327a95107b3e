"""The ``dalcore`` command.

Every subcommand is one ``_cmd_*`` function taking the parsed arguments and returning an exit
status, plus an optional function adding its options; both are listed once in ``COMMANDS``.
Commands whose code is heavy or written elsewhere import it when run, so ``dalcore --help``
stays fast and works even when such a module is missing or broken.

Exit statuses: 0 success, 1 the command failed, 2 the command line was wrong (argparse).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TextIO

from dalcore.errors import DalcoreError

_KIND_ORDER = {"persistent": 0, "volatile": 1, "loader": 2}


class Command(NamedTuple):
    """One subcommand: its name, a one-line help, what it runs and how it adds its options."""

    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    configure: Callable[[argparse.ArgumentParser], None] | None = None


# -- dalcore plugins ----------------------------------------------------------------------


def _configure_plugins(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _cmd_plugins(args: argparse.Namespace) -> int:
    from dalcore import _plugins

    rows = sorted(
        (
            {
                "kind": info.provided.kind,
                "name": info.provided.name,
                "plugin": info.plugin,
                "package": info.package,
                "version": info.version,
                "description": info.provided.description,
            }
            for info in _plugins.provided()
        ),
        key=lambda row: (_KIND_ORDER.get(row["kind"], 9), row["name"], row["plugin"]),
    )
    # A plugin that failed to import provides nothing; the manager has logged a warning for it
    # already, and the JSON names it so that tools see it too.
    failed = dict(sorted(_plugins._failures.items()))
    out = sys.stdout
    if args.json:
        json.dump({"provided": rows, "failed": failed}, out, indent=2)
        out.write("\n")
        return 0
    columns = ["kind", "name", "plugin", "package", "version", "description"]
    _table(out, columns, [[row[c] for c in columns] for row in rows])
    return 0


def _table(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        # The last column is not padded, so lines carry no trailing blanks.
        cells = [str(cell).ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        out.write("  ".join([*cells, str(row[-1])]) + "\n")


# -- dalcore demo -------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        demo = importlib.import_module("dalcore._demo")
    except ModuleNotFoundError as exc:
        if exc.name != "dalcore._demo":
            raise  # the demo exists but something it imports is missing: show that
        print("dalcore demo: the demo is not available in this version", file=sys.stderr)
        return 1
    status: int = demo.run(out=sys.stdout)
    return status


# -- dalcore bench ------------------------------------------------------------------------


def _configure_bench(parser: argparse.ArgumentParser) -> None:
    from dalcore.benchmarks import default_out
    from dalcore.benchmarks._options import add_arguments

    add_arguments(parser, default_out())


def _cmd_bench(args: argparse.Namespace) -> int:
    from dalcore.benchmarks._runner import run

    return run(args, "dalcore bench " + " ".join(sys.argv[2:]))


# -- dalcore reindex ----------------------------------------------------------------------


def _configure_reindex(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hybrid", help="class name of the hybrid, e.g. Backend")
    parser.add_argument(
        "--hybrids",
        action="append",
        default=[],
        metavar="PACKAGE",
        help="import the hybrids in PACKAGE first (repeatable; the configuration's "
        "'hybrids' setting is imported as well)",
    )
    parser.add_argument("--batch", type=int, default=200, help="objects per commit (200)")
    parser.add_argument(
        "--restart", action="store_true", help="ignore the checkpoint of an interrupted run"
    )


def _cmd_reindex(args: argparse.Namespace) -> int:
    import dalcore

    rt = _configured(args)
    hybrid = dalcore.hybrid(args.hybrid)
    print(f"reindexing {hybrid.__name__} in {rt.store.endpoint}", file=sys.stderr)
    bar: Any = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="obj", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)
        else:
            print(f"  {done}/{total} objects", file=sys.stderr)

    try:
        report = dalcore.reindex(hybrid, progress=progress, batch=args.batch, restart=args.restart)
    finally:
        if bar is not None:
            bar.close()
    resumed = f", resumed after {report.resumed_after}" if report.resumed_after else ""
    print(
        f"{report.objects} objects checked, {report.added} entries added, "
        f"{report.removed} stale entries removed{resumed}"
    )
    for field, value, guid, holder in report.duplicates:
        print(
            f"duplicate: {hybrid.__name__}.{field} = {value!r} on {guid}, already held by {holder}"
        )
    return 0


# -- operator tools: erd, inspect, check, doctor --------------------------------------------


def _add_hybrids_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hybrids",
        action="append",
        default=[],
        metavar="PACKAGE",
        help="import the hybrids in PACKAGE first (repeatable; the configuration's "
        "'hybrids' setting is imported as well)",
    )


def _configured(args: argparse.Namespace) -> Any:
    """The runtime from the configuration, with the hybrids of ``--hybrids`` imported."""
    import dalcore
    from dalcore._runtime import load_hybrids

    rt = dalcore.configure()
    load_hybrids(args.hybrids)
    return rt


def _configure_erd(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "classes", nargs="*", metavar="CLASS", help="draw only these hybrids (default: all)"
    )
    _add_hybrids_option(parser)
    parser.add_argument(
        "--format",
        default="mermaid",
        choices=["mermaid", "dot", "svg", "png"],
        help="mermaid (default) or dot text; svg or png drawn by Graphviz's dot",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")


def _cmd_erd(args: argparse.Namespace) -> int:
    from dalcore._ops import known_hybrids
    from dalcore._ops.erd import diagram
    from dalcore._runtime import load_hybrids

    # The diagram needs the classes only: no store is opened.
    load_hybrids(args.hybrids)
    data = diagram(known_hybrids(args.classes), args.format)
    if args.output:
        with open(args.output, "wb") as handle:
            handle.write(data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
    return 0


def _configure_inspect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hybrid", nargs="?", metavar="CLASS", help="list this hybrid's objects")
    parser.add_argument("guid", nargs="?", metavar="GUID", help="show this object in detail")
    _add_hybrids_option(parser)
    parser.add_argument("--fields", metavar="A,B", help="fields to list (default: every property)")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="keep objects whose FIELD equals VALUE (repeatable; indexes are used)",
    )
    parser.add_argument("--limit", type=int, default=50, help="objects per page (50)")
    parser.add_argument("--offset", type=int, default=0, help="objects to skip (0)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _cmd_inspect(args: argparse.Namespace) -> int:
    import dalcore
    from dalcore._ops import dump_json, known_hybrids
    from dalcore._ops import inspect as ops

    rt = _configured(args)
    out = sys.stdout
    if args.hybrid is None:
        rows = ops.overview(rt, known_hybrids())
        dump_json(out, rows) if args.json else ops.print_overview(out, rows)
    elif args.guid is None:
        fields = [f for f in (args.fields or "").split(",") if f]
        hybrid = dalcore.hybrid(args.hybrid)
        page = ops.listing(rt, hybrid, fields, args.where, args.limit, args.offset)
        dump_json(out, page) if args.json else ops.print_listing(out, page)
    else:
        info = ops.detail(rt, dalcore.hybrid(args.hybrid), args.guid)
        dump_json(out, info) if args.json else ops.print_detail(out, info)
    return 0


def _configure_check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "classes", nargs="*", metavar="CLASS", help="check only these hybrids (default: all)"
    )
    _add_hybrids_option(parser)
    parser.add_argument(
        "--repair",
        action="store_true",
        help="fix each finding in its own guarded commit (resumable)",
    )
    parser.add_argument(
        "--restart", action="store_true", help="with --repair: ignore an interrupted run's position"
    )
    parser.add_argument("--batch", type=int, default=200, help="keys read per page (200)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _cmd_check(args: argparse.Namespace) -> int:
    from dalcore._ops import dump_json, known_hybrids
    from dalcore._ops.check import check, print_report

    rt = _configured(args)
    report = check(
        rt, known_hybrids(args.classes), repair=args.repair, restart=args.restart, batch=args.batch
    )
    if args.json:
        dump_json(sys.stdout, report.as_json())
    else:
        print_report(sys.stdout, report, args.repair)
    # Exit 0 when the store is sound: nothing found, or everything found was repaired.
    left = sum(report.found.values()) - (sum(report.repaired.values()) if args.repair else 0)
    return 0 if left == 0 else 1


def _configure_doctor(parser: argparse.ArgumentParser) -> None:
    _add_hybrids_option(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def _cmd_doctor(args: argparse.Namespace) -> int:
    from dalcore._ops import doctor as ops
    from dalcore._ops import dump_json, known_hybrids

    try:
        rt = _configured(args)
    except DalcoreError as exc:
        # A store that cannot even be opened is the first thing doctor must report.
        rows = [ops.Row("configuration", ops.FAIL, str(exc))]
    else:
        rows = ops.doctor(rt, known_hybrids())
    if args.json:
        dump_json(sys.stdout, ops.as_json(rows))
    else:
        ops.print_rows(sys.stdout, rows)
    return 0 if ops.healthy(rows) else 1


# -- the command table --------------------------------------------------------------------

COMMANDS: tuple[Command, ...] = (
    Command(
        "plugins", "list installed stores, caches and loaders", _cmd_plugins, _configure_plugins
    ),
    Command(
        "demo",
        "a tour of hybrids on the configured stores (default: ./dalcore.db + in-process cache)",
        _cmd_demo,
    ),
    Command(
        "reindex",
        "build the index entries of properties made indexed/unique after data existed",
        _cmd_reindex,
        _configure_reindex,
    ),
    Command(
        "erd",
        "entity-relationship diagram of the registered hybrids (mermaid, dot, svg, png)",
        _cmd_erd,
        _configure_erd,
    ),
    Command(
        "inspect",
        "look at what is stored: hybrids and counts, a page of objects, one object in detail",
        _cmd_inspect,
        _configure_inspect,
    ),
    Command(
        "check",
        "find (and with --repair fix) index, reverse and unique entries and documents that "
        "disagree",
        _cmd_check,
        _configure_check,
    ),
    Command(
        "doctor",
        "check the configured store, cache and plugins (exit 0 only when all are fine)",
        _cmd_doctor,
        _configure_doctor,
    ),
    Command(
        "bench",
        "measure dalcore's hot paths against raw clients (starts its own servers)",
        _cmd_bench,
        _configure_bench,
    ),
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dalcore")
    except PackageNotFoundError:  # running from a source tree that was never installed
        from dalcore import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dalcore",
        description="dalcore: hybrids (Python objects) kept in pluggable key-value stores.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what dalcore and its plugins do"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        if command.configure is not None:
            command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except DalcoreError as exc:
        print(f"dalcore {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # "dalcore plugins | head": the reader left; not worth a traceback. Point stdout at
        # /dev/null so that flushing it at exit does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
