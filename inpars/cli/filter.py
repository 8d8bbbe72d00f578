"""``inpars filter`` / ``python -m inpars.filter``: the command line of :mod:`inpars.filter`."""

from __future__ import annotations

import argparse
from typing import Any

from inpars.artifacts import manifest_path
from inpars.cli.command import command
from inpars.cli.options import (
    add_corpus_options,
    add_device_options,
    add_output_options,
    config_from_args,
    stage_parser,
)
from inpars.consistency import DEFAULT_DEPTH as DEFAULT_CONSISTENCY_DEPTH
from inpars.filter import SCORE_FUNCTIONS, FilterConfig, FilterSummary, filter_queries
from inpars.progress import say, stderr_console, summary_table


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "filter",
        "Clean synthetic queries, score them by the generator's token log-probabilities and "
        "keep the best. Writes the kept records (plus a 'score' field) best first, and prints "
        "how many records each rule dropped.",
    )
    parser.add_argument(
        "--input",
        required=True,
        help="JSON Lines of inpars.generate records, or queries published by the InPars "
        "authors (InPars v1 or InPars-v2 toolkit format, told from the first record)",
    )
    output = add_output_options(parser, help="JSON Lines of the kept records", resumes=False)
    output.add_argument("--summary", help="also write the summary as JSON to this file")
    rules = parser.add_argument_group("scores and rules")
    rules.add_argument(
        "--score",
        choices=list(SCORE_FUNCTIONS),
        default="mean_log_probs",
        help="ranking score: mean_log_probs = mean token log-prob (InPars), sum_log_probs = "
        "their sum (log P(query)), mean_probs = mean of exp(log-prob)",
    )
    rules.add_argument(
        "--keep-top-k",
        type=int,
        default=10_000,
        help="keep the K best-scored records over the whole file (InPars kept 10k of 100k; "
        "memory grows with K, not the input)",
    )
    rules.add_argument(
        "--max-per-doc",
        type=int,
        default=None,
        help="keep at most N records per document (default: no cap)",
    )
    rules.add_argument(
        "--min-words",
        type=int,
        default=2,
        help="drop queries with fewer whitespace-separated words; 0 turns it off",
    )
    rules.add_argument(
        "--max-words",
        type=int,
        default=40,
        help="drop queries with more words (run-ons that hit the token limit); 0 turns it off",
    )
    rules.add_argument(
        "--copy-threshold",
        type=float,
        default=0.75,
        help="drop a query when a verbatim run of its words, at least this fraction of "
        "them (and at least --copy-min-words), occurs in its document (case and punctuation "
        "ignored); 0 turns the rule off",
    )
    rules.add_argument(
        "--copy-min-words",
        type=int,
        default=4,
        help="shortest verbatim run that counts as copying; shorter queries are never copies",
    )
    rules.add_argument(
        "--min-doc-words",
        type=int,
        default=0,
        help="drop queries whose document has fewer words (title-only records, stubs); "
        "needs --corpus; 0 turns the rule off",
    )
    rules.add_argument(
        "--prompt-examples",
        default="auto",
        help="drop queries that copy a few-shot example of the prompt (its query or "
        "document), by the --copy-threshold rule: 'auto' checks the examples that the "
        "input's generation manifest (<input>.manifest.json) names, a template name or "
        "file its built-in examples, an examples file (JSONL, TSV) its examples; 'none' "
        "turns the rule off",
    )
    rules.add_argument(
        "--keep-duplicates",
        action="store_true",
        help="keep queries that are the same after normalisation (case, punctuation, "
        "Unicode form); by default only the best-scored of each is kept",
    )
    rules.add_argument(
        "--skip-invalid",
        action="store_true",
        help="count and skip records without log_probs, with bad values or with tokens "
        "and log_probs of different lengths, instead of stopping at the first",
    )
    add_corpus_options(
        parser,
        required=False,
        help="the corpus the queries were generated from (the copy rule, skipped without it, "
        "--min-doc-words, --consistency-model and --reranker need it)",
    )
    models = parser.add_argument_group("models")
    models.add_argument(
        "--consistency-model",
        help="round-trip filter (Promptagator): drop a query unless this dense model "
        "(a sentence-transformers folder, hub id, or all-minilm-l6-v2, bundled), searching "
        "the whole --corpus with it, ranks its document in the top --consistency-depth. "
        "The corpus embeddings are cached. Default: off",
    )
    models.add_argument(
        "--consistency-depth",
        type=int,
        default=DEFAULT_CONSISTENCY_DEPTH,
        help="how deep a query's document may rank and pass the round trip (1: only "
        "queries that find their document first)",
    )
    models.add_argument(
        "--consistency-batch-size",
        type=int,
        default=256,
        help="queries checked per encoder call",
    )
    models.add_argument(
        "--reranker",
        help="the InPars-v2 filter: rank by a reranker's score of (query, its document) "
        "instead of --score: any model inpars.rerank loads (all-minilm-l6-v2, bundled; a "
        "monoT5 or cross-encoder folder or hub id; an inpars.train folder). Needs --corpus. "
        "Default: off",
    )
    models.add_argument("--reranker-kind", help="the reranker's kind when it cannot be told")
    models.add_argument(
        "--reranker-batch-size",
        type=int,
        default=64,
        help="pairs per reranker call",
    )
    add_device_options(parser, dtype=False, what="the round-trip model or the reranker")
    return parser


def print_summary(summary: FilterSummary, output: str, console: Any) -> None:
    """The filter's summary table: records read, dropped by each rule, kept, scores, speed."""
    table = summary_table(f"inpars.filter → {output}")
    table.add_row("records read", f"{summary.read:,}")
    if summary.input_format != "inpars":
        table.add_row("input format", summary.input_format)
    for rule, count in summary.drops():
        if rule == "copied from document" and not summary.copies_checked:
            table.add_row(f"dropped: {rule}", "not checked (no --corpus)")
        elif rule == "copied from a prompt example" and not summary.example_copies_checked:
            table.add_row(f"dropped: {rule}", "not checked (no examples known)")
        elif rule == "failed the round trip" and not summary.consistency_checked:
            continue
        else:
            table.add_row(f"dropped: {rule}", f"{count:,}")
    table.add_row("kept", f"{summary.kept:,}")
    if summary.best_score is not None:
        table.add_row(
            f"{summary.score} kept",
            f"{summary.worst_kept_score:.4f} .. {summary.best_score:.4f}",
        )
    table.add_row("seconds", f"{summary.seconds:,.1f}")
    table.add_row("records/s", f"{summary.records_per_second:,.0f}")
    console.print(table)
    for example in summary.invalid_examples:
        say("skipped:", example, "yellow", console)


@command(build_parser, interrupted="nothing was written")
def main(args: argparse.Namespace) -> None:
    config = config_from_args(
        FilterConfig, args, max_words=args.max_words or None, dedup=not args.keep_duplicates
    )
    summary = filter_queries(config, show_progress=not args.quiet)
    console = stderr_console()
    print_summary(summary, args.output, console)
    say("manifest:", manifest_path(args.output), console=console)


__all__ = ["build_parser", "main", "print_summary"]
