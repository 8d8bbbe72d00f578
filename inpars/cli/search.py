"""``inpars search`` / ``python -m inpars.search``: the command line of :mod:`inpars.search`.

Three uses: queries as arguments print their top passages; ``--queries`` and ``--output``
write a TREC run; ``--shard I/N`` (no queries) only encodes one shard of the corpus. The
printed hits and the run come from one search (:func:`inpars.search.search_queries`): with
the same flags, a query's printed hits are the first hits of its run.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from inpars.bm25 import DEFAULT_B, DEFAULT_K1
from inpars.cli.command import command
from inpars.cli.options import (
    add_bm25_corpus_option,
    add_corpus_options,
    add_device_options,
    add_shard_option,
    config_from_args,
    stage_parser,
)
from inpars.errors import InparsError
from inpars.progress import library_progress, progress_bar, say, stderr_console, summary_table
from inpars.search import (
    DEFAULT_MODEL,
    RUN_DEPTH,
    SIMILARITIES,
    DenseEncoder,
    Ranking,
    SearchConfig,
    SearchSummary,
    document_texts,
    search_queries,
    search_run,
)

#: Hits printed per query when --k is not given (the search is then a run's, RUN_DEPTH deep).
PRINTED = 10

SHARD_HELP = (
    "only encode the documents of shard I of N into --embeddings (no queries): one process "
    "per GPU or machine; python -m inpars.merge joins the N folders into the corpus's embeddings"
)


def build_parser() -> argparse.ArgumentParser:
    parser = stage_parser(
        "search",
        "Dense retrieval with a bi-encoder (sentence-transformers): the corpus is encoded once "
        "(embeddings reused while the corpus and the model are unchanged) and searched "
        "exactly. Give queries as arguments to print the top passages, or --queries and "
        "--output to write a TREC run for inpars.evaluate.",
    )
    parser.add_argument("query", nargs="*", help="queries to search and print")
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="bi-encoder: folder, hub id, or all-minilm-l6-v2 (bundled)",
    )
    add_corpus_options(parser, help="the corpus to search")
    parser.add_argument(
        "--queries", help="BEIR folder (queries.jsonl), queries JSONL or qid<TAB>text TSV"
    )
    parser.add_argument("--qrels", help="search only the queries judged in these qrels")
    parser.add_argument(
        "--k",
        type=int,
        default=None,
        help="hits per query (default: 1000): a run's depth; queries given as arguments are "
        "searched the same way and print their top 10, or their top --k when it is given",
    )
    parser.add_argument(
        "--similarity",
        choices=SIMILARITIES,
        default="auto",
        help="cos or dot; auto is the model's own",
    )
    hybrid = parser.add_argument_group("hybrid")
    hybrid.add_argument(
        "--hybrid",
        action="store_true",
        help="fuse the dense ranking with BM25's by reciprocal rank",
    )
    add_bm25_corpus_option(hybrid, "with --hybrid: the bi-encoder and the printed passages")
    hybrid.add_argument("--rrf-k", type=int, default=60, help="reciprocal rank fusion's k")
    hybrid.add_argument(
        "--bm25-depth", type=int, help="BM25 hits fused with --hybrid (default: --k)"
    )
    hybrid.add_argument("--bm25-output", help="with --hybrid: also write the BM25 run")
    hybrid.add_argument("--dense-output", help="with --hybrid: also write the dense run")
    hybrid.add_argument(
        "--bm25-index", help="Lucene index folder for --hybrid (default: in the inpars cache)"
    )
    hybrid.add_argument("--k1", type=float, default=DEFAULT_K1, help="BM25 k1")
    hybrid.add_argument("--b", type=float, default=DEFAULT_B, help="BM25 b")
    hybrid.add_argument(
        "--threads",
        type=int,
        default=max(1, os.cpu_count() or 1),
        help="BM25 search and indexing threads",
    )
    output = parser.add_argument_group("output")
    # No --overwrite: the run is written whole, atomically, and replaces the file.
    output.add_argument("--output", help="the TREC run to write (with --queries)")
    output.add_argument("--tag", help="the run's tag (default: inpars-dense or inpars-hybrid)")
    output.add_argument(
        "--quiet", action="store_true", help="no progress display and no summary; only hits"
    )
    encoding = parser.add_argument_group("encoding")
    encoding.add_argument(
        "--embeddings",
        help="folder for the corpus embeddings, reused while the corpus and model are "
        "unchanged (default: in the inpars cache)",
    )
    encoding.add_argument("--batch-size", type=int, default=64, help="texts per encoder batch")
    encoding.add_argument(
        "--chunk-size",
        type=int,
        default=4096,
        help="documents encoded per committed chunk; an interrupted encoding resumes after "
        "the last one",
    )
    encoding.add_argument(
        "--block-size",
        type=int,
        default=65536,
        help="corpus embeddings scored per step; bounds search memory",
    )
    encoding.add_argument("--max-length", type=int, help="input tokens (default: the model's)")
    encoding.add_argument(
        "--rebuild", action="store_true", help="encode the corpus again even if up to date"
    )
    add_shard_option(encoding, help=SHARD_HELP)
    add_device_options(parser, what="the bi-encoder")
    return parser


def search_config(args: argparse.Namespace) -> SearchConfig:
    """The search the flags describe (printed queries and runs alike)."""
    return config_from_args(SearchConfig, args, k=RUN_DEPTH if args.k is None else args.k)


def print_hits(
    queries: Sequence[str],
    rankings: Sequence[Sequence[tuple[str, float]]],
    texts: dict[str, str],
    console: Any,
    width: int = 200,
) -> None:
    """A table per query: rank, document id, score and the start of the passage.

    Queries, ids and passages are shown as they are (``rich.text.Text``), never read as markup.
    """
    from rich.table import Table
    from rich.text import Text

    for query, ranking in zip(queries, rankings, strict=True):
        table = Table(title=Text(query, style="bold"), title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("doc id")
        table.add_column("score", justify="right")
        table.add_column("passage")
        for rank, (doc_id, score) in enumerate(ranking, start=1):
            text = " ".join(texts.get(doc_id, "").split())
            if len(text) > width:
                text = text[: width - 1] + "…"
            table.add_row(str(rank), Text(doc_id), f"{score:.4f}", Text(text))
        console.print(table)


def print_summary(summary: SearchSummary, config: SearchConfig, console: Any) -> None:
    state = "reused" if summary.embeddings_reused else f"encoded ({summary.embeddings_reason})"
    rows = [
        ("model", config.model),
        ("documents", f"{summary.documents:,}"),
        ("embeddings", f"{state}, {summary.encode_seconds:,.1f} s"),
        ("embeddings folder", summary.embeddings),
        ("queries", f"{summary.queries:,}"),
        ("mode", config.mode),
        ("search seconds", f"{summary.search_seconds:,.1f}"),
        ("seconds", f"{summary.seconds:,.1f}"),
    ]
    console.print(summary_table(f"inpars.search → {config.output}", rows))


def _print_queries(args: argparse.Namespace) -> None:
    """Searches the queries given as arguments as a run would and prints the top hits."""
    from rich.console import Console

    config = search_config(args)
    found = search_queries(config, args.query, show_progress=not args.quiet)
    shown: list[Ranking] = [ranking[: args.k or PRINTED] for ranking in found.rankings]
    wanted = {doc_id for ranking in shown for doc_id, _ in ranking}
    print_hits(args.query, shown, document_texts(config.corpus_reader(), wanted), Console())


def _encode_shard(args: argparse.Namespace) -> None:
    """``--shard I/N``: encodes that shard of the corpus into ``--embeddings``, and stops."""
    from inpars.embedding_shards import encode_shard

    if args.query or args.queries or args.output or args.hybrid or not args.embeddings:
        raise InparsError("--shard encodes only: give --corpus, --embeddings and no queries")
    config = search_config(args)
    encoder = DenseEncoder.load(
        config.model, device=config.device, dtype=config.dtype, max_length=config.max_length
    )
    with progress_bar(not args.quiet) as progress:
        count = encode_shard(
            config.corpus_reader(),
            args.embeddings,
            args.shard,
            encoder,
            batch_size=config.batch_size,
            chunk_size=config.chunk_size,
            rebuild=config.rebuild,
            progress=progress,
        )
    if not args.quiet:
        say(f"{args.embeddings}:", f"shard {args.shard}, {count:,} documents encoded")


@command(build_parser, interrupted="rerun the same command to resume encoding")
def main(args: argparse.Namespace) -> None:
    with library_progress(not args.quiet):
        if args.shard:
            _encode_shard(args)
            return
        if args.query:
            if args.output or args.queries:
                raise InparsError("give queries as arguments or --queries/--output, not both")
            _print_queries(args)
            return
        if not (args.queries and args.output):
            raise InparsError("give queries as arguments, or --queries and --output for a run")
        config = search_config(args)
        summary = search_run(config, show_progress=not args.quiet)
    if not args.quiet:
        print_summary(summary, config, stderr_console())


__all__ = ["build_parser", "main", "print_hits", "print_summary", "search_config"]
