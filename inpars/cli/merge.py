"""``inpars merge`` / ``python -m inpars.merge``: the command line of :mod:`inpars.merge`."""

from __future__ import annotations

import argparse

from inpars.cli.command import command
from inpars.cli.options import stage_parser
from inpars.merge import merge
from inpars.progress import say


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "merge",
        "Combine the parts of a sharded inpars.generate, inpars.triples or inpars.rerank run "
        "(--shard 0/N .. N-1/N) into the file an unsharded run writes, after checking that "
        "every part is complete, made with the same settings and inputs, and that they are "
        "exactly shards 0..N-1.",
    )
    parser.add_argument("parts", nargs="+", help="the parts' --output files, in any order")
    parser.add_argument("--output", required=True, help="the merged file to write")
    parser.add_argument("--corpus", help="generate: the corpus, where the recorded path fails")
    parser.add_argument(
        "--queries", help="triples, rerank: the queries file, where the recorded path fails"
    )
    return parser


@command(build_parser, interrupted="the merged file is written whole or not at all; rerun")
def main(args: argparse.Namespace) -> None:
    parts = merge(args.parts, args.output, corpus=args.corpus, queries=args.queries)
    stage = parts[0].stage if parts else "dense-embeddings"
    say(f"{args.output}:", f"merged {len(args.parts)} {stage} parts")


__all__ = ["build_parser", "main"]
