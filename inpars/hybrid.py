"""Hybrid search: BM25's rankings (the Lucene index of :mod:`inpars.bm25`) fused with the
dense ones by reciprocal rank (:func:`inpars.runs.reciprocal_rank_fusion`).

Part of :mod:`inpars.search` (which re-exports all of this). BM25 may search an expansion of
the corpus (:mod:`inpars.bm25_corpus`) while the bi-encoder encodes the corpus itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inpars.bm25 import DEFAULT_B, DEFAULT_K1
from inpars.embeddings import _slug
from inpars.models import cache_dir

if TYPE_CHECKING:
    from inpars.corpus import CorpusReader


def default_bm25_dir(corpus_file: str | Path) -> Path:
    """The cache folder for a corpus file's BM25 index (``--hybrid`` without ``--bm25-index``)."""
    corpus_file = Path(corpus_file).resolve()
    key = hashlib.sha256(str(corpus_file).encode()).hexdigest()[:16]
    corpus_name = corpus_file.parent.name if corpus_file.stem == "corpus" else corpus_file.stem
    return cache_dir() / "bm25" / f"{_slug(corpus_name)}-{key}"


def bm25_rankings(
    corpus: Any,
    queries: Sequence[str],
    depth: int,
    *,
    bm25_corpus: str | Path | CorpusReader | None = None,
    index_dir: str | Path | None = None,
    k1: float = DEFAULT_K1,
    b: float = DEFAULT_B,
    threads: int = 1,
    progress: Any = None,
) -> list[list[tuple[str, float]]]:
    """BM25's top ``depth`` (doc id, score) of each query.

    BM25 searches ``bm25_corpus`` (an expansion of ``corpus``, :mod:`inpars.bm25_corpus`: a
    path or a reader) or ``corpus`` (a :class:`~inpars.corpus.CorpusReader`); the index is
    built or reused at ``index_dir``, by default the inpars cache folder of the searched
    corpus's file.
    """
    from inpars.bm25_corpus import ensure_bm25_index
    from inpars.corpus import read_corpus

    expansion = bm25_corpus
    if isinstance(expansion, (str, Path)):
        expansion = read_corpus(expansion)
    index = ensure_bm25_index(
        corpus,
        index_dir or default_bm25_dir((expansion or corpus).file),
        bm25_corpus=expansion,
        threads=threads,
        progress=progress,
        texts=False,
    )
    with index.open(k1, b) as searcher:
        found = searcher.batch_search(list(queries), depth, threads)
        return [[(hit.doc_id, hit.score) for hit in ranking] for ranking in found]


def fuse(
    dense: Sequence[Sequence[tuple[str, float]]],
    sparse: Sequence[Sequence[tuple[str, float]]],
    k: int,
    rrf_k: int = 60,
) -> list[list[tuple[str, float]]]:
    """Each query's dense and BM25 rankings fused by reciprocal rank, top ``k``.

    Equal fused scores are ordered as trec_eval orders them (:func:`inpars.runs.trec_order`),
    so the cut at ``k`` keeps what an evaluation of the run would rank first.
    """
    from inpars.runs import reciprocal_rank_fusion, trec_order

    if len(dense) != len(sparse):
        raise ValueError("dense and sparse rankings must cover the same queries")
    runs = [{str(i): dict(ranking) for i, ranking in enumerate(side)} for side in (dense, sparse)]
    fused = reciprocal_rank_fusion(runs, rrf_k)
    rankings = []
    for i in range(len(dense)):
        scores = fused.get(str(i), {})
        rankings.append([(doc_id, scores[doc_id]) for doc_id in trec_order(scores)[:k]])
    return rankings
