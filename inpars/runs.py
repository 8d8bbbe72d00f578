"""TREC run files: ``query_id Q0 doc_id rank score tag``, one line per retrieved document.

The one run format of inpars: first-stage BM25 runs, reranked runs and dense runs are all
written with :func:`format_run` and read with :func:`read_run`, which any TREC tool
(trec_eval, ir_measures, ranx, Pyserini) reads too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from inpars.errors import InparsError, InputError
from inpars.io import open_lines
from inpars.records import RunEntry


def trec_order(scores: dict[str, float]) -> list[str]:
    """Document ids in the order trec_eval ranks them: score descending, ties by id descending.

    trec_eval ignores a run's rank column and sorts each query's documents itself, breaking
    equal scores by document id in reverse ``strcmp`` order (UTF-8 byte order, the same as
    Python's string order); this is that order, for code that ranks from scores alone.
    """
    return sorted(scores, key=lambda doc_id: (scores[doc_id], doc_id), reverse=True)


def rank_scores(
    query_id: str, scored: Sequence[tuple[str, float]], tag: str = "inpars"
) -> list[RunEntry]:
    """The entries of one query, best score first; ties keep the order of ``scored``.

    ``scored`` is (doc id, score) in first-stage order, so a tie keeps the first stage's
    order rather than the document ids' alphabetical one.
    """
    order = sorted(range(len(scored)), key=lambda i: (-scored[i][1], i))
    return [
        RunEntry(query_id=query_id, doc_id=scored[i][0], rank=rank, score=scored[i][1], tag=tag)
        for rank, i in enumerate(order, start=1)
    ]


def format_run(entries: Iterable[RunEntry]) -> str:
    """Run lines for ``entries``, each ending in a newline.

    Scores are written with full precision (the shortest text that reads back as the same
    float), so that distinct scores never become ties that an evaluation tool then orders by
    document id.

    Raises:
        InparsError: for a NaN score, which no run reader accepts.
    """
    lines = []
    for e in entries:
        score = float(e.score)
        if math.isnan(score):
            raise InparsError(
                f"query {e.query_id!r}, document {e.doc_id!r}: the score is NaN; "
                "a run cannot hold it"
            )
        lines.append(f"{e.query_id} Q0 {e.doc_id} {e.rank} {score!r} {e.tag}\n")
    return "".join(lines)


def iter_run(path: str | Path) -> Iterator[tuple[int, RunEntry]]:
    """Streams a TREC run as (line number, entry), checking every line.

    Raises:
        InputError: naming the file, line and field of a line that is not a run line.
    """
    for line, raw in open_lines(path):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise InputError(
                f"expected 6 whitespace-separated fields (query_id Q0 doc_id rank score tag), "
                f"found {len(parts)}",
                path,
                line,
            )
        query_id, _, doc_id, rank_text, score_text, tag = parts
        try:
            rank = int(rank_text)
        except ValueError:
            raise InputError(
                f"expected an integer, got {rank_text!r}", path, line, "rank"
            ) from None
        try:
            score = float(score_text)
        except ValueError:
            raise InputError(
                f"expected a number, got {score_text!r}", path, line, "score"
            ) from None
        if math.isnan(score):
            raise InputError("score is NaN", path, line, "score")
        yield line, RunEntry(query_id=query_id, doc_id=doc_id, rank=rank, score=score, tag=tag)


def _checked_entries(path: str | Path) -> Iterator[RunEntry]:
    """The run's entries, refusing a document listed twice for one query."""
    seen: dict[str, set[str]] = {}
    for line, entry in iter_run(path):
        docs = seen.setdefault(entry.query_id, set())
        if entry.doc_id in docs:
            raise InputError(
                f"document {entry.doc_id!r} appears twice for query {entry.query_id!r}",
                path,
                line,
                "doc_id",
            )
        docs.add(entry.doc_id)
        yield entry


def read_run(path: str | Path) -> dict[str, dict[str, float]]:
    """A run as ``{query id: {doc id: score}}`` (what ir_measures and pytrec_eval take).

    Raises:
        InputError: for a malformed line, or a document listed twice for one query.
    """
    run: dict[str, dict[str, float]] = {}
    for entry in _checked_entries(path):
        run.setdefault(entry.query_id, {})[entry.doc_id] = entry.score
    return run


def read_rankings(path: str | Path, depth: int | None = None) -> dict[str, list[tuple[str, float]]]:
    """Each query's (doc id, score) list, best first (by score, then rank), cut to ``depth``."""
    rows: dict[str, list[tuple[float, int, str]]] = {}
    for entry in _checked_entries(path):
        rows.setdefault(entry.query_id, []).append((-entry.score, entry.rank, entry.doc_id))
    return {
        query_id: [(doc_id, -negative) for negative, _, doc_id in sorted(ranked)[:depth]]
        for query_id, ranked in rows.items()
    }


def reciprocal_rank_fusion(
    runs: Sequence[dict[str, dict[str, float]]], k: int = 60
) -> dict[str, dict[str, float]]:
    """Fuses runs by reciprocal rank (Cormack et al., 2009): Σ 1 / (k + rank) over the runs.

    A document missing from a run gets nothing from it. Ranks come from each run's scores
    in the order trec_eval evaluates them (:func:`trec_order`: equal scores by document id,
    descending).
    """
    fused: dict[str, dict[str, float]] = {}
    for run in runs:
        for query_id, scores in run.items():
            ranked = trec_order(scores)
            target = fused.setdefault(query_id, {})
            for rank, doc_id in enumerate(ranked, start=1):
                target[doc_id] = target.get(doc_id, 0.0) + 1.0 / (k + rank)
    return fused


__all__ = [
    "format_run",
    "iter_run",
    "rank_scores",
    "read_rankings",
    "read_run",
    "reciprocal_rank_fusion",
    "trec_order",
]
