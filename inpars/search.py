"""Dense retrieval: encode a corpus once with a bi-encoder, search it exactly, write TREC runs.

Library use::

    from inpars.search import DenseRetriever, SearchConfig, search_queries, search_run

    retriever = DenseRetriever.open("all-minilm-l6-v2", "data/scifact")
    hits = retriever.search(["what causes tides"], k=10)[0]  # [(doc id, score), ...]

    config = SearchConfig(queries="data/scifact", corpus="data/scifact",
                          output="dense.trec", model="genq-scifact", hybrid=True)
    search_run(config)  # the TREC run of the queries
    search_queries(config, ["what causes tides"]).rankings[0]  # its ranking of one query

Command line: ``python -m inpars.search --help`` (:mod:`inpars.cli.search`). With queries as
arguments it prints the top passages for a person trying a model::

    python -m inpars.search --model all-minilm-l6-v2 --corpus sample "freedom of speech"

The parts, each re-exported here:

**Embeddings** (:mod:`inpars.embeddings`). A corpus is encoded once per model
(sentence-transformers ``encode_document``, so a model's document prompt is used) into
``embeddings.npy`` in an embeddings folder, beside ``doc_ids.json`` and
``inpars-embeddings.json``. The folder is reused while a fingerprint of every document's id
and contents (in corpus order) and a fingerprint of the model (its weights, modules, maximum
input length and dtype) both match; anything else encodes again. Encoding is committed every
``chunk_size`` documents, so an interrupted run resumes where it stopped. The default folder
lives in the inpars cache (``$INPARS_CACHE/dense``), keyed by the corpus file and the model,
so every command that searches one corpus with one model (GPL negative mining, evaluation
runs, this CLI) shares it.

**Search** (:mod:`inpars.exact_search`) is exact: the query embeddings are multiplied with the
corpus embeddings one block of ``block_size`` documents at a time (torch, on the GPU when
there is one), keeping a running top ``k``; memory stays bounded by the block, never the
corpus. The similarity is the model's own (``cosine`` for all-MiniLM-L6-v2, ``dot`` for models
trained with dot products), or the one given. Ties are ordered by corpus position.

**Hybrid** (``hybrid``, :mod:`inpars.hybrid`): the dense ranking and BM25's (the Lucene index
of :mod:`inpars.bm25`) are fused by reciprocal rank (:func:`inpars.runs.reciprocal_rank_fusion`).
One rule, for runs and printed hits alike (:func:`search_queries`): the top ``k`` dense hits
and the top ``bm25_depth`` (default ``k``) BM25 hits are fused, and the fused top ``k`` kept.
With ``bm25_corpus`` (an expansion from :mod:`inpars.expand`; :mod:`inpars.bm25_corpus`),
BM25 searches the expansion while the bi-encoder encodes ``corpus`` and printed passages are
``corpus``'s: the cheap hybrid of document expansion and a zero-shot bi-encoder.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars.bm25 import DEFAULT_B, DEFAULT_K1
from inpars.corpus import CorpusFields
from inpars.embeddings import (
    DEFAULT_MODEL,
    DOC_IDS_FILE,
    EMBEDDINGS_FILE,
    EMBEDDINGS_FORMAT,
    METADATA_FILE,
    SIMILARITIES,
    DenseEncoder,
    EmbeddingIndex,
    default_embeddings_dir,
    ensure_embeddings,
    read_embeddings_metadata,
)
from inpars.errors import InparsError, require_at_least_one
from inpars.exact_search import DenseRetriever, exact_top_k
from inpars.hybrid import bm25_rankings, default_bm25_dir, fuse
from inpars.io import atomic_write_text
from inpars.progress import progress_bar
from inpars.records import Document

Ranking = list[tuple[str, float]]
"""One query's hits, best first: (document id, score)."""

RUN_DEPTH = 1000
"""Hits per query of a run, unless ``k`` says otherwise."""


@dataclass(kw_only=True)
class SearchConfig(CorpusFields):
    """Everything :func:`search_run` and :func:`search_queries` need; the CLI flags map one
    to one. ``corpus`` is read with the :class:`~inpars.corpus.CorpusFields` settings."""

    corpus: str
    queries: str | None = None  # BEIR folder (queries.jsonl), queries JSONL, or qid<TAB>text TSV
    output: str | None = None  # the TREC run (search_run)
    model: str = DEFAULT_MODEL
    k: int = RUN_DEPTH
    qrels: str | None = None  # search only the queries judged here
    similarity: str = "auto"
    hybrid: bool = False
    bm25_corpus: str | None = None  # hybrid: the corpus BM25 searches (e.g. expanded)
    rrf_k: int = 60
    bm25_depth: int | None = None  # BM25 hits fused in hybrid mode (default: k)
    bm25_output: str | None = None  # hybrid: also write the BM25 run that was fused
    dense_output: str | None = None  # hybrid: also write the dense run that was fused
    embeddings: str | None = None  # default: in the inpars cache
    bm25_index: str | None = None  # default: in the inpars cache
    batch_size: int = 64
    chunk_size: int = 4096
    block_size: int = 65536
    max_length: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    k1: float = DEFAULT_K1
    b: float = DEFAULT_B
    threads: int = max(1, os.cpu_count() or 1)
    tag: str | None = None
    rebuild: bool = False

    def check(self) -> None:
        require_at_least_one(
            ("--k", self.k),
            ("--rrf-k", self.rrf_k),
            ("--batch-size", self.batch_size),
            ("--chunk-size", self.chunk_size),
            ("--block-size", self.block_size),
            ("--threads", self.threads),
        )
        if self.bm25_depth is not None and self.bm25_depth < 1:
            raise InparsError(f"--bm25-depth must be at least 1 (got {self.bm25_depth})")
        if self.similarity not in SIMILARITIES:
            raise InparsError(f"--similarity must be one of {', '.join(SIMILARITIES)}")
        if self.bm25_corpus and not self.hybrid:
            raise InparsError("--bm25-corpus goes with --hybrid")
        if (self.bm25_output or self.dense_output) and not self.hybrid:
            raise InparsError("--bm25-output and --dense-output go with --hybrid")

    @property
    def mode(self) -> str:
        """``dense``, or how the hybrid fuses (for summaries)."""
        if not self.hybrid:
            return "dense"
        over = f" over {self.bm25_corpus}" if self.bm25_corpus else ""
        return f"hybrid (dense + BM25{over}, RRF)"


@dataclass
class SearchSummary:
    """What a run did."""

    queries: int = 0
    documents: int = 0
    embeddings: str = ""
    embeddings_reused: bool = False
    embeddings_reason: str = ""
    encode_seconds: float = 0.0
    search_seconds: float = 0.0
    seconds: float = 0.0


@dataclass
class QueryRankings:
    """What :func:`search_queries` found, one ranking per query, in query order."""

    rankings: list[Ranking]  # the result: the dense rankings, or the fused ones with hybrid
    dense: list[Ranking]  # the dense top k
    bm25: list[Ranking] | None  # hybrid: the BM25 top bm25_depth that were fused
    index: EmbeddingIndex  # the corpus embeddings searched
    search_seconds: float = 0.0


def search_queries(
    config: SearchConfig, texts: Sequence[str], *, show_progress: bool = False
) -> QueryRankings:
    """The top ``config.k`` documents of each query text: dense, or hybrid.

    The one search behind runs (:func:`search_run`) and printed hits (the CLI): the corpus
    embeddings are found up to date or encoded, the dense top ``k`` taken, and with
    ``hybrid`` fused with BM25's top ``bm25_depth`` (default ``k``) into the fused top ``k``.
    ``config.queries`` and ``config.output`` are not used.

    Raises:
        InparsError: for bad settings, an empty or changing corpus.
    """
    config.check()
    corpus = config.corpus_reader()
    expansion = config.corpus_reader(config.bm25_corpus) if config.bm25_corpus else None
    with progress_bar(show_progress) as progress:
        retriever = DenseRetriever.open(
            config.model,
            corpus,
            embeddings_dir=config.embeddings,
            similarity=config.similarity,
            device=config.device,
            dtype=config.dtype,
            max_length=config.max_length,
            batch_size=config.batch_size,
            chunk_size=config.chunk_size,
            block_size=config.block_size,
            rebuild=config.rebuild,
            progress=progress,
        )
        started = time.perf_counter()
        dense = retriever.search(list(texts), config.k)
        rankings, sparse = dense, None
        if config.hybrid:
            sparse = bm25_rankings(
                corpus,
                list(texts),
                config.bm25_depth or config.k,
                bm25_corpus=expansion,
                index_dir=config.bm25_index,
                k1=config.k1,
                b=config.b,
                threads=config.threads,
                progress=progress,
            )
            rankings = fuse(dense, sparse, config.k, config.rrf_k)
    return QueryRankings(
        rankings, dense, sparse, retriever.index, search_seconds=time.perf_counter() - started
    )


def _write_run(path: str | Path, query_ids: Sequence[str], rankings: Any, tag: str) -> None:
    from inpars.runs import format_run, rank_scores

    lines = [
        format_run(rank_scores(query_id, ranking, tag))
        for query_id, ranking in zip(query_ids, rankings, strict=True)
    ]
    atomic_write_text(path, "".join(lines))


def search_run(config: SearchConfig, *, show_progress: bool = False) -> SearchSummary:
    """Writes the TREC run of ``config.queries`` (dense, or hybrid) to ``config.output``.

    The run is written at once, atomically: a crash leaves the old file or the new one.

    Raises:
        InputError: for bad queries, qrels or corpus files.
        InparsError: for bad settings.
    """
    from inpars.corpus import read_qrels, read_queries

    if not (config.queries and config.output):
        raise InparsError("a run needs queries and an output (--queries and --output)")
    config.check()
    start = time.perf_counter()
    queries = list(read_queries(config.queries))
    if config.qrels:
        judged = set(read_qrels(config.qrels))
        queries = [q for q in queries if q.id in judged]
    if not queries:
        raise InparsError(f"{config.queries}: no queries to search")
    found = search_queries(config, [q.text for q in queries], show_progress=show_progress)
    query_ids = [q.id for q in queries]
    if config.hybrid:
        if config.dense_output:
            _write_run(config.dense_output, query_ids, found.dense, config.tag or "inpars-dense")
        if config.bm25_output:
            _write_run(config.bm25_output, query_ids, found.bm25, "bm25")
    default_tag = "inpars-hybrid" if config.hybrid else "inpars-dense"
    _write_run(config.output, query_ids, found.rankings, config.tag or default_tag)
    return SearchSummary(
        queries=len(queries),
        documents=len(found.index),
        embeddings=str(found.index.path),
        embeddings_reused=found.index.reused,
        embeddings_reason=found.index.reason,
        encode_seconds=found.index.seconds,
        search_seconds=found.search_seconds,
        seconds=time.perf_counter() - start,
    )


def document_texts(documents: Iterable[Document], wanted: set[str]) -> dict[str, str]:
    """The contents of the ``wanted`` documents (one streaming pass over ``documents``)."""
    found: dict[str, str] = {}
    if not wanted:
        return found
    for doc in documents:
        if doc.id in wanted:
            found[doc.id] = doc.contents
            if len(found) == len(wanted):
                break
    return found


__all__ = [
    "DEFAULT_MODEL",
    "DOC_IDS_FILE",
    "EMBEDDINGS_FILE",
    "EMBEDDINGS_FORMAT",
    "METADATA_FILE",
    "RUN_DEPTH",
    "SIMILARITIES",
    "DenseEncoder",
    "DenseRetriever",
    "EmbeddingIndex",
    "QueryRankings",
    "Ranking",
    "SearchConfig",
    "SearchSummary",
    "bm25_rankings",
    "default_bm25_dir",
    "default_embeddings_dir",
    "document_texts",
    "ensure_embeddings",
    "exact_top_k",
    "fuse",
    "read_embeddings_metadata",
    "search_queries",
    "search_run",
]


if __name__ == "__main__":
    from inpars.cli.search import main

    sys.exit(main())
