"""``inpars train`` / ``python -m inpars.train``: the command line of :mod:`inpars.train`.

Under ``torchrun`` or ``accelerate launch`` every process runs this command; only the main
process prints the summary.
"""

from __future__ import annotations

import argparse
from typing import Any

from inpars.cli.command import command
from inpars.cli.options import (
    add_device_options,
    add_output_options,
    config_from_args,
    stage_parser,
)
from inpars.progress import say, stderr_console, summary_table
from inpars.rerankers import available_kinds
from inpars.train import TrainConfig, TrainSummary, train
from inpars.training_run import PRECISIONS, is_main_process


def add_run_options(parser: argparse.ArgumentParser, *, save_steps: int) -> argparse._ArgumentGroup:
    """The flags every training command shares: checkpoints, logging, seed, ``--device``
    (:func:`~inpars.cli.options.add_device_options`) and ``--precision``. The helps say their
    defaults, for parsers without :class:`~inpars.cli.options.DefaultsHelpFormatter` too."""
    group = parser.add_argument_group("training run")
    group.add_argument(
        "--save-steps",
        type=int,
        default=save_steps,
        help="checkpoint every N steps (default: %(default)s)",
    )
    group.add_argument(
        "--logging-steps",
        type=int,
        default=10,
        help="log the loss every N steps (default: %(default)s)",
    )
    group.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    device = add_device_options(parser, dtype=False, what="training")
    device.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="mixed precision; auto is bf16 (or fp16) on CUDA, fp32 on CPU (default: %(default)s)",
    )
    return group


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "train",
        "Fine-tune a reranker (monoT5, cross-encoder or bi-encoder) on training triples "
        "(inpars.triples' TSV). Defaults mirror InPars' monoT5 fine-tuning. Checkpoints are "
        "saved every --save-steps; rerun the same command to resume.",
    )
    parser.add_argument("--triples", required=True, help="TSV: query<TAB>positive<TAB>negative")
    add_output_options(parser, help="folder for the trained model")
    parser.add_argument("--kind", default="monot5", choices=available_kinds(), help="reranker kind")
    parser.add_argument(
        "--model",
        help="starting model: folder, hub id, or all-minilm-l6-v2 (bundled). Default: the "
        "kind's, t5-base for monot5 (needs the hub), all-minilm-l6-v2 otherwise",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        help="peak learning rate (default: the kind's: monot5 3e-4 as InPars, 2e-5 otherwise)",
    )
    parser.add_argument("--weight-decay", type=float, default=5e-5, help="AdamW weight decay")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="triples per optimizer step over all devices together (under torchrun or "
        "accelerate launch too); each holds 2 examples, so 64 = InPars' 128",
    )
    parser.add_argument(
        "--micro-batch-size",
        type=int,
        default=8,
        help="triples per forward pass on each device; batch-size / (micro-batch-size x "
        "devices) passes are accumulated per step",
    )
    parser.add_argument("--epochs", type=float, default=1.0, help="passes over the triples")
    parser.add_argument(
        "--max-steps", type=int, help="stop after this many optimizer steps (overrides --epochs)"
    )
    parser.add_argument(
        "--scheduler",
        default="constant",
        help="learning-rate schedule, a transformers name: constant, linear, cosine, ...",
    )
    parser.add_argument(
        "--warmup-ratio", type=float, default=0.0, help="warm-up fraction of the steps"
    )
    parser.add_argument(
        "--max-length", type=int, help="input tokens; only documents are cut (default: the kind's)"
    )
    add_run_options(parser, save_steps=100)
    return parser


def print_summary(summary: TrainSummary, console: Any) -> None:
    rows = [
        ("kind", summary.kind),
        ("starting model", summary.model),
        ("triples", f"{summary.triples:,}"),
        ("optimizer steps", f"{summary.steps:,}"),
        ("resumed from", summary.resumed_from or "-"),
        ("last logged loss", "-" if summary.final_loss is None else f"{summary.final_loss:.4f}"),
        ("seconds", f"{summary.seconds:,.1f}"),
    ]
    console.print(summary_table(f"inpars.train → {summary.output}", rows))


def say_already_trained(output: str, console: Any) -> None:
    """The line every training command prints when its folder is already complete."""
    say(f"{output}:", "already trained with these settings (--overwrite to redo)", console=console)


@command(build_parser, interrupted="rerun the same command to resume from the last checkpoint")
def main(args: argparse.Namespace) -> None:
    summary = train(
        config_from_args(TrainConfig, args), overwrite=args.overwrite, show_progress=not args.quiet
    )
    if not is_main_process():  # one report, not one per process
        return
    console = stderr_console()
    if summary.already_trained:
        say_already_trained(summary.output, console)
    print_summary(summary, console)


__all__ = ["add_run_options", "build_parser", "main", "print_summary", "say_already_trained"]
