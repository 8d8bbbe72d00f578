"""Training a bi-encoder: GenQ (MultipleNegativesRankingLoss) and GPL (MarginMSELoss)."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from inpars.artifacts import Artifact, corpus_input, file_input, model_input
from inpars.corpus import CorpusFields
from inpars.dense.config import BiEncoderTrainConfig, GenQConfig, GplTrainConfig
from inpars.dense.data import genq_columns, gpl_columns
from inpars.errors import InparsError, InputError
from inpars.io import atomic_write_json
from inpars.rerankers.base import METADATA_FILE
from inpars.rerankers.bi_encoder import default_scale, model_similarity, similarity_fn_name
from inpars.training_run import (
    LOSS_LOG,
    devices,
    is_main_process,
    loss_log_callback,
    open_output,
    precision_flags,
    resume_point,
    split_batch,
    wait_for_everyone,
)


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
        try:
            similarity = model_similarity(model)
        except InparsError as exc:
            raise InparsError(f"{exc}: pass --similarity cos or dot") from None
    return similarity, scale if scale is not None else default_scale(similarity)


_INPUT_FILES = ("queries", "triples", "labels")
_CORPUS_FIELDS = tuple(f.name for f in fields(CorpusFields))


def artifact(config: BiEncoderTrainConfig, stage: str) -> Artifact:
    """The trained model's folder as an :class:`~inpars.artifacts.Artifact` of ``stage``
    (``genq`` or ``gpl-train``): the settings that decide the weights, and the
    fingerprints of the training files, the corpus and the starting model. Where checkpoints
    go, how often, and the device are not settings: a run may resume with others."""
    settings = asdict(config)
    inputs: dict[str, Any] = {"model": model_input(config.model)}
    # The corpus fields are not settings: the corpus fingerprint holds what they read.
    for name in ("output", "model", "corpus", "device", "precision", "save_steps",
                 "logging_steps", *_INPUT_FILES, *_CORPUS_FIELDS):  # fmt: skip
        value = settings.pop(name, None)
        if name in _INPUT_FILES and value is not None:
            if not Path(value).is_file():
                raise InputError("no such file", value)
            inputs[name] = file_input(value)
    corpus = getattr(config, "corpus", None)
    if corpus is not None:
        inputs["corpus"] = corpus_input(config.corpus_reader())  # type: ignore[attr-defined]
    return Artifact(config.output, stage, settings, inputs)


def _train(
    config: BiEncoderTrainConfig,
    method: str,
    columns: Callable[[], dict[str, list[Any]]],
    make_loss: Callable[[Any, str, float, bool], Any],
    *,
    batch_sampler: str = "random",
    fit_scale: Callable[[Any, str, dict[str, list[Any]]], float] | None = None,
    micro_batch_size: int | None,
    overwrite: bool,
    show_progress: bool,
    callbacks: Sequence[Any],
) -> DenseTrainSummary:
    """The training both methods share: the output's rule, trainer, checkpoints, final save.

    ``config.batch_size`` examples per optimizer step over all devices together (one
    process, or several under ``torchrun`` / ``accelerate launch``); each device runs
    forward passes of ``micro_batch_size`` (None: its whole share of the batch), see
    :func:`inpars.training_run.split_batch`. ``make_loss(model, similarity, scale,
    distributed)`` builds the loss.
    """
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
    from transformers import set_seed

    from inpars.batches import sentence_transformers_batch_sampler
    from inpars.models import pick_device, resolve_model_path

    config.check()
    start = time.perf_counter()
    output = Path(config.output)
    device = pick_device(config.device)
    checkpoints = output / "checkpoints"
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
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
        **precision_flags(config.precision, device),
    )
    # Under torchrun a step's batch is split over the processes, and the loss gathers it
    # back (gather_across_devices): it must be free of duplicates as a whole.
    args.batch_sampler = sentence_transformers_batch_sampler(batch_sampler, args.world_size)
    args.per_device_train_batch_size, args.gradient_accumulation_steps = split_batch(
        config.batch_size, micro_batch_size, devices(args)
    )
    data = columns()  # every input line is checked before a model is loaded
    examples = len(data["query"])
    art = artifact(config, "gpl-train" if method == "gpl" else method)
    done = open_output(art, args, overwrite=overwrite)
    if done is not None:
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

    set_seed(config.seed)
    if args.world_size > 1:
        device = str(args.device)  # this process's own GPU (cuda:LOCAL_RANK), or the CPU
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
    loss = make_loss(model, similarity, scale, args.world_size > 1)
    last = resume_point(output, args)
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict(data),
        loss=loss,
        callbacks=[loss_log_callback(output / LOSS_LOG), *callbacks],
    )
    result = trainer.train(resume_from_checkpoint=last)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    final_loss = (
        losses[-1]
        if losses
        else (result.training_loss if math.isfinite(result.training_loss) else None)
    )
    seconds = time.perf_counter() - start
    if is_main_process(args):
        # The trained function becomes the model's own, so that sentence-transformers,
        # inpars.search and the bi-encoder reranker all score with it.
        model.similarity_fn_name = similarity_fn_name(similarity)
        model.save(str(output))
        steps = trainer.state.global_step
        atomic_write_json(
            output / METADATA_FILE,
            {
                "kind": "bi-encoder",
                "max_length": int(model.max_seq_length),
                "base_model": config.model,
                "method": method,
                "similarity": similarity,
                "scale": scale,
                "steps": steps,
                "final_loss": final_loss,
                "examples": examples,
            },
        )
        art.complete(
            steps=steps,
            final_loss=final_loss,
            examples=examples,
        )
    wait_for_everyone()  # every process returns once the model is saved
    return DenseTrainSummary(
        output=str(output),
        method=method,
        model=config.model,
        examples=examples,
        steps=trainer.state.global_step,
        resumed_from=last,
        final_loss=final_loss,
        seconds=seconds,
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
        InparsError: for bad settings, or an output folder holding another run (other
            settings or inputs), unless ``overwrite``.
    """

    def make_loss(model: Any, similarity: str, scale: float, distributed: bool) -> Any:
        from sentence_transformers import util
        from sentence_transformers.sentence_transformer.losses import (
            CachedMultipleNegativesRankingLoss,
            MultipleNegativesRankingLoss,
        )

        function = util.cos_sim if similarity == "cos" else util.dot_score
        # Under torchrun each process holds its share of the batch: gathering the others'
        # embeddings keeps every example of the whole --batch-size as an in-batch negative.
        micro = config.micro_batch_size
        if micro is not None and micro < config.batch_size:
            return CachedMultipleNegativesRankingLoss(
                model,
                scale=scale,
                similarity_fct=function,
                mini_batch_size=micro,
                gather_across_devices=distributed,
            )
        return MultipleNegativesRankingLoss(
            model, scale=scale, similarity_fct=function, gather_across_devices=distributed
        )

    return _train(
        config,
        "genq",
        lambda: genq_columns(config),
        make_loss,
        batch_sampler=config.batch_sampler,
        micro_batch_size=None,  # one loss over the whole batch (cached in micro-batches)
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
        InparsError: for bad settings, or an output folder holding another run (other
            settings or inputs), unless ``overwrite``.
    """

    def make_loss(model: Any, similarity: str, scale: float, distributed: bool) -> Any:
        from sentence_transformers.sentence_transformer.losses import MarginMSELoss

        return MarginMSELoss(model, similarity_fct=ScaledSimilarity(similarity, scale, True))

    return _train(
        config,
        "gpl",
        lambda: gpl_columns(config),
        make_loss,
        fit_scale=lambda model, similarity, data: fit_margin_scale(
            model, similarity, data, seed=config.seed
        ),
        micro_batch_size=config.micro_batch_size,
        overwrite=overwrite,
        show_progress=show_progress,
        callbacks=callbacks,
    )
