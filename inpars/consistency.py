"""Round-trip consistency filtering (Promptagator): keep a synthetic query only when a
retriever, searching the whole corpus with it, finds the document it was written for.

A query the generator wrote off-topic, too vague to single out its document, or about
something its document does not say fails the round trip; such queries are label noise for
the reranker trained on them. Promptagator checked with a retriever trained on the
unfiltered queries; any dense model works, and a zero-shot one costs no training.

    check = RoundTripCheck.open("all-minilm-l6-v2", "data/scifact", depth=20)
    ranks = check.ranks(["what causes x"], ["doc7"])   # [3]: doc7 came back third
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inpars.errors import InparsError

DEFAULT_DEPTH = 20


@dataclass
class RoundTripCheck:
    """A dense retriever over a corpus, and how deep a query's own document may rank."""

    retriever: Any  # inpars.search.DenseRetriever
    depth: int = DEFAULT_DEPTH

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise InparsError(f"--consistency-depth must be at least 1 (got {self.depth})")

    @classmethod
    def open(
        cls,
        model: str,
        corpus: Any,
        *,
        depth: int = DEFAULT_DEPTH,
        device: str = "auto",
        batch_size: int = 64,
        progress: Any = None,
    ) -> RoundTripCheck:
        """Loads ``model`` and the corpus's embeddings (encoded once, then cached).

        ``corpus`` is a corpus path or an :class:`inpars.corpus.CorpusReader`.
        """
        from inpars.search import DenseRetriever

        retriever = DenseRetriever.open(
            model, corpus, device=device, batch_size=batch_size, progress=progress
        )
        return cls(retriever, depth)

    def ranks(self, queries: Sequence[str], doc_ids: Sequence[str]) -> list[int | None]:
        """Each query's own document's rank (1 = first) in its top ``depth``, else None."""
        if len(queries) != len(doc_ids):
            raise ValueError("queries and doc_ids must have the same length")
        found = self.retriever.search(list(queries), self.depth)
        ranks: list[int | None] = []
        for ranking, doc_id in zip(found, doc_ids, strict=True):
            ids = [hit_id for hit_id, _ in ranking]
            ranks.append(ids.index(doc_id) + 1 if doc_id in ids else None)
        return ranks
