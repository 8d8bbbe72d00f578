"""``inpars dense`` / ``python -m inpars.dense {genq,gpl-label,gpl-train}``: the command line
of :mod:`inpars.dense`."""

from __future__ import annotations

import argparse
import os
from typing import Any

from inpars.bm25 import DEFAULT_B, DEFAULT_K1
from inpars.cli.command import command
from inpars.cli.options import (
    DefaultsHelpFormatter,
    add_bm25_corpus_option,
    add_corpus_options,
    add_device_options,
    add_output_options,
    config_from_args,
    stage_parser,
)
from inpars.cli.train import add_run_options, say_already_trained
from inpars.dense.config import BATCH_SAMPLERS, GenQConfig, GplLabelConfig, GplTrainConfig
from inpars.dense.labels import GplLabelSummary, label_gpl
from inpars.dense.training import DenseTrainSummary, train_genq, train_gpl
from inpars.progress import library_progress, stderr_console, summary_table
from inpars.search import DEFAULT_MODEL, SIMILARITIES


def _add_training_arguments(
    parser: argparse.ArgumentParser, *, batch_size: int, epochs: float
) -> None:
    add_output_options(parser, help="folder for the trained model")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="starting bi-encoder: a sentence-transformers folder or hub id, or "
        "all-minilm-l6-v2 (bundled)",
    )
    parser.add_argument("--learning-rate", type=float, default=2e-5, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay")
    parser.add_argument(
        "--batch-size", type=int, default=batch_size, help="examples per optimizer step"
    )
    parser.add_argument(
        "--micro-batch-size",
        type=int,
        help="examples per forward pass, to fit memory; results do not change "
        "(default: --batch-size)",
    )
    parser.add_argument(
        "--epochs", type=float, default=epochs, help="passes over the training data"
    )
    parser.add_argument(
        "--max-steps", type=int, help="stop after this many optimizer steps (overrides --epochs)"
    )
    parser.add_argument(
        "--scheduler", default="linear", help="learning-rate schedule, a transformers name"
    )
    parser.add_argument(
        "--warmup-ratio", type=float, default=0.1, help="warm-up fraction of the steps"
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
    add_run_options(parser, save_steps=500)


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "dense",
        "Train dense bi-encoders (sentence-transformers) on synthetic queries: GenQ "
        "(MultipleNegativesRankingLoss on query-document pairs) or GPL (negatives mined by "
        "dense retrievers, margins from a cross-encoder teacher, MarginMSELoss). Rerun the "
        "same command to resume.",
    )
    # The subcommands are plain parsers: the toolkit's flags are translated on the whole line.
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=argparse.ArgumentParser
    )

    genq = commands.add_parser(
        "genq",
        help="train with MultipleNegativesRankingLoss on (query, document) pairs",
        description="GenQ: fine-tune a bi-encoder on (generated query, document) pairs with "
        "in-batch negatives, plus BM25 negatives with --triples. Defaults: the "
        "sentence-transformers GenQ example (batch 64, 3 epochs, 10% warm-up).",
        formatter_class=DefaultsHelpFormatter,
    )
    genq.add_argument(
        "--queries", help="generated or filtered queries JSONL (doc_id, query): pairs"
    )
    add_corpus_options(
        genq, required=False, help="the corpus of the queries (or of a JSON Lines --triples)"
    )
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
        "document's other queries are not negatives",
    )
    _add_training_arguments(genq, batch_size=64, epochs=3.0)

    label = commands.add_parser(
        "gpl-label",
        help="mine negatives and label them with a cross-encoder teacher",
        description="GPL step 1: for each query, sample negatives from each retriever's top "
        "--depth (never a positive), and write the teacher's margin "
        "teacher(q, pos) - teacher(q, neg) per (query, positive, negative) as JSON Lines.",
        formatter_class=DefaultsHelpFormatter,
    )
    label.add_argument("--queries", required=True, help="generated or filtered queries JSONL")
    add_corpus_options(label, help="the corpus of the queries")
    add_output_options(label, help="the labels (JSON Lines) to write")
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
    label.add_argument("--depth", type=int, default=50, help="hits to sample from")
    label.add_argument(
        "--negatives-per-retriever",
        type=int,
        default=1,
        help="negatives drawn from each retriever's hits",
    )
    label.add_argument("--seed", type=int, default=0, help="random seed for sampling")
    label.add_argument("--teacher-batch-size", type=int, default=32, help="pairs per teacher batch")
    label.add_argument("--teacher-max-length", type=int, help="teacher input tokens")
    label.add_argument(
        "--teacher-bm25-weight",
        type=float,
        default=0.0,
        metavar="W",
        help="fuse the teacher with BM25: (1-W)*teacher + W*BM25, each centred on the "
        "query's candidates and divided by its spread over the first 1,000 queries' "
        "candidates, so margins are in standard deviations and keep their size. A teacher "
        "that alone is no better than the student (e.g. the zero-shot bi-encoder) gains "
        "BM25's exact-term evidence this way (default: %(default)s, the teacher alone)",
    )
    label.add_argument(
        "--encode-batch-size",
        type=int,
        default=64,
        help="texts per retriever encoder batch",
    )
    label.add_argument(
        "--queries-per-chunk",
        type=int,
        default=256,
        help="queries labelled and committed together",
    )
    add_bm25_corpus_option(label, "the teacher and the dense retrievers")
    label.add_argument(
        "--index",
        help="Lucene index of the corpus (or of --bm25-corpus), reused while unchanged "
        "(default: --output with .bm25-index)",
    )
    label.add_argument(
        "--embeddings-dir",
        help="where the retrievers' corpus embeddings are kept (default: the inpars cache)",
    )
    label.add_argument("--k1", type=float, default=DEFAULT_K1, help="BM25 k1")
    label.add_argument("--b", type=float, default=DEFAULT_B, help="BM25 b")
    label.add_argument(
        "--threads", type=int, default=max(1, os.cpu_count() or 1), help="BM25 threads"
    )
    add_device_options(label, what="each model")

    train = commands.add_parser(
        "gpl-train",
        help="train with MarginMSELoss on gpl-label's margins",
        description="GPL step 2: fit the bi-encoder's margin s(q, pos) - s(q, neg) to the "
        "teacher's with MarginMSELoss.",
        formatter_class=DefaultsHelpFormatter,
    )
    train.add_argument("--labels", required=True, help="gpl-label's JSON Lines")
    add_corpus_options(train, help="the corpus the labels were made from")
    _add_training_arguments(train, batch_size=32, epochs=1.0)
    return parser


def print_train_summary(summary: DenseTrainSummary, console: Any) -> None:
    rows = [
        ("starting model", summary.model),
        ("training examples", f"{summary.examples:,}"),
        ("optimizer steps", f"{summary.steps:,}"),
        ("resumed from", summary.resumed_from or "-"),
        ("last logged loss", "-" if summary.final_loss is None else f"{summary.final_loss:.4f}"),
        ("seconds", f"{summary.seconds:,.1f}"),
    ]
    console.print(summary_table(f"inpars.dense {summary.method} → {summary.output}", rows))


def print_label_summary(summary: GplLabelSummary, config: GplLabelConfig, console: Any) -> None:
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
    console.print(summary_table(f"inpars.dense gpl-label → {config.output}", rows))


@command(build_parser)
def main(args: argparse.Namespace) -> None:
    console = stderr_console()
    show = not args.quiet
    with library_progress(show):
        if args.command == "gpl-label":
            retrievers = {} if args.retrievers is None else {"retrievers": args.retrievers}
            config = config_from_args(GplLabelConfig, args, **retrievers)
            label_summary = label_gpl(config, overwrite=args.overwrite, show_progress=show)
            print_label_summary(label_summary, config, console)
            return
        if args.command == "genq":
            summary = train_genq(
                config_from_args(GenQConfig, args), overwrite=args.overwrite, show_progress=show
            )
        else:
            summary = train_gpl(
                config_from_args(GplTrainConfig, args), overwrite=args.overwrite, show_progress=show
            )
    if summary.already_trained:
        say_already_trained(summary.output, console)
    print_train_summary(summary, console)


__all__ = ["build_parser", "main", "print_label_summary", "print_train_summary"]
