"""``inpars evaluate`` / ``python -m inpars.evaluate``: the command line of :mod:`inpars.evaluate`.

The report (one row per run, p-values against the first) goes to standard output, so that it
can be redirected; errors and warnings go to standard error, as in every command.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from inpars.cli.command import command
from inpars.cli.options import config_from_args, stage_parser
from inpars.evaluate import DEFAULT_MEASURES, EvaluateConfig, RunReport, evaluate_runs
from inpars.progress import plain, say


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "evaluate",
        "Score TREC runs against qrels with ir_measures (trec_eval's code): nDCG@10, MRR@10 "
        "(RR@10), Recall@100/1000, MAP by default. With several --run, the first is the "
        "baseline and each other run is compared with it by a paired t-test per measure. "
        "Every judged query counts; one missing from a run scores 0.",
    )
    parser.add_argument(
        "--qrels",
        required=True,
        help="BEIR folder (qrels/test.tsv), BEIR qrels TSV, or TREC qrels file",
    )
    parser.add_argument(
        "--run",
        dest="runs",
        action="append",
        required=True,
        help="a TREC run (qid Q0 docid rank score tag); repeat to compare runs",
    )
    parser.add_argument(
        "--measures",
        nargs="+",
        default=list(DEFAULT_MEASURES),
        help="ir_measures names (default: %(default)s)",
    )
    parser.add_argument(
        "--exclude-queries",
        help="leave these queries out: generated queries JSONL (their fewshot_ids) or a "
        "file of query ids, one per line",
    )
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="significance level marked with *"
    )
    output = parser.add_argument_group("output")
    output.add_argument("--per-query", help="write per-query values to this TSV")
    output.add_argument("--json", help="write means and p-values to this JSON file")
    output.add_argument(
        "--plot",
        metavar="FILE",
        help="draw each run's per-query difference from the first run (sorted bars) into this PNG",
    )
    output.add_argument(
        "--plot-measure",
        metavar="MEASURE",
        help="the measure --plot draws (default: the first of --measures)",
    )
    output.add_argument(
        "--overwrite",
        action="store_true",
        help="replace outputs written by another evaluation (other runs, qrels or measures)",
    )
    return parser


def print_reports(reports: Sequence[RunReport], console: Any, alpha: float = 0.05) -> None:
    """A table: one row per run, one column per measure; p-values against the first run."""
    from rich.table import Table

    first = reports[0].evaluation
    table = Table(
        title=plain(
            f"{len(first.query_ids)} queries; p: paired t-test against {reports[0].label}, "
            f"* p < {alpha}"
        )
    )
    table.add_column("run", style="bold")
    for measure in first.measures:
        table.add_column(measure, justify="right")
    for report in reports:
        cells = []
        for i, measure in enumerate(report.evaluation.measures):
            text = f"{report.evaluation.mean(measure):.4f}"
            if report.comparisons is not None:
                p_value = report.comparisons[i].p_value
                text += f" (p={p_value:.3f}){'*' if p_value < alpha else ''}"
            cells.append(text)
        table.add_row(plain(report.label), *cells)
    console.print(table)
    for report in reports:
        if report.evaluation.missing:
            say(
                f"{report.label}:",
                f"{report.evaluation.missing} judged queries have no results in the run (scored 0)",
                "yellow",
                console,
            )


@command(build_parser, interrupted="rerun the same command")
def main(args: argparse.Namespace) -> None:
    from rich.console import Console

    reports = evaluate_runs(config_from_args(EvaluateConfig, args), overwrite=args.overwrite)
    print_reports(reports, Console(), args.alpha)  # the report is the output: stdout


__all__ = ["build_parser", "main", "print_reports"]
