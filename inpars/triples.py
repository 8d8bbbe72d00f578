"""Training triples with BM25 negatives: ``query<TAB>positive<TAB>negative``, the InPars way.

For each query record (``inpars.filter`` output, or raw ``inpars.generate`` output: JSON Lines
with ``doc_id`` and ``query``; or queries published by the InPars authors, read through
:class:`inpars.published.RecordNormalizer`), BM25 retrieves the top ``depth`` documents and
``negatives_per_query`` of them are drawn at random as negatives. Never drawn: the query's own
document, nor any other document that the same query (after the filter's normalisation) was
generated from, since those are positives too. A query generated from a passage of a
document (``inpars.generate --passage-tokens``) has the whole document as its positive.

Sampling is seeded per query, from (seed, query, doc id): the triples of a query do not depend
on batch size, thread count, the order of the input or on a run being resumed.

A query with fewer usable hits than ``negatives_per_query`` gets the ones there are (counted as
"short"); one with none gets no triple (counted as "without negatives"); for example a query
of stop words only, which BM25 cannot match.

Outputs, written batch by batch so that a rerun resumes: a TSV of texts, what monoT5 training
scripts read (whitespace runs in a text become one space, so a cell holds no tab or line
break), and JSON Lines of :class:`~inpars.records.Triple` with ids, ranks and scores, one
line per TSV line in the same order. A query whose (query, doc id) already has triples in the
JSON Lines is skipped on a rerun. Both are one :class:`inpars.artifacts.Artifact`: its manifest
``<output>.manifest.json`` (beside the TSV) records the settings, the queries' SHA-256, the
index fingerprint, both files' committed sizes after each batch (a restart cuts both back to
the last batch: a batch is all there or redone, never half), what the run counted and, once
complete, both outputs' SHA-256. A rerun with other settings or other inputs is refused
rather than mixed into the same files (the one rule of :mod:`inpars.artifacts`).

With ``bm25_corpus`` (an expansion from :mod:`inpars.expand`; :mod:`inpars.bm25_corpus`), BM25
mines the negatives from the expansion while the triples' texts stay the corpus's. A choice,
off by default as in InPars: an expansion ranks first the documents whose own synthetic
queries resemble the query, so its negatives are harder, and likelier to be relevant
documents (false negatives); when the expansion was made from these very queries, each query
also stands in its positive's expansion (positives are never drawn, so that does not leak).

Both outputs are in the order of the queries file (a query record's triples where its first
occurrence stands). With ``--shard I/N`` a run takes only the records whose ``doc_id`` is in
shard I of N (:mod:`inpars.shards`); it still reads every record to know each query's
positives, so every part excludes the same documents. ``python -m inpars.merge`` combines
the N parts into the files of an unsharded run.

Command line: ``python -m inpars.triples --help`` (:mod:`inpars.cli.triples`).
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inpars.artifacts import Appender, Artifact, file_entry, file_input, jsonl_text
from inpars.bm25 import (
    DEFAULT_B,
    DEFAULT_K1,
    Bm25Searcher,
    IndexSettings,
    Ranking,
)
from inpars.bm25_corpus import Bm25Index, ensure_bm25_index
from inpars.corpus import CorpusFields
from inpars.errors import InparsError, InputError, require_at_least_one
from inpars.filter import dedup_key, normalize_words
from inpars.io import open_lines, read_jsonl
from inpars.progress import progress_bar
from inpars.published import RecordNormalizer
from inpars.records import Triple, checked_query, to_dict
from inpars.shards import parse_shard


@dataclass
class TriplesConfig(CorpusFields):
    """Everything :func:`make_triples` needs; the CLI flags map one to one (the corpus's
    format and fields: :class:`~inpars.corpus.CorpusFields`)."""

    queries: str
    corpus: str
    output: str  # the TSV
    jsonl: str | None = None  # default: the TSV path with a .jsonl suffix
    index: str | None = None  # default: the TSV path with a .bm25-index suffix
    bm25_corpus: str | None = None  # the corpus BM25 mines from (e.g. expanded; bm25_corpus)
    depth: int = 1000
    negatives_per_query: int = 1
    seed: int = 0
    k1: float = DEFAULT_K1
    b: float = DEFAULT_B
    stemmer: str = "porter"
    keep_stopwords: bool = False
    threads: int = max(1, os.cpu_count() or 1)
    batch_size: int = 1000
    rebuild_index: bool = False
    overwrite: bool = False
    shard: str | None = None  # "I/N": only the query records of shard I of N (inpars.shards)

    @property
    def jsonl_path(self) -> Path:
        return Path(self.jsonl) if self.jsonl else Path(self.output).with_suffix(".jsonl")

    @property
    def index_path(self) -> Path:
        return Path(self.index) if self.index else Path(self.output).with_suffix(".bm25-index")

    @property
    def index_settings(self) -> IndexSettings:
        return IndexSettings(stemmer=self.stemmer, keep_stopwords=self.keep_stopwords)

    def check(self) -> None:
        """Raises InparsError for settings that cannot work."""
        require_at_least_one(
            ("--depth", self.depth),
            ("--negatives-per-query", self.negatives_per_query),
            ("--threads", self.threads),
            ("--batch-size", self.batch_size),
        )
        if self.negatives_per_query > self.depth:
            raise InparsError(
                f"--negatives-per-query ({self.negatives_per_query}) cannot exceed --depth "
                f"({self.depth})"
            )
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise InparsError(f"BM25 needs k1 >= 0 and 0 <= b <= 1 (got {self.k1}, {self.b})")
        self.index_settings  # noqa: B018 (validates the stemmer)
        parse_shard(self.shard)
        if Path(self.output).resolve() == self.jsonl_path.resolve():
            raise InparsError("the TSV and JSON Lines outputs must be different files")

    def bm25_index(self, progress: Any = None) -> Bm25Index:
        """The index negatives are mined from, built or found up to date (of ``bm25_corpus``
        when given, read with the corpus's fields, then with the corpus's texts)."""
        return ensure_bm25_index(
            self.corpus_reader(),
            self.index_path,
            bm25_corpus=self.corpus_reader(self.bm25_corpus) if self.bm25_corpus else None,
            settings=self.index_settings,
            threads=self.threads,
            rebuild=self.rebuild_index,
            progress=progress,
        )

    def artifact(self, index: Bm25Index) -> Artifact:
        """The outputs as an artifact: what must not change between a run and its
        resumption (the index fingerprint stands for the corpus and the analysis; with
        ``bm25_corpus``, the corpus read for the texts is an input too)."""
        settings = {
            "depth": self.depth,
            "negatives_per_query": self.negatives_per_query,
            "seed": self.seed,
            "k1": self.k1,
            "b": self.b,
            "shard": self.shard,
        }
        inputs = {
            "queries": file_input(self.queries),
            **index.inputs(),
        }
        return Artifact(self.output, "triples", settings, inputs, files=[self.jsonl_path])


@dataclass
class TriplesSummary:
    """What a run did."""

    queries_read: int = 0
    already_done: int = 0  # skipped: triples for this (query, doc id) were already written
    repeated: int = 0  # skipped: the same (query, doc id) earlier in the input
    queries_searched: int = 0
    triples: int = 0
    short: int = 0  # fewer usable hits than --negatives-per-query: got what there was
    without_negatives: int = 0  # no usable hit at all: no triple
    positive_in_top: int = 0  # queries whose own document was in the BM25 top --depth
    index_documents: int = 0
    index_reused: bool = False
    index_reason: str = ""
    index_seconds: float = 0.0
    search_seconds: float = 0.0
    seconds: float = 0.0
    repaired_bytes: int = 0

    @property
    def queries_per_second(self) -> float:
        """Queries searched and sampled per second, index time excluded."""
        work = self.seconds - self.index_seconds
        return self.queries_searched / work if work > 0 else 0.0


@dataclass(frozen=True)
class _QueryRow:
    line: int
    query: str
    doc_id: str
    score: float | None


def _check_row(record: dict[str, Any], path: str, line: int) -> _QueryRow:
    doc_id, query = checked_query(record, path, line, allow_empty=False)
    score = record.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        score = None
    return _QueryRow(line=line, query=query, doc_id=doc_id, score=score)


def read_query_rows(path: str, normalize: RecordNormalizer | None = None) -> Iterator[_QueryRow]:
    """The checked (query, doc id) rows of a queries file, streaming.

    The file may be in any schema :mod:`inpars.published` reads.
    """
    if normalize is None:
        normalize = RecordNormalizer(path)
    for line, record in read_jsonl(path):
        yield _check_row(normalize(record, line), path, line)


@dataclass
class _QueryIndex:
    """What the first pass over the queries learns: positives per query, first line per doc."""

    positives: dict[bytes, str | tuple[str, ...]]  # normalised query -> its document(s)
    first_line: dict[str, int]  # doc id -> first line naming it, for error messages
    format: str = "inpars"  # the queries file's schema (inpars.published.FORMATS)

    def positives_of(self, query: str) -> tuple[str, ...]:
        found = self.positives.get(dedup_key(normalize_words(query)), ())
        return (found,) if isinstance(found, str) else found


def scan_queries(path: str) -> _QueryIndex:
    """Validates every query record and maps each normalised query to its documents."""
    positives: dict[bytes, str | tuple[str, ...]] = {}
    first_line: dict[str, int] = {}
    normalize = RecordNormalizer(path)
    for row in read_query_rows(path, normalize):
        first_line.setdefault(row.doc_id, row.line)
        key = dedup_key(normalize_words(row.query))
        known = positives.get(key)
        # One document per query is the rule; a bare string keeps that case small.
        if known is None:
            positives[key] = row.doc_id
        elif isinstance(known, str):
            if known != row.doc_id:
                positives[key] = (known, row.doc_id)
        elif row.doc_id not in known:
            positives[key] = (*known, row.doc_id)
    return _QueryIndex(
        positives=positives, first_line=first_line, format=normalize.format or "inpars"
    )


def sample_negatives(
    ranking: Ranking,
    excluded_positions: set[int],
    count: int,
    rng: random.Random,
) -> list[int]:
    """``count`` distinct positions of ``ranking`` drawn uniformly, never an excluded one.

    Fewer when fewer are available. Returned in rank order.
    """
    candidates = [i for i in range(len(ranking)) if i not in excluded_positions]
    if len(candidates) <= count:
        return candidates
    return sorted(rng.sample(candidates, count))


def query_rng(seed: int, query: str, doc_id: str) -> random.Random:
    """The random source of one query: the same for the same (seed, query, doc id)."""
    digest = hashlib.blake2b(f"{seed}\x00{doc_id}\x00{query}".encode(), digest_size=8)
    return random.Random(int.from_bytes(digest.digest(), "big"))


def _tsv_field(text: str) -> str:
    """A text made safe for one TSV cell: no tabs or line breaks."""
    return " ".join(text.split())


def _tsv_line(query: str, positive: str, negative: str) -> str:
    return f"{_tsv_field(query)}\t{_tsv_field(positive)}\t{_tsv_field(negative)}\n"


def _done_triples(jsonl: Path) -> set[tuple[str, str]]:
    """The (query, pos_id) keys with triples in the JSON Lines output."""
    done: set[tuple[str, str]] = set()
    if not jsonl.exists():
        return done
    for line, record in read_jsonl(jsonl):
        query, pos_id = record.get("query"), record.get("pos_id")
        if not isinstance(query, str) or not isinstance(pos_id, str):
            raise InputError("not a triple record (query, pos_id)", jsonl, line)
        done.add((query, pos_id))
    return done


def _contents(searcher: Bm25Searcher, doc_id: str, path: str | Path, line: int) -> str:
    text = searcher.doc_contents(doc_id)
    if text is None:
        raise InputError(f"doc_id {doc_id!r} is not in the index", path, line, "doc_id")
    return text


def make_triples(config: TriplesConfig, *, show_progress: bool = False) -> TriplesSummary:
    """Writes the triples of ``config.queries`` to the TSV and JSON Lines outputs.

    Raises:
        InputError: for a bad query record, or a doc id the corpus lacks (naming it, with
            the file and line).
        InparsError: for bad settings, or outputs made with other settings.
    """
    config.check()
    start = time.perf_counter()
    summary = TriplesSummary()
    # Check every query record before spending time on the index.
    query_index = scan_queries(config.queries)
    with progress_bar(show_progress) as progress:
        index = config.bm25_index(progress)
    info = index.info
    summary.index_documents = info.documents
    summary.index_reused = info.reused
    summary.index_reason = info.reason
    summary.index_seconds = info.seconds
    searcher = index.open(config.k1, config.b)
    try:
        for doc_id, line in query_index.first_line.items():
            if not searcher.has_doc(doc_id):
                raise InputError(
                    f"doc_id {doc_id!r} is not in the corpus {config.corpus} (no such id, or "
                    "a document with empty title and text)",
                    config.queries,
                    line,
                    "doc_id",
                )
        artifact = config.artifact(index)
        if artifact.open(overwrite=config.overwrite) == "complete":
            summary.seconds = time.perf_counter() - start
            return summary
        artifact.update(
            queries_format=query_index.format,
            corpus=config.corpus,
            index={"documents": info.documents, "reused": info.reused},
            config=asdict(config),
        )
        with artifact.appender() as output:
            summary.repaired_bytes = output.cut
            _run(config, query_index, searcher, output, summary, show_progress)
    finally:
        searcher.close()
    summary.seconds = time.perf_counter() - start
    artifact.complete(
        outputs={"tsv": file_entry(config.output), "jsonl": file_entry(config.jsonl_path)},
        summary=asdict(summary),
    )
    return summary


def _count_rows(path: str) -> int:
    return sum(1 for _, text in open_lines(path) if text.strip())


def _run(
    config: TriplesConfig,
    query_index: _QueryIndex,
    searcher: Bm25Searcher,
    output: Appender,
    summary: TriplesSummary,
    show_progress: bool,
) -> None:
    done = _done_triples(config.jsonl_path)
    seen: set[tuple[str, str]] = set()
    shard = parse_shard(config.shard)
    total = _count_rows(config.queries)
    with progress_bar(show_progress) as progress:
        task = progress.add_task("triples", total=total)
        batch: list[_QueryRow] = []
        for row in read_query_rows(config.queries):
            if shard is not None and row.doc_id not in shard:
                progress.advance(task)
                continue
            summary.queries_read += 1
            key = (row.query, row.doc_id)
            if key in done:
                summary.already_done += 1
                progress.advance(task)
                continue
            if key in seen:
                summary.repeated += 1
                progress.advance(task)
                continue
            seen.add(key)
            batch.append(row)
            if len(batch) >= config.batch_size:
                _process_batch(batch, config, query_index, searcher, output, summary)
                progress.advance(task, len(batch))
                batch = []
        if batch:
            _process_batch(batch, config, query_index, searcher, output, summary)
            progress.advance(task, len(batch))


def _process_batch(
    batch: Sequence[_QueryRow],
    config: TriplesConfig,
    query_index: _QueryIndex,
    searcher: Bm25Searcher,
    output: Appender,
    summary: TriplesSummary,
) -> None:
    started = time.perf_counter()
    rankings = searcher.batch_search([row.query for row in batch], config.depth, config.threads)
    summary.search_seconds += time.perf_counter() - started
    lines: list[str] = []
    records: list[dict[str, Any]] = []
    for row, ranking in zip(batch, rankings, strict=True):
        summary.queries_searched += 1
        positives = set(query_index.positives_of(row.query)) | {row.doc_id}
        excluded: set[int] = set()
        pos_rank = None
        for doc_id in positives:
            lucene_id = searcher.lucene_id(doc_id)
            position = None if lucene_id is None else ranking.position_of(lucene_id)
            if position is not None:
                excluded.add(position)
                if doc_id == row.doc_id:
                    pos_rank = position + 1
        if pos_rank is not None:
            summary.positive_in_top += 1
        rng = query_rng(config.seed, row.query, row.doc_id)
        chosen = sample_negatives(ranking, excluded, config.negatives_per_query, rng)
        if not chosen:
            summary.without_negatives += 1
            continue
        if len(chosen) < config.negatives_per_query:
            summary.short += 1
        positive = _contents(searcher, row.doc_id, config.queries, row.line)
        for position in chosen:
            hit = ranking[position]
            negative = _contents(searcher, hit.doc_id, config.queries, row.line)
            lines.append(_tsv_line(row.query, positive, negative))
            records.append(
                to_dict(
                    Triple(
                        query=row.query,
                        pos_id=row.doc_id,
                        neg_id=hit.doc_id,
                        neg_rank=hit.rank,
                        bm25_score=hit.score,
                        pos_rank=pos_rank,
                        query_score=row.score,
                    )
                )
            )
    output.append("".join(lines), jsonl_text(records, config.jsonl_path))
    summary.triples += len(records)


if __name__ == "__main__":
    from inpars.cli.triples import main

    sys.exit(main())
