"""``inpars pipeline`` / ``python -m inpars.pipeline``: the command line of
:mod:`inpars.pipeline`.

The flags are the fields of :class:`~inpars.pipeline.PipelineConfig`, one each
(``generate_batch_size`` is ``--generate-batch-size``), with their defaults.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from inpars.cli.command import command
from inpars.cli.options import add_device_options, config_from_args, stage_parser
from inpars.models import DTYPES
from inpars.pipeline import STEPS, PipelineConfig, PipelineResults, run_pipeline
from inpars.pipeline_expand import EXPAND_BASELINES
from inpars.pipeline_report import TRAINED_BASELINES
from inpars.progress import plain


def parse_max_docs(text: str) -> int | str:
    """``--max-docs``: a positive count, ``all`` (every document) or ``auto``."""
    if text in ("all", "auto"):
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a count of at least 1, 'all' or 'auto' (got {text!r})")
    return value


_TYPES: dict[str, Callable[[str], Any]] = {
    "int": int, "float": float, "str": str, "int | str": parse_max_docs,
}  # fmt: skip

EXPAND_HELP = {
    "expand": "also expand the collection with the generated queries (inpars.expand) and "
    "report BM25 over the expansion, the zero-shot bi-encoder's dense retrieval fused with "
    "BM25 and with BM25 over the expansion (RRF), each with paired t-tests against BM25, "
    "zero-shot dense and their fusion, and the trained reranker over the first stage with "
    "the highest recall at --depth",
    "drop_fraction": "with --expand: Doc2Query--, drop this share of (query, document) pairs, "
    "the lowest scored by --baseline-model, before expanding (0: keep every query)",
}
"""The help of the expansion flags (:mod:`inpars.pipeline_expand`)."""

_HELP = {
    "generator": "query generator for the hf engine (a folder, hub id, .gguf, or smollm2-135m)",
    "template": "prompt template: inpars, inpars-gbq, promptagator (needs examples) or a file",
    "max_docs": "documents sampled for generation: a count, 'all', or 'auto' (300; every "
    "document with --expand)",
    "queries_per_doc": "sampled queries per document",
    "keep_top_k": "queries kept by the filter (mean log-prob)",
    "few_shot": "draw this many judged queries of the collection (seeded), each with its "
    "shortest relevant document, as the prompt's few-shot examples (Promptagator's setting; "
    "use with --template promptagator); they are left out of every evaluation (0: the "
    "template's own examples)",
    "max_per_doc": "at most this many kept queries per document",
    "max_query_words": "the filter drops longer queries (run-ons); 0: no limit",
    "generate_dtype": "generator dtype: auto (float32 on CPUs), bfloat16 (about 2x faster "
    "on CPUs, log-probs differ by ~0.01 per token), float16",
    "consistency_model": "round-trip filter: keep a query only when this dense model, "
    "searching the corpus, ranks its document in the top --consistency-depth (off when not given)",
    "consistency_depth": "rank a query's document must reach to pass the round trip",
    "negatives_depth": "BM25 depth negatives are drawn from (smaller: harder negatives)",
    "kind": "reranker kind to train: cross-encoder, monot5, bi-encoder",
    "reranker_model": "starting model of the trained reranker (default: the kind's)",
    "learning_rate": "learning rate (default: the kind's)",
    "max_length": "reranker input tokens (training and reranking)",
    "depth": "BM25 documents reranked per query",
    "rerank_dtype": "dtype of the trained reranker when reranking: auto (float32 on CPUs), "
    "bfloat16 (about 2x faster on CPUs with AMX), float16",
    "baseline_model": "the zero-shot bi-encoder baseline",
    "name": "this reranker variant's folder in the work folder (default: the kind; "
    "<kind>-expand with --expand)",
    **EXPAND_HELP,
}


def build_parser() -> argparse.ArgumentParser:
    defaults = PipelineConfig(collection="", work_dir="")
    parser = stage_parser(
        "pipeline",
        "Run the InPars pipeline on a BEIR folder (corpus, queries, qrels): generate synthetic "
        "queries, filter them, mine BM25 negatives, train a reranker, rerank BM25's top "
        "--depth, and evaluate against BM25 and the zero-shot bi-encoder. A step is skipped "
        "when its output's manifest is complete with the same settings and inputs, resumes "
        "after a crash, and is refused when its output holds another run (--overwrite or "
        "--rerun STEP redo it).",
    )
    parser.add_argument(
        "--collection", required=True,
        help="BEIR folder with qrels/test.tsv, or irds:<id> (an ir_datasets dataset with qrels)",
    )  # fmt: skip
    parser.add_argument("--work-dir", required=True, help="folder for every step's output")
    for option in fields(PipelineConfig):
        if option.name in {"collection", "work_dir", "device"}:
            continue
        flag = "--" + option.name.replace("_", "-")
        if option.type == "bool":
            parser.add_argument(flag, action="store_true", help=_HELP[option.name])
            continue
        parser.add_argument(
            flag,
            type=_TYPES[str(option.type).removesuffix(" | None")],
            default=getattr(defaults, option.name),
            choices=DTYPES if option.name.endswith("_dtype") else None,
            help=_HELP.get(option.name, option.name.replace("_", " ")),
        )
    add_device_options(parser, dtype=False, what="every model")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="redo every step whose output holds another run (other settings or inputs) "
        "instead of refusing; steps whose output matches are still reused",
    )
    parser.add_argument(
        "--rerun",
        action="append",
        default=[],
        choices=STEPS,
        metavar="STEP",
        help=f"redo STEP although it is done (repeatable; one of {', '.join(STEPS)}); the "
        "steps after it re-run where their inputs change",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


def print_results(results: PipelineResults, console: Any, alpha: float = 0.05) -> None:
    """One row per run of :class:`inpars.pipeline.PipelineResults`; a row with p-values
    shows them against each of its baselines, in order: a trained run against
    :data:`~inpars.pipeline_report.TRAINED_BASELINES`, a run of ``expand`` against
    :data:`inpars.pipeline_expand.EXPAND_BASELINES` (the title names both)."""
    from rich.table import Table

    measures = list(next(iter(results.means.values())))
    expansion = ""
    if results.best_first_stage:
        expansion = f"; expansion runs: (p vs {' / vs '.join(EXPAND_BASELINES)})"
    table = Table(
        title=plain(
            f"{results.collection}: {results.queries} judged queries; trained runs: (p vs "
            f"{' / vs '.join(TRAINED_BASELINES)}){expansion}, paired t-test, * p < {alpha}"
        )
    )
    table.add_column("run", style="bold")
    for measure in measures:
        table.add_column(measure, justify="right")
    for label, means in results.means.items():
        cells = []
        for measure in measures:
            text = f"{means[measure]:.4f}"
            if label in results.p_values:
                p_values = [_p(p[measure], alpha) for p in results.p_values[label].values()]
                text += f" ({' / '.join(p_values)})"
            cells.append(text)
        table.add_row(label, *cells)
    console.print(table)
    print_first_stages(results, console)
    console.print(
        "step seconds: "
        + ", ".join(f"{name} {value:,.0f}" for name, value in results.seconds.items())
    )


def print_first_stages(results: PipelineResults, console: Any) -> None:
    """The line saying which first stage the trained reranker reranked, and why (expand)."""
    if not results.best_first_stage:
        return
    best = results.best_first_stage
    recall = ", ".join(
        f"{label} {value:.4f}" for label, value in results.first_stage_recall.items()
    )
    against = "" if best in EXPAND_BASELINES else f"; its last p-value is against {best}"
    console.print(
        f"trained reranker over {best}: the first stage with the highest recall at the "
        f"reranking depth ({recall}){against}",
        markup=False,
        highlight=False,
    )


def _p(value: float, alpha: float) -> str:
    return f"{value:.3f}{'*' if value < alpha else ''}"


@command(build_parser)
def main(args: argparse.Namespace) -> None:
    from rich.console import Console

    results = run_pipeline(
        config_from_args(PipelineConfig, args),
        show_progress=not args.quiet,
        overwrite=args.overwrite,
        rerun=args.rerun,
    )
    print_results(results, Console())


__all__ = ["build_parser", "main", "parse_max_docs", "print_results"]
