"""What every training command shares (:mod:`inpars.train`, :mod:`inpars.dense`).

- **One run per output folder.** ``train-settings.json`` records what must not change between
  a run and its resumption; a folder holding another run is refused (naming what changed)
  unless ``--overwrite``; a finished run is not trained again.
- **Several processes.** Under ``torchrun`` or ``accelerate launch`` every process runs the
  same command. Only the main process deletes the folder (``--overwrite``), writes settings
  and saves the model; the others wait for it at a barrier, so no process reads a
  half-written folder or saves over another.
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
import shutil
from pathlib import Path
from typing import Any

from inpars.errors import InparsError
from inpars.io import atomic_write_json, dumps_json
from inpars.rerankers.base import read_metadata

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SETTINGS_FILE = "train-settings.json"


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


def prepare_output(
    output: Path, settings: dict[str, Any], args: Any, *, overwrite: bool
) -> dict[str, Any] | None:
    """Makes ``output`` ready for a run with ``settings``, in every process.

    Returns the saved metadata (``inpars-reranker.json``) when the folder already holds the
    finished run with these settings (nothing to train), else None once the folder exists
    with ``train-settings.json`` written. ``args`` (transformers ``TrainingArguments``) tell
    the process's rank; only the main process writes or deletes, the others wait for it.

    Raises:
        InparsError: when the folder holds a run with other settings and not ``overwrite``.
    """
    settings_file = output / SETTINGS_FILE
    previous = None
    if not overwrite and settings_file.is_file():
        previous = json.loads(settings_file.read_text(encoding="utf-8"))
    if previous is not None and previous != settings:
        changed = sorted(
            k for k in settings.keys() | previous.keys() if settings.get(k) != previous.get(k)
        )
        raise InparsError(
            f"{output}: holds a training run with other settings (changed: {', '.join(changed)}); "
            "rerun with the same settings to resume, or pass --overwrite"
        )
    done = read_metadata(output) if previous is not None else None
    if done and done.get("complete"):
        return done
    # Every process has read the folder; the main one changes it while the others wait.
    with args.main_process_first(local=False, desc="preparing the output folder"):
        if is_main_process(args):
            if overwrite and output.exists():
                shutil.rmtree(output)
            output.mkdir(parents=True, exist_ok=True)
            atomic_write_json(settings_file, settings)
    return None


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
    summary reports it: JSON has no NaN.
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
    "loss_log_callback",
    "precision_flags",
    "prepare_output",
    "split_batch",
    "wait_for_everyone",
]
