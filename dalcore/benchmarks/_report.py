"""Writing results: JSON (everything), a Markdown table, and one PNG chart per group."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from dalcore.benchmarks._harness import Stat
from dalcore.benchmarks._results import OK, Result, format_seconds


def write_json(path: str, meta: dict[str, Any], results: Sequence[Result]) -> None:
    document = {**meta, "results": [result.to_json() for result in results]}
    with open(path, "w") as handle:
        json.dump(document, handle, indent=1)
        handle.write("\n")


def show(value: float, unit: str) -> str:
    if unit == "s":
        return format_seconds(value)
    if unit == "bytes":
        return f"{value:,.0f} B"
    return f"{value:g} {unit}"


def _cell_stat(stat: Stat | None, unit: str) -> str:
    return "" if stat is None else show(stat.median, unit)


def _met(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: ""}[value]


def markdown(meta: dict[str, Any], results: Sequence[Result]) -> str:
    machine = meta["machine"]
    lines = [
        f"# dalcore benchmarks ({meta['mode']} run)",
        "",
        f"Taken {machine['date']} on {machine['cpu']} ({machine['cores']} cores, shared), "
        f"{machine['python']}, {machine['platform']}; load average at start "
        f"{_load(machine.get('load_average'))}. Run: `{meta['command']}` in "
        f"{meta['duration']:.0f} s.",
        "",
        "Median over the repeats; spread = interquartile range / median; ratio = median of the "
        "per-repeat ratios subject / baseline, both measured alternately in the same process. "
        "Targets come from issues 3, 4, 5, 6 and 8.",
        "",
        "| group | case | median | spread | baseline | baseline median | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        targets = "; ".join(text for text, _ in r.target_results())
        if r.status != OK:
            lines.append(f"| {r.group} | {r.case} | *{r.status}* | | | | | {targets} | |")
            continue
        baseline = r.baselines.get(r.baseline or "")
        spread = "" if r.subject is None else f"{r.subject.spread:.0%}"
        ratio = "" if r.ratio is None else f"{r.ratio.median:.2f}x"
        lines.append(
            f"| {r.group} | {r.case} | {_cell_stat(r.subject, r.unit)} | {spread} | "
            f"{r.baseline or ''} | {_cell_stat(baseline, r.unit)} | {ratio} | {targets} | "
            f"{_met(r.met)} |"
        )
    notes = [r for r in results if r.status != OK or r.note or _notable(r.extra)]
    if notes:
        lines += ["", "## Notes", ""]
        for r in notes:
            text = r.note if r.status == OK else f"{r.status}: {r.note}"
            details = ", ".join(f"{k}: {_short(v)}" for k, v in _notable(r.extra).items())
            parts = [part for part in (text, details) if part]
            lines.append(f"- **{r.group} / {r.case}**: " + "; ".join(parts))
        others = [
            f"{r.case}: {name} {show(stat.median, r.unit)}"
            for r in results
            for name, stat in r.baselines.items()
            if name != r.baseline
        ]
        if others:
            lines += ["", "Other baselines measured in the same run: " + "; ".join(others) + "."]
    return "\n".join(lines) + "\n"


def _notable(extra: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in extra.items() if key != "ops_per_batch"}


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


def _load(values: Any) -> str:
    return "?" if not values else " / ".join(f"{value:.2f}" for value in values)


def charts(directory: str, prefix: str, results: Sequence[Result]) -> list[str]:
    """One horizontal bar chart per group (subject against its baselines); paths written.

    Raises ImportError when matplotlib is not installed (the caller reports it).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    groups: dict[str, list[Result]] = {}
    for r in results:
        if r.status == OK and r.subject is not None:
            groups.setdefault(r.group, []).append(r)
    for group, rows in groups.items():
        unit = rows[0].unit
        scale, label = _scale(unit, [r.subject.median for r in rows if r.subject is not None])
        bars: list[tuple[str, float, str]] = []
        for r in rows:
            assert r.subject is not None
            ratio = "" if r.ratio is None else f"  {r.ratio.median:.2f}x"
            met = {True: "  target met", False: "  TARGET MISSED", None: ""}[r.met]
            bars.append((f"{r.case}", r.subject.median * scale, f"{ratio}{met}"))
            for name, stat in r.baselines.items():
                bars.append((f"    baseline: {name}", stat.median * scale, ""))
        height = 0.8 + 0.32 * len(bars)
        figure, axes = plt.subplots(figsize=(12, height))
        names = [_wrap(name) for name, _, _ in bars][::-1]
        values = [value for _, value, _ in bars][::-1]
        colours = ["#9aa5b1" if name.startswith("    ") else "#1f77b4" for name, _, _ in bars][::-1]
        axes.barh(range(len(values)), values, color=colours)
        axes.set_yticks(range(len(values)), names, fontsize=8)
        for index, (_, value, note) in enumerate(bars[::-1]):
            axes.text(value, index, f" {value:.3g}{note}", va="center", fontsize=8)
        if values and max(values) / max(min(v for v in values if v > 0), 1e-12) > 50:
            axes.set_xscale("log")
        axes.set_xlabel(label)
        axes.set_title(f"dalcore benchmarks: {group} (median; blue: dalcore, grey: baseline)")
        axes.margins(x=0.25)
        figure.tight_layout()
        path = os.path.join(directory, f"{prefix}{group}.png")
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def _scale(unit: str, values: Sequence[float]) -> tuple[float, str]:
    if unit != "s":
        return 1.0, unit
    top = max(values) if values else 0.0
    if top < 5e-6:
        return 1e9, "nanoseconds per operation"
    if top < 5e-3:
        return 1e6, "microseconds per operation"
    return 1e3, "milliseconds per operation"


def _wrap(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
