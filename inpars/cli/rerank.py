"""``inpars rerank`` / ``python -m inpars.rerank``: the command line of :mod:`inpars.rerank`."""

from __future__ import annotations

import argparse
import os

from inpars.bm25 import DEFAULT_B, DEFAULT_K1
from inpars.cli.command import command
from inpars.cli.options import (
    add_bm25_corpus_option,
    add_corpus_options,
    add_device_options,
    add_output_options,
    add_shard_option,
    config_from_args,
    stage_parser,
)
from inpars.progress import say
from inpars.rerank import RerankConfig, rerank
from inpars.rerankers import available_kinds


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "rerank",
        "Rerank the top --depth documents of a first stage (BM25 by default, or --run) with a "
        "reranker (a model trained by inpars.train, a monoT5 or cross-encoder checkpoint, or a "
        "bi-encoder) and write a TREC run. Rerun the same command to resume.",
    )
    parser.add_argument(
        "--queries", required=True, help="BEIR folder, queries JSONL, or qid<TAB>text TSV"
    )
    add_corpus_options(parser, help="the corpus of the documents")
    add_output_options(parser, help="the TREC run to write")
    parser.add_argument(
        "--model",
        help="reranker: a folder from inpars.train, a hub id (castorini/monot5-base-msmarco-10k, "
        "cross-encoder/ms-marco-MiniLM-L6-v2), or all-minilm-l6-v2 (bundled bi-encoder)",
    )
    parser.add_argument(
        "--kind",
        choices=available_kinds(),
        help="reranker kind (default: told from the model: T5 is monot5, a sentence-transformers "
        "folder is bi-encoder, anything else cross-encoder)",
    )
    parser.add_argument(
        "--run", help="first-stage TREC run to rerank (default: BM25 over --corpus)"
    )
    add_bm25_corpus_option(parser, "the reranker's texts")
    parser.add_argument("--depth", type=int, default=100, help="documents reranked per query")
    parser.add_argument("--qrels", help="rerank only the queries judged in these qrels")
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per forward pass")
    parser.add_argument(
        "--queries-per-chunk",
        type=int,
        default=16,
        help="queries scored and committed together; a crash loses at most one chunk",
    )
    parser.add_argument(
        "--max-length", type=int, help="input tokens; only documents are cut (default: the model's)"
    )
    add_device_options(parser, what="the reranker")
    parser.add_argument("--index", help="BM25 index folder (default: --output with .bm25-index)")
    parser.add_argument(
        "--first-stage-output", help="also write the first stage's top --depth as a TREC run"
    )
    parser.add_argument("--k1", type=float, default=DEFAULT_K1, help="BM25 k1")
    parser.add_argument("--b", type=float, default=DEFAULT_B, help="BM25 b")
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, os.cpu_count() or 1),
        help="BM25 search threads (default: the CPU count, %(default)s)",
    )
    parser.add_argument("--tag", help="run tag, the last column (default: inpars-<kind>)")
    add_shard_option(parser)
    return parser


@command(build_parser)
def main(args: argparse.Namespace) -> None:
    summary = rerank(
        config_from_args(RerankConfig, args), overwrite=args.overwrite, show_progress=not args.quiet
    )
    say(
        f"{args.output}:",
        f"{summary.queries:,} queries ({summary.already_done:,} already done), "
        f"{summary.pairs:,} pairs scored at {summary.pairs_per_second:,.1f} pairs/s, "
        f"{summary.without_candidates} queries without candidates, {summary.seconds:,.1f} s",
    )


__all__ = ["build_parser", "main"]
