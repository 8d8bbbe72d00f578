"""Document expansion (doc2query, Doc2Query--): append each document's synthetic queries to it.

Library use::

    from inpars.expand import ExpandConfig, expand

    summary = expand(ExpandConfig(corpus="data/cranfield", queries="queries.jsonl",
                                  output="cranfield-expanded", drop_fraction=0.3))

Command line: ``python -m inpars.expand --help`` (:mod:`inpars.cli.expand`).

Input: a corpus (BEIR folder, JSON Lines or TSV; see :mod:`inpars.corpus`) and the queries
generated for its documents: ``inpars.generate`` or ``inpars.filter`` output, or a file the
InPars authors published (v1 or v2, read through :class:`inpars.published.RecordNormalizer`).

Output: the corpus in its own format, every document in corpus order, where each document's
kept queries are appended to its **text** (never the title) in one way, :func:`expanded_text`:
the text with trailing whitespace removed, one space, then the queries in the order of the
queries file, each with its whitespace collapsed to single spaces, joined by single spaces.
A document without kept queries is written unchanged. JSON records keep all their other fields.
A BEIR folder gets ``corpus.jsonl`` plus a copy of the input's ``queries.jsonl`` and ``qrels/``,
so the result is a complete collection that ``inpars.search``, ``inpars.rerank --bm25-corpus``
and ``inpars.evaluate`` take as it is. Identical queries of one document are all appended (as
doc2query does: repetition raises the term frequency of what the document is about); empty
queries are skipped. Queries generated per passage (``inpars.generate --passage-tokens``,
:mod:`inpars.passages`) are their document's queries like any other: those of every passage are
appended, in the file's order (passage by passage), and the document is expanded once.

Doc2Query-- (Gospodinov et al., ECIR 2023): with ``drop_fraction`` F > 0, every (query, its
document) pair is scored (:mod:`inpars.pair_scores`: a reranker, by default the bundled
zero-shot bi-encoder, or the generator's mean log-prob) and the ``floor(F * pairs)``
lowest-scoring pairs over the **whole** file are dropped: one global threshold, not a quota per
document (ties: the later line of the queries file is dropped first). F = 0 appends every
query and loads no model. The pair's document is the whole document, also for a query
generated from one of its passages; a scorer reads only the start of a document longer than
its input (the bi-encoder: 256 word pieces), so there the queries of later passages tend to
score lower and be dropped first (``--scorer log-probs`` does not read the document).

Two passes: (1) score the pairs, in corpus order, appending them in committed batches to
``<output>.scores.jsonl`` (``{"line", "doc_id", "score"}``, ``line`` being the query's line in
the queries file); (2) compute the threshold and write the expansion to a temporary file that
replaces the output at the end. Killed at any point, the same command resumes: scored pairs are
kept and pass 2 is simply redone. Both files are :class:`inpars.artifacts.Artifact` outputs:
their manifests record the inputs' SHA-256 (the scorer's fingerprint) and the settings, and
another corpus, queries file, scorer or setting is refused (``overwrite`` starts again). The
scores depend on the inputs and the scorer only, so an ``overwrite`` run with another
``drop_fraction`` reuses them, and so do expansions into other outputs that name the same
``scores`` file (``--scores``): several drop fractions cost one scoring pass.

Memory: the queries are held grouped by document id (their text and line, O(queries)), and
pass 2 holds one score per pair; the corpus itself is streamed, one document at a time.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inpars.artifacts import (
    Artifact,
    file_entry,
    file_input,
    jsonl_text,
    model_input,
    read_producer,
)
from inpars.corpus import ID_FIELDS, TEXT_FIELDS, CorpusFields, CorpusReader, pick_field
from inpars.errors import InparsError, InputError
from inpars.io import atomic_open, read_jsonl
from inpars.pair_scores import DEFAULT_SCORER, LOG_PROBS, PairScorer, record_log_prob_score
from inpars.progress import progress_bar
from inpars.published import FORMATS, RecordNormalizer

OUTPUT_FORMATS = ("beir", "jsonl", "tsv")
"""The corpus formats expand writes (the output has the input's format)."""


def expanded_text(text: str, queries: list[str]) -> str:
    """A document text with its queries appended: the one way inpars expands a document.

    ``expanded_text("Wing flutter.\\n", ["what is  flutter", "wing\\tloads"])`` is
    ``"Wing flutter. what is flutter wing loads"``; with no queries the text is unchanged.
    """
    appended = " ".join(" ".join(query.split()) for query in queries)
    if not appended:
        return text
    body = text.rstrip()
    return f"{body} {appended}" if body else appended


@dataclass
class ExpandConfig(CorpusFields):
    """Everything :func:`expand` needs; the CLI flags map one to one.

    The corpus is read with :meth:`~inpars.corpus.CorpusFields.corpus_reader`
    (``corpus_format`` and the fields); the expansion is written in that same format, which
    must be one of :data:`OUTPUT_FORMATS`.
    """

    corpus: str
    queries: str
    output: str  # a folder for a BEIR corpus, else a file of the corpus's format
    drop_fraction: float = 0.0
    scorer: str = DEFAULT_SCORER  # a reranker load_reranker takes, or "log-probs"
    scorer_kind: str | None = None
    max_length: int | None = None
    batch_size: int = 64
    pairs_per_commit: int = 1024
    device: str = "auto"
    dtype: str = "float32"
    queries_format: str | None = None  # see inpars.published.FORMATS; None: detected
    scores: str | None = None  # the pair scores file; None: <output>.scores.jsonl

    def check(self) -> None:
        if not 0 <= self.drop_fraction < 1:
            raise InparsError(f"--drop-fraction must be in [0, 1) (got {self.drop_fraction})")
        if self.batch_size < 1 or self.pairs_per_commit < 1:
            raise InparsError("--batch-size and --pairs-per-commit must be at least 1")
        if self.queries_format is not None and self.queries_format not in FORMATS:
            raise InparsError(f"unknown --queries-format {self.queries_format!r}")
        out = Path(self.output).resolve()
        if out in (Path(self.corpus).resolve(), Path(self.queries).resolve()):
            raise InparsError("--output must differ from --corpus and --queries")
        if str(self.output).endswith(".gz"):
            raise InparsError("--output cannot be .gz: expand writes plain files")

    @property
    def scores_path(self) -> Path:
        return Path(self.scores) if self.scores else Path(f"{self.output}.scores.jsonl")

    @property
    def scores_pairs(self) -> bool:
        return self.drop_fraction > 0


@dataclass
class ExpandSummary:
    """What a run did."""

    documents: int = 0
    expanded_documents: int = 0
    queries: int = 0
    empty_queries: int = 0
    pairs_scored: int = 0  # this run (the rest came from the scores file)
    pairs_dropped: int = 0
    threshold: float | None = None  # the highest dropped score
    format: str = ""
    seconds: float = 0.0
    scoring_seconds: float = 0.0

    @property
    def pairs_per_second(self) -> float:
        return self.pairs_scored / self.scoring_seconds if self.scoring_seconds else 0.0


@dataclass
class _Query:
    line: int
    text: str
    log_prob: float | None


def read_queries_by_doc(config: ExpandConfig) -> tuple[dict[str, list[_Query]], int]:
    """The non-empty queries grouped by document id (in file order), and the empty ones' count."""
    normalize = RecordNormalizer(config.queries, config.queries_format)
    grouped: dict[str, list[_Query]] = {}
    empty = 0
    needs_log_probs = config.scores_pairs and config.scorer == LOG_PROBS
    for line, raw in read_jsonl(config.queries):
        record = normalize(raw, line)
        doc_id, query = record.get("doc_id"), record.get("query")
        if not isinstance(query, str):
            raise InputError("missing or not a string", config.queries, line, "query")
        if not query.strip():
            empty += 1
            continue
        log_prob = record_log_prob_score(record, config.queries, line) if needs_log_probs else None
        grouped.setdefault(str(doc_id), []).append(_Query(line, query, log_prob))
    return grouped, empty


def _check_doc_ids(reader: CorpusReader, grouped: dict[str, list[_Query]], path: str) -> int:
    """The corpus's document count; raises naming the first query whose document is absent."""
    known = set(reader.iter_ids())
    missing = [q.line for doc_id, qs in grouped.items() if doc_id not in known for q in qs]
    if missing:
        line = min(missing)
        doc_id = next(d for d, qs in grouped.items() if any(q.line == line for q in qs))
        raise InputError(
            f"doc_id {doc_id!r} is not in the corpus {reader.path} ({len(missing)} queries "
            "name documents it lacks)",
            path,
            line,
            "doc_id",
        )
    return len(known)


def _score_pairs(
    config: ExpandConfig,
    reader: CorpusReader,
    grouped: dict[str, list[_Query]],
    art: Artifact,
    summary: ExpandSummary,
    *,
    overwrite: bool,
    show_progress: bool,
) -> dict[int, float]:
    """Pass 1: every pair's score by query line, resuming ``<output>.scores.jsonl``."""
    total = sum(len(qs) for qs in grouped.values())
    # --overwrite starts the output again but keeps scores made from the same inputs and
    # scorer: they are exactly what pass 1 would compute again.
    try:
        state = art.open()
    except InparsError:
        if not overwrite:
            raise
        state = art.open(overwrite=True)
    if state == "complete":
        return {int(r["line"]): float(r["score"]) for _, r in read_jsonl(config.scores_path)}
    with art.appender() as out:
        scores = {int(r["line"]): float(r["score"]) for _, r in read_jsonl(config.scores_path)}
        scorer = None if config.scorer == LOG_PROBS else _load_scorer(config)
        pending: list[tuple[_Query, str, str]] = []

        def commit() -> None:
            started = time.perf_counter()
            if scorer is None:
                values = [q.log_prob for q, _, _ in pending]
            else:
                values = scorer.score(
                    [q.text for q, _, _ in pending], [d for _, _, d in pending], config.batch_size
                )
            summary.scoring_seconds += time.perf_counter() - started
            rows = []
            for (query, doc_id, _), value in zip(pending, values, strict=True):
                scores[query.line] = float(value)  # type: ignore[arg-type]
                rows.append({"line": query.line, "doc_id": doc_id, "score": value})
            out.append(jsonl_text(rows, config.scores_path))
            summary.pairs_scored += len(pending)
            progress.update(task, advance=len(pending))
            pending.clear()

        with progress_bar(show_progress) as progress:
            task = progress.add_task("expand: score pairs", total=total, completed=len(scores))
            for doc in reader.all_documents():
                for query in grouped.get(doc.id, ()):
                    if query.line not in scores:
                        pending.append((query, doc.id, doc.contents))
                if len(pending) >= config.pairs_per_commit:
                    commit()
            if pending:
                commit()
    art.complete(pairs=len(scores))
    return scores


def _load_scorer(config: ExpandConfig) -> PairScorer:
    return PairScorer.load(
        config.scorer,
        config.scorer_kind,
        max_length=config.max_length,
        device=config.device,
        dtype=config.dtype,
    )


def dropped_lines(scores: dict[int, float], fraction: float) -> tuple[set[int], float | None]:
    """The query lines of the ``floor(fraction * pairs)`` lowest-scoring pairs, and the
    highest dropped score (the threshold); ties drop the later line first."""
    count = math.floor(fraction * len(scores) + 1e-9)
    if count == 0:
        return set(), None
    ranked = sorted(scores.items(), key=lambda item: (item[1], -item[0]))[:count]
    return {line for line, _ in ranked}, ranked[-1][1]


def _expanded_records(
    config: ExpandConfig,
    reader: CorpusReader,
    grouped: dict[str, list[_Query]],
    dropped: set[int],
    summary: ExpandSummary,
) -> Iterator[str]:
    """Pass 2: the output lines, in corpus order."""

    def kept(doc_id: str) -> list[str]:
        return [q.text for q in grouped.get(doc_id, ()) if q.line not in dropped]

    if reader.format == "tsv":
        for doc in reader.all_documents():
            queries = kept(doc.id)
            summary.documents += 1
            summary.expanded_documents += bool(queries)
            # Tabs and newlines would break the columns: the reader gave them none, and
            # expanded_text collapses the queries' whitespace.
            text = expanded_text(doc.text, queries)
            yield f"{doc.id}\t{doc.title}\t{text}\n" if doc.title else f"{doc.id}\t{text}\n"
        return
    for line, record in read_jsonl(reader.file):
        id_key = pick_field(record, config.id_field, ID_FIELDS)
        if id_key is None:  # checked by the id pass; kept for a file changed meanwhile
            raise InputError("missing id field", reader.file, line, config.id_field or "_id")
        doc_id = str(record[id_key]).strip()
        queries = kept(doc_id)
        summary.documents += 1
        summary.expanded_documents += bool(queries)
        if queries:
            text_key = pick_field(record, config.text_field, TEXT_FIELDS)
            text_key = text_key or config.text_field or TEXT_FIELDS[0]
            record[text_key] = expanded_text(str(record.get(text_key) or ""), queries)
        yield json.dumps(record, ensure_ascii=False) + "\n"


def _copy_collection_files(source: Path, target: Path) -> None:
    """The BEIR folder's queries and qrels, so the expanded folder is a whole collection."""
    for name in ("queries.jsonl", "queries.jsonl.gz"):
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    if (source / "qrels").is_dir():
        shutil.rmtree(target / "qrels", ignore_errors=True)
        shutil.copytree(source / "qrels", target / "qrels")


def artifact(config: ExpandConfig, reader: CorpusReader) -> Artifact:
    """The expansion as an :class:`~inpars.artifacts.Artifact` (``reader``: the corpus):
    its settings and the fingerprints of the corpus file, the queries file and the scorer
    (the scores file's are the same, less ``drop_fraction``)."""
    if not Path(config.queries).is_file():
        raise InputError("no such file", config.queries)
    inputs = {"corpus": file_input(reader.file), "queries": file_input(config.queries)}
    if config.scores_pairs and config.scorer != LOG_PROBS:
        inputs["scorer"] = model_input(config.scorer)
    settings: dict[str, Any] = {
        "scorer": config.scorer if config.scores_pairs else None,
        "scorer_kind": config.scorer_kind if config.scores_pairs else None,
        "max_length": config.max_length if config.scores_pairs else None,
        "fields": [config.id_field, config.text_field, config.title_field],
        "queries_format": config.queries_format,
        "drop_fraction": config.drop_fraction,
    }
    return Artifact(config.output, "expand", settings, inputs)


def expand(
    config: ExpandConfig, *, overwrite: bool = False, show_progress: bool = False
) -> ExpandSummary:
    """Writes the expanded corpus of ``config`` (resuming an interrupted run).

    Raises:
        InputError: for bad corpus or queries records, or a query naming an unknown document.
        InparsError: for bad settings, or an output or scores file made with other settings
            or inputs (unless ``overwrite``).
    """
    config.check()
    start = time.perf_counter()
    reader = config.corpus_reader()
    if reader.format not in OUTPUT_FORMATS:
        raise InparsError(
            f"expand writes {', '.join(OUTPUT_FORMATS)} corpora; convert the {reader.format} "
            f"corpus {reader.path} to JSON Lines first"
        )
    summary = ExpandSummary(format=str(reader.format))
    art = artifact(config, reader)
    inputs = art.inputs
    score_settings = {k: v for k, v in art.settings.items() if k != "drop_fraction"}
    if art.open(overwrite=overwrite) == "complete":
        return ExpandSummary(**(read_producer(config.output) or {})["summary"])
    grouped, summary.empty_queries = read_queries_by_doc(config)
    summary.queries = sum(len(qs) for qs in grouped.values())
    _check_doc_ids(reader, grouped, config.queries)
    dropped: set[int] = set()
    if config.scores_pairs:
        scores = _score_pairs(
            config,
            reader,
            grouped,
            Artifact(config.scores_path, "expand-scores", score_settings, inputs),
            summary,
            overwrite=overwrite,
            show_progress=show_progress,
        )
        dropped, summary.threshold = dropped_lines(scores, config.drop_fraction)
        summary.pairs_dropped = len(dropped)
    output = Path(config.output)
    target = output / "corpus.jsonl" if reader.format == "beir" else output
    with atomic_open(target) as handle:
        for text in _expanded_records(config, reader, grouped, dropped, summary):
            handle.write(text)
    if reader.format == "beir":
        _copy_collection_files(reader.path, output)
    summary.seconds = time.perf_counter() - start
    art.complete(
        output={**file_entry(target), "documents": summary.documents},
        config=asdict(config),
        summary=asdict(summary),
    )
    return summary


if __name__ == "__main__":
    from inpars.cli.expand import main

    sys.exit(main())
