"""The benchmark suite's smoke test: every case runs and produces a number.

No timing is asserted here (speed belongs in the benchmark results, not in pass/fail). The
suite runs once in its smallest form, with real servers where they are installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

import dalcore
from dalcore.benchmarks._harness import Settings
from dalcore.benchmarks._options import GROUPS
from dalcore.benchmarks._report import markdown, write_json
from dalcore.benchmarks._results import ERROR, OK, PENDING, SKIPPED, Result
from dalcore.benchmarks._runner import run_groups


@pytest.fixture(scope="module")
def results() -> list[Result]:
    return run_groups(Settings.make(quick=True, smoke=True))


def test_no_case_fails(results: list[Result]) -> None:
    failed = {f"{r.group} / {r.case}": r.note for r in results if r.status == ERROR}
    assert failed == {}


def test_every_group_reports(results: list[Result]) -> None:
    assert {r.group for r in results} == set(GROUPS)


def _finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_every_finished_case_has_numbers(results: list[Result]) -> None:
    finished = [r for r in results if r.status == OK]
    assert finished, "no case produced a figure"
    for r in finished:
        where = f"{r.group} / {r.case}"
        assert r.subject is not None and r.subject.samples, where
        assert all(_finite_positive(value) for value in r.subject.samples), where
        for stat in r.baselines.values():
            assert all(_finite_positive(value) for value in stat.samples), where
        if r.baseline is not None:
            assert r.ratio is not None and _finite_positive(r.ratio.median), where
        for _, met in r.target_results():
            assert met in (True, False), where


def test_skips_name_something_really_missing(results: list[Result]) -> None:
    for r in results:
        if r.status != SKIPPED:
            continue
        assert "is not installed" in r.note, r.note
        missing = r.note.split(" is not installed")[0]
        if missing.startswith("the dalcore-"):
            module = missing.removeprefix("the ").removesuffix(" plugin").replace("-", "_")
            assert importlib.util.find_spec(module) is None, r.note
        else:
            assert shutil.which(missing) is None, r.note


def test_pending_only_for_features_dalcore_lacks(results: list[Result]) -> None:
    for r in results:
        if r.status != PENDING:
            continue
        if "DataList" in r.note:
            assert not hasattr(dalcore, "DataList"), r.case
        elif "transaction" in r.note:
            assert not hasattr(dalcore, "transaction"), r.case
        else:
            pytest.fail(f"{r.case}: pending for an unknown reason: {r.note}")


def test_locked_dynamic_counts_its_loader_runs(results: list[Result]) -> None:
    locked = [r for r in results if r.group == "locked" and r.status == OK]
    for r in locked:
        calls = r.extra["loader calls per round"]
        assert all(count >= 1 for count in calls), r.case
        assert r.extra["values seen"] == [42], r.case


def test_results_are_written(results: list[Result], tmp_path: Path) -> None:
    meta = {
        "mode": "smoke",
        "machine": {
            "date": "today",
            "cpu": "cpu",
            "cores": 2,
            "python": "py",
            "platform": "os",
            "load_average": [1.0, 1.0, 1.0],
        },
        "command": "pytest",
        "duration": 1.0,
    }
    path = tmp_path / "r.json"
    write_json(str(path), meta, results)
    document = json.loads(path.read_text())
    assert len(document["results"]) == len(results)
    table = markdown(meta, results)
    assert table.count("\n| ") >= len(results)
    if importlib.util.find_spec("matplotlib") is not None:
        from dalcore.benchmarks._report import charts

        written = charts(str(tmp_path), "smoke-", results)
        assert written and all(Path(p).stat().st_size > 0 for p in written)


def test_cli_knows_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    from dalcore._cli import main

    with pytest.raises(SystemExit) as exited:
        main(["bench", "--help"])
    assert exited.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_compare_calls_a_move_beyond_the_noise_a_change() -> None:
    from dalcore.benchmarks.compare import compare, markdown

    def report(*rows: tuple[str, float, float, str]) -> dict[str, Any]:
        return {
            "results": [
                {
                    "group": "g",
                    "case": case,
                    "status": "ok",
                    "unit": unit,
                    "subject": {"median": median, "spread": spread},
                }
                for case, median, spread, unit in rows
            ]
        }

    before = report(("a", 1.0, 0.02, "s"), ("b", 1.0, 0.02, "s"), ("c", 1.0, 0.2, "s"))
    after = report(("a", 1.04, 0.02, "s"), ("b", 1.2, 0.02, "s"), ("c", 1.15, 0.02, "s"))
    verdicts = {c.case: c.verdict for c in compare(before, after)}
    assert verdicts == {"a": "within noise", "b": "slower", "c": "within noise"}
    assert "3 cases compared, 1 slower" in markdown(compare(before, after))
    # 20% slower, but so was the raw client timed alongside it: the server, not the code.
    before["results"][1]["ratio"] = {"median": 1.1}
    after["results"][1]["ratio"] = {"median": 1.12}
    assert {c.case: c.verdict for c in compare(before, after)}["b"] == "within noise"
