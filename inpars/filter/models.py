"""The rules that run a model: the round trip (a dense retriever must find the query's
document, :mod:`inpars.consistency`) and the reranker's score (InPars-v2,
:mod:`inpars.pair_scores`). Both take records in batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inpars.consistency import RoundTripCheck
from inpars.filter.config import FilterConfig, FilterSummary
from inpars.filter.selection import TopK


def _round_trip_check(config: FilterConfig, show_progress: bool) -> RoundTripCheck | None:
    if config.consistency_model is None:
        return None
    from inpars.progress import progress_bar

    corpus = config.corpus_reader()
    with progress_bar(show_progress) as progress:
        return RoundTripCheck.open(
            config.consistency_model,
            corpus,
            depth=config.consistency_depth,
            device=config.device,
            progress=progress,
        )


class _RoundTripGate:
    """Offers records to the top k, first passing them through the round-trip check.

    Records wait in a buffer and are checked a batch at a time (one encoder call per
    batch); ``flush`` checks the rest. Without a check, records go straight through.
    """

    def __init__(
        self,
        top: TopK,
        check: RoundTripCheck | None,
        config: FilterConfig,
        summary: FilterSummary,
    ) -> None:
        self.top = top
        self.check = check
        self.batch_size = config.consistency_batch_size
        self.summary = summary
        self._pending: list[tuple[float, int, str, dict[str, Any]]] = []

    def __call__(self, score: float, line: int, doc_id: str, record: dict[str, Any]) -> None:
        if self.check is None:
            self.top.offer(score, line, doc_id, record)
            return
        self._pending.append((score, line, doc_id, record))
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self.check is None or not self._pending:
            return
        pending, self._pending = self._pending, []
        ranks = self.check.ranks(
            [str(item[3]["query"]) for item in pending], [item[2] for item in pending]
        )
        for (score, line, doc_id, record), rank in zip(pending, ranks, strict=True):
            if rank is None:
                self.summary.inconsistent += 1
            else:
                self.top.offer(score, line, doc_id, record)


class _RerankerScores:
    """Replaces each record's score by a reranker's (query, document) score, in batches."""

    def __init__(
        self,
        scorer: Any,
        texts: dict[str, str],
        batch_size: int,
        forward: Callable[[list[str], str, int, dict[str, Any], float], None],
    ) -> None:
        self.scorer = scorer
        self.texts = texts
        self.batch_size = batch_size
        self.forward = forward
        self._pending: list[tuple[list[str], str, int, dict[str, Any]]] = []

    def add(self, words: list[str], doc_id: str, line: int, record: dict[str, Any]) -> None:
        self._pending.append((words, doc_id, line, record))
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        scores = self.scorer.score(
            [str(item[3]["query"]) for item in pending],
            [self.texts[item[1]] for item in pending],
            self.batch_size,
        )
        for (words, doc_id, line, record), score in zip(pending, scores, strict=True):
            self.forward(words, doc_id, line, record, score)


def _reranker_scores(
    config: FilterConfig,
    forward: Callable[[list[str], str, int, dict[str, Any], float], None],
    wanted: set[str],
) -> _RerankerScores | None:
    """The reranker stage of ``config`` (None without ``reranker``), with the texts of the
    ``wanted`` documents (those the input names)."""
    if config.reranker is None:
        return None
    from inpars.pair_scores import PairScorer

    reader = config.corpus_reader()
    texts = {doc.id: doc.contents for doc in reader if doc.id in wanted}
    scorer = PairScorer.load(config.reranker, config.reranker_kind, device=config.device)
    return _RerankerScores(scorer, texts, config.reranker_batch_size, forward)
