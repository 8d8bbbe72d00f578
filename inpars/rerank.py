"""Stage 5a, rerank: score a first-stage ranking with a reranker and write a TREC run.

Library use::

    from inpars.rerank import RerankConfig, rerank

    summary = rerank(RerankConfig(queries="data/cranfield", corpus="data/cranfield",
                                  output="reranked.trec", model="my-reranker"))

Command line: ``python -m inpars.rerank --help`` (:mod:`inpars.cli.rerank`).

The first stage is BM25 (the index of :mod:`inpars.bm25`, built or reused) or any TREC run
given with ``run``; its top ``depth`` documents per query are rescored. Document texts come
from the index (``Document.contents``, the one way inpars joins title and text). With
``bm25_corpus`` (an expansion written by :mod:`inpars.expand`; :mod:`inpars.bm25_corpus`),
BM25 searches an index of that corpus while the reranker reads the original documents of
``corpus``, held in memory (O(corpus)), so the expansion helps the first stage without
changing what the reranker sees.
Queries are processed in chunks; each chunk's run lines are appended and committed together,
so a crash loses at most one chunk and the same command resumes after the last committed query.
The run is an :class:`inpars.artifacts.Artifact`: its manifest records the settings and the
fingerprints of the inputs (the model's weights, the queries as read, the index, a first-stage
run), so a model retrained in the same folder or an edited queries file is refused, never
resumed as if it were the old one (``--overwrite`` starts again).

The run lists the queries in the order of the queries file. With ``--shard I/N`` a run
reranks only the queries whose id is in shard I of N (:mod:`inpars.shards`);
``python -m inpars.merge`` combines the N parts into the run an unsharded run writes.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inpars.artifacts import Artifact, CorpusFingerprint, file_input, model_input
from inpars.bm25 import DEFAULT_B, DEFAULT_K1, Bm25Searcher
from inpars.bm25_corpus import Bm25Index, ensure_bm25_index
from inpars.corpus import CorpusFields, read_qrels, read_queries
from inpars.errors import InparsError, InputError, require_at_least_one
from inpars.io import atomic_write_text
from inpars.progress import progress_bar
from inpars.records import Query
from inpars.rerankers import load_reranker
from inpars.runs import format_run, rank_scores, read_rankings, read_run
from inpars.shards import parse_shard


@dataclass
class RerankConfig(CorpusFields):
    """Everything :func:`rerank` needs; the CLI flags map one to one."""

    queries: str  # BEIR folder (queries.jsonl), queries JSONL, or qid<TAB>text TSV
    corpus: str
    output: str  # the reranked TREC run
    model: str | None = None
    kind: str | None = None  # default: from the model (inpars-reranker.json, config)
    run: str | None = None  # first-stage TREC run; default BM25
    bm25_corpus: str | None = None  # the corpus BM25 indexes (e.g. expanded); default: corpus
    depth: int = 100
    qrels: str | None = None  # rerank only queries judged here
    batch_size: int = 32
    queries_per_chunk: int = 16
    max_length: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    index: str | None = None  # default: <output>.bm25-index
    first_stage_output: str | None = None  # also write the first stage's top-depth run
    k1: float = DEFAULT_K1
    b: float = DEFAULT_B
    threads: int = max(1, os.cpu_count() or 1)
    tag: str | None = None
    shard: str | None = None  # "I/N": only the queries of shard I of N (inpars.shards)

    @property
    def index_path(self) -> Path:
        return Path(self.index) if self.index else Path(self.output).with_suffix(".bm25-index")

    def check(self) -> None:
        require_at_least_one(
            ("--depth", self.depth),
            ("--batch-size", self.batch_size),
            ("--queries-per-chunk", self.queries_per_chunk),
        )
        if self.model is None and self.kind is None:
            raise InparsError("give the reranker with --model (and --kind if it cannot be told)")


@dataclass
class RerankSummary:
    """What a run did."""

    queries: int = 0
    already_done: int = 0
    pairs: int = 0
    without_candidates: int = 0
    seconds: float = 0.0
    scoring_seconds: float = 0.0

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.scoring_seconds if self.scoring_seconds else 0.0


def select_queries(config: RerankConfig) -> list[Query]:
    """The queries to rerank: all of the file, or those judged in ``config.qrels`` (of every
    shard: :func:`prepare` takes this run's)."""
    queries = list(read_queries(config.queries))
    if config.qrels:
        judged = set(read_qrels(config.qrels))
        queries = [q for q in queries if q.id in judged]
    if not queries:
        raise InparsError(f"{config.queries}: no queries to rerank")
    return queries


def artifact(config: RerankConfig, queries: list[Query], index: Bm25Index) -> Artifact:
    """The run as an :class:`~inpars.artifacts.Artifact`: the settings that decide its lines
    and the fingerprints of what it reads: the model's files, the BM25 ``index``, and
    ``queries`` (:func:`select_queries`' (id, text) pairs: the same queries in another file
    format are the same input, an edited one is not; every shard's, so that the shards of one
    run share their inputs)."""
    settings = {
        "kind": config.kind,  # None: told from the model, an input
        "max_length": config.max_length,
        "depth": config.depth,
        "dtype": config.dtype,
        "k1": config.k1,
        "b": config.b,
        "shard": config.shard,
        "tag": config.tag,
    }
    fingerprint = CorpusFingerprint()
    for query in queries:
        fingerprint.add(query.id, query.text)
    inputs: dict[str, Any] = {
        "model": model_input(str(config.model)),
        "queries": {"path": config.queries, "fingerprint": fingerprint.hexdigest()},
        **index.inputs(),  # the index, and the texts scored when they are not the index's
    }
    if config.run is not None:
        inputs["run"] = file_input(config.run)
    extra = [config.first_stage_output] if config.first_stage_output else []
    return Artifact(config.output, "rerank", settings, inputs, files=extra)


def prepare(
    config: RerankConfig, *, show_progress: bool = False
) -> tuple[Artifact, list[Query], Bm25Index]:
    """The run's artifact, the queries of its shard (all of them without ``--shard``), and
    the BM25 index it needs, built (or found up to date)."""
    with progress_bar(show_progress) as progress:
        index = ensure_bm25_index(
            config.corpus_reader(),
            config.index_path,
            bm25_corpus=config.corpus_reader(config.bm25_corpus) if config.bm25_corpus else None,
            threads=config.threads,
            progress=progress,
        )
    queries = select_queries(config)
    shard = parse_shard(config.shard)
    mine = queries if shard is None else [q for q in queries if q.id in shard]
    return artifact(config, queries, index), mine, index


class FirstStage:
    """Top-``depth`` candidates per query: from a run file, or BM25 over the index."""

    def __init__(self, config: RerankConfig, searcher: Bm25Searcher) -> None:
        self.config = config
        self.searcher = searcher  # its doc_contents are --corpus's texts (inpars.bm25_corpus)
        self.rankings = read_rankings(config.run, config.depth) if config.run else None

    def candidates(self, queries: list[Query]) -> list[list[tuple[str, float]]]:
        if self.rankings is not None:
            return [self.rankings.get(q.id, []) for q in queries]
        found = self.searcher.batch_search(
            [q.text for q in queries], self.config.depth, self.config.threads
        )
        return [[(hit.doc_id, hit.score) for hit in ranking] for ranking in found]

    def text(self, doc_id: str) -> str:
        text = self.searcher.doc_contents(doc_id)
        where = self.config.run
        if text is None:
            raise InputError(
                f"document {doc_id!r} is not in the corpus {self.config.corpus}",
                where,
                field="doc_id",
            )
        return text


def _chunks(items: list[Query], size: int) -> Iterator[list[Query]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def rerank(
    config: RerankConfig, *, overwrite: bool = False, show_progress: bool = False
) -> RerankSummary:
    """Writes the reranked run of ``config`` (resuming a partial one; nothing to do when the
    same run is complete).

    Raises:
        InputError: for bad queries, qrels or run files, or a run naming unknown documents.
        InparsError: for bad settings, or an output written by another run (other settings
            or inputs), unless ``overwrite``.
    """
    config.check()
    start = time.perf_counter()
    summary = RerankSummary()
    art, queries, index = prepare(config, show_progress=show_progress)
    summary.queries = len(queries)
    if art.open(overwrite) == "complete":
        summary.already_done = len(queries)
        return summary
    reranker = load_reranker(
        config.model,
        config.kind,
        max_length=config.max_length,
        device=config.device,
        dtype=config.dtype,
    )
    tag = config.tag or f"inpars-{reranker.kind}"
    with (
        index.open(config.k1, config.b) as searcher,
        art.appender([config.output]) as out,
    ):
        first_stage = FirstStage(config, searcher)
        done = set(read_run(config.output)) if art.state == "resume" else set()
        todo = [q for q in queries if q.id not in done]
        summary.already_done = len(queries) - len(todo)
        with progress_bar(show_progress, "{task.fields[rate]}") as progress:
            task = progress.add_task(
                "rerank", total=len(queries), completed=summary.already_done, rate=""
            )
            for chunk in _chunks(todo, config.queries_per_chunk):
                out.append(_rerank_chunk(chunk, first_stage, reranker, config, tag, summary))
                progress.update(
                    task, advance=len(chunk), rate=f"{summary.pairs_per_second:,.0f} pairs/s"
                )
        if config.first_stage_output:
            write_first_stage(first_stage, queries, config.first_stage_output)
    summary.seconds = time.perf_counter() - start
    art.complete(
        counts={"queries": summary.queries, "pairs": summary.pairs,
                "without_candidates": summary.without_candidates},
    )  # fmt: skip
    return summary


def write_first_stage(first_stage: FirstStage, queries: list[Query], path: str) -> None:
    """The first stage's top-depth run of ``queries`` (a cheap pass: BM25 or a file read)."""
    lines = [
        format_run(rank_scores(query.id, cands, "first-stage"))
        for query, cands in zip(queries, first_stage.candidates(queries), strict=True)
    ]
    atomic_write_text(path, "".join(lines))


def _rerank_chunk(
    chunk: list[Query],
    first_stage: FirstStage,
    reranker: Any,
    config: RerankConfig,
    tag: str,
    summary: RerankSummary,
) -> str:
    """The reranked run lines of a chunk of queries."""
    candidates = first_stage.candidates(chunk)
    pair_queries: list[str] = []
    pair_docs: list[str] = []
    for query, cands in zip(chunk, candidates, strict=True):
        if not cands:
            summary.without_candidates += 1
        for doc_id, _ in cands:
            pair_queries.append(query.text)
            pair_docs.append(first_stage.text(doc_id))
    started = time.perf_counter()
    scores = reranker.score(pair_queries, pair_docs, batch_size=config.batch_size)
    summary.scoring_seconds += time.perf_counter() - started
    summary.pairs += len(scores)
    lines: list[str] = []
    offset = 0
    for query, cands in zip(chunk, candidates, strict=True):
        mine = scores[offset : offset + len(cands)]
        offset += len(cands)
        lines.append(
            format_run(
                rank_scores(query.id, [(d, s) for (d, _), s in zip(cands, mine, strict=True)], tag)
            )
        )
    return "".join(lines)


if __name__ == "__main__":
    from inpars.cli.rerank import main

    sys.exit(main())
