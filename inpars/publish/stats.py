"""Statistics: what one pass over the queries and triples learns, ``stats.json`` and its table."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from inpars.publish.provenance import Provenance, _section

# The Hub's size categories: (exclusive upper bound, label).
_SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
_HISTOGRAM_BINS = 10


def size_category(count: int) -> str:
    """The Hub's ``size_categories`` label for ``count`` rows (``n<1K``, ``1K<n<10K``, ...)."""
    for bound, label in _SIZE_CATEGORIES:
        if count < bound:
            return label
    return "n>1B"


def describe(values: Sequence[float], bins: int = _HISTOGRAM_BINS) -> dict[str, Any] | None:
    """Count, min, max, mean, quantiles (linear interpolation) and an equal-width histogram.

    None for no values. The histogram has ``bins`` bins from min to max (the last includes
    max), or one bin when all values are equal.
    """
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)

    def quantile(p: float) -> float:
        position = p * (n - 1)
        low = math.floor(position)
        high = min(low + 1, n - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    least, most = ordered[0], ordered[-1]
    if most == least:
        edges, counts = [least, most], [n]
    else:
        width = (most - least) / bins
        edges = [least + i * width for i in range(bins)] + [most]
        counts = [0] * bins
        for value in ordered:
            counts[min(int((value - least) / width), bins - 1)] += 1
    return {
        "count": n,
        "min": _round(least),
        "max": _round(most),
        "mean": _round(math.fsum(ordered) / n),
        "quantiles": {f"p{p}": _round(quantile(p / 100)) for p in (5, 25, 50, 75, 95)},
        "histogram": {"edges": [_round(edge) for edge in edges], "counts": counts},
    }


def _round(value: float) -> float:
    """Floats to 6 decimals; integers stay integers."""
    return value if isinstance(value, int) else round(float(value), 6)


@dataclass
class _QueryStats:
    """What one pass over the queries learns."""

    count: int = 0
    scores: list[float] = field(default_factory=list)
    words: list[int] = field(default_factory=list)
    per_doc: Counter[str] = field(default_factory=Counter)
    keys: set[bytes] = field(default_factory=set)  # (doc id, query) digests
    # Records by their source_format (set once, where a published file was first read).
    formats: Counter[str] = field(default_factory=Counter)


@dataclass
class _TripleStats:
    count: int = 0
    queries: set[bytes] = field(default_factory=set)
    with_positive_in_top: set[bytes] = field(default_factory=set)
    neg_ranks: list[int] = field(default_factory=list)


def _pair_key(doc_id: str, query: str) -> bytes:
    return hashlib.blake2b(f"{doc_id}\x00{query}".encode(), digest_size=16).digest()


def build_stats(
    queries: _QueryStats, triples: _TripleStats | None, provenance: Provenance
) -> dict[str, Any]:
    """The contents of ``stats.json``."""
    per_doc = list(queries.per_doc.values())
    word_counts = Counter(queries.words)
    filter_manifest = provenance.manifests.get("filter", {})
    filter_summary = _section(filter_manifest, "summary")
    filter_config = _section(filter_manifest, "config")
    triples_manifest = provenance.manifests.get("triples", {})
    stats: dict[str, Any] = {
        "queries": queries.count,
        "documents": len(per_doc),
        "queries_per_document": {
            "min": min(per_doc),
            "max": max(per_doc),
            "mean": _round(queries.count / len(per_doc)),
        },
        "corpus_documents": _section(triples_manifest, "index").get("documents"),
        "source_format": next(iter(queries.formats)) if len(queries.formats) == 1 else "mixed",
        "source_formats": dict(sorted(queries.formats.items())),
        "filter": None,
        "score": None,
        "query_words": {
            **(describe(queries.words) or {}),
            "counts": {str(k): word_counts[k] for k in sorted(word_counts)},
        },
        "triples": None,
    }
    if filter_summary:
        stats["filter"] = filter_stats(filter_summary)
    if queries.scores:
        name = filter_config.get("score") or filter_summary.get("score") or "score"
        stats["score"] = {"name": name, **(describe(queries.scores) or {})}
    if triples is not None:
        searched = len(triples.queries)
        stats["triples"] = {
            "triples": triples.count,
            "queries_with_triples": searched,
            "negatives_per_query": _round(triples.count / searched) if searched else 0.0,
            "positive_in_bm25_top": _round(len(triples.with_positive_in_top) / searched)
            if searched
            else 0.0,
            "negative_rank": describe(triples.neg_ranks),
        }
    return stats


def filter_stats(summary: dict[str, Any]) -> dict[str, Any]:
    """``stats.json``'s ``filter`` section from the filter manifest's summary: records read
    and kept, and per rule of :data:`inpars.filter.DROP_RULES`, in order, the records it
    dropped (``dropped``) and its label; a rule that did not run is listed in ``not_checked``
    (its count is 0). Counts a manifest does not record (an older inpars) are null."""
    from inpars.filter import DROP_RULES

    return {
        "read": summary.get("read"),
        "kept": summary.get("kept"),
        "dropped": {rule.name: summary.get(rule.name) for rule in DROP_RULES},
        "labels": {rule.name: rule.label for rule in DROP_RULES},
        "not_checked": [
            rule.name
            for rule in DROP_RULES
            if rule.switch is not None and summary.get(rule.switch) is False
        ],
        "copies_checked": summary.get("copies_checked"),
    }


def rule_counts(filtered: dict[str, Any]) -> list[tuple[str, int | None]]:
    """(rule label, records dropped, or None when the rule did not run) per rule of a
    ``filter`` statistics section, in rule order; rules its manifest does not record are
    left out."""
    labels = filtered.get("labels") or {}
    rows: list[tuple[str, int | None]] = []
    for rule, count in filtered["dropped"].items():
        label = labels.get(rule, rule.replace("_", " "))
        if rule in filtered.get("not_checked", ()):
            rows.append((label, None))
        elif count is not None:
            rows.append((label, int(count)))
    return rows


def dropped_lines(filtered: dict[str, Any]) -> list[tuple[str, str]]:
    """:func:`rule_counts` as text: the count, or "not checked"."""
    return [
        (label, "not checked" if count is None else f"{count:,}")
        for label, count in rule_counts(filtered)
    ]


def _stats_lines(stats: dict[str, Any]) -> list[str]:
    rows = [
        ("queries", f"{stats['queries']:,}"),
        ("documents with queries", f"{stats['documents']:,}"),
        (
            "queries per document",
            "{min} to {max}, mean {mean}".format(**stats["queries_per_document"]),
        ),
    ]
    if stats.get("corpus_documents") is not None:
        rows.append(("documents in the corpus (BM25 index)", f"{stats['corpus_documents']:,}"))
    filtered = stats.get("filter")
    if filtered:
        rows.append(("generated queries read by the filter", f"{filtered['read']:,}"))
        rows += [(f"dropped: {label}", count) for label, count in dropped_lines(filtered)]
        rows.append(("kept", f"{filtered['kept']:,}"))
    score = stats.get("score")
    if score:
        q = score["quantiles"]
        rows.append(
            (
                f"score ({score['name']})",
                f"min {score['min']}, p25 {q['p25']}, median {q['p50']}, p75 {q['p75']}, "
                f"max {score['max']}",
            )
        )
    words = stats["query_words"]
    rows.append(
        (
            "query length (words)",
            f"min {words['min']}, median {words['quantiles']['p50']}, mean {words['mean']}, "
            f"max {words['max']}",
        )
    )
    triples = stats.get("triples")
    if triples:
        rows.append(("triples", f"{triples['triples']:,}"))
        rows.append(("queries with triples", f"{triples['queries_with_triples']:,}"))
        rows.append(("positive in the BM25 top results", f"{triples['positive_in_bm25_top']:.1%}"))
        if triples.get("negative_rank"):
            rows.append(("median negative rank", f"{triples['negative_rank']['quantiles']['p50']}"))
    return ["| statistic | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
