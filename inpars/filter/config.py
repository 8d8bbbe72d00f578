"""The filter's settings (:class:`FilterConfig`), its rules (:data:`DROP_RULES`) and what
a run reports (:class:`FilterSummary`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from inpars.consistency import DEFAULT_DEPTH as DEFAULT_CONSISTENCY_DEPTH
from inpars.corpus import CorpusFields
from inpars.errors import InparsError
from inpars.filter.scores import SCORE_FUNCTIONS


@dataclass
class FilterConfig(CorpusFields):
    """Everything :func:`~inpars.filter.filter_queries` needs; the CLI flags map one to one (but
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
