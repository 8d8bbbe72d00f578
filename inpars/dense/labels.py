"""GPL labelling: negatives mined by the retrievers, margins from a cross-encoder teacher."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inpars.artifacts import Artifact, file_entry, file_input, model_input
from inpars.dense.config import BM25_RETRIEVER, GplLabelConfig
from inpars.errors import InputError
from inpars.io import dumps_json, read_jsonl
from inpars.progress import progress_bar
from inpars.records import MarginLabel, to_dict

if TYPE_CHECKING:
    from inpars.bm25_corpus import Bm25Index


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
    fusion_scales: dict[str, float] | None = None  # teacher and bm25 spreads (fuse_with_bm25)
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


def artifact(config: GplLabelConfig, index: Bm25Index, teacher: Any = None) -> Artifact:
    """The labels as an :class:`~inpars.artifacts.Artifact`: the settings that decide them
    and the fingerprints of the queries, the index (the corpus; with ``bm25_corpus``, the
    expansion and the corpus: :meth:`inpars.bm25_corpus.Bm25Index.inputs`), the teacher's
    weights and
    each dense retriever's (labels of an edited queries file or of a retrained model are
    never resumed as if they belonged to the new ones). ``teacher``: an already loaded
    scorer (its ``name``, ``kind`` and ``max_length``), else ``config.teacher``'s."""
    if teacher is not None:
        name, kind, max_length = teacher.name, teacher.kind, teacher.max_length
    else:
        from inpars.rerankers.base import infer_kind

        name, max_length = config.teacher, config.teacher_max_length
        kind = config.teacher_kind or infer_kind(config.teacher)
    settings = {
        "retrievers": config.retrievers,
        "depth": config.depth,
        "negatives_per_retriever": config.negatives_per_retriever,
        "seed": config.seed,
        "teacher_kind": kind,
        "teacher_max_length": max_length,
        "teacher_bm25_weight": config.teacher_bm25_weight,
        "k1": config.k1,
        "b": config.b,
    }
    inputs: dict[str, Any] = {
        "queries": file_input(config.queries),
        **index.inputs(),
        "teacher": model_input(name),
    }
    for retriever in config.retrievers:
        if retriever != BM25_RETRIEVER:
            inputs[f"retriever {retriever}"] = model_input(retriever)
    return Artifact(config.output, "gpl-label", settings, inputs)


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
    from inpars.bm25_corpus import ensure_bm25_index
    from inpars.triples import read_query_rows, scan_queries

    config.check()
    start = time.perf_counter()
    summary = GplLabelSummary()
    query_index = scan_queries(config.queries)  # every record checked before any model
    corpus = config.corpus_reader()
    with progress_bar(show_progress) as progress:
        index = ensure_bm25_index(
            corpus,
            config.index_path,
            bm25_corpus=config.corpus_reader(config.bm25_corpus) if config.bm25_corpus else None,
            threads=config.threads,
            progress=progress,
        )
    info = index.info
    art = artifact(config, index, teacher)
    if art.open(overwrite) == "complete":
        summary.already_done = len(_done_labels(Path(config.output)))
        return summary
    with (
        index.open(config.k1, config.b) as searcher,
        art.appender() as out,
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
        done = _done_labels(Path(config.output)) if art.state == "resume" else set()
        rows = []
        calibration = []  # the first distinct rows of the file, done or not
        seen: set[tuple[str, str]] = set()
        for row in read_query_rows(config.queries):
            summary.queries_read += 1
            key = (row.query, row.doc_id)
            if key in done:
                summary.already_done += 1
            elif key in seen:
                summary.repeated += 1
            else:
                rows.append(row)
            if key not in seen:
                seen.add(key)
                if len(calibration) < FUSION_CALIBRATION_QUERIES:
                    calibration.append(row)
        if config.teacher_bm25_weight <= 0:
            calibration = []
        scales = (1.0, 1.0)
        summary.positive_in_top = dict.fromkeys(config.retrievers, 0)
        with progress_bar(show_progress) as progress:
            started = time.perf_counter()
            texts = list(dict.fromkeys(row.query for row in [*calibration, *rows]))
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
            if rows and config.teacher_bm25_weight > 0:
                scales = _fusion_scales(calibration, mined, query_index, teacher, searcher, config)
                summary.fusion_scales = {"teacher": scales[0], "bm25": scales[1]}
            task = progress.add_task("label", total=len(rows))
            for first in range(0, len(rows), config.queries_per_chunk):
                chunk = rows[first : first + config.queries_per_chunk]
                records = []
                for row in chunk:
                    rankings = [(name, mined[name][row.query]) for name in config.retrievers]
                    for name, ranking in rankings:
                        if row.doc_id in ranking:
                            summary.positive_in_top[name] += 1
                    negatives = _negatives(row, rankings, query_index, config)
                    if not negatives:
                        summary.without_negatives += 1
                        continue
                    if len(negatives) < config.negatives_per_retriever * len(rankings):
                        summary.short += 1
                    records.append((row, negatives))
                started = time.perf_counter()
                lines = _label_chunk(records, teacher, searcher, config, scales)
                summary.teacher_seconds += time.perf_counter() - started
                out.append("".join(lines))
                summary.labels += len(lines)
                summary.queries_labelled += len(records)
                progress.advance(task, len(chunk))
    summary.seconds = time.perf_counter() - start
    art.complete(
        queries_format=query_index.format,
        index={"path": str(info.path), "documents": info.documents},
        outputs={"labels": file_entry(config.output)},
        config=asdict(config),
        summary=asdict(summary),
    )
    return summary


FUSION_CALIBRATION_QUERIES = 1000
"""How many queries (the first distinct ones of the queries file) measure each scorer's
spread for :func:`fuse_with_bm25`: the same ones on every run and resume."""


def _negatives(
    row: Any, rankings: list[tuple[str, list[str]]], query_index: Any, config: GplLabelConfig
) -> list[tuple[str, str, int]]:
    """The negatives of one query row: the same on every run (seeded by the row)."""
    from inpars.triples import query_rng

    positives = {*query_index.positives_of(row.query), row.doc_id}
    rng = query_rng(config.seed, row.query, row.doc_id)
    return sample_query_negatives(rankings, positives, config.negatives_per_retriever, rng)


def _fusion_scales(
    calibration: Sequence[Any],
    mined: dict[str, dict[str, list[str]]],
    query_index: Any,
    teacher: Any,
    searcher: Any,
    config: GplLabelConfig,
) -> tuple[float, float]:
    """(teacher spread, BM25 spread): :func:`score_spread` of each scorer over the
    calibration queries' candidates (positive and negatives), scored as labels are."""
    records = []
    for row in calibration:
        rankings = [(name, mined[name][row.query]) for name in config.retrievers]
        negatives = _negatives(row, rankings, query_index, config)
        if negatives:
            records.append((row, negatives))
    scored = _score_records(records, teacher, searcher, config)
    return (
        score_spread([teacher_scores for teacher_scores, _ in scored]),
        score_spread([bm25 for _, bm25 in scored]),
    )


def score_spread(groups: Sequence[Sequence[float]]) -> float:
    """The pooled within-query standard deviation of a scorer: the root mean square
    distance of each score from its own query's mean, over all the groups (one group per
    query: its positive and its negatives). 1 when every group ties (nothing to scale).

    Per-query means remove what differs from query to query (BM25 scores grow with a
    query's length); pooling over many queries gives a spread that one query's two
    candidates cannot: standardized over {positive, negative} alone, any two scores become
    -1 and +1 and the teacher's margin is lost.
    """
    squares = 0.0
    count = 0
    for values in groups:
        if not values:
            continue
        mean = sum(values) / len(values)
        squares += sum((v - mean) ** 2 for v in values)
        count += len(values)
    spread = (squares / count) ** 0.5 if count else 0.0
    return spread if spread > 0 else 1.0


def fuse_with_bm25(
    teacher: Sequence[float],
    bm25: Sequence[float],
    weight: float,
    scales: tuple[float, float] = (1.0, 1.0),
) -> list[float]:
    """``(1 - weight) * z(teacher) + weight * z(bm25)`` for one query's candidates.

    ``z`` centres a scorer's scores on the query's mean and divides them by that scorer's
    spread over the collection, ``scales`` = (teacher spread, BM25 spread) from
    :func:`score_spread` (label_gpl measures them on the first
    :data:`FUSION_CALIBRATION_QUERIES` queries). That puts a logit and a BM25 score on one
    scale while keeping each margin's size: a margin twice another stays twice as large.
    Margins come out in standard deviations.
    """

    def standardized(values: Sequence[float], spread: float) -> list[float]:
        mean = sum(values) / len(values)
        return [(v - mean) / spread for v in values]

    return [
        (1 - weight) * t + weight * b
        for t, b in zip(
            standardized(teacher, scales[0]), standardized(bm25, scales[1]), strict=True
        )
    ]


def _score_records(
    records: Sequence[tuple[Any, list[tuple[str, str, int]]]],
    teacher: Any,
    searcher: Any,
    config: GplLabelConfig,
) -> list[tuple[list[float], list[float]]]:
    """(teacher scores, BM25 scores) of each record's positive then negatives; the BM25
    scores only when fusing (else empty). The teacher scores each pair once, in batches."""
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
    scored = []
    position = 0
    for row, negatives in records:
        count = 1 + len(negatives)
        row_scores = [float(value) for value in scores[position : position + count]]
        position += count
        bm25: list[float] = []
        if config.teacher_bm25_weight > 0:
            doc_ids = [row.doc_id, *(neg_id for _, neg_id, _ in negatives)]
            bm25 = [float(value) for value in searcher.scores(row.query, doc_ids)]
        scored.append((row_scores, bm25))
    return scored


def _label_chunk(
    records: Sequence[tuple[Any, list[tuple[str, str, int]]]],
    teacher: Any,
    searcher: Any,
    config: GplLabelConfig,
    scales: tuple[float, float] = (1.0, 1.0),
) -> list[str]:
    """The label lines of a chunk: the teacher scores each positive once, each negative once;
    fused with BM25 (at ``scales``, see :func:`fuse_with_bm25`) when the config says so."""
    lines = []
    for (row, negatives), (row_scores, bm25) in zip(
        records, _score_records(records, teacher, searcher, config), strict=True
    ):
        if config.teacher_bm25_weight > 0:
            row_scores = fuse_with_bm25(row_scores, bm25, config.teacher_bm25_weight, scales)
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
