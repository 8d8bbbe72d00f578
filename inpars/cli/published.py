"""``inpars published`` / ``python -m inpars.published``: the command line of
:mod:`inpars.published` (:func:`~inpars.published.convert`)."""

from __future__ import annotations

import argparse

from inpars.cli.command import command
from inpars.cli.options import stage_parser
from inpars.progress import stderr_console
from inpars.published import FORMATS, ConvertSummary, convert


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "published",
        "Convert synthetic queries published by the InPars authors (InPars v1: "
        "question/doc_text/log_probs; InPars toolkit/v2: query/log_probs/prompt_text/"
        "fewshot_examples) into inpars records. Not needed before inpars.filter or "
        "inpars.triples, which read those files directly; use it to hand them to other tools.",
    )
    parser.add_argument("--input", required=True, help="a published queries file (.jsonl[.gz])")
    parser.add_argument("--output", required=True, help="the JSON Lines file to write")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="the input schema (default: told from the first record)",
    )
    return parser


def print_summary(summary: ConvertSummary, output: str) -> None:
    stderr_console().print(
        f"{summary.records:,} {summary.format} records → {output} "
        f"({summary.with_log_probs:,} with per-token log_probs, {summary.with_score:,} with "
        f"a score) in {summary.seconds:.1f} s",
        markup=False,
    )


@command(build_parser, interrupted="nothing was written (the output was left as it was)")
def main(args: argparse.Namespace) -> None:
    print_summary(convert(args.input, args.output, args.format), args.output)


__all__ = ["build_parser", "main", "print_summary"]
