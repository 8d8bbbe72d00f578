"""The settings of GenQ and GPL training and of GPL labelling; the CLI flags map one to one.

Each reads its ``corpus`` with the :class:`~inpars.corpus.CorpusFields` settings (format and
id, text and title fields) through ``corpus_reader()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from inpars.bm25 import DEFAULT_B, DEFAULT_K1
from inpars.corpus import CorpusFields
from inpars.errors import InparsError, require_at_least_one
from inpars.search import DEFAULT_MODEL, SIMILARITIES
from inpars.training_run import PRECISIONS

BATCH_SAMPLERS = ("no-duplicates", "random")
BM25_RETRIEVER = "bm25"
"""The retriever name that means BM25 (the Lucene index of :mod:`inpars.bm25`) in GPL mining."""


def _is_jsonl(path: str) -> bool:
    return Path(path).name.removesuffix(".gz").endswith((".jsonl", ".json"))


@dataclass(kw_only=True)
class BiEncoderTrainConfig:
    """The training settings GenQ and GPL share; the CLI flags map one to one."""

    output: str  # the trained model's folder (checkpoints in output/checkpoints)
    model: str = DEFAULT_MODEL  # starting model: folder, hub id, or all-minilm-l6-v2
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    batch_size: int = 64  # examples per optimizer step
    micro_batch_size: int | None = None  # examples per forward pass (default: batch_size)
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs
    warmup_ratio: float = 0.1
    scheduler: str = "linear"
    max_length: int | None = None  # default: the model's own (256 for all-MiniLM-L6-v2)
    similarity: str = "auto"  # cos or dot; auto: the model's own
    scale: float | None = None  # multiplies the similarity (default: 20 for cos, 1 for dot)
    save_steps: int = 500
    logging_steps: int = 10
    seed: int = 42
    device: str = "auto"
    precision: str = "auto"

    def check(self) -> None:
        """Raises InparsError for settings that cannot work."""
        require_at_least_one(
            ("--batch-size", self.batch_size),
            ("--save-steps", self.save_steps),
            ("--logging-steps", self.logging_steps),
        )
        micro = self.micro_batch_size
        if micro is not None and (micro < 1 or self.batch_size % micro):
            raise InparsError(
                f"--micro-batch-size ({micro}) must be at least 1 and divide --batch-size "
                f"({self.batch_size})"
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise InparsError(f"--max-steps must be at least 1 (got {self.max_steps})")
        if not 0 <= self.warmup_ratio < 1:
            raise InparsError(f"--warmup-ratio must be in [0, 1) (got {self.warmup_ratio})")
        if not self.epochs > 0:
            raise InparsError(f"--epochs must be positive (got {self.epochs})")
        if self.precision not in PRECISIONS:
            raise InparsError(f"--precision must be one of {', '.join(PRECISIONS)}")
        if self.similarity not in SIMILARITIES:
            raise InparsError(f"--similarity must be one of {', '.join(SIMILARITIES)}")
        if self.scale is not None and not self.scale > 0:
            raise InparsError(f"--scale must be positive (got {self.scale})")


@dataclass(kw_only=True)
class GenQConfig(BiEncoderTrainConfig, CorpusFields):
    """GenQ: MultipleNegativesRankingLoss on (query, positive[, BM25 negative]).

    Defaults are the sentence-transformers GenQ example's: batch 64, 3 epochs, learning rate
    2e-5 with linear decay after a warm-up of 10% of the steps, scale 20 on cosines.
    """

    queries: str | None = None  # generated queries JSONL (doc_id, query): pairs
    corpus: str | None = None  # the corpus of the queries (or of a triples JSONL)
    triples: str | None = None  # inpars.triples output (.tsv, or .jsonl with corpus): triples
    epochs: float = 3.0
    batch_sampler: str = "no-duplicates"

    def check(self) -> None:
        super().check()
        if (self.queries is None) == (self.triples is None):
            raise InparsError("give either --queries (pairs) or --triples (with BM25 negatives)")
        if self.queries is not None and self.corpus is None:
            raise InparsError("--queries needs --corpus for the documents' texts")
        if self.triples is not None and _is_jsonl(self.triples) and self.corpus is None:
            raise InparsError("a JSON Lines --triples file needs --corpus for the texts")
        if self.batch_sampler not in BATCH_SAMPLERS:
            raise InparsError(f"--batch-sampler must be one of {', '.join(BATCH_SAMPLERS)}")


@dataclass(kw_only=True)
class GplTrainConfig(BiEncoderTrainConfig, CorpusFields):
    """GPL training: MarginMSELoss on teacher-labelled (query, positive, negative) margins.

    Defaults follow GPL: batch 32, learning rate 2e-5, linear decay after warm-up. The
    similarity's scale, unless given, is fitted to the teacher (:func:`fit_margin_scale`).
    """

    labels: str  # gpl-label output (JSON Lines of MarginLabel)
    corpus: str
    batch_size: int = 32


@dataclass
class GplLabelConfig(CorpusFields):
    """Everything :func:`label_gpl` needs; the CLI flags map one to one."""

    queries: str  # generated (or filtered) queries JSONL: doc_id, query
    corpus: str
    output: str  # the labels, JSON Lines of MarginLabel
    teacher: str  # a reranker folder, cross-encoder or monoT5 (folder or hub id)
    teacher_kind: str | None = None  # default: told from the model
    retrievers: list[str] = field(default_factory=lambda: [DEFAULT_MODEL])  # or "bm25"
    depth: int = 50
    negatives_per_retriever: int = 1
    seed: int = 0
    teacher_batch_size: int = 32
    teacher_max_length: int | None = None
    teacher_bm25_weight: float = 0.0  # > 0: the teacher fused with BM25 (fuse_with_bm25)
    encode_batch_size: int = 64
    queries_per_chunk: int = 256
    bm25_corpus: str | None = None  # the corpus BM25 searches (e.g. expanded; bm25_corpus)
    index: str | None = None  # BM25 index (bm25 negatives and scores; texts without bm25_corpus)
    embeddings_dir: str | None = None  # parent folder of the retrievers' embeddings
    k1: float = DEFAULT_K1
    b: float = DEFAULT_B
    threads: int = max(1, os.cpu_count() or 1)
    device: str = "auto"
    dtype: str = "auto"

    @property
    def index_path(self) -> Path:
        return Path(self.index) if self.index else Path(self.output).with_suffix(".bm25-index")

    def check(self) -> None:
        require_at_least_one(
            ("--depth", self.depth),
            ("--negatives-per-retriever", self.negatives_per_retriever),
            ("--teacher-batch-size", self.teacher_batch_size),
            ("--encode-batch-size", self.encode_batch_size),
            ("--queries-per-chunk", self.queries_per_chunk),
            ("--threads", self.threads),
        )
        if self.negatives_per_retriever > self.depth:
            raise InparsError(
                f"--negatives-per-retriever ({self.negatives_per_retriever}) cannot exceed "
                f"--depth ({self.depth})"
            )
        if not 0 <= self.teacher_bm25_weight <= 1:
            raise InparsError(
                f"--teacher-bm25-weight must be in [0, 1] (got {self.teacher_bm25_weight})"
            )
        if not self.retrievers:
            raise InparsError("give at least one --retriever")
        if len(set(self.retrievers)) != len(self.retrievers):
            raise InparsError("a --retriever is given twice")
