"""Relevance scores of (synthetic query, its document) pairs, shared by expand and filter.

Two stages judge a generated query by how well it matches the document it was generated from:
:mod:`inpars.expand` (Doc2Query--: drop the least relevant expansions) and
:mod:`inpars.filter` ``--reranker`` (InPars-v2: keep the queries a reranker scores best).
Both score pairs through :class:`PairScorer`, so they agree on what a score means:

* any reranker :func:`inpars.rerankers.load_reranker` loads: the bundled zero-shot bi-encoder
  ``all-minilm-l6-v2`` (cosine of the two embeddings), a monoT5 folder or hub id (log-prob of
  "true"), a cross-encoder folder (its logit), or an inpars-trained reranker folder;
* :data:`LOG_PROBS`: the generator's own confidence, the mean token log-probability the
  record carries (:func:`record_log_prob_score`), no model needed.

The document side of a pair is :attr:`inpars.records.Document.contents` (title and text),
the text the reranker sees at reranking time too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars.errors import InparsError, InputError

LOG_PROBS = "log-probs"
"""The scorer name that means: the generator's mean token log-probability, no model."""

DEFAULT_SCORER = "all-minilm-l6-v2"
"""The bundled zero-shot bi-encoder: a relevance model that works offline out of the box."""


def record_log_prob_score(record: dict[str, Any], path: str | Path, line: int) -> float:
    """The generator's mean token log-probability of a (normalised) query record.

    Uses ``log_probs`` (a list, as inpars.generate and the InPars-v2 toolkit write them), or
    else ``score`` (a filtered InPars v1 file keeps only the mean, which
    :mod:`inpars.published` moves there).

    Raises:
        InputError: when the record has neither, or a value is not a finite number.
    """
    values = record.get("log_probs")
    if isinstance(values, list) and values:
        if any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
            for v in values
        ):
            raise InputError("holds a value that is not a finite number", path, line, "log_probs")
        return math.fsum(values) / len(values)
    score = record.get("score")
    if isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score):
        return float(score)
    raise InputError(
        "missing; the log-probs scorer needs the per-token log-probabilities inpars.generate "
        "records (or a 'score'); pick a model scorer instead",
        path,
        line,
        "log_probs",
    )


@dataclass
class PairScorer:
    """A reranker that scores (query, document) pairs, loaded once.

    ``name`` is anything :func:`inpars.rerankers.load_reranker` takes (a bundled alias, a
    folder, a hub id); ``kind`` is told from the model when None.
    """

    reranker: Any

    @classmethod
    def load(
        cls,
        name: str,
        kind: str | None = None,
        *,
        max_length: int | None = None,
        device: str = "auto",
        dtype: str = "float32",
    ) -> PairScorer:
        if name == LOG_PROBS:
            raise InparsError(f"{LOG_PROBS!r} is not a model: it reads the records' log_probs")
        from inpars.rerankers import load_reranker

        return cls(load_reranker(name, kind, max_length=max_length, device=device, dtype=dtype))

    def settings(self) -> dict[str, Any]:
        """What identifies the scores (for resume checks and manifests)."""
        return {
            "scorer": self.reranker.name,
            "scorer_kind": self.reranker.kind,
            "max_length": self.reranker.max_length,
        }

    def score(
        self, queries: Sequence[str], documents: Sequence[str], batch_size: int = 32
    ) -> list[float]:
        """The relevance score of each (query, document) pair, in order; higher is better.

        Raises:
            InparsError: when the model returns a score that is not finite (a broken or
                half-precision-overflowing model), naming the query.
        """
        scores = self.reranker.score(list(queries), list(documents), batch_size=batch_size)
        for query, value in zip(queries, scores, strict=True):
            if not math.isfinite(value):
                raise InparsError(
                    f"scorer {self.reranker.name!r} gave {value} for the query {query!r:.80}; "
                    "scores must be finite (try --dtype float32)"
                )
        return scores


__all__ = ["DEFAULT_SCORER", "LOG_PROBS", "PairScorer", "record_log_prob_score"]
