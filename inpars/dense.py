"""Dense retrievers from synthetic queries: GenQ and GPL training of sentence-transformers
bi-encoders.

Library use::

    from inpars.dense import GenQConfig, GplLabelConfig, GplTrainConfig
    from inpars.dense import label_gpl, train_genq, train_gpl

    train_genq(GenQConfig(queries="filtered.jsonl", corpus="data/scifact", output="genq"))
    label_gpl(GplLabelConfig(queries="filtered.jsonl", corpus="data/scifact",
                             teacher="ce-scifact", output="gpl-labels.jsonl"))
    train_gpl(GplTrainConfig(labels="gpl-labels.jsonl", corpus="data/scifact", output="gpl"))

Command line: ``python -m inpars.dense {genq,gpl-label,gpl-train} --help``.

**GenQ** (Thakur et al., BEIR 2021): the bi-encoder learns from (generated query, its
document) pairs with MultipleNegativesRankingLoss: every other document of the batch is a
negative. With ``triples`` (``inpars.triples`` output) each pair also brings its mined BM25
negative. Batches never hold one text twice (sentence-transformers' no-duplicates sampler, as
the GenQ example's ``NoDuplicatesDataLoader``): several queries of one document in a batch
would otherwise be each other's false negatives.

**GPL** (Wang et al., NAACL 2022) in two steps. ``gpl-label``: for each generated query, one or
more retrievers (dense models through :mod:`inpars.search`, and ``bm25``) return their top
``depth`` documents; ``negatives_per_retriever`` are drawn at random from each (never the
query's own document, nor any document the same normalised query was generated from, as in
:mod:`inpars.triples`), and a cross-encoder teacher (an ``inpars.train`` reranker, a
cross-encoder or monoT5, through :func:`inpars.rerankers.load_reranker`) scores the query
with its positive and with each negative; ``teacher_bm25_weight`` fuses those scores with
BM25's (:func:`fuse_with_bm25`), for a teacher that alone knows no more than the student.
Each (query, positive, negative) is written with the margin ``teacher(q, pos) -
teacher(q, neg)`` as a :class:`~inpars.records.MarginLabel`, chunk by chunk, so a rerun
resumes. ``gpl-train`` then fits the bi-encoder's margin ``scale * (s(q, pos) - s(q, neg))``
to the teacher's with MarginMSELoss, the scale fitted to the teacher's units
(:func:`fit_margin_scale`) unless given.

Training is sentence-transformers' ``SentenceTransformerTrainer`` over a ``datasets.Dataset``:
checkpoints every ``save_steps`` hold the optimizer, scheduler, RNG states and data position;
the same command resumes from the last one, and a folder trained with other settings is
refused unless ``overwrite``. A finished folder is a sentence-transformers model plus
``inpars-reranker.json`` (kind ``bi-encoder``), so ``inpars.search`` and ``inpars.rerank``
both use it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from inpars.bm25 import DEFAULT_B, DEFAULT_K1
from inpars.errors import InparsError, InputError, require_at_least_one
from inpars.io import CommittedAppender, atomic_write_json, read_jsonl
from inpars.progress import progress_bar
from inpars.records import MarginLabel, to_dict
from inpars.rerankers.base import METADATA_FILE, read_metadata
from inpars.search import DEFAULT_MODEL, SIMILARITIES
from inpars.train import PRECISIONS, add_run_arguments, loss_log_callback, precision_flags

BATCH_SAMPLERS = ("no-duplicates", "random")
BM25_RETRIEVER = "bm25"
"""The retriever name that means BM25 (the Lucene index of :mod:`inpars.bm25`) in GPL mining."""


# -- configuration --------------------------------------------------------------------------


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
class GenQConfig(BiEncoderTrainConfig):
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
class GplTrainConfig(BiEncoderTrainConfig):
    """GPL training: MarginMSELoss on teacher-labelled (query, positive, negative) margins.

    Defaults follow GPL: batch 32, learning rate 2e-5, linear decay after warm-up. The
    similarity's scale, unless given, is fitted to the teacher (:func:`fit_margin_scale`).
    """

    labels: str  # gpl-label output (JSON Lines of MarginLabel)
    corpus: str
    batch_size: int = 32


@dataclass
class GplLabelConfig:
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
    index: str | None = None  # BM25 index (documents' texts, bm25 negatives)
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


# -- reading training data ----------------------------------------------------------------


def _is_jsonl(path: str) -> bool:
    return Path(path).name.removesuffix(".gz").endswith((".jsonl", ".json"))


def _checked_id(record: dict[str, Any], key: str, path: str, line: int) -> str:
    value = record.get(key)
    if value is None:
        raise InputError(f"missing {key}", path, line, key)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(
            f"must be a string or an integer, got {type(value).__name__}", path, line, key
        )
    return str(value)


def _checked_text(record: dict[str, Any], key: str, path: str, line: int) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        what = "missing" if value is None else f"must be a string, got {type(value).__name__}"
        raise InputError(what, path, line, key)
    if not value.strip():
        raise InputError("empty", path, line, key)
    return value


def _checked_number(record: dict[str, Any], key: str, path: str, line: int) -> float:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"must be a finite number, got {value!r}", path, line, key)
    return float(value)


def _optional_number(record: dict[str, Any], key: str, path: str, line: int) -> float:
    return _checked_number(record, key, path, line) if record.get(key) is not None else 0.0


def document_texts(corpus: str, wanted: dict[str, tuple[str, int, str]]) -> dict[str, str]:
    """The contents of the ``wanted`` documents, in one streaming pass over the corpus.

    ``wanted`` maps each doc id to where it was first named (file, line, field).

    Raises:
        InputError: for an id the corpus lacks, naming that file, line and field.
    """
    from inpars.corpus import read_corpus

    found: dict[str, str] = {}
    for doc in read_corpus(corpus):
        if doc.id in wanted:
            found[doc.id] = doc.contents
    for doc_id, (path, line, key) in wanted.items():
        if doc_id not in found:
            raise InputError(
                f"{key} {doc_id!r} is not in the corpus {corpus} (no such id, or a document "
                "with empty title and text)",
                path,
                line,
                key,
            )
    return found


def genq_columns(config: GenQConfig) -> dict[str, list[str]]:
    """The GenQ training columns: ``query``, ``positive`` (and ``negative`` from triples).

    Repeated (query, document) pairs are kept once.
    """
    from inpars.train import TriplesDataset

    if config.triples is not None and not _is_jsonl(config.triples):
        triples = TriplesDataset(config.triples)  # every line checked here
        rows = list(dict.fromkeys(triples[i] for i in range(len(triples))))
        return {
            "query": [r[0] for r in rows],
            "positive": [r[1] for r in rows],
            "negative": [r[2] for r in rows],
        }
    wanted: dict[str, tuple[str, int, str]] = {}
    keyed: list[tuple[str, ...]] = []
    if config.triples is not None:
        path = config.triples
        for line, record in read_jsonl(path):
            query = _checked_text(record, "query", path, line)
            pos_id = _checked_id(record, "pos_id", path, line)
            neg_id = _checked_id(record, "neg_id", path, line)
            wanted.setdefault(pos_id, (path, line, "pos_id"))
            wanted.setdefault(neg_id, (path, line, "neg_id"))
            keyed.append((query, pos_id, neg_id))
    else:
        from inpars.triples import read_query_rows

        path = str(config.queries)
        for row in read_query_rows(path):
            wanted.setdefault(row.doc_id, (path, row.line, "doc_id"))
            keyed.append((row.query, row.doc_id))
    keyed = list(dict.fromkeys(keyed))
    if not keyed:
        raise InputError("no training examples", path)
    texts = document_texts(str(config.corpus), wanted)
    columns = {"query": [k[0] for k in keyed], "positive": [texts[k[1]] for k in keyed]}
    if config.triples is not None:
        columns["negative"] = [texts[k[2]] for k in keyed]
    return columns


def read_labels(path: str | Path) -> list[tuple[int, MarginLabel]]:
    """The checked records of a labels file (gpl-label output), with their line numbers.

    Raises:
        InputError: for a record without a query, ids or a finite margin.
    """
    path = str(path)
    labels = []
    for line, record in read_jsonl(path):
        label = MarginLabel(
            query=_checked_text(record, "query", path, line),
            pos_id=_checked_id(record, "pos_id", path, line),
            neg_id=_checked_id(record, "neg_id", path, line),
            margin=_checked_number(record, "margin", path, line),
            pos_score=_optional_number(record, "pos_score", path, line),
            neg_score=_optional_number(record, "neg_score", path, line),
            retriever=str(record.get("retriever") or ""),
            neg_rank=record.get("neg_rank") if isinstance(record.get("neg_rank"), int) else None,
        )
        labels.append((line, label))
    if not labels:
        raise InputError("no labels", path)
    return labels


def gpl_columns(config: GplTrainConfig) -> dict[str, list[Any]]:
    """The GPL training columns: ``query``, ``positive``, ``negative`` texts and ``label``."""
    labels = read_labels(config.labels)
    wanted: dict[str, tuple[str, int, str]] = {}
    for line, label in labels:
        wanted.setdefault(label.pos_id, (config.labels, line, "pos_id"))
        wanted.setdefault(label.neg_id, (config.labels, line, "neg_id"))
    texts = document_texts(config.corpus, wanted)
    return {
        "query": [label.query for _, label in labels],
        "positive": [texts[label.pos_id] for _, label in labels],
        "negative": [texts[label.neg_id] for _, label in labels],
        "label": [label.margin for _, label in labels],
    }


# -- training -------------------------------------------------------------------------------


@dataclass
class DenseTrainSummary:
    """What a training run did."""

    output: str
    method: str  # genq or gpl
    model: str
    examples: int
    steps: int
    resumed_from: str | None
    final_loss: float | None
    seconds: float
    already_trained: bool = False


class ScaledSimilarity:
    """``scale * similarity(a, b)``: cosines brought to the range of the teacher's logits."""

    def __init__(self, name: str, scale: float, pairwise: bool) -> None:
        from sentence_transformers import util

        self.name = name
        self.scale = scale
        if pairwise:
            self.function = util.pairwise_cos_sim if name == "cos" else util.pairwise_dot_score
        else:
            self.function = util.cos_sim if name == "cos" else util.dot_score

    def __call__(self, a: Any, b: Any) -> Any:
        return self.scale * self.function(a, b)

    def get_config_dict(self) -> dict[str, Any]:
        return {"similarity": self.name, "scale": self.scale}


def resolve_similarity(model: Any, similarity: str, scale: float | None) -> tuple[str, float]:
    """(``cos`` or ``dot``, scale): ``auto`` is the model's own similarity; the default
    scale is 20 for cosines (sentence-transformers' MultipleNegativesRankingLoss) and 1 for
    dot products."""
    if similarity == "auto":
        name = str(getattr(model.similarity_fn_name, "value", model.similarity_fn_name))
        if name not in ("cosine", "dot"):
            raise InparsError(f"the model uses {name} similarity; pass --similarity cos or dot")
        similarity = "cos" if name == "cosine" else "dot"
    return similarity, scale if scale is not None else (20.0 if similarity == "cos" else 1.0)


def _file_identity(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        raise InputError("no such file", file)
    return {"path": str(file.resolve()), "bytes": file.stat().st_size}


def _settings(config: BiEncoderTrainConfig, method: str) -> dict[str, Any]:
    """What must not change between a run and its resumption."""
    settings = asdict(config)
    for name in ("output", "device", "precision", "save_steps", "logging_steps"):
        settings.pop(name)
    for name in ("queries", "triples", "labels"):
        if name in settings:
            settings[name] = _file_identity(settings[name])
    settings["method"] = method
    return settings


def _train(
    config: BiEncoderTrainConfig,
    method: str,
    columns: Callable[[], dict[str, list[Any]]],
    make_loss: Callable[[Any, str, float], Any],
    *,
    batch_sampler: str = "random",
    fit_scale: Callable[[Any, str, dict[str, list[Any]]], float] | None = None,
    per_device_batch: int,
    accumulation: int,
    overwrite: bool,
    show_progress: bool,
    callbacks: Sequence[Any],
) -> DenseTrainSummary:
    """The training both methods share: settings check, trainer, checkpoints, final save."""
    try:
        from datasets import Dataset
    except ImportError:
        raise InparsError(
            "training a bi-encoder needs the datasets package: pip install datasets"
        ) from None
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from transformers import set_seed
    from transformers.trainer_utils import get_last_checkpoint

    from inpars.models import pick_device, resolve_model_path

    config.check()
    start = time.perf_counter()
    output = Path(config.output)
    settings_file = output / "train-settings.json"
    settings = _settings(config, method)
    if overwrite and output.exists():
        shutil.rmtree(output)
    previous = json.loads(settings_file.read_text()) if settings_file.is_file() else None
    if previous is not None and previous != settings:
        changed = sorted(
            k for k in settings.keys() | previous.keys() if settings.get(k) != previous.get(k)
        )
        raise InparsError(
            f"{output}: holds a training run with other settings (changed: {', '.join(changed)}); "
            "rerun with the same settings to resume, or pass --overwrite"
        )
    data = columns()  # every input line is checked before a model is loaded
    examples = len(data["query"])
    done = read_metadata(output)
    if previous is not None and done and done.get("complete"):
        return DenseTrainSummary(
            output=str(output),
            method=method,
            model=config.model,
            examples=examples,
            steps=int(done.get("steps", 0)),
            resumed_from=None,
            final_loss=done.get("final_loss"),
            seconds=0.0,
            already_trained=True,
        )
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_json(settings_file, settings)

    set_seed(config.seed)
    device = pick_device(config.device)
    try:
        model = SentenceTransformer(resolve_model_path(config.model), device=device)
    except (OSError, ValueError) as exc:
        raise InparsError(f"cannot load model {config.model!r}: {exc}") from None
    if config.max_length is not None:
        model.max_seq_length = config.max_length
    model.model_card_data.generate_widget_examples = False  # keeps training text out of it
    similarity, scale = resolve_similarity(model, config.similarity, config.scale)
    if config.scale is None and fit_scale is not None:
        scale = fit_scale(model, similarity, data)
    loss = make_loss(model, similarity, scale)
    checkpoints = output / "checkpoints"
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=per_device_batch,
        gradient_accumulation_steps=accumulation,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a fraction of the steps
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        optim="adamw_torch",
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        logging_steps=config.logging_steps,
        seed=config.seed,
        data_seed=config.seed,
        report_to=[],
        dataloader_num_workers=0,
        disable_tqdm=not show_progress,
        use_cpu=device == "cpu",
        batch_sampler=(
            BatchSamplers.NO_DUPLICATES
            if batch_sampler == "no-duplicates"
            else BatchSamplers.BATCH_SAMPLER
        ),
        **precision_flags(config.precision, device),
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict(data),
        loss=loss,
        callbacks=[loss_log_callback(output / "train-log.jsonl"), *callbacks],
    )
    result = trainer.train(resume_from_checkpoint=last)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    final_loss = (
        losses[-1]
        if losses
        else (result.training_loss if math.isfinite(result.training_loss) else None)
    )
    model.save(str(output))
    atomic_write_json(
        output / METADATA_FILE,
        {
            "kind": "bi-encoder",
            "max_length": int(model.max_seq_length),
            "base_model": config.model,
            "method": method,
            "similarity": similarity,
            "scale": scale,
            "complete": True,
            "steps": trainer.state.global_step,
            "final_loss": final_loss,
            "examples": examples,
        },
    )
    return DenseTrainSummary(
        output=str(output),
        method=method,
        model=config.model,
        examples=examples,
        steps=trainer.state.global_step,
        resumed_from=last,
        final_loss=final_loss,
        seconds=time.perf_counter() - start,
    )


def train_genq(
    config: GenQConfig,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> DenseTrainSummary:
    """Trains (or resumes training) a bi-encoder the GenQ way; saves it in ``config.output``.

    With ``micro_batch_size`` below ``batch_size`` the loss is sentence-transformers'
    CachedMultipleNegativesRankingLoss (GradCache): the same in-batch negatives over the whole
    batch, in forward passes of ``micro_batch_size``.

    Raises:
        InputError: for a bad queries, triples or corpus line (before any training).
        InparsError: for bad settings, or an output folder trained with other settings.
    """

    def make_loss(model: Any, similarity: str, scale: float) -> Any:
        from sentence_transformers import util
        from sentence_transformers.sentence_transformer.losses import (
            CachedMultipleNegativesRankingLoss,
            MultipleNegativesRankingLoss,
        )

        function = util.cos_sim if similarity == "cos" else util.dot_score
        micro = config.micro_batch_size
        if micro is not None and micro < config.batch_size:
            return CachedMultipleNegativesRankingLoss(
                model, scale=scale, similarity_fct=function, mini_batch_size=micro
            )
        return MultipleNegativesRankingLoss(model, scale=scale, similarity_fct=function)

    return _train(
        config,
        "genq",
        lambda: genq_columns(config),
        make_loss,
        batch_sampler=config.batch_sampler,
        per_device_batch=config.batch_size,
        accumulation=1,
        overwrite=overwrite,
        show_progress=show_progress,
        callbacks=callbacks,
    )


def fit_margin_scale(
    model: Any, similarity: str, data: dict[str, list[Any]], *, limit: int = 1000, seed: int = 0
) -> float:
    """The scale that best maps the starting model's margins onto the teacher's.

    Least squares over up to ``limit`` labels: ``sum(m * t) / sum(m * m)`` for the model's
    margins ``m = sim(q, pos) - sim(q, neg)`` and the teacher's ``t``. Teacher margins come
    in the teacher's units (logits; standard deviations for a teacher fused with BM25): a
    fixed scale that misses them by 2x spends the first steps stretching or squashing
    every similarity instead of learning the teacher's order (and loses recall doing so).
    Falls back to 1 when the margins do not fit a positive scale.
    """
    import torch
    from sentence_transformers import util

    count = len(data["label"])
    chosen = sorted(random.Random(seed).sample(range(count), min(count, limit)))

    def embed(column: str) -> Any:
        texts = [data[column][i] for i in chosen]
        return model.encode(texts, batch_size=64, convert_to_tensor=True, show_progress_bar=False)

    pairwise = util.pairwise_cos_sim if similarity == "cos" else util.pairwise_dot_score
    with torch.inference_mode():
        query, positive, negative = embed("query"), embed("positive"), embed("negative")
        margins = (pairwise(query, positive) - pairwise(query, negative)).double().cpu()
    teacher = torch.tensor([float(data["label"][i]) for i in chosen], dtype=torch.float64)
    scale = float((margins * teacher).sum() / (margins * margins).sum())
    return scale if math.isfinite(scale) and scale > 0 else 1.0


def train_gpl(
    config: GplTrainConfig,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> DenseTrainSummary:
    """Trains (or resumes training) a bi-encoder on GPL labels with MarginMSELoss.

    With ``micro_batch_size`` below ``batch_size`` gradients are accumulated (the loss is
    per example, so this changes nothing but memory).

    Raises:
        InputError: for a bad labels or corpus line (before any training).
        InparsError: for bad settings, or an output folder trained with other settings.
    """

    def make_loss(model: Any, similarity: str, scale: float) -> Any:
        from sentence_transformers.sentence_transformer.losses import MarginMSELoss

        return MarginMSELoss(model, similarity_fct=ScaledSimilarity(similarity, scale, True))

    config.check()  # before the batch sizes are used
    micro = config.micro_batch_size or config.batch_size
    return _train(
        config,
        "gpl",
        lambda: gpl_columns(config),
        make_loss,
        fit_scale=lambda model, similarity, data: fit_margin_scale(
            model, similarity, data, seed=config.seed
        ),
        per_device_batch=micro,
        accumulation=config.batch_size // micro,
        overwrite=overwrite,
        show_progress=show_progress,
        callbacks=callbacks,
    )


# -- GPL labels -----------------------------------------------------------------------------


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
            lines.append(json.dumps(to_dict(label), ensure_ascii=False) + "\n")
    return lines


# -- command line ---------------------------------------------------------------------------


def _add_training_arguments(
    parser: argparse.ArgumentParser, *, batch_size: int, epochs: float
) -> None:
    parser.add_argument("--output", required=True, help="folder for the trained model")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="starting bi-encoder: a sentence-transformers folder or hub id, or "
        "all-minilm-l6-v2 (bundled; default)",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=2e-5,
        help="peak learning rate (default: %(default)s)",
    )
    parser.add_argument(
        "--weight-decay",
        type=float,
        default=0.01,
        help="AdamW weight decay (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=batch_size,
        help="examples per optimizer step (default: %(default)s)",
    )
    parser.add_argument(
        "--micro-batch-size",
        type=int,
        help="examples per forward pass, to fit memory; results do not change "
        "(default: --batch-size)",
    )
    parser.add_argument(
        "--epochs",
        type=float,
        default=epochs,
        help="passes over the training data (default: %(default)s)",
    )
    parser.add_argument(
        "--max-steps", type=int, help="stop after this many optimizer steps (overrides --epochs)"
    )
    parser.add_argument(
        "--scheduler",
        default="linear",
        help="learning-rate schedule, a transformers name (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup-ratio",
        type=float,
        default=0.1,
        help="warm-up fraction of the steps (default: %(default)s)",
    )
    parser.add_argument(
        "--max-length", type=int, help="input tokens (default: the model's own, 256 for MiniLM)"
    )
    parser.add_argument(
        "--similarity",
        choices=SIMILARITIES,
        default="auto",
        help="the bi-encoder's similarity in the loss; auto is the model's own (cos for "
        "all-MiniLM-L6-v2)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        help="multiplies the similarity in the loss (default: for genq 20 with cos, 1 with dot; "
        "for gpl-train the least-squares fit of the starting model's margins to the "
        "teacher's, so the loss starts in the teacher's units)",
    )
    add_run_arguments(parser, save_steps=500)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m inpars.dense",
        description="Train dense bi-encoders (sentence-transformers) on synthetic queries: "
        "GenQ (MultipleNegativesRankingLoss on query-document pairs) or GPL (negatives mined "
        "by dense retrievers, margins from a cross-encoder teacher, MarginMSELoss). Rerun "
        "the same command to resume.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    genq = commands.add_parser(
        "genq",
        help="train with MultipleNegativesRankingLoss on (query, document) pairs",
        description="GenQ: fine-tune a bi-encoder on (generated query, document) pairs with "
        "in-batch negatives, plus BM25 negatives with --triples. Defaults: the "
        "sentence-transformers GenQ example (batch 64, 3 epochs, 10% warm-up).",
    )
    genq.add_argument(
        "--queries", help="generated or filtered queries JSONL (doc_id, query): pairs"
    )
    genq.add_argument("--corpus", help="the corpus of the queries: BEIR folder, .jsonl, .tsv, .csv")
    genq.add_argument(
        "--triples",
        help="inpars.triples output instead of --queries: its TSV, or its JSON Lines with "
        "--corpus; each pair brings its BM25 negative",
    )
    genq.add_argument(
        "--batch-sampler",
        choices=BATCH_SAMPLERS,
        default="no-duplicates",
        help="no-duplicates keeps a text out of a batch that already holds it, so that a "
        "document's other queries are not negatives (default: %(default)s)",
    )
    _add_training_arguments(genq, batch_size=64, epochs=3.0)

    label = commands.add_parser(
        "gpl-label",
        help="mine negatives and label them with a cross-encoder teacher",
        description="GPL step 1: for each query, sample negatives from each retriever's top "
        "--depth (never a positive), and write the teacher's margin "
        "teacher(q, pos) - teacher(q, neg) per (query, positive, negative) as JSON Lines.",
    )
    label.add_argument("--queries", required=True, help="generated or filtered queries JSONL")
    label.add_argument("--corpus", required=True, help="BEIR folder, .jsonl, .tsv or .csv")
    label.add_argument("--output", required=True, help="the labels (JSON Lines) to write")
    label.add_argument(
        "--teacher",
        required=True,
        help="cross-encoder teacher: an inpars.train reranker folder, a cross-encoder or "
        "monoT5 (folder or hub id)",
    )
    label.add_argument(
        "--teacher-kind",
        choices=["monot5", "cross-encoder", "bi-encoder"],
        help="the teacher's reranker kind (default: told from the model)",
    )
    label.add_argument(
        "--retriever",
        dest="retrievers",
        action="append",
        help="a dense model mining negatives, or 'bm25'; repeat for several (default: "
        f"{DEFAULT_MODEL})",
    )
    label.add_argument(
        "--depth", type=int, default=50, help="hits to sample from (default: %(default)s)"
    )
    label.add_argument(
        "--negatives-per-retriever",
        type=int,
        default=1,
        help="negatives drawn from each retriever's hits (default: %(default)s)",
    )
    label.add_argument(
        "--seed", type=int, default=0, help="random seed for sampling (default: %(default)s)"
    )
    label.add_argument(
        "--teacher-batch-size",
        type=int,
        default=32,
        help="pairs per teacher batch (default: %(default)s)",
    )
    label.add_argument("--teacher-max-length", type=int, help="teacher input tokens")
    label.add_argument(
        "--teacher-bm25-weight",
        type=float,
        default=0.0,
        metavar="W",
        help="fuse the teacher with BM25: (1-W)*teacher + W*BM25, each standardized over a "
        "query's positive and negatives, so margins are in standard deviations. A teacher "
        "that alone is no better than the student (e.g. the zero-shot bi-encoder) gains "
        "BM25's exact-term evidence this way (default: %(default)s, the teacher alone)",
    )
    label.add_argument(
        "--encode-batch-size",
        type=int,
        default=64,
        help="texts per retriever encoder batch (default: %(default)s)",
    )
    label.add_argument(
        "--queries-per-chunk",
        type=int,
        default=256,
        help="queries labelled and committed together (default: %(default)s)",
    )
    label.add_argument(
        "--index",
        help="Lucene index of the corpus (texts, and bm25 negatives), reused while "
        "unchanged (default: --output with .bm25-index)",
    )
    label.add_argument(
        "--embeddings-dir",
        help="where the retrievers' corpus embeddings are kept (default: the inpars cache)",
    )
    label.add_argument(
        "--k1", type=float, default=DEFAULT_K1, help="BM25 k1 (default: %(default)s)"
    )
    label.add_argument("--b", type=float, default=DEFAULT_B, help="BM25 b (default: %(default)s)")
    label.add_argument(
        "--threads",
        type=int,
        default=max(1, os.cpu_count() or 1),
        help="BM25 threads (default: %(default)s)",
    )
    label.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:1, mps or auto (default: %(default)s)"
    )
    label.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16", "float16"],
        help="models' dtype; auto is bfloat16/float16 on GPUs, float32 on CPUs",
    )
    label.add_argument("--overwrite", action="store_true", help="delete the labels and start again")
    label.add_argument("--quiet", action="store_true", help="no progress display")

    train = commands.add_parser(
        "gpl-train",
        help="train with MarginMSELoss on gpl-label's margins",
        description="GPL step 2: fit the bi-encoder's margin s(q, pos) - s(q, neg) to the "
        "teacher's with MarginMSELoss.",
    )
    train.add_argument("--labels", required=True, help="gpl-label's JSON Lines")
    train.add_argument("--corpus", required=True, help="the corpus the labels were made from")
    _add_training_arguments(train, batch_size=32, epochs=1.0)
    return parser


def _config(cls: type, args: argparse.Namespace) -> Any:
    names = set(cls.__dataclass_fields__)
    return cls(**{k: v for k, v in vars(args).items() if k in names and v is not None})


def print_train_summary(summary: DenseTrainSummary, console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"inpars.dense {summary.method} → {summary.output}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("starting model", summary.model),
        ("training examples", f"{summary.examples:,}"),
        ("optimizer steps", f"{summary.steps:,}"),
        ("resumed from", summary.resumed_from or "-"),
        ("last logged loss", "-" if summary.final_loss is None else f"{summary.final_loss:.4f}"),
        ("seconds", f"{summary.seconds:,.1f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def print_label_summary(summary: GplLabelSummary, config: GplLabelConfig, console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"inpars.dense gpl-label → {config.output}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("query records read", f"{summary.queries_read:,}"),
        ("skipped: already done", f"{summary.already_done:,}"),
        ("skipped: repeated in input", f"{summary.repeated:,}"),
        ("queries labelled", f"{summary.queries_labelled:,}"),
        ("labels written", f"{summary.labels:,}"),
        ("queries short of negatives", f"{summary.short:,}"),
        ("queries without negatives", f"{summary.without_negatives:,}"),
        *(
            (f"positive in {name} top {config.depth}", f"{count:,}")
            for name, count in summary.positive_in_top.items()
        ),
        ("mining seconds", f"{summary.mining_seconds:,.1f}"),
        ("teacher seconds", f"{summary.teacher_seconds:,.1f}"),
        ("seconds", f"{summary.seconds:,.1f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    console = Console(stderr=True)
    args = build_parser().parse_args(argv)
    try:
        if args.command == "gpl-label":
            config = _config(GplLabelConfig, args)
            label_summary = label_gpl(
                config, overwrite=args.overwrite, show_progress=not args.quiet
            )
            print_label_summary(label_summary, config, console)
            return 0
        if args.command == "genq":
            summary = train_genq(
                _config(GenQConfig, args), overwrite=args.overwrite, show_progress=not args.quiet
            )
        else:
            summary = train_gpl(
                _config(GplTrainConfig, args),
                overwrite=args.overwrite,
                show_progress=not args.quiet,
            )
    except InparsError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: rerun the same command to resume[/]")
        return 130
    if summary.already_trained:
        console.print(
            f"{summary.output}: already trained with these settings (--overwrite to redo)"
        )
    print_train_summary(summary, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
