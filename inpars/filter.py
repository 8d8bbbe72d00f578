"""Filtering synthetic queries: clean, score by the generator's log-probabilities, keep the top k.

Input: the JSON Lines records of ``inpars.generate`` (any records with ``doc_id``, ``query``,
``log_probs`` and optionally ``tokens``), or the queries published by the InPars authors, read
through :class:`inpars.published.RecordNormalizer`. Output: the kept records, unchanged (but
normalised, for published files) plus an added ``score``, best first, and beside them
``<output>.manifest.json`` with the settings, the counts below and the SHA-256 of the input
and output. Each record meets the rules in this order and is counted under the first that
drops it:

1. invalid: no ``log_probs``, a value that is not a finite log-probability, or ``tokens`` of
   another length (an error naming the line, or a count with ``skip_invalid``);
2. empty: the query is empty or whitespace;
3. too short / too long: fewer than ``min_words`` or more than ``max_words`` words (split on
   whitespace);
4. copied: the query repeats its document verbatim (see :func:`is_copied`; needs the corpus);
   copied from a prompt example: the query repeats the query or document of one of the
   prompt's few-shot examples the same way (an unrelated text, or a judged query leaking
   into training); the examples come from ``prompt_examples``, by default those the
   input's generation manifest names;
   short document: the document has fewer than ``min_doc_words`` words (off by default);
5. duplicate: the same query after normalisation (:func:`normalize_words`) as a better-scored
   record (on equal scores the earlier line wins), across all documents;
   failed the round trip: with ``consistency_model``, a dense retriever searching the whole
   corpus with the query does not rank its document in the top ``consistency_depth``
   (:mod:`inpars.consistency`; off by default);
6. over the per-document cap: ``max_per_doc`` better records of the same document are kept
   (a document's, not a passage's: the queries ``inpars.generate --passage-tokens`` wrote for
   all of a document's passages share its cap);
7. below the top k: ``keep_top_k`` better records are kept.

The score is the generator's confidence (``score``, a function of ``log_probs``), or, with
``reranker`` (the InPars-v2 filter, which kept the 10k best of 100k by monoT5-3B score), the
relevance a reranker gives the (query, its document) pair, through the same
:class:`inpars.pair_scores.PairScorer` as :mod:`inpars.expand`; records then wait in batches of
``reranker_batch_size`` for the model, and rules 5-7 rank by that score. The document of a
pair, and of the copy rule, is the whole document, for a query generated from one of its
passages too (a reranker reads it up to its maximum input length).

Rules 6-7 select exactly what a greedy pass over all surviving records in score order would
(best first, skipping a record whose document already has ``max_per_doc``, stopping at k).

Memory: the top k are kept in a heap, O(k). Exact de-duplication needs to know each
normalised query's best score, which is as large as the input; that table lives in a
temporary SQLite file on disk instead of in memory, and a second streaming pass over the input
picks up the records that won. With the copy rule, the texts of the documents the input refers
to are held in memory (O(those documents), independent of the number of queries per document).
The round trip holds the corpus's embeddings (computed once, cached on disk by
:mod:`inpars.search`) and at most ``consistency_batch_size`` records waiting to be checked.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
import sqlite3
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from inpars.artifacts import (
    Artifact,
    corpus_input,
    file_entry,
    file_input,
    model_input,
    read_producer,
)
from inpars.consistency import DEFAULT_DEPTH as DEFAULT_CONSISTENCY_DEPTH
from inpars.consistency import RoundTripCheck
from inpars.corpus import CorpusFields
from inpars.errors import InparsError, InputError
from inpars.io import atomic_write_json, atomic_write_text, dumps_json, open_lines
from inpars.progress import stderr_console
from inpars.published import RecordNormalizer

# A log-probability can exceed 0 only by rounding; beyond this it is not a log-probability.
_LOG_PROB_TOLERANCE = 1e-4
# Rows per SQLite write while de-duplicating.
_DEDUP_BATCH = 5_000
# Invalid lines quoted in the summary under --skip-invalid.
_MAX_EXAMPLES = 5
_WORD = re.compile(r"\w+")


def sum_log_probs(log_probs: Sequence[float]) -> float:
    """The sum of the token log-probabilities: log P(query | prompt). Favours short queries."""
    return math.fsum(log_probs)


def mean_log_probs(log_probs: Sequence[float]) -> float:
    """The mean token log-probability (InPars' filter): log of the per-token geometric mean."""
    return math.fsum(log_probs) / len(log_probs)


def mean_probs(log_probs: Sequence[float]) -> float:
    """The mean of the token probabilities, ``exp`` of each log-probability, in [0, 1].

    Less hurt than the mean log-probability by one unlikely token.
    """
    return math.fsum(math.exp(value) for value in log_probs) / len(log_probs)


SCORE_FUNCTIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "mean_log_probs": mean_log_probs,
    "sum_log_probs": sum_log_probs,
    "mean_probs": mean_probs,
}
"""The scores a record can be ranked by, by name (the ``--score`` choices)."""


def normalize_words(text: str) -> list[str]:
    """The words of a text for comparisons: Unicode NFKC, case-folded, punctuation dropped.

    ``"What is  BM25?"`` and ``"what is bm25"`` both give ``["what", "is", "bm25"]``.
    """
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def normalized_document(text: str) -> str:
    """A document's normalised words joined and padded by spaces, for :func:`is_copied`."""
    return " " + " ".join(normalize_words(text)) + " "


def is_copied(query_words: Sequence[str], document: str, threshold: float, min_words: int) -> bool:
    """Whether a query copies a long verbatim run of its document.

    Copied means: some run of consecutive query words, at least ``min_words`` long and at
    least ``threshold`` of the query's words, occurs verbatim in the document. Both sides are
    compared as :func:`normalize_words` (``document`` comes from :func:`normalized_document`).
    Queries shorter than ``min_words`` are never copies (a 3-word keyword query found in its
    document is a fine query). ``threshold`` 0 turns the rule off.
    """
    count = len(query_words)
    if threshold <= 0 or count == 0:
        return False
    run = max(min_words, math.ceil(threshold * count - 1e-9))
    if run > count:
        return False
    return any(
        f" {' '.join(query_words[start : start + run])} " in document
        for start in range(count - run + 1)
    )


def dedup_key(query_words: Sequence[str]) -> bytes:
    """A fixed-size digest of a normalised query: equal for exact duplicates."""
    return hashlib.blake2b(" ".join(query_words).encode("utf-8"), digest_size=16).digest()


@dataclass(frozen=True)
class CheckedRecord:
    """The fields of a generation record that filtering uses, validated."""

    doc_id: str
    query: str
    log_probs: list[float]


def check_record(record: dict[str, Any], path: str | Path, line: int) -> CheckedRecord:
    """Validates a record's ``doc_id``, ``query``, ``log_probs`` and ``tokens``.

    Raises:
        InputError: naming the file, line and field of the first problem.
    """
    doc_id = record.get("doc_id")
    if doc_id is None:
        raise InputError("missing doc_id", path, line, "doc_id")
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise InputError(
            f"must be a string or an integer, got {type(doc_id).__name__}", path, line, "doc_id"
        )
    query = record.get("query")
    if not isinstance(query, str):
        what = "missing" if query is None else f"must be a string, got {type(query).__name__}"
        raise InputError(what, path, line, "query")
    if "log_probs" not in record:
        raise InputError(
            "missing; filtering needs the per-token log-probabilities that inpars.generate records",
            path,
            line,
            "log_probs",
        )
    log_probs = record["log_probs"]
    if not isinstance(log_probs, list):
        raise InputError(
            f"must be a list of numbers, got {type(log_probs).__name__}", path, line, "log_probs"
        )
    for index, value in enumerate(log_probs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(
                f"value {index} is not a number: {value!r:.40}", path, line, "log_probs"
            )
        if not math.isfinite(value) or value > _LOG_PROB_TOLERANCE:
            raise InputError(
                f"value {index} is {value!r}, not a finite log-probability (<= 0)",
                path,
                line,
                "log_probs",
            )
    tokens = record.get("tokens")
    if tokens is not None:
        if not isinstance(tokens, list):
            raise InputError(f"must be a list, got {type(tokens).__name__}", path, line, "tokens")
        if len(tokens) != len(log_probs):
            raise InputError(
                f"{len(tokens)} tokens but {len(log_probs)} log_probs; the lengths must match",
                path,
                line,
                "log_probs",
            )
    return CheckedRecord(doc_id=str(doc_id), query=query, log_probs=log_probs)


class TopK:
    """The ``k`` best items offered, with at most ``max_per_group`` from any one group.

    Items are ranked by score, higher first, then by ``order`` (lower first: the earlier
    line wins ties). The result equals a greedy pass over all offered items in rank order that
    skips an item whose group is full and stops at ``k``, with memory O(k): an item dropped
    here could never come back, since the items that pushed it out stay better than it.

    ``dropped_by_cap`` and ``dropped_by_k`` count the items pushed out (or refused) because
    their group was full, or because ``k`` better items were held.
    """

    def __init__(self, k: int, max_per_group: int | None = None) -> None:
        if k < 1:
            raise InparsError(f"top-k needs k >= 1 (got {k})")
        if max_per_group is not None and max_per_group < 1:
            raise InparsError(f"the per-document cap must be at least 1 (got {max_per_group})")
        self.k = k
        self.max_per_group = max_per_group
        self.dropped_by_cap = 0
        self.dropped_by_k = 0
        self._next_id = 0
        # Live entries: id -> (score, -order, group, item). Heaps hold (score, -order, id)
        # and may hold ids no longer live (removed lazily on peek, or by _compact).
        self._live: dict[int, tuple[float, int, str, Any]] = {}
        self._heap: list[tuple[float, int, int]] = []
        self._group_heaps: dict[str, list[tuple[float, int, int]]] = {}
        self._group_counts: dict[str, int] = {}
        self._group_entries = 0  # tuples in all group heaps, live or dead

    def __len__(self) -> int:
        return len(self._live)

    def offer(self, score: float, order: int, group: str, item: Any) -> None:
        """Considers one item."""
        key = (score, -order)
        cap = self.max_per_group
        if cap is not None and self._group_counts.get(group, 0) >= cap:
            worst = self._peek(self._group_heaps[group])
            self.dropped_by_cap += 1
            if key <= worst[:2]:
                return
            self._remove(worst[2])  # the group keeps its size and the set too
            self._add(key, group, item)
            return
        if len(self._live) < self.k:
            self._add(key, group, item)
            return
        worst = self._peek(self._heap)
        self.dropped_by_k += 1
        if key <= worst[:2]:
            return
        self._remove(worst[2])
        self._add(key, group, item)

    def _add(self, key: tuple[float, int], group: str, item: Any) -> None:
        entry_id = self._next_id
        self._next_id += 1
        self._live[entry_id] = (key[0], key[1], group, item)
        heapq.heappush(self._heap, (key[0], key[1], entry_id))
        if self.max_per_group is not None:
            heapq.heappush(self._group_heaps.setdefault(group, []), (key[0], key[1], entry_id))
            self._group_counts[group] = self._group_counts.get(group, 0) + 1
            self._group_entries += 1
        limit = 2 * self.k + 64
        if len(self._heap) > limit or self._group_entries > limit:
            self._compact()

    def _remove(self, entry_id: int) -> None:
        _, _, group, _ = self._live.pop(entry_id)
        if self.max_per_group is not None:
            count = self._group_counts[group] - 1
            if count:
                self._group_counts[group] = count
            else:  # forget the group and its heap of dead entries
                del self._group_counts[group]
                self._group_entries -= len(self._group_heaps.pop(group))

    def _peek(self, heap: list[tuple[float, int, int]]) -> tuple[float, int, int]:
        """The worst live entry of a heap, dropping dead ones from its top."""
        while heap[0][2] not in self._live:
            heapq.heappop(heap)
            if heap is not self._heap:
                self._group_entries -= 1
        return heap[0]

    def _compact(self) -> None:
        """Rebuilds the heaps from the live entries, so dead entries cannot pile up."""
        self._heap = [(s, o, i) for i, (s, o, _, _) in self._live.items()]
        heapq.heapify(self._heap)
        if self.max_per_group is not None:
            groups: dict[str, list[tuple[float, int, int]]] = {}
            for i, (s, o, group, _) in self._live.items():
                groups.setdefault(group, []).append((s, o, i))
            for heap in groups.values():
                heapq.heapify(heap)
            self._group_heaps = groups
            self._group_entries = len(self._live)

    def ranked(self) -> list[tuple[float, Any]]:
        """The kept (score, item) pairs, best first."""
        entries = sorted(self._live.values(), key=lambda e: (e[0], e[1]), reverse=True)
        return [(score, item) for score, _, _, item in entries]


class _BestByKey:
    """The best (score, line) per de-duplication key, in a temporary SQLite file.

    Keeps memory flat however many distinct queries the input has.
    """

    def __init__(self, directory: Path) -> None:
        self._connection = sqlite3.connect(directory / "dedup.sqlite")
        # Scratch data: no journal, no fsync.
        self._connection.execute("PRAGMA journal_mode=OFF")
        self._connection.execute("PRAGMA synchronous=OFF")
        self._connection.execute(
            "CREATE TABLE best (key BLOB PRIMARY KEY, score REAL, line INTEGER) WITHOUT ROWID"
        )
        self._pending: list[tuple[bytes, float, int]] = []
        self.offered = 0

    def offer(self, key: bytes, score: float, line: int) -> None:
        self._pending.append((key, score, line))
        self.offered += 1
        if len(self._pending) >= _DEDUP_BATCH:
            self._flush()

    def _flush(self) -> None:
        # Lines arrive in increasing order, so "strictly better" keeps the earliest on ties.
        self._connection.executemany(
            "INSERT INTO best (key, score, line) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET score = excluded.score, line = excluded.line "
            "WHERE excluded.score > best.score",
            self._pending,
        )
        self._pending = []

    def winners(self) -> Iterator[tuple[int, float]]:
        """(line, score) of each key's best record, in line order."""
        self._flush()
        cursor = self._connection.execute("SELECT line, score FROM best ORDER BY line")
        yield from cursor

    def count(self) -> int:
        self._flush()
        return int(self._connection.execute("SELECT COUNT(*) FROM best").fetchone()[0])

    def close(self) -> None:
        self._connection.close()


@dataclass
class FilterConfig(CorpusFields):
    """Everything :func:`filter_queries` needs; the CLI flags map one to one (but
    ``--keep-duplicates`` is ``dedup=False`` and ``--max-words 0`` is ``max_words=None``).
    The corpus is read with the settings of :class:`~inpars.corpus.CorpusFields`."""

    input: str
    output: str
    score: str = "mean_log_probs"
    keep_top_k: int = 10_000
    max_per_doc: int | None = None
    min_words: int = 2
    max_words: int | None = 40
    corpus: str | None = None
    copy_threshold: float = 0.75
    copy_min_words: int = 4
    min_doc_words: int = 0  # 0: off
    # "auto": the examples the input's generation manifest names; "none": off; else a
    # template (its built-in examples) or an examples file, as inpars.generate takes them
    prompt_examples: str = "auto"
    consistency_model: str | None = None  # None: no round-trip check
    consistency_depth: int = DEFAULT_CONSISTENCY_DEPTH
    consistency_batch_size: int = 256
    reranker: str | None = None  # None: rank by the log-prob score; else a model's pair score
    reranker_kind: str | None = None
    reranker_batch_size: int = 64
    device: str = "auto"
    dedup: bool = True
    skip_invalid: bool = False
    summary: str | None = None
    overwrite: bool = False  # start again when the output was made by another run

    def check(self) -> None:
        """Raises InparsError for settings that cannot work."""
        if self.score not in SCORE_FUNCTIONS:
            raise InparsError(
                f"unknown score {self.score!r}; expected one of {', '.join(SCORE_FUNCTIONS)}"
            )
        if self.keep_top_k < 1:
            raise InparsError(f"--keep-top-k must be at least 1 (got {self.keep_top_k})")
        if self.max_per_doc is not None and self.max_per_doc < 1:
            raise InparsError(f"--max-per-doc must be at least 1 (got {self.max_per_doc})")
        if self.min_words < 0:
            raise InparsError(f"--min-words must be 0 or more (got {self.min_words})")
        if self.max_words is not None and self.max_words < max(1, self.min_words):
            raise InparsError(
                f"--max-words ({self.max_words}) must be at least --min-words "
                f"({self.min_words}) and 1; 0 turns it off"
            )
        if not 0 <= self.copy_threshold <= 1:
            raise InparsError(f"--copy-threshold must be in [0, 1] (got {self.copy_threshold})")
        if self.copy_min_words < 1:
            raise InparsError(f"--copy-min-words must be at least 1 (got {self.copy_min_words})")
        if self.min_doc_words < 0:
            raise InparsError(f"--min-doc-words must be 0 or more (got {self.min_doc_words})")
        if self.min_doc_words and self.corpus is None:
            raise InparsError("--min-doc-words needs --corpus")
        if self.consistency_model is not None:
            if self.corpus is None:
                raise InparsError("--consistency-model needs --corpus")
            if self.consistency_depth < 1:
                raise InparsError(
                    f"--consistency-depth must be at least 1 (got {self.consistency_depth})"
                )
            if self.consistency_batch_size < 1:
                raise InparsError(
                    "--consistency-batch-size must be at least 1 "
                    f"(got {self.consistency_batch_size})"
                )
        if self.reranker is not None:
            if self.corpus is None:
                raise InparsError("--reranker needs --corpus (it scores each query's document)")
            if self.reranker_batch_size < 1:
                raise InparsError(
                    f"--reranker-batch-size must be at least 1 (got {self.reranker_batch_size})"
                )
        if Path(self.input).resolve() == Path(self.output).resolve():
            raise InparsError("--output must differ from --input (the input is read twice)")

    @property
    def checks_copies(self) -> bool:
        return self.corpus is not None and self.copy_threshold > 0

    @property
    def needs_documents(self) -> bool:
        return self.checks_copies or self.min_doc_words > 0 or self.reranker is not None


class DropRule(NamedTuple):
    """One of the filter's rules: how it is counted, named, and told to have run."""

    name: str  # the FilterSummary counter (and manifest summary key) of records it dropped
    label: str  # what it is called in summaries, statistics and dataset cards
    switch: str | None  # the FilterSummary flag saying whether it ran; None: it always runs


DROP_RULES: tuple[DropRule, ...] = (
    DropRule("invalid", "invalid", None),
    DropRule("empty", "empty query", None),
    DropRule("too_short", "too short", None),
    DropRule("too_long", "too long", None),
    DropRule("copied", "copied from document", "copies_checked"),
    DropRule("copied_example", "copied from a prompt example", "example_copies_checked"),
    DropRule("short_document", "document under --min-doc-words", "short_documents_checked"),
    DropRule("duplicate", "duplicate", None),
    DropRule("inconsistent", "failed the round trip", "consistency_checked"),
    DropRule("over_doc_cap", "over --max-per-doc", None),
    DropRule("below_top_k", "below --keep-top-k", None),
)
"""Every rule, in the order records meet them; each record read is kept or counted under
exactly one. Whatever reports the filter's work (its summary table, ``inpars.publish``'s
statistics and card) lists the rules from here, so a new rule is reported everywhere."""


@dataclass
class FilterSummary:
    """How many records each rule dropped (see :data:`DROP_RULES`), and what was kept."""

    score: str
    read: int = 0
    invalid: int = 0
    empty: int = 0
    too_short: int = 0
    too_long: int = 0
    copied: int = 0
    copied_example: int = 0
    short_document: int = 0
    duplicate: int = 0
    inconsistent: int = 0
    over_doc_cap: int = 0
    below_top_k: int = 0
    kept: int = 0
    copies_checked: bool = False
    example_copies_checked: bool = False
    consistency_checked: bool = False
    short_documents_checked: bool = False
    input_format: str = "inpars"  # see inpars.published.FORMATS
    best_score: float | None = None
    worst_kept_score: float | None = None
    seconds: float = 0.0
    invalid_examples: list[str] = field(default_factory=list)

    @property
    def records_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def drops(self) -> list[tuple[str, int]]:
        """(rule label, count) rows in rule order, for display."""
        return [(rule.label, getattr(self, rule.name)) for rule in DROP_RULES]


def load_documents_for(config: FilterConfig, doc_ids: set[str]) -> dict[str, str]:
    """The normalised texts (:func:`normalized_document`) of the corpus documents in ``doc_ids``."""
    reader = config.corpus_reader()
    return {doc.id: normalized_document(doc.contents) for doc in reader if doc.id in doc_ids}


def _referenced_doc_ids(path: str) -> set[str]:
    """The doc ids the input's records name (a first pass; bad lines are left for later)."""
    ids: set[str] = set()
    for _, record in _records(path, None, skip_invalid=True):
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
        records = _records(
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


def _records(
    path: str,
    summary: FilterSummary | None,
    *,
    skip_invalid: bool,
    normalize: RecordNormalizer | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, normalised record) of each non-blank line, as :func:`inpars.io.read_jsonl` gives.

    A line that is not a JSON object, or not in the file's schema (see
    :mod:`inpars.published`), raises an InputError naming it, unless ``skip_invalid``: then it
    is counted in ``summary`` as read and invalid (or just passed over when ``summary`` is
    None, as in the first pass that only collects doc ids).
    """
    if normalize is None:
        normalize = RecordNormalizer(path)
    for line, text in open_lines(path):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = f"malformed JSON: {exc.msg} (column {exc.colno})"
            record = None
        else:
            problem = "expected a JSON object"
        if isinstance(record, dict):
            try:
                record = normalize(record, line)
            except InputError as exc:
                error = exc
            else:
                yield line, record
                continue
        else:
            error = InputError(problem, path, line)
        if not skip_invalid:
            raise error
        if summary is not None:
            summary.read += 1
            summary.invalid += 1
            if len(summary.invalid_examples) < _MAX_EXAMPLES:
                summary.invalid_examples.append(str(error))


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


if __name__ == "__main__":
    from inpars.cli.filter import main

    sys.exit(main())
