"""The scores records are ranked by, and the word-level comparisons of the rules: a
query's normalised words, whether it copies a text, its de-duplication key."""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable, Sequence

_WORD = re.compile(r"\w+")


def sum_log_probs(log_probs: Sequence[float]) -> float:
    """The sum of the token log-probabilities: log P(query | prompt). Favours short queries."""
    return math.fsum(log_probs)


def mean_log_probs(log_probs: Sequence[float]) -> float:
    """The mean token log-probability (InPars' filter): log of the per-token geometric mean."""
    return math.fsum(log_probs) / len(log_probs)


def mean_probs(log_probs: Sequence[float]) -> float:
    """The mean of the token probabilities, ``exp`` of each log-probability, in [0, 1].

    Less hurt than the mean log-probability by one unlikely token.
    """
    return math.fsum(math.exp(value) for value in log_probs) / len(log_probs)


SCORE_FUNCTIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "mean_log_probs": mean_log_probs,
    "sum_log_probs": sum_log_probs,
    "mean_probs": mean_probs,
}
"""The scores a record can be ranked by, by name (the ``--score`` choices)."""


def normalize_words(text: str) -> list[str]:
    """The words of a text for comparisons: Unicode NFKC, case-folded, punctuation dropped.

    ``"What is  BM25?"`` and ``"what is bm25"`` both give ``["what", "is", "bm25"]``.
    """
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def normalized_document(text: str) -> str:
    """A document's normalised words joined and padded by spaces, for :func:`is_copied`."""
    return " " + " ".join(normalize_words(text)) + " "


def is_copied(query_words: Sequence[str], document: str, threshold: float, min_words: int) -> bool:
    """Whether a query copies a long verbatim run of its document.

    Copied means: some run of consecutive query words, at least ``min_words`` long and at
    least ``threshold`` of the query's words, occurs verbatim in the document. Both sides are
    compared as :func:`normalize_words` (``document`` comes from :func:`normalized_document`).
    Queries shorter than ``min_words`` are never copies (a 3-word keyword query found in its
    document is a fine query). ``threshold`` 0 turns the rule off.
    """
    count = len(query_words)
    if threshold <= 0 or count == 0:
        return False
    run = max(min_words, math.ceil(threshold * count - 1e-9))
    if run > count:
        return False
    return any(
        f" {' '.join(query_words[start : start + run])} " in document
        for start in range(count - run + 1)
    )


def dedup_key(query_words: Sequence[str]) -> bytes:
    """A fixed-size digest of a normalised query: equal for exact duplicates."""
    return hashlib.blake2b(" ".join(query_words).encode("utf-8"), digest_size=16).digest()
