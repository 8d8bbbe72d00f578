"""What every training command shares (:mod:`inpars.train`, :mod:`inpars.dense`).

- **One run per output folder.** The folder is an :class:`inpars.artifacts.Artifact`: its
  manifest (``<output>.manifest.json``, beside the folder) records the settings and the
  fingerprints of the training data and the starting model. The same run resumes from its
  last whole checkpoint (:func:`resume_point`) or, when complete, is not trained again;
  another run is refused (naming every difference) unless ``--overwrite``.
- **Several processes.** Under ``torchrun`` or ``accelerate launch`` every process runs the
  same command. Only the main process deletes the folder (``--overwrite``), writes the
  manifest and saves the model; the others wait for it at a barrier (:func:`open_output`),
  so no process reads a half-written folder or saves over another.
- **The batch is what ``--batch-size`` says**, whatever the number of devices: examples per
  optimizer step summed over all processes (and all GPUs of a process under
  ``nn.DataParallel``). Each device runs forward passes of ``--micro-batch-size`` examples;
  ``batch / (micro-batch x devices)`` of them are accumulated per step
  (:func:`accumulation_steps`).
- Mixed precision flags and the loss log.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from inpars.artifacts import Artifact, differences, read_producer
from inpars.errors import InparsError
from inpars.io import atomic_write_text, dumps_json

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
LOSS_LOG = "train-log.jsonl"


def devices(args: Any) -> int:
    """How many devices train at once: processes x GPUs per process (``nn.DataParallel``)."""
    return int(args.world_size) * max(int(args.n_gpu), 1)


def accumulation_steps(batch_size: int, micro_batch_size: int, device_count: int) -> int:
    """Forward passes accumulated per optimizer step so that one step sees ``batch_size``
    examples, each of ``device_count`` devices running ``micro_batch_size`` at a time.

    Raises:
        InparsError: when ``batch_size`` is not a multiple of ``micro_batch_size x devices``.
    """
    per_pass = micro_batch_size * device_count
    if batch_size % per_pass:
        raise InparsError(
            f"--batch-size ({batch_size}) must be a multiple of --micro-batch-size "
            f"({micro_batch_size}) x the {device_count} devices training at once (processes x "
            "GPUs per process), so that every optimizer step sees exactly --batch-size examples"
        )
    return batch_size // per_pass


def split_batch(
    batch_size: int, micro_batch_size: int | None, device_count: int
) -> tuple[int, int]:
    """(examples per forward pass on each device, forward passes accumulated per step).

    ``micro_batch_size`` None means as large as possible: ``batch_size / devices``, no
    accumulation.

    Raises:
        InparsError: when the batch does not split evenly over the devices.
    """
    if micro_batch_size is None:
        if batch_size % device_count:
            raise InparsError(
                f"--batch-size ({batch_size}) must be a multiple of the {device_count} devices "
                "training at once (processes x GPUs per process)"
            )
        micro_batch_size = batch_size // device_count
    return micro_batch_size, accumulation_steps(batch_size, micro_batch_size, device_count)


def open_output(artifact: Artifact, args: Any, *, overwrite: bool) -> dict[str, Any] | None:
    """Applies the one rule of :mod:`inpars.artifacts` to a training folder, in every process.

    Returns the manifest's sections (steps, loss) when the folder already holds this very
    run, complete: nothing to train. Else None, with the folder there and the ``running``
    manifest written. ``args`` (transformers ``TrainingArguments``) tell the process's rank:
    only the main process writes (or, with ``overwrite``, deletes); the others wait for it,
    then read its manifest, so every process decides alike (and fails when it refused).

    Raises:
        InparsError: when the folder holds another run (every difference named) and not
            ``overwrite``.
    """
    with args.main_process_first(local=False, desc="preparing the output folder"):
        if is_main_process(args):
            if artifact.open(overwrite) == "complete":
                return artifact.sections
            artifact.output.mkdir(parents=True, exist_ok=True)
            return None
    manifest = read_producer(artifact.output)
    if manifest is None or differences(
        manifest, artifact.stage, artifact.settings, artifact.inputs
    ):
        raise InparsError(f"{artifact.output}: not opened for this run by the main process")
    return manifest if manifest.get("status") == "complete" else None


def last_checkpoint(checkpoints: Path) -> Path | None:
    """The newest whole checkpoint in ``checkpoints``, or None.

    The trainer state is the last file a checkpoint gets: a checkpoint without a readable
    one was cut short (a kill while saving) and is passed over for the one before it.
    """
    found = []
    for folder in checkpoints.glob("checkpoint-*") if checkpoints.is_dir() else ():
        number = re.fullmatch(r"checkpoint-(\d+)", folder.name)
        try:
            json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if number:
            found.append((int(number.group(1)), folder))
    return max(found)[1] if found else None


def resume_point(output: Path, args: Any) -> str | None:
    """The checkpoint a run in ``output`` resumes from (:func:`last_checkpoint`), or None.

    The main process cuts the loss log back to that step, so that it reads as the log of a
    run never interrupted (the folder's fingerprint then does not depend on a crash).
    """
    checkpoint = last_checkpoint(output / "checkpoints")
    log = output / LOSS_LOG
    if is_main_process(args) and log.is_file():
        step = int(checkpoint.name.split("-")[1]) if checkpoint else 0
        kept = [
            line
            for line in log.read_text(encoding="utf-8").splitlines(keepends=True)
            if line.endswith("\n") and json.loads(line).get("step", 0) <= step
        ]
        atomic_write_text(log, "".join(kept))
    return str(checkpoint) if checkpoint else None


def is_main_process(args: Any = None) -> bool:
    """Whether this process is the one that writes and reports (rank 0 of all processes).

    ``args`` (``TrainingArguments``) tell the rank; without them, the initialised process
    group does (a single process is the main one).
    """
    if args is not None:
        return int(args.process_index) == 0
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def wait_for_everyone() -> None:
    """A barrier across the processes of a distributed run; nothing in a single process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def loss_log_callback(path: Path) -> Any:
    """A callback appending every logged loss to ``path`` (JSON Lines), from the main process.

    A value that is not finite (a diverged loss or gradient norm) is logged as null, as the
    summary reports it: JSON has no NaN. Timings (``*_runtime``, ``*_per_second``) are left
    out: they belong to the manifest, and the log stays the same for the same training.
    """
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):  # type: ignore[misc]
        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            if state.is_world_process_zero and logs:
                row = {"step": state.global_step, **logs}
                finite = {
                    key: None if isinstance(v, float) and not math.isfinite(v) else v
                    for key, v in row.items()
                    if not key.endswith(("_runtime", "_per_second"))
                }
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(dumps_json(finite, path=path) + "\n")

    return LossLog()


def precision_flags(precision: str, device: str) -> dict[str, bool]:
    """Trainer's ``bf16``/``fp16`` flags for ``--precision`` on ``device`` (auto: bf16 on
    CUDA where supported, else fp16; fp32 on CPUs)."""
    import torch

    if precision == "auto":
        if device.startswith("cuda"):
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            precision = "fp32"
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


__all__ = [
    "PRECISIONS",
    "accumulation_steps",
    "devices",
    "is_main_process",
    "last_checkpoint",
    "loss_log_callback",
    "open_output",
    "precision_flags",
    "resume_point",
    "split_batch",
    "wait_for_everyone",
]
