"""A filter run: :func:`filter_queries` streams the input through the rules in order and
writes the kept records and the manifest (:func:`artifact`)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from inpars.artifacts import (
    Artifact,
    corpus_input,
    file_entry,
    file_input,
    model_input,
    read_producer,
)
from inpars.errors import InparsError, InputError
from inpars.filter.config import FilterConfig, FilterSummary
from inpars.filter.models import _reranker_scores, _round_trip_check, _RoundTripGate
from inpars.filter.records import _MAX_EXAMPLES, check_record, read_records
from inpars.filter.scores import (
    SCORE_FUNCTIONS,
    dedup_key,
    is_copied,
    normalize_words,
    normalized_document,
)
from inpars.filter.selection import TopK, _BestByKey
from inpars.io import atomic_write_json, atomic_write_text, dumps_json, open_lines
from inpars.progress import stderr_console
from inpars.published import RecordNormalizer


def load_documents_for(config: FilterConfig, doc_ids: set[str]) -> dict[str, str]:
    """The normalised texts (:func:`normalized_document`) of the corpus documents in ``doc_ids``."""
    reader = config.corpus_reader()
    return {doc.id: normalized_document(doc.contents) for doc in reader if doc.id in doc_ids}


def _referenced_doc_ids(path: str) -> set[str]:
    """The doc ids the input's records name (a first pass; bad lines are left for later)."""
    ids: set[str] = set()
    for _, record in read_records(path, None, skip_invalid=True):
        doc_id = record.get("doc_id")
        if isinstance(doc_id, (str, int)) and not isinstance(doc_id, bool):
            ids.add(str(doc_id))
    return ids


def _progress(show: bool) -> Any:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        console=stderr_console(),
        disable=not show,
        transient=False,
    )


def filter_queries(config: FilterConfig, *, show_progress: bool = False) -> FilterSummary:
    """Filters ``config.input`` into ``config.output``; returns what each rule dropped.

    Raises:
        InputError: for a bad record (unless ``skip_invalid``) or a ``doc_id`` missing from
            the corpus, naming the file and line.
        InparsError: for bad settings.
    """
    config.check()
    if not Path(config.input).is_file():
        raise InputError("no such file", config.input)
    art = artifact(config)
    if art.open(overwrite=config.overwrite) == "complete":
        return FilterSummary(**(read_producer(config.output) or {})["summary"])
    start = time.perf_counter()
    scorer = SCORE_FUNCTIONS[config.score]
    summary = FilterSummary(
        score=config.score,
        copies_checked=config.checks_copies,
        short_documents_checked=config.min_doc_words > 0,
    )
    if config.reranker is not None:
        summary.score = f"reranker {config.reranker}"
    documents: dict[str, str] = {}
    if config.needs_documents:
        documents = load_documents_for(config, _referenced_doc_ids(config.input))
    examples = prompt_example_texts(config)
    summary.example_copies_checked = bool(examples)
    top = TopK(config.keep_top_k, config.max_per_doc)
    offer = _RoundTripGate(top, _round_trip_check(config, show_progress), config, summary)
    summary.consistency_checked = offer.check is not None
    out_dir = Path(config.output).resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        _progress(show_progress) as progress,
        tempfile.TemporaryDirectory(dir=out_dir, prefix=".inpars-filter-") as scratch,
    ):
        best = _BestByKey(Path(scratch)) if config.dedup else None
        task = progress.add_task("filter: clean and score", total=None)
        normalize = RecordNormalizer(config.input)
        records = read_records(
            config.input, summary, skip_invalid=config.skip_invalid, normalize=normalize
        )

        def forward(
            words: list[str], doc_id: str, line: int, record: dict[str, Any], score: float
        ) -> None:
            if best is not None:
                best.offer(dedup_key(words), score, line)
            else:
                offer(score, line, doc_id, record)

        rescore = _reranker_scores(config, forward, set(documents))
        for line, record in records:
            summary.read += 1
            if summary.read % 2048 == 0:
                progress.update(task, completed=summary.read)
            outcome = _clean_and_score(record, line, config, scorer, documents, examples, summary)
            if outcome is None:
                continue
            if rescore is not None:
                rescore.add(outcome[0], outcome[1], line, record)
            else:
                forward(outcome[0], outcome[1], line, record, outcome[2])
        if rescore is not None:
            rescore.flush()
        progress.update(task, completed=summary.read)
        summary.input_format = normalize.format or summary.input_format
        if best is not None:
            survivors = best.offered
            summary.duplicate = survivors - best.count()
            task = progress.add_task("filter: top k", total=None)
            _offer_winners(config.input, normalize, best.winners(), offer, progress, task)
            best.close()
        offer.flush()
    ranked = top.ranked()
    summary.over_doc_cap = top.dropped_by_cap
    summary.below_top_k = top.dropped_by_k
    summary.kept = len(ranked)
    if ranked:
        summary.best_score = ranked[0][0]
        summary.worst_kept_score = ranked[-1][0]
    lines = []
    for score, record in ranked:
        record["score"] = score
        lines.append(dumps_json(record, path=config.output) + "\n")
    atomic_write_text(config.output, "".join(lines))
    summary.seconds = time.perf_counter() - start
    if config.summary is not None:
        atomic_write_json(config.summary, {"config": asdict(config), **asdict(summary)})
    art.complete(
        input_format=summary.input_format,
        output={**file_entry(config.output), "records": summary.kept},
        config=asdict(config),
        summary=asdict(summary),
    )
    return summary


# Fields of FilterConfig that are not settings: paths (inputs are compared by content) and
# what changes only speed.
_NOT_SETTINGS = {
    "input", "output", "corpus", "summary", "overwrite", "device", "consistency_batch_size",
    "reranker_batch_size", "consistency_model", "reranker",
}  # fmt: skip


def artifact(config: FilterConfig) -> Artifact:
    """The output as an :class:`~inpars.artifacts.Artifact`: the settings, and the input,
    corpus and models by content."""
    settings = {k: v for k, v in asdict(config).items() if k not in _NOT_SETTINGS}
    inputs: dict[str, Any] = {"queries": file_input(config.input)}
    if config.corpus is not None:
        inputs["corpus"] = corpus_input(config.corpus_reader())
    for name in ("consistency_model", "reranker"):
        if getattr(config, name) is not None:
            inputs[name] = model_input(getattr(config, name))
    if config.prompt_examples not in ("auto", "none") and Path(config.prompt_examples).is_file():
        inputs["prompt_examples"] = file_input(config.prompt_examples)
    return Artifact(config.output, "filter", settings, inputs)


def _clean_and_score(
    record: dict[str, Any],
    line: int,
    config: FilterConfig,
    scorer: Callable[[Sequence[float]], float],
    documents: dict[str, str],
    examples: list[str],
    summary: FilterSummary,
) -> tuple[list[str], str, float] | None:
    """(normalised words, doc id, score) of a record that passes rules 1-4, else None."""
    try:
        checked = check_record(record, config.input, line)
        if checked.query.strip() and not checked.log_probs:
            raise InputError("empty for a non-empty query", config.input, line, "log_probs")
        if config.needs_documents and checked.doc_id not in documents:
            raise InputError(
                f"doc_id {checked.doc_id!r} is not in the corpus {config.corpus}",
                config.input,
                line,
                "doc_id",
            )
    except InputError as exc:
        if not config.skip_invalid:
            raise
        summary.invalid += 1
        if len(summary.invalid_examples) < _MAX_EXAMPLES:
            summary.invalid_examples.append(str(exc))
        return None
    query = checked.query
    if not query.strip():
        summary.empty += 1
        return None
    count = len(query.split())
    if count < config.min_words:
        summary.too_short += 1
        return None
    if config.max_words is not None and count > config.max_words:
        summary.too_long += 1
        return None
    words = normalize_words(query)
    if config.checks_copies and is_copied(
        words, documents[checked.doc_id], config.copy_threshold, config.copy_min_words
    ):
        summary.copied += 1
        return None
    if any(
        is_copied(words, text, config.copy_threshold, config.copy_min_words) for text in examples
    ):
        summary.copied_example += 1
        return None
    if config.min_doc_words and len(documents[checked.doc_id].split()) < config.min_doc_words:
        # A title-only document makes a positive far shorter than any mined negative: a
        # reranker trained on such pairs learns "short means relevant".
        summary.short_document += 1
        return None
    return words, checked.doc_id, scorer(checked.log_probs)


def prompt_example_texts(config: FilterConfig) -> list[str]:
    """The prompt's few-shot queries and documents (:func:`normalized_document`) to check."""
    from inpars.prompts import examples_from, generation_examples

    if config.prompt_examples == "none" or config.copy_threshold <= 0:
        return []
    if config.prompt_examples == "auto":
        examples = generation_examples(config.input) or []
    else:
        examples = examples_from(config.prompt_examples)
    texts = (example.fields.get(name) for example in examples for name in ("query", "document"))
    return [normalized_document(text) for text in texts if text]


def _offer_winners(
    path: str,
    first_pass: RecordNormalizer,
    winners: Iterable[tuple[int, float]],
    offer: Callable[[float, int, str, dict[str, Any]], None],
    progress: Any,
    task: Any,
) -> None:
    """Second pass: offers each de-duplication winner (by line number) to the top k."""
    pending = iter(winners)
    wanted = next(pending, None)
    normalize = RecordNormalizer(path, first_pass.format)
    seen = 0
    for line, text in open_lines(path):
        if wanted is None:
            break
        if line != wanted[0]:
            continue
        record = normalize(json.loads(text), line)
        offer(wanted[1], line, str(record["doc_id"]), record)
        seen += 1
        if seen % 2048 == 0:
            progress.update(task, completed=seen)
        wanted = next(pending, None)
    progress.update(task, completed=seen)
    if wanted is not None:
        raise InparsError(f"{path}: changed while being filtered (line {wanted[0]} is gone)")
