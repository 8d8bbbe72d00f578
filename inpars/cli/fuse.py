"""``inpars fuse`` / ``python -m inpars.fuse``: the command line of :mod:`inpars.fuse`."""

from __future__ import annotations

import argparse

from inpars.cli.command import command
from inpars.cli.options import add_output_options, config_from_args, stage_parser
from inpars.fuse import DEFAULT_K, FuseConfig, fuse_runs
from inpars.progress import say


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "fuse",
        "Fuse TREC runs by reciprocal rank (RRF: each document scores the sum of "
        "1 / (k + rank) over the runs that retrieved it) into one TREC run: e.g. BM25 over a "
        "document expansion with a dense run, or a trained reranker with BM25. Ranks follow "
        "each run's scores in trec_eval's order. Rerunning the same command skips the work.",
    )
    parser.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="TREC runs (qid Q0 docid rank score tag), two or more",
    )
    parser.add_argument(
        "--k", type=int, default=DEFAULT_K, help="RRF's k: larger flattens the top ranks' weight"
    )
    parser.add_argument(
        "--depth",
        type=int,
        default=1000,
        help="each run's top documents fused per query, and the fused top written",
    )
    parser.add_argument("--tag", default="inpars-rrf", help="run tag (the last column)")
    add_output_options(parser, help="the fused TREC run to write", resumes=False)
    return parser


@command(build_parser, interrupted="the fused run is written whole or not at all; rerun")
def main(args: argparse.Namespace) -> None:
    summary = fuse_runs(config_from_args(FuseConfig, args), overwrite=args.overwrite)
    if args.quiet:
        return
    if summary.skipped:
        say(f"{args.output}:", "already complete with these runs and settings; skipped")
    else:
        say(f"{args.output}:", f"{summary.queries:,} queries, {summary.documents:,} documents")


__all__ = ["build_parser", "main"]
