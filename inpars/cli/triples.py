"""``inpars triples`` / ``python -m inpars.triples``: the command line of :mod:`inpars.triples`.

``python -m inpars.generate_triples`` (the InPars toolkit's name) runs the same command.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from inpars.artifacts import manifest_path
from inpars.bm25 import DEFAULT_B, DEFAULT_K1, STEMMERS
from inpars.cli.command import command
from inpars.cli.options import (
    add_bm25_corpus_option,
    add_corpus_options,
    add_output_options,
    add_shard_option,
    config_from_args,
    stage_parser,
)
from inpars.progress import say, stderr_console, summary_table
from inpars.triples import TriplesConfig, TriplesSummary, make_triples


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "triples",
        "Mine BM25 negatives for synthetic queries and write training triples: a TSV "
        "'query<TAB>positive text<TAB>negative text' (what monoT5 training reads) and JSON "
        "Lines with ids, ranks and scores. Builds (or reuses) a Lucene index of the corpus "
        "with Pyserini. Rerun the same command to resume.",
    )
    parser.add_argument(
        "--queries",
        required=True,
        help="JSON Lines with 'query' and 'doc_id' (inpars.filter or inpars.generate output)",
    )
    add_corpus_options(parser, help="the corpus the queries came from")
    output = add_output_options(parser, help="the triples TSV to write")
    output.add_argument(
        "--jsonl", help="the triples JSON Lines to write (default: --output with .jsonl)"
    )
    bm25 = parser.add_argument_group("BM25")
    bm25.add_argument(
        "--index",
        help="Lucene index folder, reused while the corpus and index settings are unchanged "
        "(default: --output with .bm25-index)",
    )
    add_bm25_corpus_option(
        bm25,
        "the triples' texts",
        "Negatives mined from an expansion are documents whose synthetic queries resemble the "
        "query: harder, and likelier unjudged positives (off by default, as in InPars)",
    )
    bm25.add_argument("--k1", type=float, default=DEFAULT_K1, help="BM25 k1")
    bm25.add_argument("--b", type=float, default=DEFAULT_B, help="BM25 b")
    bm25.add_argument(
        "--stemmer",
        choices=list(STEMMERS),
        default="porter",
        help="stemmer for the index and queries",
    )
    bm25.add_argument(
        "--keep-stopwords", action="store_true", help="index and search stop words too"
    )
    bm25.add_argument(
        "--rebuild-index", action="store_true", help="rebuild the index even if up to date"
    )
    parser.add_argument(
        "--depth", type=int, default=1000, help="BM25 hits to sample negatives from"
    )
    parser.add_argument(
        "--negatives-per-query",
        type=int,
        default=1,
        help="negatives per query, each giving one triple (InPars: 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed for sampling")
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, os.cpu_count() or 1),
        help="search and indexing threads (default: the CPU count, %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1000,
        help="queries searched and written per batch; a crash loses at most one batch",
    )
    add_shard_option(parser)
    return parser


def print_summary(summary: TriplesSummary, config: TriplesConfig, console: Any) -> None:
    index = "reused" if summary.index_reused else f"built ({summary.index_reason})"
    rows = [
        ("index", f"{index}, {summary.index_documents:,} docs, {summary.index_seconds:.1f} s"),
        ("query records read", f"{summary.queries_read:,}"),
        ("skipped: already done", f"{summary.already_done:,}"),
        ("skipped: repeated in input", f"{summary.repeated:,}"),
        ("queries searched", f"{summary.queries_searched:,}"),
        ("triples written", f"{summary.triples:,}"),
        ("queries short of negatives", f"{summary.short:,}"),
        ("queries without negatives", f"{summary.without_negatives:,}"),
        (f"positive in BM25 top {config.depth}", f"{summary.positive_in_top:,}"),
        ("search seconds", f"{summary.search_seconds:,.1f}"),
        ("seconds", f"{summary.seconds:,.1f}"),
        ("queries/s (index excluded)", f"{summary.queries_per_second:,.1f}"),
    ]
    console.print(summary_table(f"inpars.triples → {config.output}", rows))
    say("TSV:", config.output, console=console)
    say("JSON Lines:", config.jsonl_path, console=console)


@command(build_parser)
def main(args: argparse.Namespace) -> None:
    config = config_from_args(TriplesConfig, args)
    summary = make_triples(config, show_progress=not args.quiet)
    console = stderr_console()
    print_summary(summary, config, console)
    say("manifest:", manifest_path(config.output), console=console)


__all__ = ["build_parser", "main", "print_summary"]
