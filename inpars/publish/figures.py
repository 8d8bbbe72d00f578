"""The plots of a dataset folder (``plots/*.png``), drawn by :mod:`inpars.plots`."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from inpars.publish.layout import PLOTS_DIR
from inpars.publish.stats import _pair_key, _QueryStats, rule_counts


def write_plots(
    folder: Path, queries: _QueryStats, stats: dict[str, Any], filter_input: Path | None
) -> list[tuple[str, str]]:
    """Draws the plots into ``folder/plots``; returns (path in the folder, caption) of each.

    The score plot shows the dropped queries too when the filter's input (``filter_input``,
    the generated queries its manifest names, checked by SHA-256) is at hand: every record
    of it that has per-token log-probabilities and is not among the kept queries is scored
    with the filter's score.
    """
    from inpars import plots

    made: list[tuple[str, str]] = []

    def target(name: str) -> Path:
        return folder / PLOTS_DIR / name

    score = stats.get("score")
    if score and queries.scores:
        filtered = stats.get("filter") or {}
        dropped = _dropped_scores(filter_input, score["name"], queries) if filtered else []
        plots.score_distribution(
            target("scores.png"), queries.scores, dropped, min(queries.scores), score["name"]
        )
        made.append((f"{PLOTS_DIR}/scores.png", "Filter scores of the kept and dropped queries"))
    filtered = stats.get("filter")
    if filtered and filtered.get("kept") is not None:
        plots.dropped_per_rule(
            target("dropped_per_rule.png"), rule_counts(filtered), int(filtered["kept"])
        )
        made.append((f"{PLOTS_DIR}/dropped_per_rule.png", "Queries dropped by each filter rule"))
    plots.count_bars(
        target("query_length.png"),
        Counter(queries.words),
        "query length (words)",
        "queries",
        "Length of the published queries",
    )
    made.append((f"{PLOTS_DIR}/query_length.png", "Query length"))
    plots.count_bars(
        target("queries_per_document.png"),
        Counter(queries.per_doc.values()),
        "queries per document",
        "documents",
        "Queries per document (documents with at least one)",
    )
    made.append((f"{PLOTS_DIR}/queries_per_document.png", "Queries per document"))
    return made


def _dropped_scores(path: Path | None, score_name: str, kept: _QueryStats) -> list[float]:
    """Filter scores of the records of ``path`` that are not among the kept queries."""
    # The filter's own reader: normalised records, lines it would count invalid passed over.
    from inpars.filter import SCORE_FUNCTIONS, read_records

    scorer = SCORE_FUNCTIONS.get(score_name)
    if path is None or scorer is None:
        return []
    scores = []
    for _, record in read_records(str(path), None, skip_invalid=True):
        log_probs = record.get("log_probs")
        query, doc_id = record.get("query"), record.get("doc_id")
        if not (isinstance(log_probs, list) and log_probs and isinstance(query, str)):
            continue
        if not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in log_probs
        ):
            continue
        if _pair_key(str(doc_id), query) in kept.keys:
            continue
        scores.append(scorer(log_probs))
    return scores
