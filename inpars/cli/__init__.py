"""``inpars STAGE ...``: every stage's command line under one command.

``inpars generate --corpus sample --output q.jsonl`` is ``python -m inpars.generate --corpus
sample --output q.jsonl``, and so on for each stage; ``python -m inpars STAGE`` works too.
Each stage keeps its own flags and ``--help``.
"""

from __future__ import annotations

import importlib
import sys

from inpars import __version__

#: Each stage's command name -> the module whose ``main(argv)`` runs it, in pipeline order.
STAGES: dict[str, str] = {
    "generate": "inpars.cli.generate",
    "filter": "inpars.cli.filter",
    "triples": "inpars.cli.triples",
    "train": "inpars.cli.train",
    "rerank": "inpars.cli.rerank",
    "evaluate": "inpars.cli.evaluate",
    "fuse": "inpars.cli.fuse",
    "pipeline": "inpars.cli.pipeline",
    "expand": "inpars.cli.expand",
    "dense": "inpars.cli.dense",
    "search": "inpars.cli.search",
    "publish": "inpars.cli.publish",
    "published": "inpars.cli.published",
    "merge": "inpars.cli.merge",
}

_SUMMARIES = {
    "generate": "write queries for documents with an LLM (hf, openai, vllm engines)",
    "filter": "keep the best generated queries (log-probs, rules, a reranker, the round trip)",
    "triples": "(query, positive, BM25 negative) training triples",
    "train": "fine-tune a reranker (monoT5, cross-encoder, bi-encoder) on triples",
    "rerank": "rerank a first stage (BM25 or a TREC run) into a TREC run",
    "evaluate": "nDCG@10, RR@10, recall, MAP of runs, with paired t-tests",
    "fuse": "reciprocal rank fusion of TREC runs (e.g. BM25 + expansion with dense)",
    "pipeline": "all of the above on a collection with judgments",
    "expand": "append each document's queries to it (doc2query, Doc2Query--)",
    "dense": "train bi-encoders from the same data (GenQ, GPL)",
    "search": "exact dense (and hybrid) search",
    "publish": "a dataset folder with card, statistics, manifests, checksums; the Hub",
    "published": "convert the InPars authors' published query files",
    "merge": "combine the parts of a sharded run (--shard I/N)",
}


def usage() -> str:
    """What ``inpars --help`` prints."""
    width = max(len(name) for name in STAGES)
    lines = [f"inpars {__version__}: synthetic training data for neural search", "",
             "usage: inpars STAGE [flags]   (inpars STAGE --help for a stage's flags)", "",
             "stages:"]  # fmt: skip
    lines += [f"  {name:<{width}}  {_SUMMARIES[name]}" for name in STAGES]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Runs ``argv[0]``'s stage with the rest of ``argv``; returns its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "--version":
        print(__version__)
        return 0
    name = argv[0]
    if name not in STAGES:
        print(f"inpars: unknown stage {name!r}; one of: {', '.join(STAGES)}", file=sys.stderr)
        return 2
    return int(importlib.import_module(STAGES[name]).main(argv[1:]) or 0)


__all__ = ["STAGES", "main", "usage"]
