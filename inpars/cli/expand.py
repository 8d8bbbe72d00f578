"""``inpars expand`` / ``python -m inpars.expand``: the command line of :mod:`inpars.expand`."""

from __future__ import annotations

import argparse

from inpars.artifacts import manifest_path
from inpars.cli.command import command
from inpars.cli.options import (
    add_corpus_options,
    add_device_options,
    add_output_options,
    config_from_args,
    stage_parser,
)
from inpars.expand import OUTPUT_FORMATS, ExpandConfig, ExpandSummary, expand
from inpars.pair_scores import DEFAULT_SCORER, LOG_PROBS
from inpars.progress import say, stderr_console, summary_table
from inpars.published import FORMATS


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "expand",
        "Document expansion (doc2query / Doc2Query--): append each document's synthetic "
        "queries to its text, optionally dropping the least relevant (query, document) pairs "
        "first. Writes the corpus in its own format; BM25 over it finds documents by the "
        "words of their queries. Rerun the same command to resume.",
    )
    add_corpus_options(
        parser,
        help="the corpus to expand, written back in its own format, which must be one "
        f"expand writes ({', '.join(OUTPUT_FORMATS)}; convert others first)",
    )
    parser.add_argument(
        "--queries",
        required=True,
        help="generated queries: inpars.generate or inpars.filter output, or a file the InPars "
        "authors published (v1 or v2; told from the first record)",
    )
    parser.add_argument("--queries-format", choices=list(FORMATS), help="queries schema")
    add_output_options(
        parser,
        help="the expanded corpus: a folder for a BEIR corpus (corpus.jsonl, queries.jsonl "
        "and qrels/ copied), else a file of the corpus's format (the text field, "
        "--text-field, is the one expanded)",
    )
    parser.add_argument(
        "--drop-fraction",
        type=float,
        default=0.0,
        help="Doc2Query--: drop this fraction of all (query, document) pairs, the "
        "lowest-scored by --scorer, one global threshold; 0 keeps every query",
    )
    parser.add_argument(
        "--scorer",
        default=DEFAULT_SCORER,
        help=f"what scores a pair: a reranker (bundled {DEFAULT_SCORER}, a monoT5 or "
        f"cross-encoder folder or hub id, an inpars-trained folder), or '{LOG_PROBS}' for the "
        "generator's mean token log-prob",
    )
    parser.add_argument(
        "--scores",
        metavar="FILE",
        help="where the pair scores are kept (default: <output>.scores.jsonl); they depend on "
        "the corpus, the queries and the scorer only, so expansions at several "
        "--drop-fraction values into different outputs can share one file and score once",
    )
    parser.add_argument("--scorer-kind", help="reranker kind when it cannot be told")
    parser.add_argument("--max-length", type=int, help="scorer input length in tokens")
    parser.add_argument("--batch-size", type=int, default=64, help="pairs per model call")
    parser.add_argument(
        "--pairs-per-commit", type=int, default=1024, help="pairs scored per durable write"
    )
    add_device_options(parser, what="the scorer")
    # The scores decide which pairs are dropped, and the scores file does not record the
    # dtype: full precision unless asked, on every device (as before the shared flags).
    parser.set_defaults(dtype=ExpandConfig.dtype)
    return parser


def print_summary(summary: ExpandSummary, output: str, drop_fraction: float) -> None:
    """The table ``inpars expand`` shows at the end, and where the manifest is."""
    console = stderr_console()
    table = summary_table(f"inpars.expand → {output}")
    table.add_row("documents", f"{summary.documents:,}")
    table.add_row("documents expanded", f"{summary.expanded_documents:,}")
    table.add_row("queries", f"{summary.queries:,} ({summary.empty_queries:,} empty skipped)")
    if drop_fraction > 0:
        table.add_row("pairs dropped", f"{summary.pairs_dropped:,}")
        if summary.threshold is not None:
            table.add_row("threshold (highest dropped)", f"{summary.threshold:.4f}")
        table.add_row("pairs scored this run", f"{summary.pairs_scored:,}")
        table.add_row("pairs/s", f"{summary.pairs_per_second:,.0f}")
    table.add_row("seconds", f"{summary.seconds:,.1f}")
    console.print(table)
    say("manifest:", manifest_path(output), console=console)


@command(build_parser)
def main(args: argparse.Namespace) -> None:
    config = config_from_args(ExpandConfig, args)
    summary = expand(config, overwrite=args.overwrite, show_progress=not args.quiet)
    print_summary(summary, config.output, config.drop_fraction)


__all__ = ["build_parser", "main", "print_summary"]
