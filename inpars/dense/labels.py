"""GPL labelling: negatives mined by the retrievers, margins from a cross-encoder teacher."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inpars.dense.config import BM25_RETRIEVER, GplLabelConfig
from inpars.errors import InputError
from inpars.io import CommittedAppender, dumps_json, read_jsonl
from inpars.progress import progress_bar
from inpars.records import MarginLabel, to_dict


@dataclass
class GplLabelSummary:
    """What a labelling run did."""

    queries_read: int = 0
    already_done: int = 0  # skipped: labels for this (query, doc id) were already written
    repeated: int = 0  # skipped: the same (query, doc id) earlier in the input
    queries_labelled: int = 0
    labels: int = 0
    short: int = 0  # fewer negatives than asked: got what there was
    without_negatives: int = 0  # no usable hit at all: no label
    positive_in_top: dict[str, int] = field(default_factory=dict)  # retriever -> queries
    mining_seconds: float = 0.0
    teacher_seconds: float = 0.0
    seconds: float = 0.0


def sample_query_negatives(
    rankings: Sequence[tuple[str, Sequence[str]]],
    positives: Iterable[str],
    count: int,
    rng: Any,
) -> list[tuple[str, str, int]]:
    """Up to ``count`` negatives from each retriever's ranking: (retriever, doc id, rank).

    ``rankings`` are (retriever, doc ids best first), drawn from in that order. A negative is
    never one of ``positives``, nor a document an earlier retriever already gave.
    """
    from inpars.triples import sample_negatives

    excluded = set(positives)
    chosen: list[tuple[str, str, int]] = []
    for retriever, ranking in rankings:
        skip = {i for i, doc_id in enumerate(ranking) if doc_id in excluded}
        for position in sample_negatives(ranking, skip, count, rng):  # type: ignore[arg-type]
            chosen.append((retriever, ranking[position], position + 1))
            excluded.add(ranking[position])
    return chosen


def _done_labels(path: Path) -> set[tuple[str, str]]:
    """The (query, pos_id) keys with labels in a labels file."""
    return {(r["query"], str(r["pos_id"])) for _, r in read_jsonl(path)} if path.exists() else set()


def _teacher_settings(config: GplLabelConfig, teacher: Any) -> dict[str, Any]:
    if teacher is not None:
        settings = {"name": teacher.name, "kind": teacher.kind, "max_length": teacher.max_length}
    else:
        from inpars.rerankers.base import infer_kind

        kind = config.teacher_kind or infer_kind(config.teacher)
        settings = {"name": config.teacher, "kind": kind, "max_length": config.teacher_max_length}
    return {**settings, "bm25_weight": config.teacher_bm25_weight}


def _mine(
    config: GplLabelConfig,
    texts: list[str],
    corpus: Any,
    searcher: Any,
    progress: Any,
) -> dict[str, dict[str, list[str]]]:
    """Each retriever's top ``depth`` doc ids for each distinct query text."""
    from inpars.search import DenseRetriever, default_embeddings_dir

    mined: dict[str, dict[str, list[str]]] = {}
    for name in config.retrievers:
        task = progress.add_task(f"mine: {name}", total=len(texts))
        if name == BM25_RETRIEVER:
            found = searcher.batch_search(texts, config.depth, config.threads)
            rankings = [[hit.doc_id for hit in ranking] for ranking in found]
        else:
            folder = default_embeddings_dir(corpus.file, name)
            if config.embeddings_dir:
                folder = Path(config.embeddings_dir) / folder.name
            retriever = DenseRetriever.open(
                name,
                corpus,
                embeddings_dir=folder,
                device=config.device,
                dtype=config.dtype,
                batch_size=config.encode_batch_size,
                progress=progress,
            )
            rankings = [[doc_id for doc_id, _ in r] for r in retriever.search(texts, config.depth)]
            del retriever
            _free_accelerator_memory()
        mined[name] = dict(zip(texts, rankings, strict=True))
        progress.update(task, completed=len(texts))
    return mined


def _free_accelerator_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def label_gpl(
    config: GplLabelConfig,
    *,
    overwrite: bool = False,
    show_progress: bool = False,
    teacher: Any = None,
) -> GplLabelSummary:
    """Mines negatives for ``config.queries`` and writes teacher margins to ``config.output``.

    ``teacher`` is an already loaded scorer (anything with ``score(queries, documents,
    batch_size)``, ``name``, ``kind`` and ``max_length``); default: ``config.teacher``
    loaded with :func:`inpars.rerankers.load_reranker`, after mining.

    Raises:
        InputError: for a bad query record, or a doc id the corpus lacks.
        InparsError: for bad settings, or an output written with other settings.
    """
    from inpars.bm25 import Bm25Searcher, ensure_index
    from inpars.corpus import read_corpus
    from inpars.manifest import file_entry, write_manifest
    from inpars.triples import query_rng, read_query_rows, scan_queries

    config.check()
    start = time.perf_counter()
    summary = GplLabelSummary()
    query_index = scan_queries(config.queries)  # every record checked before any model
    corpus = read_corpus(config.corpus)
    with progress_bar(show_progress) as progress:
        info = ensure_index(corpus, config.index_path, threads=config.threads, progress=progress)
    settings = {
        "queries": str(Path(config.queries).resolve()),
        "index_fingerprint": info.fingerprint,
        "retrievers": config.retrievers,
        "depth": config.depth,
        "negatives_per_retriever": config.negatives_per_retriever,
        "seed": config.seed,
        "teacher": _teacher_settings(config, teacher),
        "k1": config.k1,
        "b": config.b,
    }
    with (
        Bm25Searcher(info.path, config.k1, config.b) as searcher,
        CommittedAppender(config.output, settings, overwrite=overwrite) as out,
    ):
        for doc_id, line in query_index.first_line.items():
            if not searcher.has_doc(doc_id):
                raise InputError(
                    f"doc_id {doc_id!r} is not in the corpus {config.corpus} (no such id, or "
                    "a document with empty title and text)",
                    config.queries,
                    line,
                    "doc_id",
                )
        done = _done_labels(Path(config.output)) if out.committed_bytes else set()
        rows = []
        seen: set[tuple[str, str]] = set()
        for row in read_query_rows(config.queries):
            summary.queries_read += 1
            key = (row.query, row.doc_id)
            if key in done:
                summary.already_done += 1
            elif key in seen:
                summary.repeated += 1
            else:
                seen.add(key)
                rows.append(row)
        summary.positive_in_top = dict.fromkeys(config.retrievers, 0)
        with progress_bar(show_progress) as progress:
            started = time.perf_counter()
            texts = list(dict.fromkeys(row.query for row in rows))
            mined = _mine(config, texts, corpus, searcher, progress) if rows else {}
            summary.mining_seconds = time.perf_counter() - started
            if rows and teacher is None:
                from inpars.rerankers import load_reranker

                teacher = load_reranker(
                    config.teacher,
                    config.teacher_kind,
                    max_length=config.teacher_max_length,
                    device=config.device,
                    dtype=config.dtype,
                )
            task = progress.add_task("label", total=len(rows))
            for first in range(0, len(rows), config.queries_per_chunk):
                chunk = rows[first : first + config.queries_per_chunk]
                records = []
                for row in chunk:
                    positives = {*query_index.positives_of(row.query), row.doc_id}
                    rankings = [(name, mined[name][row.query]) for name in config.retrievers]
                    for name, ranking in rankings:
                        if row.doc_id in ranking:
                            summary.positive_in_top[name] += 1
                    rng = query_rng(config.seed, row.query, row.doc_id)
                    negatives = sample_query_negatives(
                        rankings, positives, config.negatives_per_retriever, rng
                    )
                    if not negatives:
                        summary.without_negatives += 1
                        continue
                    if len(negatives) < config.negatives_per_retriever * len(rankings):
                        summary.short += 1
                    records.append((row, negatives))
                started = time.perf_counter()
                lines = _label_chunk(records, teacher, searcher, config)
                summary.teacher_seconds += time.perf_counter() - started
                out.append("".join(lines))
                summary.labels += len(lines)
                summary.queries_labelled += len(records)
                progress.advance(task, len(chunk))
        out.mark_complete()
    summary.seconds = time.perf_counter() - start
    write_manifest(
        config.output,
        "gpl-label",
        "complete",
        queries={**file_entry(config.queries), "format": query_index.format},
        corpus=config.corpus,
        index={
            "path": str(info.path),
            "documents": info.documents,
            "fingerprint": info.fingerprint,
        },
        outputs={"labels": file_entry(config.output)},
        config=asdict(config),
        settings=settings,
        summary=asdict(summary),
    )
    return summary


def fuse_with_bm25(teacher: Sequence[float], bm25: Sequence[float], weight: float) -> list[float]:
    """``(1 - weight) * z(teacher) + weight * z(bm25)``, each standardized over the candidates.

    The candidates are one query's positive and its negatives. Standardizing puts a cosine
    or a logit and a BM25 score on one scale; margins come out in standard deviations. A
    scorer that ties every candidate contributes zeros.
    """

    def standardized(values: Sequence[float]) -> list[float]:
        mean = sum(values) / len(values)
        spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
        return [(v - mean) / spread if spread > 0 else 0.0 for v in values]

    return [
        (1 - weight) * t + weight * b
        for t, b in zip(standardized(teacher), standardized(bm25), strict=True)
    ]


def _label_chunk(
    records: Sequence[tuple[Any, list[tuple[str, str, int]]]],
    teacher: Any,
    searcher: Any,
    config: GplLabelConfig,
) -> list[str]:
    """The label lines of a chunk: the teacher scores each positive once, each negative once."""
    pair_queries: list[str] = []
    pair_docs: list[str] = []
    for row, negatives in records:
        for doc_id in [row.doc_id, *(neg_id for _, neg_id, _ in negatives)]:
            text = searcher.doc_contents(doc_id)
            if text is None:
                raise InputError(f"doc_id {doc_id!r} is not in the index", config.queries, row.line)
            pair_queries.append(row.query)
            pair_docs.append(text)
    scores = []
    if pair_queries:
        scores = teacher.score(pair_queries, pair_docs, batch_size=config.teacher_batch_size)
    lines = []
    position = 0
    for row, negatives in records:
        count = 1 + len(negatives)
        row_scores = [float(value) for value in scores[position : position + count]]
        position += count
        if config.teacher_bm25_weight > 0:
            doc_ids = [row.doc_id, *(neg_id for _, neg_id, _ in negatives)]
            bm25 = searcher.scores(row.query, doc_ids)
            row_scores = fuse_with_bm25(row_scores, bm25, config.teacher_bm25_weight)
        pos_score = row_scores[0]
        for (retriever, neg_id, rank), neg_score in zip(negatives, row_scores[1:], strict=True):
            label = MarginLabel(
                query=row.query,
                pos_id=row.doc_id,
                neg_id=neg_id,
                margin=pos_score - neg_score,
                pos_score=pos_score,
                neg_score=neg_score,
                retriever=retriever,
                neg_rank=rank,
            )
            lines.append(dumps_json(to_dict(label), path=config.output) + "\n")
    return lines
