"""Stage 4, train: fine-tune a reranker on (query, positive, negative) triples.

Library use::

    from inpars.train import TrainConfig, train

    summary = train(TrainConfig(triples="triples.tsv", output="reranker", kind="cross-encoder"))

Command line: ``python -m inpars.train --help`` (:mod:`inpars.cli.train`).

The loop is Hugging Face's ``Trainer`` (AdamW, gradient accumulation, mixed precision,
checkpoints that hold the optimizer, scheduler, RNG states and data position); inpars adds the
triples reader, the reranker kinds' inputs and losses (:mod:`inpars.rerankers`), and resuming
by default: run the same command again after a crash and training continues from the last
checkpoint, ending with the same weights an uninterrupted run would have. A finished model is
saved in ``output`` (``inpars-reranker.json`` names its kind), ready for ``inpars.rerank``.

Defaults mirror InPars' monoT5 fine-tuning: AdamW, constant learning rate 3e-4 with no
warm-up, weight decay 5e-5, 128 (query, document) examples per step, that is 64 triples with
a positive and a negative each, reached by gradient accumulation; inputs of at most 512
tokens; one pass over the triples.

Several GPUs: run the same command under ``torchrun --nproc_per_node N -m inpars.train ...``
or ``accelerate launch``; ``--batch-size`` stays the global batch (see
:mod:`inpars.training_run`).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from inpars.artifacts import Artifact, file_input, model_input
from inpars.errors import InparsError, InputError, require_at_least_one
from inpars.io import IndexedLines, open_lines
from inpars.rerankers import available_kinds, reranker_class
from inpars.rerankers.base import Reranker
from inpars.training_run import (
    LOSS_LOG,
    PRECISIONS,
    accumulation_steps,
    devices,
    is_main_process,
    loss_log_callback,
    open_output,
    precision_flags,
    resume_point,
    wait_for_everyone,
)


@dataclass
class TrainConfig:
    """Everything that decides a training run; the CLI flags map one to one."""

    triples: str  # TSV: query<TAB>positive text<TAB>negative text (inpars.triples output)
    output: str  # the folder of the trained model (checkpoints in output/checkpoints)
    kind: str = "monot5"
    model: str | None = None  # default: the kind's (t5-base for monoT5)
    learning_rate: float | None = None  # default: the kind's (3e-4 for monoT5)
    weight_decay: float = 5e-5
    batch_size: int = 64  # triples per optimizer step, all devices together (2 examples each)
    micro_batch_size: int = 8  # triples per forward pass on each device; the rest accumulates
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs
    warmup_ratio: float = 0.0
    scheduler: str = "constant"
    max_length: int | None = None  # default: the kind's (512 for monoT5 and cross-encoders)
    save_steps: int = 100
    logging_steps: int = 10
    seed: int = 42
    device: str = "auto"
    precision: str = "auto"

    def check(self) -> None:
        """Raises InparsError for settings that cannot work."""
        if self.kind not in available_kinds():
            raise InparsError(
                f"unknown --kind {self.kind!r}; available: {', '.join(available_kinds())}"
            )
        require_at_least_one(
            ("--batch-size", self.batch_size),
            ("--micro-batch-size", self.micro_batch_size),
            ("--save-steps", self.save_steps),
            ("--logging-steps", self.logging_steps),
        )
        if self.batch_size % self.micro_batch_size:
            raise InparsError(
                f"--batch-size ({self.batch_size}) must be a multiple of --micro-batch-size "
                f"({self.micro_batch_size})"
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise InparsError(f"--max-steps must be at least 1 (got {self.max_steps})")
        if not 0 <= self.warmup_ratio < 1:
            raise InparsError(f"--warmup-ratio must be in [0, 1) (got {self.warmup_ratio})")
        if self.precision not in PRECISIONS:
            raise InparsError(f"--precision must be one of {', '.join(PRECISIONS)}")


@dataclass
class TrainSummary:
    """What a run did."""

    output: str
    kind: str
    model: str
    triples: int
    steps: int
    resumed_from: str | None
    final_loss: float | None
    seconds: float
    already_trained: bool = False


def parse_triple(line: str, path: str | Path, number: int) -> tuple[str, str, str] | None:
    """A triples TSV line as (query, positive, negative); None for a blank line.

    Raises:
        InputError: for a line without 3 tab-separated fields, or with an empty one.
    """
    if not line.strip():
        return None
    fields = line.split("\t")
    if len(fields) != 3:
        raise InputError(
            f"expected 3 tab-separated fields (query, positive, negative), found {len(fields)}",
            path,
            number,
        )
    for name, value in zip(("query", "positive", "negative"), fields, strict=True):
        if not value.strip():
            raise InputError("empty", path, number, name)
    return fields[0], fields[1], fields[2]


def read_triples(path: str | Path) -> Iterator[tuple[int, tuple[str, str, str]]]:
    """Streams a triples TSV (plain or ``.gz``; CRLF and a byte order mark are fine) as
    (line number, (query, positive, negative)), skipping blank lines.

    Raises:
        InputError: for a bad line (see :func:`parse_triple`).
    """
    for number, line in open_lines(path):
        triple = parse_triple(line, path, number)
        if triple is not None:
            yield number, triple


class TriplesDataset:
    """The triples of a TSV, read on demand: only where each line is stays in memory.

    Every line is checked when the dataset is opened, so a bad line fails before training,
    naming the file and line. Lines are read as every inpars input is (``.gz``, CRLF, byte
    order mark; :class:`inpars.io.IndexedLines`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lines = IndexedLines(
            self.path, lambda number, line: parse_triple(line, self.path, number) is not None
        )
        if not len(self._lines):
            raise InputError("no triples", self.path)

    def __len__(self) -> int:
        return len(self._lines)

    def __getitem__(self, index: int) -> tuple[str, str, str]:
        query, positive, negative = self._lines[index].split("\t")
        return query, positive, negative


class TripleCollator:
    """Turns a micro-batch of triples into the reranker's training inputs."""

    def __init__(self, reranker: Reranker) -> None:
        self.reranker = reranker

    def __call__(self, triples: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
        return self.reranker.training_inputs(triples)


def _make_trainer_class() -> type:
    """A ``Trainer`` whose loss is the reranker's (imported lazily: transformers is heavy)."""
    from transformers import Trainer

    class RerankerTrainer(Trainer):  # type: ignore[misc]
        def __init__(self, reranker: Reranker, **kwargs: Any) -> None:
            super().__init__(model=reranker.model, **kwargs)
            self.reranker = reranker
            # The loss is a mean over the micro-batch: let Trainer divide it by the
            # accumulation steps, as for models that take no loss kwargs.
            self.model_accepts_loss_kwargs = False

        def get_train_dataloader(self) -> Any:
            if not self.reranker.in_batch_negatives:
                return super().get_train_dataloader()
            # The other triples of a micro-batch are negatives: none may share a text.
            from inpars.batches import no_duplicates_dataloader

            loader = no_duplicates_dataloader(
                self.train_dataset,
                self._train_batch_size,
                self.data_collator,
                seed=self.args.data_seed if self.args.data_seed is not None else self.args.seed,
            )
            return self.accelerator.prepare(loader)

        def compute_loss(
            self,
            model: Any,
            inputs: Any,
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            # ``model`` is the wrapped module (DDP, DataParallel): running it, not the bare
            # reranker.model, is what synchronises gradients or splits the batch over GPUs.
            loss = self.reranker.training_loss(inputs, model)
            return (loss, {}) if return_outputs else loss

    return RerankerTrainer


def artifact(config: TrainConfig) -> Artifact:
    """The trained model's folder as an :class:`~inpars.artifacts.Artifact`: the settings
    that decide the weights (the kind's defaults filled in) and the fingerprints of the
    triples and the starting model. Where checkpoints go, how often, and the device are not
    settings: a run may resume with others."""
    cls = reranker_class(config.kind)
    settings = asdict(config)
    for name in ("triples", "output", "model", "device", "precision", "save_steps",
                 "logging_steps"):  # fmt: skip
        settings.pop(name)
    settings["learning_rate"] = config.learning_rate or cls.default_learning_rate
    settings["max_length"] = config.max_length or cls.default_max_length
    inputs = {
        "triples": file_input(config.triples),
        "model": model_input(config.model or cls.default_model),
    }
    return Artifact(config.output, "train", settings, inputs)


def train(
    config: TrainConfig,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> TrainSummary:
    """Trains (or resumes training) a reranker on ``config.triples``; saves it in ``config.output``.

    Runs as one process (all GPUs of it through ``nn.DataParallel``) or as one of several
    under ``torchrun`` / ``accelerate launch`` (DDP): ``config.batch_size`` triples per
    optimizer step in total, ``config.micro_batch_size`` per forward pass on each device
    (see :mod:`inpars.training_run`). ``callbacks`` are extra
    ``transformers.TrainerCallback`` objects (to log elsewhere, stop early, ...).

    Raises:
        InputError: for a bad triples line (before any training).
        InparsError: for bad settings, or an output folder holding another run (other
            settings, triples or starting model), unless ``overwrite``.
    """
    from transformers import TrainingArguments, set_seed

    from inpars.models import pick_device

    config.check()
    start = time.perf_counter()
    cls = reranker_class(config.kind)
    model = config.model or cls.default_model
    learning_rate = config.learning_rate or cls.default_learning_rate
    max_length = config.max_length or cls.default_max_length
    dataset = TriplesDataset(config.triples)
    output = Path(config.output)
    art = artifact(config)
    device = pick_device(config.device)
    checkpoints = output / "checkpoints"
    args = TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=config.micro_batch_size,
        learning_rate=learning_rate,
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
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=not show_progress,
        use_cpu=device == "cpu",
        **precision_flags(config.precision, device),
    )
    args.gradient_accumulation_steps = accumulation_steps(
        config.batch_size, config.micro_batch_size, devices(args)
    )
    done = open_output(art, args, overwrite=overwrite)
    if done is not None:
        return TrainSummary(
            output=str(output),
            kind=config.kind,
            model=model,
            triples=len(dataset),
            steps=int(done.get("steps", 0)),
            resumed_from=None,
            final_loss=done.get("final_loss"),
            seconds=0.0,
            already_trained=True,
        )

    set_seed(config.seed)  # a randomly initialised head (cross-encoder) is seeded too
    if args.world_size > 1:
        device = str(args.device)  # this process's own GPU (cuda:LOCAL_RANK), or the CPU
    reranker = cls.load(model, max_length=max_length, device=device)
    last = resume_point(output, args)
    trainer = _make_trainer_class()(
        reranker,
        args=args,
        train_dataset=dataset,
        data_collator=TripleCollator(reranker),
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
        steps = trainer.state.global_step
        reranker.save(output, steps=steps, final_loss=final_loss)
        art.complete(
            steps=steps,
            final_loss=final_loss,
            triples=len(dataset),
        )
    wait_for_everyone()  # every process returns once the model is saved
    return TrainSummary(
        output=str(output),
        kind=config.kind,
        model=model,
        triples=len(dataset),
        steps=trainer.state.global_step,
        resumed_from=last,
        final_loss=final_loss,
        seconds=seconds,
    )


if __name__ == "__main__":
    from inpars.cli.train import main

    sys.exit(main())
