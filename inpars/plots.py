"""PNG plots for the dataset folder (``inpars.publish``) and for run comparisons
(``inpars.evaluate --plot``), drawn with matplotlib's Agg backend (no display needed).

Every figure is :data:`WIDTH` x :data:`HEIGHT` pixels, one message per figure, its axes
labelled with what they count, and written atomically (a reader never sees half a PNG).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from inpars.errors import InparsError

WIDTH, HEIGHT = 800, 500
"""The size of every plot, in pixels."""
_DPI = 100
_KEPT, _DROPPED, _CUT = "#1f77b4", "#c7c7c7", "#d62728"
_BETTER, _WORSE = "#2ca02c", "#d62728"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise InparsError("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg", force=True)  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def _figure() -> tuple[Any, Any]:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(WIDTH / _DPI, HEIGHT / _DPI), dpi=_DPI)
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    return figure, axes


def _save(figure: Any, path: str | Path) -> Path:
    """Writes the figure as a PNG of exactly WIDTH x HEIGHT pixels, atomically."""
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        figure.tight_layout()
        # No bbox_inches="tight": the size stays the one asked for.
        figure.savefig(temp, format="png", dpi=_DPI)
        os.replace(temp, path)
    finally:
        plt.close(figure)
        temp.unlink(missing_ok=True)
    return path


def score_distribution(
    path: str | Path,
    kept: Sequence[float],
    dropped: Sequence[float],
    cut: float | None,
    score_name: str,
) -> Path:
    """Histogram of the filter scores of the kept and the dropped queries (stacked), and the
    cut: the lowest score kept."""
    figure, axes = _figure()
    values = [*kept, *dropped]
    bins = min(50, max(10, len(set(values))))
    data, colors, labels = [kept], [_KEPT], [f"kept ({len(kept):,})"]
    if dropped:
        data.append(dropped)
        colors.append(_DROPPED)
        labels.append(f"dropped ({len(dropped):,})")
    axes.hist(data, bins=bins, stacked=True, color=colors, label=labels)
    if cut is not None:
        axes.axvline(cut, color=_CUT, linestyle="--", label=f"lowest kept score {cut:.3g}")
    axes.set_xlabel(f"score ({score_name}); higher is better")
    axes.set_ylabel("queries")
    axes.set_title("Filter scores of the generated queries")
    axes.legend()
    return _save(figure, path)


def dropped_per_rule(path: str | Path, rows: Sequence[tuple[str, int | None]], kept: int) -> Path:
    """Horizontal bars: the queries each filter rule dropped, in rule order, then those kept."""
    figure, axes = _figure()
    labels = [label for label, _ in rows] + ["kept"]
    counts = [count or 0 for _, count in rows] + [kept]
    positions = list(range(len(labels)))[::-1]  # the first rule on top
    colors = [_DROPPED if count is not None else "white" for _, count in rows] + [_KEPT]
    axes.barh(positions, counts, color=colors, edgecolor="#555555")
    axes.set_yticks(positions, labels)
    shown = ["not checked" if count is None else f"{count:,}" for _, count in rows]
    for position, count, text in zip(positions, counts, [*shown, f"{kept:,}"], strict=True):
        axes.annotate(
            text, (count, position), xytext=(4, 0), textcoords="offset points", va="center",
            fontsize=8,
        )  # fmt: skip
    axes.grid(axis="x", alpha=0.3)
    axes.grid(axis="y", visible=False)
    axes.set_xlabel("queries")
    axes.set_title("Queries dropped by each filter rule (in the order applied)")
    return _save(figure, path)


def count_bars(
    path: str | Path, counts: Mapping[int, int], xlabel: str, ylabel: str, title: str
) -> Path:
    """Bars of a distribution of whole numbers: how many items have each value."""
    figure, axes = _figure()
    values = sorted(counts)
    axes.bar(values, [counts[v] for v in values], color=_KEPT, width=0.8)
    if len(values) <= 30:
        axes.set_xticks(values)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    return _save(figure, path)


def per_query_differences(
    path: str | Path,
    differences: Mapping[str, Sequence[float]],
    measure: str,
    baseline: str,
) -> Path:
    """Per-query difference of each run against the baseline, sorted, one bar per query
    (green: the run is better, red: worse), one panel per run, as IR papers show it."""
    plt = _pyplot()
    runs = list(differences)
    if not runs:
        raise InparsError("--plot needs a run to compare with the baseline (give two --run)")
    figure, all_axes = plt.subplots(
        len(runs), 1, figsize=(WIDTH / _DPI, HEIGHT / _DPI), dpi=_DPI, squeeze=False
    )
    for axes, run in zip(all_axes[:, 0], runs, strict=True):
        values = sorted(differences[run], reverse=True)
        better = sum(value > 0 for value in values)
        worse = sum(value < 0 for value in values)
        colors = [_BETTER if v > 0 else _WORSE if v < 0 else _DROPPED for v in values]
        axes.bar(range(len(values)), values, width=1.0, color=colors)
        axes.axhline(0, color="black", linewidth=0.8)
        axes.set_xlim(-0.5, max(len(values), 1) - 0.5)
        axes.set_xticks([])
        axes.set_ylabel(f"Δ {measure}")
        axes.set_title(
            f"{run} vs {baseline}: {better} queries better, {worse} worse, "
            f"{len(values) - better - worse} tied",
            fontsize=10,
        )
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
    all_axes[-1, 0].set_xlabel(f"queries ({len(differences[runs[-1]]):,}), sorted by difference")
    return _save(figure, path)
